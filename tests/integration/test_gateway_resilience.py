"""The gateway under pressure: rate limits, booking-core down or stalled, SIGTERM, and
schemathesis exploring /openapi.json against a running stack."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from bookings_proto.bookings import v1 as pb
from gateway.app import create_app

from .conftest import REDIS_URL, gateway_settings
from .harness import CoreProcess, GatewayProcess, eventually, make_token
from .test_gateway_api import booking_body, customer_auth, problem

pytestmark = pytest.mark.integration


async def test_the_61st_request_in_a_minute_is_429(
    core: CoreProcess, stub: pb.BookingServiceStub, customer: pb.Customer, aiohttp_client: Any
) -> None:
    client = await aiohttp_client(create_app(gateway_settings(core, rate_limit_per_minute=60)))
    auth = customer_auth(customer)
    # A path id that fails validation: cheap, but authenticated and counted.
    replies = [await client.get("/bookings/not-a-uuid", headers=auth) for _ in range(60)]
    assert {reply.status for reply in replies} == {400}
    assert replies[0].headers["RateLimit-Limit"] == "60"
    assert int(replies[-1].headers["RateLimit-Remaining"]) <= 1

    limited = await client.get("/bookings/not-a-uuid", headers=auth)
    await problem(limited, 429, "RATE_LIMITED")
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.headers["RateLimit-Remaining"] == "0"
    assert int(limited.headers["RateLimit-Reset"]) > 0

    from .conftest import new_customer

    other = await new_customer(stub)
    assert (await client.get("/bookings", headers=customer_auth(other))).status == 200
    for _ in range(100):
        assert (await client.get("/health")).status == 200
    metrics = await client.get("/metrics")
    assert metrics.status == 200


async def test_unauthenticated_routes_are_limited_per_client_ip(
    core: CoreProcess, aiohttp_client: Any
) -> None:
    settings = gateway_settings(
        core,
        rate_limit_per_minute=5,
        trusted_proxies=(ipaddress.ip_network("127.0.0.1/32"),),
    )
    client = await aiohttp_client(create_app(settings))
    first = {"X-Forwarded-For": "203.0.113.7"}
    for _ in range(5):
        assert (await client.get("/openapi.json", headers=first)).status == 200
    await problem(await client.get("/openapi.json", headers=first), 429, "RATE_LIMITED")
    # another client behind the same trusted proxy has its own allowance
    second = {"X-Forwarded-For": "198.51.100.9, 127.0.0.1"}
    assert (await client.get("/openapi.json", headers=second)).status == 200


@pytest.fixture
async def own_core(database_url: str, tmp_path: Path) -> AsyncIterator[CoreProcess]:
    """A booking-core of this test's own, which it may stop, stall and restart."""
    process = CoreProcess(database_url, REDIS_URL, tmp_path / "core.log")
    await process.start()
    yield process
    if process.process is not None and process.process.poll() is None:
        os.kill(process.process.pid, signal.SIGCONT)
        process.terminate()


async def test_core_down_is_503_and_recovers_without_restart(
    own_core: CoreProcess, provider: pb.Provider, customer: pb.Customer, aiohttp_client: Any
) -> None:
    client = await aiohttp_client(create_app(gateway_settings(own_core)))
    auth = customer_auth(customer)
    assert (await client.get("/bookings", headers=auth)).status == 200

    own_core.terminate()
    down = await client.post("/bookings", json=booking_body(provider, customer), headers=auth)
    await problem(down, 503, "UPSTREAM_UNAVAILABLE")
    assert down.headers["Retry-After"] == "1"
    await problem(await client.get("/ready"), 503, "UPSTREAM_UNAVAILABLE")

    await own_core.start()

    async def recovered() -> bool:
        reply = await client.get("/bookings", headers=auth)
        return reply.status == 200

    await eventually(recovered, timeout=15)
    assert (await client.get("/ready")).status == 200
    created = await client.post("/bookings", json=booking_body(provider, customer), headers=auth)
    assert created.status == 201


async def test_core_stalled_past_the_deadline_is_504_and_recovers(
    own_core: CoreProcess, customer: pb.Customer, aiohttp_client: Any
) -> None:
    client = await aiohttp_client(create_app(gateway_settings(own_core, core_deadline_seconds=0.5)))
    auth = customer_auth(customer)
    assert (await client.get("/bookings", headers=auth)).status == 200
    assert own_core.process is not None
    os.kill(own_core.process.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        stalled = await client.get("/bookings", headers=auth)
        elapsed = time.monotonic() - started
        await problem(stalled, 504, "UPSTREAM_TIMEOUT")
        assert elapsed < 5  # bounded by the deadline, not by the stall
        await problem(await client.get("/ready"), 503, "UPSTREAM_UNAVAILABLE")
    finally:
        os.kill(own_core.process.pid, signal.SIGCONT)

    async def recovered() -> bool:
        return (await client.get("/bookings", headers=auth)).status == 200

    await eventually(recovered, timeout=10)


async def test_sigterm_finishes_in_flight_requests_then_exits(
    own_core: CoreProcess, customer: pb.Customer, tmp_path: Path
) -> None:
    gateway = GatewayProcess(own_core.port, tmp_path / "gateway.log", CORE_DEADLINE_SECONDS="10")
    await gateway.start()
    auth = customer_auth(customer)
    assert own_core.process is not None
    async with aiohttp.ClientSession() as session:
        # Stall booking-core so a request is in flight when SIGTERM arrives.
        os.kill(own_core.process.pid, signal.SIGSTOP)
        in_flight = asyncio.ensure_future(session.get(f"{gateway.url}/bookings", headers=auth))

        async def request_in_progress() -> bool:
            async with session.get(f"{gateway.url}/metrics") as metrics:
                text = await metrics.text()
            return 'http_requests_in_progress{method="GET",route="/bookings"} 1.0' in text

        await eventually(request_in_progress, timeout=5)
        assert gateway.process is not None
        gateway.process.send_signal(signal.SIGTERM)

        async def refusing_new_connections() -> bool:
            try:
                async with session.get(f"{gateway.url}/health") as reply:
                    return reply.status != 200
            except aiohttp.ClientConnectionError:
                return True

        await eventually(refusing_new_connections, timeout=5)
        os.kill(own_core.process.pid, signal.SIGCONT)
        reply = await in_flight
        assert reply.status == 200
        reply.release()
    assert await asyncio.to_thread(gateway.wait_exit, 20) == 0
    lines = [json.loads(line) for line in gateway.log_lines()]
    assert any(line["event"] == "http.request" and line["status"] == 200 for line in lines)
    assert not any("Traceback" in json.dumps(line) for line in lines)


async def test_bad_token_is_logged_as_one_line(core: CoreProcess, tmp_path: Path) -> None:
    gateway = GatewayProcess(core.port, tmp_path / "gateway.log")
    await gateway.start()
    try:
        async with aiohttp.ClientSession() as session:
            expired = make_token("customer", "8133b53f-6451-5af0-b72b-ea0c7a71b115", exp=1)
            headers = {"Authorization": f"Bearer {expired}", "X-Request-ID": "expired-token-1"}
            async with session.get(f"{gateway.url}/bookings", headers=headers) as reply:
                assert reply.status == 401
    finally:
        gateway.terminate()
    text = gateway.log_path.read_text()
    assert "Traceback" not in text
    rejected = [json.loads(line) for line in text.splitlines() if "auth.rejected" in line]
    assert len(rejected) == 1
    assert rejected[0]["requestId"] == "expired-token-1"
    assert "expired" in rejected[0]["reason"]


@pytest.mark.parametrize("role", ["customer", "provider"])
async def test_schemathesis_finds_no_5xx_and_no_contract_drift(
    core: CoreProcess, customer: pb.Customer, provider: pb.Provider, tmp_path: Path, role: str
) -> None:
    """Every operation explored with a customer's token, then a provider's (whose event-type
    operations a customer only sees refused)."""
    gateway = GatewayProcess(
        core.port,
        tmp_path / "gateway.log",
        RATE_LIMIT_PER_MINUTE="100000",
        PUBLIC_BOOKING_RATE_LIMIT_PER_MINUTE="100000",
        # It sends many requests without (or with bad) tokens on purpose.
        AUTH_FAILURE_RATE_LIMIT_PER_MINUTE="100000",
    )
    await gateway.start()
    token = make_token(role, customer.id if role == "customer" else provider.id)
    checks = ",".join(
        [
            "not_a_server_error",
            "status_code_conformance",
            "content_type_conformance",
            "response_headers_conformance",
            "response_schema_conformance",
            "negative_data_rejection",
            "missing_required_header",
            "unsupported_method",
            "ignored_auth",
        ]
    )
    try:
        result = await asyncio.to_thread(
            subprocess.run,
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "run",
                f"{gateway.url}/openapi.json",
                "--header",
                f"Authorization: Bearer {token}",
                "--checks",
                checks,
                "--max-examples",
                "25",
                "--seed",
                "20261120",
                "--generation-database",
                "none",
                "--request-timeout",
                "10",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        gateway.terminate()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "passed" in output
    assert not any('"status": 5' in line for line in gateway.log_lines())
