"""The monolith baseline: what a one-process implementation does for ``POST /bookings``,
``GET /bookings/{id}`` and ``GET /bookings`` (a page).

A minimal aiohttp app (on uvloop, as our services) that, per request, verifies the
JWT (PyJWT, HS256, the same secret and claims check as the gateway's), validates
the body with the gateway's own marshmallow schema (``CreateBookingRequest``) and
runs booking-core's exact per-booking SQL through one asyncpg pool: the
statements ``bench/pgbench.py`` records booking-core's create path sending for
one booking (BEGIN, the one write statement, COMMIT, as captured), with that
request's booking id, provider, customer, slot and reminder due time bound in
place of the captured ones. No gRPC hop, no business rules beyond what the SQL
enforces (the overlap constraint): the cost floor ``make bench`` measures the
real path against (``ratio e2e/monolith``).

The reads do the same: the JWT check, booking-core's exact read SQL (what
``get_booking`` and ``list_bookings`` send, captured the same way, with the
request's booking id, caller and clock bound), the visibility check, and the
answer rendered by the gateway's own response schemas (``BookingEnvelope``,
``BookingPage``). A full page has no next cursor here (the real path signs one).

    python bench/monolith.py CONFIG.json

``CONFIG``: ``{"port", "database_url", "jwt_secret", "provider", "customer"}`` (a
registered provider and customer, booked once to capture the SQL; the reads are
captured on the booking so made). Prints
``ready`` on stdout when it listens.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import jwt  # noqa: E402
import uvloop  # noqa: E402
from aiohttp import web  # noqa: E402
from booking_core.adapters.postgres import SqlUnitOfWork, create_engine  # noqa: E402
from booking_core.domain import commands  # noqa: E402
from booking_core.domain.model import Actor, ListType  # noqa: E402
from booking_core.service_layer.cursors import CursorCodec  # noqa: E402
from booking_core.service_layer.handlers import BookingRules, BookingService  # noqa: E402
from bookings_common.settings import asyncpg_url  # noqa: E402
from gateway.schemas import BookingEnvelope, BookingPage, CreateBookingRequest  # noqa: E402
from marshmallow import ValidationError  # noqa: E402

from bench.pgbench import LEAD, Capture, Statement, _Discard, capture, recording  # noqa: E402

# What each captured argument becomes for a new booking.
BOOKING, PROVIDER, CUSTOMER, START, END, DUE = range(6)
PAGE_SIZE = 20


def template(captured: Capture) -> list[tuple[str, list[tuple[int, Any]]]]:
    """Each statement with, per argument, (kind, value): a per-booking kind above, or
    -1 and the captured constant."""
    fresh = {
        captured.booking_id: BOOKING,
        captured.provider_id: PROVIDER,
        captured.customer_id: CUSTOMER,
        captured.slot.start: START,
        captured.slot.end: END,
        captured.due_at: DUE,
    }
    shaped = []
    for statement in captured.statements:
        args = [
            (fresh.get(value, -1) if _hashable(value) else -1, value) for value in statement.args
        ]
        shaped.append((statement.sql, args))
    return shaped


async def capture_reads(
    database_url: str, customer_id: str, booking_id: str
) -> tuple[Statement, Statement]:
    """The one statement booking-core's ``get_booking`` sends, and the one its
    ``list_bookings`` (upcoming, 20) sends, each recorded from a warm connection."""
    engine = create_engine(asyncpg_url(database_url), pool_size=1)
    service = BookingService(
        uow_factory=lambda: SqlUnitOfWork(engine),
        publisher=_Discard(),
        clock=lambda: datetime.now(UTC),
        cursors=CursorCodec(b"bench-capture-secret-0123456789"),
        rules=BookingRules(reminder_lead=LEAD),
    )
    actor = Actor.customer(uuid.UUID(customer_id))
    get = commands.GetBooking(actor, uuid.UUID(booking_id))
    page = commands.ListBookings(actor, ListType.UPCOMING, PAGE_SIZE)
    try:
        await service.get_booking(get)
        await service.list_bookings(page)
        with recording() as got:
            await service.get_booking(get)
        with recording() as listed:
            await service.list_bookings(page)
    finally:
        await engine.dispose()
    (one,) = [s for s in got if s.sql.lstrip().upper().startswith("SELECT")]
    (many,) = [s for s in listed if s.sql.lstrip().upper().startswith("SELECT")]
    return one, many


def booking_data(row: asyncpg.Record) -> dict[str, Any]:
    """A bookings row as the gateway's ``Booking`` schema's input (what the gateway
    builds from booking-core's protobuf)."""
    data: dict[str, Any] = {
        "id": row["id"],
        "provider_id": row["provider_id"],
        "customer_id": row["customer_id"],
        "start_time": row["start_time"],
        "end_time": row["end_time"],
        "status": row["status"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }
    if row["status"] == "cancelled":
        data["cancelled_at"] = row["cancelled_at"]
        if row["cancel_reason"]:
            data["cancel_reason"] = row["cancel_reason"]
    return data


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


async def serve(config: dict[str, Any]) -> None:
    database_url = config["database_url"]
    captured = await capture(config["database_url"], config["provider"], config["customer"])
    statements = template(captured)
    one, many = await capture_reads(database_url, config["customer"], str(captured.booking_id))
    # get: (id); list: the owner, the clock, then the captured constants (the limit).
    one_booking = [i for i, v in enumerate(one.args) if v == captured.booking_id]
    owner = [i for i, v in enumerate(many.args) if v == captured.customer_id]
    clock = [i for i, v in enumerate(many.args) if isinstance(v, datetime)]
    if len(one_booking) != 1 or len(owner) != 1 or len(clock) != 1:
        raise RuntimeError(f"unexpected read SQL: {one.args!r} {many.args!r}")
    envelope, page_schema = BookingEnvelope(), BookingPage()

    async def codecs(conn: asyncpg.Connection) -> None:
        # JSON in and out, as SQLAlchemy's asyncpg dialect sets up for booking-core.
        for name in ("json", "jsonb"):
            await conn.set_type_codec(
                name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
            )

    # DB_POOL_SIZE's default, as booking-core.
    pool = await asyncpg.create_pool(database_url, min_size=20, max_size=20, init=codecs)
    schema = CreateBookingRequest()
    secret = config["jwt_secret"]

    def verified(request: web.Request) -> dict[str, Any] | None:
        header = request.headers.get("Authorization", "")
        try:
            claims: dict[str, Any] = jwt.decode(
                header.removeprefix("Bearer "),
                secret,
                algorithms=["HS256"],
                options={"require": ["exp", "sub", "role"]},
            )
        except jwt.InvalidTokenError:
            return None
        return claims

    def unauthenticated() -> web.Response:
        return web.json_response({"code": "UNAUTHENTICATED"}, status=401)

    async def get(request: web.Request) -> web.Response:
        claims = verified(request)
        if claims is None:
            return unauthenticated()
        try:
            booking_id = uuid.UUID(request.match_info["id"])
        except ValueError:
            return web.json_response({"code": "VALIDATION_FAILED"}, status=400)
        args = list(one.args)
        args[one_booking[0]] = booking_id
        async with pool.acquire() as conn:
            row = await conn.fetchrow(one.sql, *args)
        viewer = claims.get("customerId") or claims.get("providerId")
        if row is None or viewer not in (str(row["customer_id"]), str(row["provider_id"])):
            return web.json_response({"code": "NOT_FOUND"}, status=404)
        return web.json_response(envelope.dump({"booking": booking_data(row)}))

    async def page(request: web.Request) -> web.Response:
        claims = verified(request)
        if claims is None:
            return unauthenticated()
        if request.query.get("type") != "upcoming" or request.query.get("limit") != "20":
            return web.json_response({"code": "VALIDATION_FAILED"}, status=400)
        args = list(many.args)
        args[owner[0]] = uuid.UUID(claims["customerId"])
        args[clock[0]] = datetime.now(UTC)
        async with pool.acquire() as conn:
            rows = await conn.fetch(many.sql, *args)
        items = [booking_data(row) for row in rows[:PAGE_SIZE]]
        return web.json_response(page_schema.dump({"items": items, "next_cursor": None}))

    async def create(request: web.Request) -> web.Response:
        claims = verified(request)
        if claims is None:
            return unauthenticated()
        try:
            body = schema.load(await request.json())
        except (ValidationError, ValueError):
            return web.json_response({"code": "VALIDATION_FAILED"}, status=400)
        if claims.get("customerId") != str(body["customer_id"]):
            return web.json_response({"code": "FORBIDDEN"}, status=403)
        booking_id = uuid.uuid4()
        values = {
            BOOKING: booking_id,
            PROVIDER: body["provider_id"],
            CUSTOMER: body["customer_id"],
            START: body["start_time"],
            END: body["end_time"],
            DUE: body["start_time"] - LEAD,
        }
        async with pool.acquire() as conn:
            try:
                for sql, args in statements:
                    bound = [values[kind] if kind >= 0 else value for kind, value in args]
                    if sql.strip().upper() in ("BEGIN", "COMMIT", "ROLLBACK"):
                        await conn.execute(sql)
                    else:
                        await conn.fetch(sql, *bound)
            except asyncpg.PostgresError:
                await conn.execute("ROLLBACK")
                return web.json_response({"code": "BOOKING_CONFLICT"}, status=409)
        return web.json_response({"bookingId": str(booking_id)}, status=201)

    app = web.Application()
    app.router.add_post("/bookings", create)
    app.router.add_get("/bookings/{id}", get)
    app.router.add_get("/bookings", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", config["port"]).start()
    print("ready", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        await pool.close()


def main() -> None:
    config = json.loads(Path(sys.argv[1]).read_text())
    uvloop.run(serve(config))


if __name__ == "__main__":
    main()
