"""Process-level behaviour: database outages, SIGTERM draining, settings, seed, schema, codegen."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from booking_core.adapters.tables import metadata
from bookings_common.grpc import create_channel
from bookings_common.settings import asyncpg_url
from bookings_proto.bookings import v1 as pb
from grpclib.const import Status
from grpclib.exceptions import GRPCError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from .conftest import REDIS_URL, ROOT, SERVICE, fresh_database, migrate
from .harness import INTERNAL_TOKEN, CoreProcess, TcpProxy, eventually, in_future

pytestmark = pytest.mark.integration


def booking_request(
    provider: pb.Provider, customer: pb.Customer, hours: int
) -> pb.CreateBookingRequest:
    start = in_future(days=20, hours=hours)
    return pb.CreateBookingRequest(
        actor=SERVICE,
        provider_id=provider.id,
        customer_id=customer.id,
        start_time=start,
        end_time=start + timedelta(minutes=30),
    )


async def test_postgres_down_is_unavailable_and_recovers_without_restart(
    database_url: str, log_dir: Path, provider: pb.Provider, customer: pb.Customer
) -> None:
    target = urlsplit(database_url)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 5432)
    await proxy.start()
    via_proxy = database_url.replace(f"{target.hostname}:{target.port}", f"127.0.0.1:{proxy.port}")
    core = CoreProcess(via_proxy, REDIS_URL, log_dir / "core-pg-outage.log")
    await core.start()
    channel = create_channel(f"127.0.0.1:{core.port}", internal_token=INTERNAL_TOKEN)
    stub = pb.BookingServiceStub(channel, timeout=10)
    try:
        assert (
            await stub.create_booking(booking_request(provider, customer, 0))
        ).booking is not None
        await proxy.cut()
        for call in (
            stub.create_booking(booking_request(provider, customer, 1)),
            stub.get_booking(
                pb.GetBookingRequest(
                    actor=SERVICE, booking_id="00000000-0000-4000-8000-000000000000"
                )
            ),
        ):
            with pytest.raises(GRPCError) as info:
                await call
            assert info.value.status is Status.UNAVAILABLE, info.value.message
        await proxy.restore()

        async def recovered() -> pb.CreateBookingResponse:
            return await stub.create_booking(booking_request(provider, customer, 2))

        assert (await eventually(recovered, timeout=15)).booking is not None
        assert core.process is not None and core.process.poll() is None
    finally:
        channel.close()
        core.terminate()
        await proxy.cut()


async def test_sigterm_drains_in_flight_calls_and_refuses_new_ones(
    database_url: str,
    log_dir: Path,
    provider: pb.Provider,
    customer: pb.Customer,
    engine: AsyncEngine,
) -> None:
    core = CoreProcess(
        database_url, REDIS_URL, log_dir / "core-drain.log", SHUTDOWN_GRACE_SECONDS="20"
    )
    await core.start()
    channel = create_channel(f"127.0.0.1:{core.port}", internal_token=INTERNAL_TOKEN)
    stub = pb.BookingServiceStub(channel, timeout=15)
    try:
        booking = (await stub.create_booking(booking_request(provider, customer, 3))).booking
        assert booking is not None
        async with engine.connect() as blocker:
            await blocker.execute(
                sa.text("SELECT 1 FROM bookings WHERE id = :id FOR UPDATE"), {"id": booking.id}
            )
            in_flight = asyncio.create_task(
                stub.cancel_booking(pb.CancelBookingRequest(actor=SERVICE, booking_id=booking.id))
            )

            async def cancel_is_waiting_on_the_lock() -> bool:
                async with engine.connect() as conn:
                    waiting = await conn.scalar(
                        sa.text(
                            "SELECT count(*) FROM pg_stat_activity"
                            " WHERE application_name = 'booking-core'"
                            " AND wait_event_type = 'Lock' AND datname = current_database()"
                        )
                    )
                return bool(waiting)

            await eventually(cancel_is_waiting_on_the_lock)
            assert core.process is not None
            core.process.send_signal(signal.SIGTERM)

            async def refusing() -> bool:
                try:
                    await stub.get_booking(
                        pb.GetBookingRequest(actor=SERVICE, booking_id=booking.id)
                    )
                except GRPCError as exc:
                    return exc.status is Status.UNAVAILABLE
                return False

            await eventually(refusing)
            assert not in_flight.done()
            await blocker.rollback()  # let the in-flight call finish
        reply = await in_flight
        assert reply.booking is not None and reply.booking.status is pb.BookingStatus.CANCELLED
        code = await asyncio.to_thread(core.process.wait, 15)
        assert code == 0
        assert any(
            '"booking_core.stopped"' in line and '"drained": true' in line
            for line in core.log_lines()
        )
    finally:
        channel.close()
        core.terminate()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"INTERNAL_TOKEN": "x" * 16},
            'configuration error: Environment variable "DATABASE_URL" not set',
        ),
        ({}, 'configuration error: Environment variable "INTERNAL_TOKEN" not set'),
        (
            {"DATABASE_URL": "mysql://x@localhost/db", "INTERNAL_TOKEN": "x" * 16},
            'configuration error: "DATABASE_URL" must look like postgresql://user@host:5432/dbname',
        ),
        (
            {"DATABASE_URL": "postgresql://x@localhost/db", "INTERNAL_TOKEN": "short"},
            'configuration error: "INTERNAL_TOKEN" must be at least 16 characters long',
        ),
        (
            {
                "DATABASE_URL": "postgresql://x@localhost/db",
                "INTERNAL_TOKEN": "x" * 16,
                "GRPC_PORT": "high",
            },
            "configuration error: ",
        ),
    ],
)
def test_bad_settings_stop_the_process_with_one_line(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "INTERNAL_TOKEN", "GRPC_PORT"}
    }
    result = subprocess.run(
        [sys.executable, "-m", "booking_core"],
        env={**clean, **env},
        cwd=tmp_path,  # no .env here
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr
    if "GRPC_PORT" in env:
        assert "GRPC_PORT" in lines[0]


def test_seed_is_idempotent(database_url: str) -> None:
    outputs = [
        subprocess.run(
            [sys.executable, "-m", "booking_core.seed"],
            env={**os.environ, "DATABASE_URL": database_url},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        for _ in range(2)
    ]
    first, second = (json.loads(output) for output in outputs)
    # The admin's password is shown once, by the run that created the admin.
    assert len(first.pop("adminPassword")) >= 20
    assert first == second
    assert set(first) == {
        "organisationId",
        "providerId",
        "customerId",
        "eventTypeId",
        "eventTypeSlug",
        "eventTypeCustomSlug",
        "bookingUrl",
        "adminEmail",
        "venueId",
        "ticketedEventId",
    }
    assert first["bookingUrl"] == "http://localhost:8080/book/demo-intro-call"


async def test_migrations_go_down_and_up_and_match_the_tables() -> None:
    async with fresh_database(migrated=False) as url:
        engine = create_async_engine(asyncpg_url(url))
        try:
            await asyncio.to_thread(migrate, url)
            await asyncio.to_thread(migrate, url, "base", down=True)
            async with engine.connect() as conn:
                tables = await conn.scalar(
                    sa.text(
                        "SELECT count(*) FROM pg_tables"
                        " WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
                    )
                )
            assert tables == 0
            await asyncio.to_thread(migrate, url)

            def diff(sync_conn: sa.Connection) -> list[object]:
                context = MigrationContext.configure(sync_conn)
                return list(compare_metadata(context, metadata))

            async with engine.connect() as conn:
                differences = await conn.run_sync(diff)
            assert differences == []
        finally:
            await engine.dispose()


def test_generated_proto_code_is_fresh() -> None:
    bin_dir = str(Path(sys.executable).parent)
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_proto.py"), "--check"],
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
