"""Ticketing benchmark: holds on one hot event, and hold expiry.

Runs the real pieces on this machine: a throwaway PostgreSQL database, a private
redis-server and booking-core (``LOG_LEVEL=WARNING``).

1. **Holds per second on one hot event**: 1,000 seats, 200 buyers at once, each
   holding 2 random seats it has not seen taken, until the event is sold out,
   over gRPC (``HoldSeats``). Baseline in the same run: the same race straight in
   SQL through asyncpg (insert the booking, insert its items ``ON CONFLICT DO
   NOTHING`` against the same partial unique index, roll back when one is taken),
   200 buyers sharing 20 connections (booking-core's pool) on a second event:
   the database's ceiling for it.
2. **Expiry lateness**: 10,000 holds (one seat each) expiring within a minute,
   inserted directly with spread ``expires_at``; booking-core's expiry pass
   (``TICKET_EXPIRY_INTERVAL_SECONDS``, default 0.2) expires them. Lateness is
   ``expired_at - expires_at`` from the database; missed ones are still pending
   five seconds after the last is due. Baseline: an asyncio timer in this process
   for 1,000 due times (what an ideal scheduler could do here).

    make bench-tickets                 # or: .venv/bin/python bench/tickets.py --holds 10000
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from bookings_common.grpc import create_channel  # noqa: E402
from bookings_proto.bookings import v1 as pb  # noqa: E402
from grpclib.exceptions import GRPCError  # noqa: E402

from bench.measure import lateness_rows, percentile  # noqa: E402
from tests.integration.conftest import fresh_database  # noqa: E402
from tests.integration.harness import INTERNAL_TOKEN, CoreProcess, RedisProcess  # noqa: E402

SERVICE = pb.Actor(service="bench")
SEATS = 1000
BUYERS = 200
PER_HOLD = 2
POOL = 20


async def make_event(channel: Any, organisation_id: str, venue_id: str, *, name: str) -> str:
    stub = pb.TicketingServiceStub(channel, timeout=60)
    admin = pb.Actor(admin_organisation_id=organisation_id)
    now = datetime.now(UTC)
    reply = await stub.create_ticketed_event(
        pb.CreateTicketedEventRequest(
            actor=admin,
            spec=pb.TicketedEventSpec(
                venue_id=venue_id,
                name=name,
                starts_at=now + timedelta(days=30),
                ends_at=now + timedelta(days=30, hours=3),
                sales_open_at=now - timedelta(hours=1),
                sales_close_at=now + timedelta(days=29),
                currency="EUR",
                prices=[pb.Price(category="seat", amount_minor=3000)],
            ),
        )
    )
    assert reply.event is not None
    return reply.event.id


async def make_venue(channel: Any, seats: int) -> tuple[str, str, list[str]]:
    """An organisation and a venue with ``seats`` seats (rows of 50)."""
    identity = pb.IdentityServiceStub(channel, timeout=60)
    organisation = (
        await identity.create_organisation(
            pb.CreateOrganisationRequest(actor=SERVICE, name="Arena")
        )
    ).organisation
    assert organisation is not None
    stub = pb.TicketingServiceStub(channel, timeout=120)
    admin = pb.Actor(admin_organisation_id=organisation.id)
    venue = (
        await stub.create_venue(
            pb.CreateVenueRequest(actor=admin, spec=pb.VenueSpec(name="Arena", time_zone="UTC"))
        )
    ).venue
    assert venue is not None
    ids: list[str] = []
    specs = [
        pb.SeatSpec(section="Floor", row=str(n // 50), number=str(n % 50), category="seat")
        for n in range(seats)
    ]
    for start in range(0, seats, 2000):
        added = await stub.add_seats(
            pb.AddSeatsRequest(actor=admin, venue_id=venue.id, seats=specs[start : start + 2000])
        )
        ids = [s.id for s in added.seats]
    return organisation.id, venue.id, ids


async def hot_event_grpc(channel: Any, event_id: str, seat_ids: list[str]) -> dict[str, Any]:
    """200 buyers racing for the event's seats over gRPC until it is sold out."""
    stub = pb.TicketingServiceStub(channel, timeout=60)
    taken: set[str] = set()
    latencies: list[float] = []
    outcomes = {"held": 0, "refused": 0, "errors": 0}
    rng = random.Random(1)

    async def buyer() -> None:
        while True:
            free = [s for s in seat_ids if s not in taken]
            if len(free) < PER_HOLD:
                return
            wanted = rng.sample(free, PER_HOLD)
            started = time.perf_counter()
            try:
                await stub.hold_seats(
                    pb.HoldSeatsRequest(
                        actor=pb.Actor(guest=True),
                        event_id=event_id,
                        seat_ids=wanted,
                        buyer=pb.Buyer(name="Buyer", email=f"b{uuid.uuid4().hex[:12]}@example.com"),
                    )
                )
                outcomes["held"] += 1
                taken.update(wanted)
            except GRPCError as exc:
                details = exc.details or []
                seats = [
                    d.metadata["seatIds"]
                    for d in details
                    if getattr(d, "reason", "") == "SEAT_UNAVAILABLE"
                ]
                if seats:
                    outcomes["refused"] += 1
                    taken.update(seats[0].split(","))
                else:
                    outcomes["errors"] += 1
                    await asyncio.sleep(0.05)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(buyer() for _ in range(BUYERS)))
    elapsed = time.perf_counter() - started
    return {**outcomes, "seconds": elapsed, "latencies": latencies}


async def hot_event_sql(database_url: str, event_id: str, seat_ids: list[str]) -> dict[str, Any]:
    """The same race in SQL only: the database's ceiling for this hold statement shape."""
    # As many connections as booking-core's pool (DB_POOL_SIZE, 20), shared by the buyers.
    pool = await asyncpg.create_pool(database_url, min_size=POOL, max_size=POOL)
    assert pool is not None
    customer = uuid.uuid4()
    await pool.execute(
        "INSERT INTO customers (id, name, email) VALUES ($1, 'Bench', $2)",
        customer,
        f"{customer}@example.com",
    )
    taken: set[str] = set()
    latencies: list[float] = []
    outcomes = {"held": 0, "refused": 0, "errors": 0}
    rng = random.Random(2)
    event = uuid.UUID(event_id)

    async def buyer() -> None:
        while True:
            free = [s for s in seat_ids if s not in taken]
            if len(free) < PER_HOLD:
                return
            wanted = sorted(uuid.UUID(s) for s in rng.sample(free, PER_HOLD))
            started = time.perf_counter()
            async with pool.acquire() as conn:
                tx = conn.transaction()
                await tx.start()
                booking = uuid.uuid4()
                now = datetime.now(UTC)
                await conn.execute(
                    "INSERT INTO ticket_bookings (id, event_id, customer_id, buyer_name, "
                    "buyer_email, status, expires_at, total_minor, currency, created_at, "
                    "updated_at) VALUES ($1, $2, $3, 'Buyer', 'b@example.com', 'pending', $4, "
                    "6000, 'EUR', $5, $5)",
                    booking,
                    event,
                    customer,
                    now + timedelta(minutes=10),
                    now,
                )
                rows = await conn.fetch(
                    "INSERT INTO ticket_booking_items (booking_id, seat_id, event_id, category, "
                    "price_minor, active) SELECT $1, s, $2, 'seat', 3000, true "
                    "FROM unnest($3::uuid[]) AS s "
                    "ON CONFLICT (event_id, seat_id) WHERE active DO NOTHING RETURNING seat_id",
                    booking,
                    event,
                    wanted,
                )
                if len(rows) == len(wanted):
                    await tx.commit()
                    outcomes["held"] += 1
                else:
                    await tx.rollback()
                    outcomes["refused"] += 1
                taken.update(str(s) for s in wanted)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(buyer() for _ in range(BUYERS)))
    elapsed = time.perf_counter() - started
    await pool.close()
    return {**outcomes, "seconds": elapsed, "latencies": latencies}


async def timer_baseline(count: int = 1000, window: float = 10.0) -> list[float]:
    """Lateness of an in-process asyncio timer at each due time (seconds)."""
    loop = asyncio.get_running_loop()
    lateness: list[float] = []
    start = time.time() + 0.5
    dues = [start + window * i / count for i in range(count)]

    def fired(due: float) -> None:
        lateness.append(time.time() - due)

    for due in dues:
        loop.call_at(loop.time() + (due - time.time()), fired, due)
    await asyncio.sleep(window + 1.5)
    return lateness


async def expiry(
    database_url: str, event_id: str, seat_ids: list[str], holds: int, window: float
) -> dict[str, Any]:
    """``holds`` pending holds (one seat each) expiring evenly over ``window`` seconds."""
    conn = await asyncpg.connect(database_url)
    try:
        customer = uuid.uuid4()
        await conn.execute(
            "INSERT INTO customers (id, name, email) VALUES ($1, 'Bench', $2)",
            customer,
            f"{customer}@example.com",
        )
        event = uuid.UUID(event_id)
        now = datetime.now(UTC)
        first = now + timedelta(seconds=10)
        bookings = [uuid.uuid4() for _ in range(holds)]
        due = [first + timedelta(seconds=window * i / holds) for i in range(holds)]
        await conn.copy_records_to_table(
            "ticket_bookings",
            columns=[
                "id",
                "event_id",
                "customer_id",
                "buyer_name",
                "buyer_email",
                "status",
                "expires_at",
                "total_minor",
                "currency",
                "created_at",
                "updated_at",
            ],
            records=[
                (b, event, customer, "Buyer", "b@example.com", "pending", d, 3000, "EUR", now, now)
                for b, d in zip(bookings, due, strict=True)
            ],
        )
        await conn.copy_records_to_table(
            "ticket_booking_items",
            columns=["booking_id", "seat_id", "event_id", "category", "price_minor", "active"],
            records=[
                (b, uuid.UUID(s), event, "seat", 3000, True)
                for b, s in zip(bookings, seat_ids, strict=True)
            ],
        )
        baseline = await timer_baseline()
        end = due[-1] + timedelta(seconds=5)
        await asyncio.sleep(max(0.0, (end - datetime.now(UTC)).total_seconds()))
        rows = await conn.fetch(
            "SELECT status, expires_at, expired_at FROM ticket_bookings WHERE id = ANY($1)",
            bookings,
        )
        events = await conn.fetchval(
            "SELECT count(*) FROM events WHERE type = 'booking.expired' AND booking_id = ANY($1)",
            bookings,
        )
        released = await conn.fetchval(
            "SELECT count(*) FROM ticket_booking_items WHERE active AND booking_id = ANY($1)",
            bookings,
        )
    finally:
        await conn.close()
    lateness = [
        (r["expired_at"] - r["expires_at"]).total_seconds() for r in rows if r["expired_at"]
    ]
    return {
        "holds": holds,
        "window": window,
        "lateness": lateness,
        "missed": sum(1 for r in rows if r["status"] != "expired"),
        "events": events,
        "still_active_items": released,
        "baseline": baseline,
    }


async def run(holds: int, window: float, workdir: Path) -> dict[str, Any]:
    redis = RedisProcess(workdir)
    redis.start()
    try:
        async with fresh_database() as database_url:
            core = CoreProcess(database_url, redis.url, workdir / "core.log", LOG_LEVEL="WARNING")
            await core.start()
            channel = create_channel(f"127.0.0.1:{core.port}", internal_token=INTERNAL_TOKEN)
            try:
                organisation, venue, seats = await make_venue(channel, SEATS)
                hot = await make_event(channel, organisation, venue, name="Hot")
                hot_sql = await make_event(channel, organisation, venue, name="Hot (SQL)")
                print("holds: 200 buyers, 1,000 seats, over gRPC", flush=True)
                grpc_figures = await hot_event_grpc(channel, hot, seats)
                print("holds: the same race in SQL", flush=True)
                sql_figures = await hot_event_sql(database_url, hot_sql, seats)
                big_organisation, big_venue, big_seats = await make_venue(channel, holds)
                expiring = await make_event(channel, big_organisation, big_venue, name="Expiring")
                print(f"expiry: {holds} holds over {window:.0f} s", flush=True)
                expiry_figures = await expiry(database_url, expiring, big_seats, holds, window)
            finally:
                channel.close()
                core.terminate()
    finally:
        redis.stop()
    return {"grpc": grpc_figures, "sql": sql_figures, "expiry": expiry_figures}


def report(result: dict[str, Any]) -> str:
    ms = 1000.0
    grpc, sql, exp = result["grpc"], result["sql"], result["expiry"]

    def attempts(figures: dict[str, Any]) -> int:
        return int(figures["held"] + figures["refused"] + figures["errors"])

    holds_rows = [
        (
            "hold attempts per second",
            f"{attempts(grpc) / grpc['seconds']:.0f}",
            f"{attempts(sql) / sql['seconds']:.0f}",
        ),
        (
            "holds made per second",
            f"{grpc['held'] / grpc['seconds']:.0f}",
            f"{sql['held'] / sql['seconds']:.0f}",
        ),
        (
            "holds made / refused (409)",
            f"{grpc['held']} / {grpc['refused']}",
            f"{sql['held']} / {sql['refused']}",
        ),
        ("errors", str(grpc["errors"]), str(sql["errors"])),
        (
            "latency p50 (ms)",
            f"{percentile(grpc['latencies'], 0.5) * ms:.1f}",
            f"{percentile(sql['latencies'], 0.5) * ms:.1f}",
        ),
        (
            "latency p99 (ms)",
            f"{percentile(grpc['latencies'], 0.99) * ms:.1f}",
            f"{percentile(sql['latencies'], 0.99) * ms:.1f}",
        ),
        ("sold out in (s)", f"{grpc['seconds']:.1f}", f"{sql['seconds']:.1f}"),
    ]
    late, base = exp["lateness"] or [0.0], exp["baseline"] or [0.0]
    expiry_rows = [
        ("holds expiring", str(exp["holds"]), "", ""),
        *lateness_rows(late, base),
        ("missed (still pending)", str(exp["missed"]), "", "0"),
        ("booking.expired events", str(exp["events"]), "", str(exp["holds"])),
        ("seats not released", str(exp["still_active_items"]), "", "0"),
    ]
    return "\n".join(
        [
            f"One hot event: {SEATS} seats, {BUYERS} buyers at once holding {PER_HOLD} seats "
            "each until sold out.",
            "",
            "| figure | HoldSeats over gRPC | the same race in SQL (baseline, same run) |",
            "|---|---|---|",
            *(f"| {a} | {b} | {c} |" for a, b, c in holds_rows),
            "",
            f"Expiry: {exp['holds']} holds due evenly over {exp['window']:.0f} s, one "
            "booking-core, `TICKET_EXPIRY_INTERVAL_SECONDS=0.2`.",
            "",
            "| figure | expiry pass | asyncio timer (baseline, same run) | target |",
            "|---|---|---|---|",
            *(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in expiry_rows),
            "",
            f"Mean expiry lateness {statistics.fmean(late) * ms:.0f} ms.",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--holds", type=int, default=10_000, help="holds expiring in the window")
    parser.add_argument("--window", type=float, default=60.0, help="seconds")
    parser.add_argument("--report", type=Path, help="also write the report here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-tickets-") as tmp:
        result = asyncio.run(run(args.holds, args.window, Path(tmp)))
    text = report(result)
    if args.report:
        args.report.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
