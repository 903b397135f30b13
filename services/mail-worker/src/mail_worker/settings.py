"""mail-worker settings, from the environment, then ``.env``, then these defaults."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bookings_common.grpc import DEFAULT_DEADLINE_SECONDS
from bookings_common.settings import (
    DEFAULT_MAIL_FROM,
    core_deadline,
    grpc_target,
    load_or_exit,
    mail_from,
    port,
    public_base_url,
    redis_url,
    secret,
)
from environs import Env
from marshmallow.validate import Range


class SmtpTls(StrEnum):
    """``SMTP_TLS``: ``none`` (plain, for a local sink), ``starttls`` (RFC 3207, usually
    port 587) or ``tls`` (implicit TLS, RFC 8314, usually port 465)."""

    NONE = "none"
    STARTTLS = "starttls"
    TLS = "tls"


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting the worker reads; durations are in seconds."""

    redis_url: str
    internal_token: str
    core_grpc_target: str = "127.0.0.1:50051"
    core_deadline_seconds: float = DEFAULT_DEADLINE_SECONDS
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_tls: SmtpTls = SmtpTls.NONE
    smtp_timeout_seconds: float = 30.0
    # How long a connection stays open for the next message after one is sent
    # (0: a connection per message).
    smtp_keepalive_seconds: float = 30.0
    mail_from: tuple[str, str] = ("Bookings", DEFAULT_MAIL_FROM.split("<")[1].rstrip(">"))
    public_base_url: str = "http://localhost:8080"
    # The longest wait between two attempts of a job (dramatiq's exponential backoff
    # from 1 s, with jitter).
    mail_retry_max_backoff_seconds: float = 60.0
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Env) -> Settings:
        """Read every setting; raises ``environs.EnvError``/``ValueError`` naming a bad one."""
        username = env.str("SMTP_USERNAME", "")
        password = env.str("SMTP_PASSWORD", "")
        if bool(username) != bool(password):
            raise ValueError('"SMTP_USERNAME" and "SMTP_PASSWORD" must be set together')
        tls = env.str("SMTP_TLS", "none").lower()
        if tls not in set(SmtpTls):
            raise ValueError('"SMTP_TLS" must be one of none, starttls, tls')
        return cls(
            redis_url=redis_url(env),
            internal_token=secret(env, "INTERNAL_TOKEN", min_length=16),
            core_grpc_target=grpc_target(env),
            core_deadline_seconds=core_deadline(env),
            smtp_host=env.str("SMTP_HOST", "127.0.0.1"),
            smtp_port=port(env, "SMTP_PORT", 1025),
            smtp_username=username,
            smtp_password=password,
            smtp_tls=SmtpTls(tls),
            smtp_timeout_seconds=env.float(
                "SMTP_TIMEOUT_SECONDS", 30.0, validate=Range(min=0, min_inclusive=False, max=300)
            ),
            smtp_keepalive_seconds=env.float(
                "SMTP_KEEPALIVE_SECONDS", 30.0, validate=Range(min=0, max=300)
            ),
            mail_from=mail_from(env),
            public_base_url=public_base_url(env),
            mail_retry_max_backoff_seconds=env.float(
                "MAIL_RETRY_MAX_BACKOFF_SECONDS", 60.0, validate=Range(min=1, max=3600)
            ),
            log_level=env.str("LOG_LEVEL", "INFO"),
        )


def load_settings() -> Settings:
    """Load settings or exit with a one-line message naming the bad setting."""
    return load_or_exit(Settings.from_env)
