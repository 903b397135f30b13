"""The monolith baseline: what a one-process implementation does for ``POST /bookings``.

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

    python bench/monolith.py CONFIG.json

``CONFIG``: ``{"port", "database_url", "jwt_secret", "provider", "customer"}`` (a
registered provider and customer, booked once to capture the SQL). Prints
``ready`` on stdout when it listens.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import jwt  # noqa: E402
import uvloop  # noqa: E402
from aiohttp import web  # noqa: E402
from gateway.schemas import CreateBookingRequest  # noqa: E402
from marshmallow import ValidationError  # noqa: E402

from bench.pgbench import LEAD, Capture, capture  # noqa: E402

# What each captured argument becomes for a new booking.
BOOKING, PROVIDER, CUSTOMER, START, END, DUE = range(6)


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

    async def create(request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        try:
            claims = jwt.decode(
                header.removeprefix("Bearer "),
                secret,
                algorithms=["HS256"],
                options={"require": ["exp", "sub", "role"]},
            )
        except jwt.InvalidTokenError:
            return web.json_response({"code": "UNAUTHENTICATED"}, status=401)
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
