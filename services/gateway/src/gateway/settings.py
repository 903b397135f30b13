"""gateway settings, from the environment, then ``.env``, then these defaults."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from bookings_common.grpc import DEFAULT_DEADLINE_SECONDS
from bookings_common.settings import (
    core_deadline,
    grpc_target,
    load_or_exit,
    port,
    public_base_url,
    secret,
)
from bookings_web.auth import JwtSettings
from bookings_web.client_ip import IpNetwork, trusted_proxies
from bookings_web.cors import allowed_origins
from environs import Env
from marshmallow.validate import OneOf, Range


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting the gateway reads; durations are in seconds."""

    jwt: JwtSettings
    internal_token: str
    core_grpc_target: str = "127.0.0.1:50051"
    host: str = "0.0.0.0"  # noqa: S104 - a container's service listens on all interfaces
    port: int = 8080
    app_env: str = "production"
    core_deadline_seconds: float = DEFAULT_DEADLINE_SECONDS
    rate_limit_per_minute: int = 60
    # Bookings per minute per client IP on the public booking pages.
    public_booking_rate_limit_per_minute: int = 10
    # Where the public pages live: booking and manage links are built on it.
    public_base_url: str = "http://localhost:8080"
    rate_limit_max_keys: int = 100_000
    # Failed authentications (bad, expired or missing tokens) per minute per client IP.
    auth_failure_rate_limit_per_minute: int = 30
    trusted_proxies: tuple[IpNetwork, ...] = ()
    cors_allowed_origins: tuple[str, ...] = ()
    # The built web app (web/dist) served on /, /book/..., /dashboard/...; "" serves none.
    web_dist_dir: str = ""
    # The notifier's base URL as browsers reach it (GET /web-config.json tells the app).
    notifier_public_url: str = "http://localhost:8090"
    shutdown_grace_seconds: float = 10.0
    log_level: str = "INFO"
    # Redis holding the rate limits shared by every replica; empty: per-replica limits.
    limits_redis_url: str = ""
    limits_key_prefix: str = "bookings:limits"

    @property
    def development(self) -> bool:
        """True when ``APP_ENV=development`` (enables ``POST /dev/token``)."""
        return self.app_env == "development"

    @classmethod
    def from_env(cls, env: Env) -> Settings:
        """Read every setting; raises ``environs.EnvError``/``ValueError`` naming a bad one."""
        return cls(
            jwt=JwtSettings.from_env(env),
            internal_token=secret(env, "INTERNAL_TOKEN", min_length=16),
            core_grpc_target=grpc_target(env),
            host=env.str("HOST", "0.0.0.0"),  # noqa: S104
            port=port(env, "PORT", 8080),
            app_env=env.str("APP_ENV", "production", validate=OneOf(["development", "production"])),
            core_deadline_seconds=core_deadline(env),
            rate_limit_per_minute=env.int("RATE_LIMIT_PER_MINUTE", 60, validate=Range(min=1)),
            public_booking_rate_limit_per_minute=env.int(
                "PUBLIC_BOOKING_RATE_LIMIT_PER_MINUTE", 10, validate=Range(min=1)
            ),
            public_base_url=public_base_url(env),
            rate_limit_max_keys=env.int("RATE_LIMIT_MAX_KEYS", 100_000, validate=Range(min=1)),
            auth_failure_rate_limit_per_minute=env.int(
                "AUTH_FAILURE_RATE_LIMIT_PER_MINUTE", 30, validate=Range(min=1)
            ),
            trusted_proxies=trusted_proxies(env),
            cors_allowed_origins=allowed_origins(env),
            web_dist_dir=env.str("WEB_DIST_DIR", ""),
            notifier_public_url=_origin(
                "NOTIFIER_PUBLIC_URL", env.str("NOTIFIER_PUBLIC_URL", "http://localhost:8090")
            ),
            shutdown_grace_seconds=env.float("SHUTDOWN_GRACE_SECONDS", 10.0, validate=Range(min=0)),
            log_level=env.str("LOG_LEVEL", "INFO"),
            limits_redis_url=(
                env.str("REDIS_URL", "redis://127.0.0.1:6379/0")
                if env.str("RATE_LIMIT_STORAGE", "redis", validate=OneOf(["redis", "local"]))
                == "redis"
                else ""
            ),
            limits_key_prefix=env.str("LIMITS_KEY_PREFIX", "bookings:limits"),
        )


def _origin(name: str, value: str) -> str:
    """An http(s) origin (no path), without a trailing slash."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        raise ValueError(f'"{name}" must be an origin such as https://live.example.com')
    return value.rstrip("/")


def load_settings() -> Settings:
    """Load settings or exit with a one-line message naming the bad setting."""
    return load_or_exit(Settings.from_env)
