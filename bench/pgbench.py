"""The database's own ceiling: booking-core's per-booking SQL, replayed by pgbench.

``capture`` runs booking-core's real create path in this process (the
``BookingService`` on ``SqlUnitOfWork``, on the engine ``create_engine`` builds,
one warm pooled connection) and records every statement asyncpg sends to
PostgreSQL for one booking, with its parameters: the pool's pre-ping, BEGIN, the
inserts, the event sequencer's advisory lock, COMMIT.

``pgbench_script`` turns that record into a pgbench script: the same statement
texts, sent as prepared statements (``-M prepared``, as asyncpg does), with the
per-booking values made fresh for every transaction: the booking id, one
provider per pgbench client, the slot (one hour further each time) and its
reminder due time. Every other value is bound as it was captured. The
publisher's later ``UPDATE events SET published_at`` (one per batch of events,
off the request path) is not part of the transaction and not replayed.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from asyncpg.prepared_stmt import PreparedStatement
from booking_core.adapters.postgres import SqlUnitOfWork, create_engine
from booking_core.domain import commands
from booking_core.domain.model import Actor, LoggedEvent, TimeSlot
from booking_core.service_layer.cursors import CursorCodec
from booking_core.service_layer.handlers import BookingRules, BookingService
from bookings_common.settings import asyncpg_url

# pgbench's providers: ids lpad(to_hex(PROVIDER_BASE + client_id), 32, '0').
PROVIDER_BASE = 0xB0000000
# Slots start here (epoch seconds) plus k hours; far from any other workload's.
SLOT_EPOCH = int(datetime(2031, 1, 1, tzinfo=UTC).timestamp())
LEAD = timedelta(minutes=10)


@dataclass(frozen=True)
class Statement:
    sql: str
    args: tuple[Any, ...]


@contextlib.contextmanager
def recording() -> Iterator[list[Statement]]:
    """Record what asyncpg sends: simple queries (``Connection.execute``, which
    carries BEGIN/COMMIT/ROLLBACK), ``Connection.fetchrow`` (the pre-ping),
    prepared statements (SQLAlchemy's path) and ``Connection.fetch`` (booking-core's
    ``Prepared`` statements)."""
    sent: list[Statement] = []
    execute, fetchrow, fetch, connection_fetch = (
        asyncpg.Connection.execute,
        asyncpg.Connection.fetchrow,
        PreparedStatement.fetch,
        asyncpg.Connection.fetch,
    )

    async def record_execute(self: Any, query: str, *args: Any, **kw: Any) -> Any:
        sent.append(Statement(query, args))
        return await execute(self, query, *args, **kw)

    async def record_fetchrow(self: Any, query: str, *args: Any, **kw: Any) -> Any:
        sent.append(Statement(query, args))
        return await fetchrow(self, query, *args, **kw)

    async def record_fetch(self: Any, *args: Any, **kw: Any) -> Any:
        sent.append(Statement(self.get_query(), args))
        return await fetch(self, *args, **kw)

    async def record_connection_fetch(self: Any, query: str, *args: Any, **kw: Any) -> Any:
        sent.append(Statement(query, args))
        return await connection_fetch(self, query, *args, **kw)

    asyncpg.Connection.execute = record_execute  # type: ignore[method-assign]
    asyncpg.Connection.fetchrow = record_fetchrow  # type: ignore[method-assign]
    PreparedStatement.fetch = record_fetch  # type: ignore[method-assign]
    asyncpg.Connection.fetch = record_connection_fetch  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        asyncpg.Connection.execute = execute  # type: ignore[method-assign]
        asyncpg.Connection.fetchrow = fetchrow  # type: ignore[method-assign]
        PreparedStatement.fetch = fetch  # type: ignore[method-assign]
        asyncpg.Connection.fetch = connection_fetch  # type: ignore[method-assign]


class _Discard:
    def publish_committed(self, events: Sequence[LoggedEvent]) -> None:
        pass


@dataclass(frozen=True)
class Capture:
    statements: list[Statement]
    booking_id: uuid.UUID
    provider_id: uuid.UUID
    customer_id: uuid.UUID
    slot: TimeSlot
    due_at: datetime


async def capture(database_url: str, provider_id: str, customer_id: str) -> Capture:
    """One booking through booking-core's own create path; what it sent, and its values."""
    engine = create_engine(asyncpg_url(database_url), pool_size=1)
    service = BookingService(
        uow_factory=lambda: SqlUnitOfWork(engine),
        publisher=_Discard(),
        clock=lambda: datetime.now(UTC),
        cursors=CursorCodec(b"bench-capture-secret-0123456789"),
        rules=BookingRules(reminder_lead=LEAD),
    )
    provider, customer = uuid.UUID(provider_id), uuid.UUID(customer_id)
    actor = Actor.customer(customer)
    base = datetime(2030, 6, 1, 9, tzinfo=UTC)

    async def book(hours: int) -> tuple[uuid.UUID, TimeSlot]:
        slot = TimeSlot(base + timedelta(hours=hours), base + timedelta(hours=hours, minutes=30))
        result = await service.create_booking(
            commands.CreateBooking(actor, provider, customer, slot)
        )
        return result.booking.id, slot

    try:
        await book(0)  # warm: the pool holds a connection, statements are prepared
        with recording() as sent:
            booking_id, slot = await book(1)
    finally:
        await engine.dispose()
    return Capture(list(sent), booking_id, provider, customer, slot, slot.start - LEAD)


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def pgbench_script(captured: Capture) -> tuple[str, dict[str, str]]:
    """The pgbench script and its ``-D`` variables (``run`` is left to the caller)."""
    fresh = {
        captured.booking_id: "lpad(to_hex(:booking::bigint), 32, '0')::uuid",
        captured.provider_id: "lpad(to_hex(:provider::bigint), 32, '0')::uuid",
        captured.slot.start: "to_timestamp(:slot_start)",
        captured.slot.end: "to_timestamp(:slot_end)",
        captured.due_at: "to_timestamp(:due_at)",
    }
    variables: dict[str, str] = {"k": "0"}
    lines = [
        "\\set k :k + 1",
        "\\set booking :run * 10000000000 + :client_id * 100000000 + :k",
        f"\\set provider {PROVIDER_BASE} + :client_id",
        f"\\set slot_start {SLOT_EPOCH} + (:run * 1000000 + :k) * 3600",
        "\\set slot_end :slot_start + 1800",
        f"\\set due_at :slot_start - {int(LEAD.total_seconds())}",
    ]
    for statement in captured.statements:
        args = statement.args

        def bind(match: re.Match[str], args: tuple[Any, ...] = args) -> str:
            value = args[int(match.group(1)) - 1]
            if value is None:
                return "NULL"
            for known, expression in fresh.items():
                if value == known:
                    return f"({expression})"
            name = f"v{len(variables)}"
            variables[name] = _text(value)
            return f":{name}"

        sql = " ".join(statement.sql.split()).rstrip(";")
        lines.append(re.sub(r"\$(\d+)", bind, sql) + ";")
    return "\n".join(lines) + "\n", variables


async def add_providers(database_url: str, clients: int) -> None:
    """The providers pgbench's clients book (idempotent)."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.executemany(
            "INSERT INTO providers (id, name) VALUES (lpad(to_hex($1::bigint), 32, '0')::uuid, $2)"
            " ON CONFLICT DO NOTHING",
            [(PROVIDER_BASE + n, f"pgbench provider {n}") for n in range(clients)],
        )
    finally:
        await conn.close()


def run_pgbench(
    database_url: str,
    script_path: str,
    variables: dict[str, str],
    *,
    run: int,
    clients: int,
    seconds: int,
) -> dict[str, float]:
    """Run pgbench (-M prepared); return ``tps`` and ``latency_ms`` (its average)."""
    parts = urlsplit(database_url)
    argv = [
        "pgbench",
        "--no-vacuum",
        "--protocol=prepared",
        f"--client={clients}",
        f"--jobs={min(clients, 2)}",
        f"--time={seconds}",
        f"--file={script_path}",
        f"--host={parts.hostname or '127.0.0.1'}",
        f"--port={parts.port or 5432}",
        f"--username={parts.username or 'postgres'}",
        f"--define=run={run}",
        *(f"--define={name}={value}" for name, value in variables.items()),
        parts.path.lstrip("/"),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"pgbench failed:\n{done.stdout}\n{done.stderr}")
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", done.stdout)
    latency = re.search(r"latency average = ([\d.]+) ms", done.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", done.stdout)
    if tps is None or latency is None:
        raise RuntimeError(f"unexpected pgbench output:\n{done.stdout}")
    if failed is not None and int(failed.group(1)):
        raise RuntimeError(f"pgbench transactions failed:\n{done.stdout}\n{done.stderr}")
    return {"tps": float(tps.group(1)), "latency_ms": float(latency.group(1))}
