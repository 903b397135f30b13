"""The REST contract through a real gateway server in front of a real booking-core."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from booking_core.adapters.idempotency import IdempotencyKeyExpiry
from booking_core.adapters.locks import IDEMPOTENCY_LOCK_CLASS
from bookings_proto.bookings import v1 as pb
from sqlalchemy.ext.asyncio import AsyncEngine

from .conftest import SERVICE, new_customer
from .harness import in_future, make_token

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"


def customer_auth(customer: pb.Customer) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token('customer', customer.id)}"}


def provider_auth(provider: pb.Provider) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token('provider', provider.id)}"}


def booking_body(
    provider: pb.Provider, customer: pb.Customer, *, hours: float = 2, minutes: int = 30
) -> dict[str, Any]:
    start = in_future(hours=hours)
    return {
        "providerId": provider.id,
        "customerId": customer.id,
        "startTime": start.isoformat(),
        "endTime": (start + timedelta(minutes=minutes)).isoformat(),
    }


async def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """Assert a problem+json answer with ``status`` and ``code``; return its body."""
    body = await response.text()
    assert response.status == status, body
    assert response.content_type == PROBLEM
    data: dict[str, Any] = json.loads(body)
    assert data["status"] == status
    assert data["code"] == code
    assert data["requestId"] == response.headers["X-Request-ID"]
    assert {"type", "title", "detail"} <= data.keys()
    assert "Traceback" not in body
    return data


async def test_create_read_list_cancel(
    gateway: Any, provider: pb.Provider, customer: pb.Customer
) -> None:
    auth = customer_auth(customer)
    body = booking_body(provider, customer)
    created = await gateway.post("/bookings", json=body, headers=auth)
    assert created.status == 201, await created.text()
    booking_id = (await created.json())["bookingId"]
    assert created.headers["Location"] == f"/bookings/{booking_id}"

    read = await gateway.get(created.headers["Location"], headers=auth)
    assert read.status == 200
    booking = (await read.json())["booking"]
    assert booking["id"] == booking_id
    assert booking["status"] == "confirmed"
    assert booking["providerId"] == provider.id and booking["customerId"] == customer.id
    assert booking["startTime"].endswith("Z") and "cancelledAt" not in booking

    listed = await gateway.get("/bookings", params={"type": "upcoming"}, headers=auth)
    page = await listed.json()
    assert [item["id"] for item in page["items"]] == [booking_id]
    assert page["nextCursor"] is None

    cancelled = await gateway.post(
        f"/bookings/{booking_id}/cancel", json={"reason": "changed plans"}, headers=auth
    )
    assert cancelled.status == 200
    after = (await cancelled.json())["booking"]
    assert after["status"] == "cancelled"
    assert after["cancelReason"] == "changed plans" and after["cancelledAt"]

    again = await gateway.post(f"/bookings/{booking_id}/cancel", headers=auth)
    assert again.status == 200
    assert (await again.json())["booking"]["cancelledAt"] == after["cancelledAt"]


async def test_list_pages_with_the_cursor_in_order(
    gateway: Any, provider: pb.Provider, customer: pb.Customer
) -> None:
    auth = customer_auth(customer)
    ids = []
    for hour in (5, 3, 4):
        reply = await gateway.post(
            "/bookings", json=booking_body(provider, customer, hours=hour), headers=auth
        )
        ids.append((hour, (await reply.json())["bookingId"]))
    expected = [booking_id for _, booking_id in sorted(ids)]

    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = await (await gateway.get("/bookings", params=params, headers=auth)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == expected

    past = await gateway.get("/bookings", params={"type": "past"}, headers=auth)
    assert (await past.json()) == {"items": [], "nextCursor": None}


async def test_idempotency_replays_and_rejects_reuse(
    gateway: Any, provider: pb.Provider, customer: pb.Customer
) -> None:
    auth = customer_auth(customer)
    body = booking_body(provider, customer)
    key = f"key-{uuid.uuid4()}"
    first = await gateway.post("/bookings", json=body, headers={**auth, "Idempotency-Key": key})
    assert first.status == 201
    booking_id = (await first.json())["bookingId"]

    replay = await gateway.post("/bookings", json={**body, "idempotencyKey": key}, headers=auth)
    assert replay.status == 200
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert (await replay.json())["bookingId"] == booking_id
    assert "Idempotent-Replayed" not in first.headers

    moved = booking_body(provider, customer, hours=7)
    reused = await gateway.post("/bookings", json=moved, headers={**auth, "Idempotency-Key": key})
    await problem(reused, 422, "IDEMPOTENCY_KEY_REUSED")

    both = await gateway.post(
        "/bookings", json={**body, "idempotencyKey": "a"}, headers={**auth, "Idempotency-Key": "b"}
    )
    data = await problem(both, 400, "VALIDATION_FAILED")
    assert data["errors"][0]["field"] == "idempotencyKey"


async def test_a_duplicate_while_the_first_is_in_flight_is_409_in_progress(
    gateway: Any, provider: pb.Provider, customer: pb.Customer, engine: AsyncEngine
) -> None:
    auth = customer_auth(customer)
    body = booking_body(provider, customer, hours=11)
    key = f"key-{uuid.uuid4()}"
    headers = {**auth, "Idempotency-Key": key}
    # A first request still in its transaction holds the key (booking-core's lock).
    async with engine.connect() as conn, conn.begin():
        await conn.execute(
            sa.text("SELECT pg_advisory_xact_lock(:cls, hashtext(:name))"),
            {"cls": IDEMPOTENCY_LOCK_CLASS, "name": f"provider:{provider.id}:{key}"},
        )
        busy = await gateway.post("/bookings", json=body, headers=headers)
        data = await problem(busy, 409, "IDEMPOTENCY_IN_PROGRESS")
        assert busy.headers["Retry-After"] == "1"
        assert "in progress" in data["detail"]
    created = await gateway.post("/bookings", json=body, headers=headers)
    assert created.status == 201

    # Concurrent duplicates: exactly one creates; the others replay or are told to wait.
    key = f"key-{uuid.uuid4()}"
    body = booking_body(provider, customer, hours=12)
    replies = await asyncio.gather(
        *(
            gateway.post("/bookings", json=body, headers={**auth, "Idempotency-Key": key})
            for _ in range(8)
        )
    )
    statuses = sorted(reply.status for reply in replies)
    assert statuses.count(201) == 1 and set(statuses) <= {200, 201, 409}, statuses
    for reply in replies:
        if reply.status == 409:
            assert (await reply.json())["code"] == "IDEMPOTENCY_IN_PROGRESS"
    ids = {(await reply.json())["bookingId"] for reply in replies if reply.status in (200, 201)}
    assert len(ids) == 1


async def test_idempotency_keys_are_forgotten_after_their_retention_window(
    gateway: Any, provider: pb.Provider, customer: pb.Customer, engine: AsyncEngine
) -> None:
    auth = customer_auth(customer)
    old_key, new_key = f"key-{uuid.uuid4()}", f"key-{uuid.uuid4()}"
    for key, hours in ((old_key, 13), (new_key, 14)):
        reply = await gateway.post(
            "/bookings",
            json=booking_body(provider, customer, hours=hours),
            headers={**auth, "Idempotency-Key": key},
        )
        assert reply.status == 201
    async with engine.begin() as conn:
        await conn.execute(
            sa.text(
                "UPDATE bookings SET created_at = now() - interval '25 hours'"
                " WHERE idempotency_key = :k"
            ),
            {"k": old_key},
        )
    expiry = IdempotencyKeyExpiry(engine, lambda: datetime.now(UTC), retention=timedelta(hours=24))
    assert await expiry.expire_once() >= 1
    # The old key now names a new request; the young one still replays and guards.
    again = await gateway.post(
        "/bookings",
        json=booking_body(provider, customer, hours=15),
        headers={**auth, "Idempotency-Key": old_key},
    )
    assert again.status == 201
    reused = await gateway.post(
        "/bookings",
        json=booking_body(provider, customer, hours=16),
        headers={**auth, "Idempotency-Key": new_key},
    )
    await problem(reused, 422, "IDEMPOTENCY_KEY_REUSED")


async def test_overlap_is_409_and_back_to_back_is_fine(
    gateway: Any, provider: pb.Provider, customer: pb.Customer
) -> None:
    auth = customer_auth(customer)
    body = booking_body(provider, customer, hours=30, minutes=60)
    assert (await gateway.post("/bookings", json=body, headers=auth)).status == 201
    overlapping = await gateway.post("/bookings", json=body, headers=auth)
    await problem(overlapping, 409, "BOOKING_OVERLAP")
    after = {**body, "startTime": body["endTime"], "endTime": in_future(hours=32).isoformat()}
    assert (await gateway.post("/bookings", json=after, headers=auth)).status == 201


async def test_ownership(
    gateway: Any, stub: pb.BookingServiceStub, provider: pb.Provider, customer: pb.Customer
) -> None:
    other = await new_customer(stub)
    auth = customer_auth(customer)

    for_someone_else = await gateway.post(
        "/bookings", json=booking_body(provider, other), headers=auth
    )
    await problem(for_someone_else, 403, "FORBIDDEN")

    mine = await gateway.post("/bookings", json=booking_body(provider, customer), headers=auth)
    booking_id = (await mine.json())["bookingId"]
    other_auth = customer_auth(other)
    await problem(
        await gateway.get(f"/bookings/{booking_id}", headers=other_auth), 404, "NOT_FOUND"
    )
    await problem(
        await gateway.post(f"/bookings/{booking_id}/cancel", headers=other_auth), 404, "NOT_FOUND"
    )
    unknown = await gateway.get(f"/bookings/{uuid.uuid4()}", headers=auth)
    await problem(unknown, 404, "NOT_FOUND")

    # A provider sees its own bookings, and only those.
    second = (
        await stub.register_provider(pb.RegisterProviderRequest(actor=SERVICE, name="Second"))
    ).provider
    assert second is not None
    at_second = await gateway.post(
        "/bookings", json=booking_body(second, customer, hours=3), headers=auth
    )
    assert at_second.status == 201
    listing = await gateway.get("/bookings", headers=provider_auth(provider))
    items = (await listing.json())["items"]
    assert [item["id"] for item in items] == [booking_id]
    as_provider = await gateway.get(f"/bookings/{booking_id}", headers=provider_auth(second))
    await problem(as_provider, 404, "NOT_FOUND")
    own = await gateway.get(f"/bookings/{booking_id}", headers=provider_auth(provider))
    assert own.status == 200


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"providerId": "not-a-uuid"}, "providerId"),
        ({"customerId": 12}, "customerId"),
        ({"startTime": "2030-01-01T10:00:00"}, "startTime"),  # no offset
        ({"startTime": "2030-01-01"}, "startTime"),
        ({"startTime": "tomorrow"}, "startTime"),
        ({"endTime": None}, "endTime"),
        ({"endTime": "2030-02-30T10:00:00Z"}, "endTime"),
        ({"idempotencyKey": ""}, "idempotencyKey"),
        ({"idempotencyKey": "k" * 256}, "idempotencyKey"),
        ({"status": "confirmed"}, "status"),  # unknown field: no mass assignment
        ({"id": str(uuid.uuid4())}, "id"),
    ],
)
async def test_each_bad_field_is_400(
    gateway: Any, provider: pb.Provider, customer: pb.Customer, change: dict[str, Any], field: str
) -> None:
    body = {**booking_body(provider, customer), **change}
    reply = await gateway.post("/bookings", json=body, headers=customer_auth(customer))
    data = await problem(reply, 400, "VALIDATION_FAILED")
    assert field in [error["field"] for error in data["errors"]]


async def test_rules_checked_by_booking_core_name_the_field(
    gateway: Any, provider: pb.Provider, customer: pb.Customer
) -> None:
    body = booking_body(provider, customer)
    body["endTime"] = body["startTime"]
    reply = await gateway.post("/bookings", json=body, headers=customer_auth(customer))
    data = await problem(reply, 400, "VALIDATION_FAILED")
    assert data["errors"][0]["field"] == "endTime"
    past = {**booking_body(provider, customer), "startTime": in_future(hours=-1).isoformat()}
    reply = await gateway.post("/bookings", json=past, headers=customer_auth(customer))
    assert (await problem(reply, 400, "VALIDATION_FAILED"))["errors"][0]["field"] == "startTime"


@pytest.mark.parametrize(
    ("data", "headers", "status", "code"),
    [
        (b"{not json", {"Content-Type": "application/json"}, 400, "VALIDATION_FAILED"),
        (b"[1, 2]", {"Content-Type": "application/json"}, 400, "VALIDATION_FAILED"),
        (b'"text"', {"Content-Type": "application/json"}, 400, "VALIDATION_FAILED"),
        (b"[" * 50_000, {"Content-Type": "application/json"}, 400, "VALIDATION_FAILED"),
        (b"\xff\xfe{", {"Content-Type": "application/json"}, 400, "VALIDATION_FAILED"),
        (b"", {"Content-Type": "application/json"}, 400, "VALIDATION_FAILED"),
        (b'{"a": 1}', {"Content-Type": "text/plain"}, 415, "UNSUPPORTED_MEDIA_TYPE"),
        (
            b"a=1",
            {"Content-Type": "application/x-www-form-urlencoded"},
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (b"{}" + b" " * 70_000, {"Content-Type": "application/json"}, 413, "PAYLOAD_TOO_LARGE"),
    ],
)
async def test_bad_bodies_are_4xx_problems(
    gateway: Any,
    customer: pb.Customer,
    data: bytes,
    headers: dict[str, str],
    status: int,
    code: str,
) -> None:
    reply = await gateway.post(
        "/bookings", data=data, headers={**customer_auth(customer), **headers}
    )
    await problem(reply, status, code)


async def test_chunked_oversized_body_is_413(gateway: Any, customer: pb.Customer) -> None:
    async def chunks() -> Any:
        for _ in range(20):
            yield b" " * 8192

    reply = await gateway.post(
        "/bookings",
        data=chunks(),
        headers={**customer_auth(customer), "Content-Type": "application/json"},
    )
    await problem(reply, 413, "PAYLOAD_TOO_LARGE")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"type": "soon"}, "type"),
        ({"cursor": "garbage"}, "cursor"),
        ({"sort": "startTime"}, "sort"),
        ({"cursor": ""}, "cursor"),
    ],
)
async def test_bad_list_queries_are_400(
    gateway: Any, customer: pb.Customer, params: dict[str, str], field: str
) -> None:
    reply = await gateway.get("/bookings", params=params, headers=customer_auth(customer))
    data = await problem(reply, 400, "VALIDATION_FAILED")
    assert field in [error["field"] for error in data["errors"]]


async def test_bad_path_ids_and_unknown_routes(gateway: Any, customer: pb.Customer) -> None:
    auth = customer_auth(customer)
    data = await problem(await gateway.get("/bookings/12", headers=auth), 400, "VALIDATION_FAILED")
    assert data["errors"] == [{"field": "id", "message": "Not a valid UUID."}]
    await problem(
        await gateway.post("/bookings/xyz/cancel", headers=auth), 400, "VALIDATION_FAILED"
    )
    await problem(await gateway.get("/nowhere"), 404, "NOT_FOUND")
    wrong_method = await gateway.delete("/bookings")
    await problem(wrong_method, 405, "METHOD_NOT_ALLOWED")
    assert "GET" in wrong_method.headers["Allow"]


async def test_request_ids_are_echoed_or_made(gateway: Any, customer: pb.Customer) -> None:
    given = await gateway.get("/health", headers={"X-Request-ID": "abc-123"})
    assert given.headers["X-Request-ID"] == "abc-123"
    forged = await gateway.get("/health", headers={"X-Request-ID": "bad id\twith tabs"})
    assert forged.headers["X-Request-ID"] != "bad id\twith tabs"
    uuid.UUID(forged.headers["X-Request-ID"])
    failed = await gateway.get("/bookings/12", headers={"X-Request-ID": "req-400"})
    assert failed.headers["X-Request-ID"] == "req-400"
    assert (await failed.json())["requestId"] == "req-400"


async def test_request_id_reaches_booking_core(
    gateway: Any, core: Any, provider: pb.Provider, customer: pb.Customer
) -> None:
    request_id = f"gw-{uuid.uuid4()}"
    reply = await gateway.post(
        "/bookings",
        json=booking_body(provider, customer, hours=40),
        headers={**customer_auth(customer), "X-Request-ID": request_id},
    )
    assert reply.status == 201
    logged = [json.loads(line) for line in core.log_lines() if request_id in line]
    assert any(line.get("requestId") == request_id for line in logged)


async def test_health_ready_metrics_openapi_docs(gateway: Any, customer: pb.Customer) -> None:
    assert await (await gateway.get("/health")).json() == {"status": "ok"}
    assert await (await gateway.get("/ready")).json() == {"status": "ready"}
    await gateway.get("/bookings", headers=customer_auth(customer))
    metrics = await (await gateway.get("/metrics")).text()
    assert 'http_requests_total{method="GET",route="/bookings",status="200"}' in metrics
    assert "http_request_duration_seconds_bucket" in metrics

    document = await (await gateway.get("/openapi.json")).json()
    assert document["openapi"] == "3.1.0"
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    responses = document["paths"]["/bookings"]["post"]["responses"]
    assert {"200", "201", "400", "401", "403", "404", "409", "413", "415", "422", "429"} <= set(
        responses
    )
    assert {"503", "504", "500"} <= set(responses)

    docs = await gateway.get("/docs")
    page = await docs.text()
    assert (
        docs.status == 200
        and "swagger-ui-bundle.js" in page
        and "http" not in page.split("<body>")[1].replace("http-equiv", "")
    )
    bundle = await gateway.get("/docs/static/swagger-ui-bundle.js")
    assert bundle.status == 200 and int(bundle.headers["Content-Length"]) > 100_000
    assert (await gateway.get("/docs/openapi.json")).status == 200


async def test_dev_tokens_work_in_development_only(
    gateway: Any, core: Any, customer: pb.Customer, aiohttp_client: Any
) -> None:
    from gateway.app import create_app

    from .conftest import gateway_settings

    issued = await gateway.post("/dev/token", json={"role": "customer", "id": customer.id})
    assert issued.status == 200
    token = (await issued.json())["accessToken"]
    mine = await gateway.get("/bookings", headers={"Authorization": f"Bearer {token}"})
    assert mine.status == 200

    production = await aiohttp_client(create_app(gateway_settings(core, app_env="production")))
    refused = await production.post("/dev/token", json={"role": "customer", "id": customer.id})
    await problem(refused, 404, "NOT_FOUND")
    document = await (await production.get("/openapi.json")).json()
    assert "/dev/token" not in document["paths"]


async def test_cors_allows_only_the_configured_origins(
    core: Any, customer: pb.Customer, aiohttp_client: Any
) -> None:
    from gateway.app import create_app

    from .conftest import gateway_settings

    app = create_app(gateway_settings(core, cors_allowed_origins=("https://app.example",)))
    client = await aiohttp_client(app)
    preflight = await client.options(
        "/bookings",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,idempotency-key",
        },
    )
    assert preflight.status == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example"
    allowed = await client.get(
        "/bookings", headers={**customer_auth(customer), "Origin": "https://app.example"}
    )
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "X-Request-ID" in allowed.headers["Access-Control-Expose-Headers"]

    evil = await client.options(
        "/bookings",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "Access-Control-Allow-Origin" not in evil.headers
    plain = await client.get(
        "/bookings", headers={**customer_auth(customer), "Origin": "https://evil.example"}
    )
    assert "Access-Control-Allow-Origin" not in plain.headers


async def test_unexpected_errors_are_a_generic_500_and_roles_are_enforced(
    aiohttp_client: Any,
) -> None:
    from aiohttp import web
    from bookings_web.auth import JwtSettings, Role, authentication_middleware, roles
    from bookings_web.observability import HttpMetrics
    from bookings_web.problems import problem_middleware

    from .harness import JWT_SECRET

    async def explode(_request: web.Request) -> web.Response:
        raise RuntimeError("password=hunter2 SELECT * FROM bookings")

    @roles(Role.PROVIDER)
    async def providers_only(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application(
        middlewares=[
            HttpMetrics().middleware,
            problem_middleware,
            authentication_middleware(JwtSettings("HS256", JWT_SECRET), public_paths=["/boom"]),
        ]
    )
    app.router.add_get("/boom", explode)
    app.router.add_get("/providers", providers_only)
    client = await aiohttp_client(app)

    boom = await client.get("/boom", headers={"X-Request-ID": "boom-1"})
    data = await problem(boom, 500, "INTERNAL")
    assert data["detail"] == "Internal server error" and data["requestId"] == "boom-1"
    assert "hunter2" not in json.dumps(data) and "SELECT" not in json.dumps(data)

    customer_id = str(uuid.uuid4())
    as_customer = {"Authorization": f"Bearer {make_token('customer', customer_id)}"}
    await problem(await client.get("/providers", headers=as_customer), 403, "FORBIDDEN")
    as_provider = {"Authorization": f"Bearer {make_token('provider', customer_id)}"}
    assert (await client.get("/providers", headers=as_provider)).status == 200
