"""Integration fixtures: a throwaway database, a real booking-core process, gRPC clients.

PostgreSQL and Redis are the real local servers. ``TEST_ADMIN_DATABASE_URL``
(default ``postgresql://postgres@127.0.0.1:5432/postgres``) is used to create
and drop one database per test session, so runs never touch real data and
never see each other's. ``TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/15``)
is the Redis the shared booking-core publishes to and enqueues reminder jobs in;
the session empties that database when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic import command
from alembic.config import Config
from bookings_common.grpc import create_channel
from bookings_common.settings import asyncpg_url
from bookings_proto.bookings import v1 as pb
from bookings_web.auth import JwtSettings
from gateway.app import create_app as create_gateway
from gateway.settings import Settings as GatewaySettings
from grpclib.client import Channel
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from .harness import INTERNAL_TOKEN, JWT_SECRET, REDIS_URL, CoreProcess

ROOT = Path(__file__).resolve().parents[2]
ADMIN_URL = os.environ.get(
    "TEST_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
SERVICE = pb.Actor(service="integration-tests")


def database_url_for(name: str) -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def migrate(url: str, revision: str = "head", *, down: bool = False) -> None:
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = asyncpg_url(url)
    config.attributes["configure_logger"] = False
    (command.downgrade if down else command.upgrade)(config, revision)


async def create_database() -> str:
    name = f"bookings_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def drop_database(name: str) -> None:
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def fresh_database(*, migrated: bool = True) -> AsyncIterator[str]:
    """Create a database (migrated to head unless told not to), yield its
    plain postgresql:// URL, drop it afterwards."""
    name = await create_database()
    url = database_url_for(name)
    try:
        if migrated:
            await asyncio.to_thread(migrate, url)
        yield url
    finally:
        await drop_database(name)


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    """A freshly created and migrated database for this session."""
    async with fresh_database() as url:
        yield url


@pytest.fixture(scope="session", autouse=True)
async def empty_test_redis_database() -> AsyncIterator[None]:
    """Drop the reminder jobs the session's booking-cores enqueued."""
    yield
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """For SQL checks the tests make behind booking-core's back."""
    engine = create_async_engine(asyncpg_url(database_url))
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="session")
async def core(database_url: str, log_dir: Path) -> AsyncIterator[CoreProcess]:
    """The shared booking-core process."""
    process = CoreProcess(database_url, REDIS_URL, log_dir / "core.log")
    await process.start()
    yield process
    process.terminate()


@pytest.fixture(scope="session")
async def channel(core: CoreProcess) -> AsyncIterator[Channel]:
    channel = create_channel(f"127.0.0.1:{core.port}", internal_token=INTERNAL_TOKEN)
    yield channel
    channel.close()


@pytest.fixture
def stub(channel: Channel) -> pb.BookingServiceStub:
    return pb.BookingServiceStub(channel, timeout=10)


@pytest.fixture
async def provider(stub: pb.BookingServiceStub) -> pb.Provider:
    reply = await stub.register_provider(
        pb.RegisterProviderRequest(actor=SERVICE, name="Test Provider", time_zone="Europe/Berlin")
    )
    assert reply.provider is not None
    return reply.provider


async def new_customer(stub: pb.BookingServiceStub) -> pb.Customer:
    reply = await stub.register_customer(
        pb.RegisterCustomerRequest(
            actor=SERVICE, name="Test Customer", email=f"{uuid.uuid4().hex}@example.com"
        )
    )
    assert reply.customer is not None
    return reply.customer


@pytest.fixture
async def customer(stub: pb.BookingServiceStub) -> pb.Customer:
    return await new_customer(stub)


def gateway_settings(core: CoreProcess, **overrides: Any) -> GatewaySettings:
    """Gateway settings against ``core``: HS256 with the tests' secret, development mode,
    a rate limit high enough not to interfere unless a test lowers it."""
    values: dict[str, Any] = {
        "jwt": JwtSettings("HS256", JWT_SECRET),
        "internal_token": INTERNAL_TOKEN,
        "core_grpc_target": f"127.0.0.1:{core.port}",
        "host": "127.0.0.1",
        "app_env": "development",
        "rate_limit_per_minute": 100_000,
        "auth_failure_rate_limit_per_minute": 100_000,
        **overrides,
    }
    return GatewaySettings(**values)


@pytest.fixture
async def gateway(core: CoreProcess, aiohttp_client: Any) -> Any:
    """A test client of a gateway app (real aiohttp server) in front of the shared booking-core."""
    return await aiohttp_client(create_gateway(gateway_settings(core)))
