"""notifier settings, from the environment, then ``.env``, then these defaults."""

from __future__ import annotations

from dataclasses import dataclass

from bookings_common.grpc import DEFAULT_DEADLINE_SECONDS
from bookings_common.settings import (
    core_deadline,
    grpc_target,
    load_or_exit,
    port,
    redis_url,
    secret,
)
from bookings_web.auth import JwtSettings
from bookings_web.client_ip import IpNetwork, trusted_proxies
from bookings_web.cors import allowed_origins
from environs import Env
from marshmallow.validate import Range


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting the notifier reads; durations are in seconds, sizes in bytes."""

    jwt: JwtSettings
    internal_token: str
    redis_url: str = "redis://127.0.0.1:6379/0"
    core_grpc_target: str = "127.0.0.1:50051"
    host: str = "0.0.0.0"  # noqa: S104 - a container's service listens on all interfaces
    port: int = 8090
    core_deadline_seconds: float = DEFAULT_DEADLINE_SECONDS
    # At most this many open connections per customer or provider, per replica.
    max_connections_per_user: int = 10
    # Prefix of the Redis keys holding connection leases shared by every replica.
    limits_key_prefix: str = "bookings:limits"
    # At most this many public (availability) connections per client address, per replica.
    max_public_connections_per_ip: int = 20
    # Proxies whose X-Forwarded-For gives the client address.
    trusted_proxies: tuple[IpNetwork, ...] = ()
    # Failed authentications (bad, expired or missing tokens) per minute per client IP.
    auth_failure_rate_limit_per_minute: int = 30
    # Events waiting for one slow connection before it is disconnected.
    send_queue_size: int = 256
    # A write that does not finish in this time disconnects the client.
    send_timeout_seconds: float = 10.0
    # WebSocket ping / SSE comment interval; a WebSocket without a pong in
    # half of it is closed.
    heartbeat_seconds: float = 20.0
    # Inbound WebSocket messages: a sustained rate and a burst, then 1008.
    ws_messages_per_second: float = 5.0
    ws_message_burst: int = 10
    ws_max_message_bytes: int = 4096
    cors_allowed_origins: tuple[str, ...] = ()
    shutdown_grace_seconds: float = 10.0
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Env) -> Settings:
        """Read every setting; raises ``environs.EnvError``/``ValueError`` naming a bad one."""
        positive = Range(min=0, min_inclusive=False)
        return cls(
            jwt=JwtSettings.from_env(env),
            internal_token=secret(env, "INTERNAL_TOKEN", min_length=16),
            redis_url=redis_url(env),
            core_grpc_target=grpc_target(env),
            host=env.str("HOST", "0.0.0.0"),  # noqa: S104
            port=port(env, "PORT", 8090),
            core_deadline_seconds=core_deadline(env),
            max_connections_per_user=env.int("MAX_CONNECTIONS_PER_USER", 10, validate=Range(min=1)),
            limits_key_prefix=env.str("LIMITS_KEY_PREFIX", "bookings:limits"),
            max_public_connections_per_ip=env.int(
                "MAX_PUBLIC_CONNECTIONS_PER_IP", 20, validate=Range(min=1)
            ),
            trusted_proxies=trusted_proxies(env),
            auth_failure_rate_limit_per_minute=env.int(
                "AUTH_FAILURE_RATE_LIMIT_PER_MINUTE", 30, validate=Range(min=1)
            ),
            send_queue_size=env.int("SEND_QUEUE_SIZE", 256, validate=Range(min=1)),
            send_timeout_seconds=env.float("SEND_TIMEOUT_SECONDS", 10.0, validate=positive),
            heartbeat_seconds=env.float("HEARTBEAT_SECONDS", 20.0, validate=positive),
            ws_messages_per_second=env.float("WS_MESSAGES_PER_SECOND", 5.0, validate=positive),
            ws_message_burst=env.int("WS_MESSAGE_BURST", 10, validate=Range(min=1)),
            ws_max_message_bytes=env.int(
                "WS_MAX_MESSAGE_BYTES", 4096, validate=Range(min=64, max=1 << 20)
            ),
            cors_allowed_origins=allowed_origins(env),
            shutdown_grace_seconds=env.float("SHUTDOWN_GRACE_SECONDS", 10.0, validate=Range(min=0)),
            log_level=env.str("LOG_LEVEL", "INFO"),
        )


def load_settings() -> Settings:
    """Load settings or exit with a one-line message naming the bad setting."""
    return load_or_exit(Settings.from_env)
