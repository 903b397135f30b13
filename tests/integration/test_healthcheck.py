"""``python -m bookings_common.healthcheck``, the container health check, against real servers."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import pytest
from aiohttp import web
from bookings_common.healthcheck import check

from .harness import CoreProcess, free_port

pytestmark = pytest.mark.integration


async def test_grpc_health_of_a_running_and_a_missing_server(core: CoreProcess) -> None:
    assert (await _run(f"grpc://127.0.0.1:{core.port}")).returncode == 0
    assert (await _run(f"grpc://127.0.0.1:{free_port()}")).returncode == 1
    assert not await asyncio.to_thread(check, f"grpc://127.0.0.1:{free_port()}")


async def test_http_health_follows_the_status(aiohttp_server: Any) -> None:
    async def ok(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def broken(_request: web.Request) -> web.Response:
        return web.Response(status=503)

    app = web.Application()
    app.router.add_get("/health", ok)
    app.router.add_get("/ready", broken)
    server = await aiohttp_server(app)
    base = f"http://127.0.0.1:{server.port}"
    # The command runs in its own process, as a container runtime runs it.
    for path, code in (("/health", 0), ("/ready", 1), ("/missing", 1)):
        done = await _run(f"{base}{path}")
        assert done.returncode == code, done.stdout
    assert (await _run(f"ftp://127.0.0.1:{server.port}")).returncode == 2


async def _run(url: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bookings_common.healthcheck", url],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
