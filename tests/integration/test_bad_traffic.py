"""Malformed HTTP costs no more than good HTTP: each refused request is answered 4xx
and logged as one compact line (at most ten a second, the rest only counted in
``http_malformed_requests_total``), never with a traceback; a body cut off midway
is one line too; good requests are served all along. Gateway and notifier alike."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from gateway.app import create_app as create_gateway

from .bad_requests import MALFORMED
from .conftest import REDIS_URL, gateway_settings
from .harness import (
    CoreProcess,
    GatewayProcess,
    HttpServiceProcess,
    NotifierProcess,
    make_token,
)

pytestmark = pytest.mark.integration

ROUNDS = 30  # 300 malformed requests


async def answer(port: int, raw: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        return await asyncio.wait_for(reader.readline(), timeout=5)
    finally:
        writer.close()
        await writer.wait_closed()


async def flood(service: HttpServiceProcess, good_path: str) -> None:
    before = service.log_path.stat().st_size
    async with aiohttp.ClientSession() as session:

        async def good() -> int:
            async with session.get(f"{service.url}{good_path}") as response:
                return response.status

        for _ in range(ROUNDS):
            statuses = await asyncio.gather(*(answer(service.port, raw) for raw in MALFORMED))
            assert all(re.match(rb"HTTP/1\.[01] 4\d\d ", line) for line in statuses), statuses
            assert await good() == 200  # served during the flood
            await asyncio.sleep(0.05)  # spread over a few seconds
        await asyncio.sleep(0.2)
        async with session.get(f"{service.url}/metrics") as response:
            metrics = await response.text()
    counted = sum(
        float(value)
        for value in re.findall(r"^http_malformed_requests_total\{[^}]*\} (\S+)$", metrics, re.M)
    )
    assert counted >= len(MALFORMED[2:]) * ROUNDS  # every refused one is counted
    logged = service.log_path.read_bytes()[before:]
    assert b"Traceback" not in logged and b'"level": "error"' not in logged
    lines = [json.loads(line) for line in logged.splitlines()]
    malformed = [line for line in lines if line["event"] == "http.malformed_request"]
    assert malformed and all(line["level"] == "info" for line in malformed)
    assert {line["status"] for line in malformed} == {400}
    assert all(len(line["detail"]) <= 200 for line in malformed)
    # Two to three seconds of flood: at most ten such lines a second, not 300.
    assert len(malformed) < counted / 3
    assert any(line.get("suppressed", 0) > 0 for line in malformed)
    assert len(logged) < 64 * 1024


async def test_a_flood_of_malformed_requests_is_cheap_on_the_gateway(
    core: CoreProcess, tmp_path: Path
) -> None:
    gateway = GatewayProcess(core.port, tmp_path / "gateway.log")
    await gateway.start()
    try:
        await flood(gateway, "/health")
        # A body cut off midway: one compact line and a 400, no traceback.
        before = gateway.log_path.stat().st_size
        _reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
        writer.write(
            b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"email":'
        )
        await writer.drain()
        await asyncio.sleep(0.2)
        writer.close()
        await writer.wait_closed()
        await asyncio.sleep(0.5)
        logged = gateway.log_path.read_bytes()[before:]
        assert b"Traceback" not in logged
        events = [json.loads(line) for line in logged.splitlines()]
        assert [e["event"] for e in events] == ["http.body_aborted", "http.request"]
        assert events[1]["status"] == 400
    finally:
        gateway.stop()


async def test_a_flood_of_malformed_requests_is_cheap_on_the_notifier(
    core: CoreProcess, tmp_path: Path
) -> None:
    notifier = NotifierProcess(core.port, REDIS_URL, tmp_path / "notifier.log")
    await notifier.start()
    try:
        await flood(notifier, "/health")
    finally:
        notifier.stop()


BAD_TOKENS = (
    "not-a-jwt",
    make_token("customer", "8133b53f-6451-5af0-b72b-ea0c7a71b115", secret="x" * 40),
    make_token("customer", "8133b53f-6451-5af0-b72b-ea0c7a71b115", ttl=-3600),
)


async def test_failed_authentication_is_limited_per_client_address(
    core: CoreProcess, aiohttp_client: Any
) -> None:
    settings = gateway_settings(
        core,
        auth_failure_rate_limit_per_minute=3,
        trusted_proxies=(ipaddress.ip_network("127.0.0.1/32"),),
    )
    client = await aiohttp_client(create_gateway(settings))

    async def bookings(token: str, address: str = "198.51.100.1") -> aiohttp.ClientResponse:
        headers = {"Authorization": f"Bearer {token}", "X-Forwarded-For": address}
        response: aiohttp.ClientResponse = await client.get("/bookings", headers=headers)
        return response

    for token in BAD_TOKENS:
        assert (await bookings(token)).status == 401
    refused = await bookings(BAD_TOKENS[0])
    assert refused.status == 429
    assert (await refused.json())["code"] == "RATE_LIMITED"
    assert int(refused.headers["Retry-After"]) >= 1
    # A good token from the same address still works; another address is unaffected.
    good = make_token("customer", "8133b53f-6451-5af0-b72b-ea0c7a71b115")
    assert (await bookings(good)).status == 200
    assert (await bookings(BAD_TOKENS[0], "198.51.100.2")).status == 401


async def test_failed_authentication_is_limited_on_the_notifier(
    core: CoreProcess, tmp_path: Path
) -> None:
    notifier = NotifierProcess(
        core.port,
        REDIS_URL,
        tmp_path / "notifier.log",
        AUTH_FAILURE_RATE_LIMIT_PER_MINUTE="2",
        TRUSTED_PROXIES="127.0.0.1",
    )
    await notifier.start()
    try:
        async with aiohttp.ClientSession() as session:

            async def connect(token: str, address: str = "198.51.100.1") -> int:
                try:
                    async with session.ws_connect(
                        f"{notifier.url}/ws",
                        params={"access_token": token},
                        headers={"X-Forwarded-For": address},
                    ):
                        return 101
                except aiohttp.WSServerHandshakeError as exc:
                    return exc.status

            assert [await connect(token) for token in BAD_TOKENS] == [401, 401, 429]
            assert await connect(BAD_TOKENS[0], "198.51.100.2") == 401
            good = make_token("customer", "8133b53f-6451-5af0-b72b-ea0c7a71b115")
            assert await connect(good) == 101
    finally:
        notifier.stop()
