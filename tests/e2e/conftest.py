"""The whole system as ``make dev`` starts it, for a test module."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from tests.integration.conftest import fresh_database
from tests.integration.harness import DevSystem, RedisProcess, dev_system


@contextlib.asynccontextmanager
async def running_system(workdir: Path, **settings: str) -> AsyncIterator[DevSystem]:
    """``make dev`` on free ports, against a fresh database and a private Redis."""
    redis = RedisProcess(workdir)
    redis.start()
    try:
        async with (
            fresh_database() as database_url,
            dev_system(workdir, database_url, redis.url, **settings) as system,
        ):
            yield system
    finally:
        redis.stop()
