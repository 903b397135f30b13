"""payment-service settings, from the environment, then ``.env``, then these defaults."""

from __future__ import annotations

from dataclasses import dataclass

from bookings_common.settings import load_or_exit, redis_url
from environs import Env
from marshmallow.validate import OneOf, Range


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting the service reads; durations in milliseconds where named so."""

    redis_url: str
    payment_provider: str = "mock"
    # How long the mock provider takes per charge or refund.
    mock_payment_latency_ms: int = 300
    payment_retry_max_backoff_seconds: float = 30.0
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Env) -> Settings:
        """Read every setting; raises ``environs.EnvError``/``ValueError`` naming a bad one."""
        return cls(
            redis_url=redis_url(env),
            payment_provider=env.str("PAYMENT_PROVIDER", "mock", validate=OneOf(["mock"])),
            mock_payment_latency_ms=env.int(
                "MOCK_PAYMENT_LATENCY_MS", 300, validate=Range(min=0, max=60_000)
            ),
            payment_retry_max_backoff_seconds=env.float(
                "PAYMENT_RETRY_MAX_BACKOFF_SECONDS", 30.0, validate=Range(min=0.1, max=3600)
            ),
            log_level=env.str("LOG_LEVEL", "INFO"),
        )


def load_settings() -> Settings:
    """Load settings or exit with a one-line message naming the bad setting."""
    return load_or_exit(Settings.from_env)
