"""The whole system as ``make dev`` starts it, for a test module."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from tests.integration.conftest import fresh_database
from tests.integration.harness import ROOT, DevSystem, RedisProcess, dev_system


@contextlib.asynccontextmanager
async def running_system(
    workdir: Path, root: Path = ROOT, /, **settings: str
) -> AsyncIterator[DevSystem]:
    """``make dev`` in ``root`` (this checkout, or one of another revision) on free ports,
    against a fresh database and a private Redis."""
    redis = RedisProcess(workdir)
    redis.start()
    try:
        async with (
            # Another revision's make dev migrates it with that revision's migrations.
            fresh_database(migrated=root == ROOT) as database_url,
            dev_system(workdir, database_url, redis.url, root, **settings) as system,
        ):
            yield system
    finally:
        redis.stop()
