"""booking-core settings, from the environment, then ``.env``, then these defaults."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from bookings_common.settings import (
    DEFAULT_MAIL_FROM,
    load_or_exit,
    mail_from,
    port,
    postgres_url,
    redis_url,
    secret,
)
from environs import Env
from marshmallow.validate import Range

MIN_HS256_SECRET_BYTES = 32  # RFC 7518, section 3.2: key as long as the hash output


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting booking-core reads; durations are in seconds."""

    database_url: str
    redis_url: str
    internal_token: str
    grpc_host: str = "0.0.0.0"  # noqa: S104 - a container's service listens on all interfaces
    grpc_port: int = 50051
    reminder_lead_seconds: int = 600
    max_booking_duration_seconds: int = 8 * 3600
    cursor_secret: bytes = b""
    manage_token_secret: bytes = b""
    db_pool_size: int = 20
    outbox_relay_interval_seconds: float = 2.0
    outbox_relay_min_age_seconds: float = 5.0
    shutdown_grace_seconds: float = 10.0
    log_level: str = "INFO"
    reminder_horizon_seconds: float = 60.0
    reminder_scheduler_interval_seconds: float = 1.0
    reminder_redelivery_seconds: float = 15.0
    # Signing access tokens: a directory of private keys (EdDSA / RS256 with a kid),
    # else the HS256 development secret; neither disables sign-in.
    jwt_signing_keys_dir: str = ""
    jwt_secret: str = ""
    jwt_issuer: str = ""
    jwt_audience: str = ""
    # Mail: the sender (display name, address), which also names the organizer of
    # invitations for providers without a staff address, and the dispatcher.
    mail_from: tuple[str, str] = ("Bookings", DEFAULT_MAIL_FROM.split("<")[1].rstrip(">"))
    mail_dispatch_interval_seconds: float = 1.0
    mail_redelivery_seconds: float = 900.0
    mail_claim_lease_seconds: float = 120.0
    # Ticketing: how long a hold lasts, seats per booking, how often expired holds are
    # looked for, and payment requests' dispatch.
    hold_ttl_seconds: float = 600.0
    max_seats_per_booking: int = 10
    ticket_expiry_interval_seconds: float = 0.2
    payment_dispatch_interval_seconds: float = 1.0
    payment_redelivery_seconds: float = 60.0
    payment_outcome_threads: int = 2
    # How long an idempotency key replays its request (hours, at least 24), and how
    # often expired keys are cleared (seconds).
    idempotency_key_retention_hours: float = 24.0
    idempotency_cleanup_interval_seconds: float = 3600.0

    @classmethod
    def from_env(cls, env: Env) -> Settings:
        """Read every setting; raises ``environs.EnvError``/``ValueError`` naming a bad one."""
        internal_token = secret(env, "INTERNAL_TOKEN", min_length=16)
        cursor_secret = env.str("CURSOR_SECRET", "")
        if cursor_secret and len(cursor_secret) < 16:
            raise ValueError('"CURSOR_SECRET" must be at least 16 characters long')
        manage_token_secret = env.str("MANAGE_TOKEN_SECRET", "")
        if manage_token_secret and len(manage_token_secret) < 16:
            raise ValueError('"MANAGE_TOKEN_SECRET" must be at least 16 characters long')
        lead = env.int("REMINDER_LEAD_SECONDS", 600)
        if lead < 0:
            raise ValueError('"REMINDER_LEAD_SECONDS" must not be negative')
        jwt_secret = env.str("JWT_SECRET", "")
        if jwt_secret and len(jwt_secret.encode()) < MIN_HS256_SECRET_BYTES:
            raise ValueError(
                f'"JWT_SECRET" must be at least {MIN_HS256_SECRET_BYTES} bytes for HS256'
            )
        max_duration = env.int("MAX_BOOKING_DURATION_SECONDS", 8 * 3600)
        if max_duration <= 0:
            raise ValueError('"MAX_BOOKING_DURATION_SECONDS" must be positive')
        return cls(
            database_url=postgres_url(env),
            redis_url=redis_url(env),
            internal_token=internal_token,
            grpc_host=env.str("GRPC_HOST", "0.0.0.0"),  # noqa: S104
            grpc_port=port(env, "GRPC_PORT", 50051),
            reminder_lead_seconds=lead,
            max_booking_duration_seconds=max_duration,
            # Replicas must agree on the cursor secret; by default derive it from
            # the token they already share.
            cursor_secret=cursor_secret.encode()
            or hmac.new(internal_token.encode(), b"bookings.cursor.v1", hashlib.sha256).digest(),
            # Guests' manage links are derived with it: replicas must agree, and
            # changing it invalidates every link already sent.
            manage_token_secret=manage_token_secret.encode()
            or hmac.new(internal_token.encode(), b"bookings.manage.v1", hashlib.sha256).digest(),
            db_pool_size=env.int("DB_POOL_SIZE", 20, validate=Range(min=1)),
            outbox_relay_interval_seconds=env.float(
                "OUTBOX_RELAY_INTERVAL_SECONDS", 2.0, validate=Range(min=0, min_inclusive=False)
            ),
            outbox_relay_min_age_seconds=env.float(
                "OUTBOX_RELAY_MIN_AGE_SECONDS", 5.0, validate=Range(min=0)
            ),
            shutdown_grace_seconds=env.float("SHUTDOWN_GRACE_SECONDS", 10.0, validate=Range(min=0)),
            log_level=env.str("LOG_LEVEL", "INFO"),
            reminder_horizon_seconds=env.float(
                "REMINDER_HORIZON_SECONDS", 60.0, validate=Range(min=0)
            ),
            reminder_scheduler_interval_seconds=env.float(
                "REMINDER_SCHEDULER_INTERVAL_SECONDS",
                1.0,
                validate=Range(min=0, min_inclusive=False),
            ),
            reminder_redelivery_seconds=env.float(
                "REMINDER_REDELIVERY_SECONDS", 15.0, validate=Range(min=0, min_inclusive=False)
            ),
            jwt_signing_keys_dir=env.str("JWT_SIGNING_KEYS_DIR", ""),
            jwt_secret=jwt_secret,
            jwt_issuer=env.str("JWT_ISSUER", ""),
            jwt_audience=env.str("JWT_AUDIENCE", ""),
            mail_from=mail_from(env),
            mail_dispatch_interval_seconds=env.float(
                "MAIL_DISPATCH_INTERVAL_SECONDS", 1.0, validate=Range(min=0, min_inclusive=False)
            ),
            mail_redelivery_seconds=env.float(
                "MAIL_REDELIVERY_SECONDS", 900.0, validate=Range(min=0, min_inclusive=False)
            ),
            mail_claim_lease_seconds=env.float(
                "MAIL_CLAIM_LEASE_SECONDS", 120.0, validate=Range(min=0, min_inclusive=False)
            ),
            hold_ttl_seconds=env.float(
                "HOLD_TTL_SECONDS", 600.0, validate=Range(min=1, max=86_400)
            ),
            max_seats_per_booking=env.int(
                "MAX_SEATS_PER_BOOKING", 10, validate=Range(min=1, max=100)
            ),
            idempotency_key_retention_hours=env.float(
                "IDEMPOTENCY_KEY_RETENTION_HOURS", 24.0, validate=Range(min=24)
            ),
            idempotency_cleanup_interval_seconds=env.float(
                "IDEMPOTENCY_CLEANUP_INTERVAL_SECONDS", 3600.0, validate=Range(min=0.1)
            ),
            ticket_expiry_interval_seconds=env.float(
                "TICKET_EXPIRY_INTERVAL_SECONDS", 0.2, validate=Range(min=0.01, max=60)
            ),
            payment_dispatch_interval_seconds=env.float(
                "PAYMENT_DISPATCH_INTERVAL_SECONDS", 1.0, validate=Range(min=0.01, max=60)
            ),
            payment_redelivery_seconds=env.float(
                "PAYMENT_REDELIVERY_SECONDS", 60.0, validate=Range(min=0, min_inclusive=False)
            ),
            payment_outcome_threads=env.int(
                "PAYMENT_OUTCOME_THREADS", 2, validate=Range(min=1, max=32)
            ),
        )


def load_settings() -> Settings:
    """Load settings or exit with a one-line message naming the bad setting."""
    return load_or_exit(Settings.from_env)
