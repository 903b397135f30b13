"""reminder-worker settings, from the environment, then ``.env``, then these defaults."""

from __future__ import annotations

from dataclasses import dataclass

from bookings_common.grpc import DEFAULT_DEADLINE_SECONDS
from bookings_common.settings import core_deadline, grpc_target, load_or_exit, redis_url, secret
from environs import Env


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting the worker reads; durations are in seconds."""

    redis_url: str
    internal_token: str
    core_grpc_target: str = "127.0.0.1:50051"
    core_deadline_seconds: float = DEFAULT_DEADLINE_SECONDS
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Env) -> Settings:
        """Read every setting; raises ``environs.EnvError``/``ValueError`` naming a bad one."""
        return cls(
            redis_url=redis_url(env),
            internal_token=secret(env, "INTERNAL_TOKEN", min_length=16),
            core_grpc_target=grpc_target(env),
            core_deadline_seconds=core_deadline(env),
            log_level=env.str("LOG_LEVEL", "INFO"),
        )


def load_settings() -> Settings:
    """Load settings or exit with a one-line message naming the bad setting."""
    return load_or_exit(Settings.from_env)
