"""REST handlers: parse and validate, call booking-core, shape the answer. No rules here."""

from __future__ import annotations

import re
from typing import Final

from aiohttp import web
from bookings_web.auth import Role, issue_token, principal, roles
from bookings_web.problems import FieldError, ProblemError, ValidationFailed

from . import keys, schemas
from .parsing import load, read_json, read_query
from .upstream import booking_data

IDEMPOTENCY_KEY_HEADER: Final = "Idempotency-Key"
REPLAYED_HEADER: Final = "Idempotent-Replayed"
# Header values are visible ASCII (RFC 9110, section 5.5); the body key may be any text.
_HEADER_KEY: Final = re.compile(r"[\x21-\x7e]{1,255}")

_create = schemas.CreateBookingRequest()
_cancel = schemas.CancelBookingRequest()
_list = schemas.ListBookingsQuery()
_path = schemas.BookingPath()
_dev_token = schemas.DevTokenRequest()
_booking_envelope = schemas.BookingEnvelope()
_created = schemas.BookingCreated()
_page = schemas.BookingPage()
_token = schemas.DevToken()

routes = web.RouteTableDef()


def _booking_id(request: web.Request) -> str:
    path = load(_path, {"id": request.match_info["id"]}, location="path")
    return str(path["id"])


def idempotency_key(request: web.Request, body_key: str | None) -> str | None:
    """The key from the header or the body (400 when both are given and differ)."""
    header_key = request.headers.get(IDEMPOTENCY_KEY_HEADER)
    if header_key is not None and not _HEADER_KEY.fullmatch(header_key):
        raise ValidationFailed(
            [FieldError(IDEMPOTENCY_KEY_HEADER, "must be 1-255 visible ASCII characters")]
        )
    if header_key is not None and body_key is not None and header_key != body_key:
        raise ValidationFailed(
            [FieldError("idempotencyKey", f"differs from the {IDEMPOTENCY_KEY_HEADER} header")]
        )
    return header_key if header_key is not None else body_key


@routes.post("/bookings")
@roles(Role.CUSTOMER, Role.PROVIDER)
async def create_booking(request: web.Request) -> web.Response:
    """201 ``{"bookingId"}`` + ``Location``; an idempotent replay: 200 + ``Idempotent-Replayed``."""
    body = await read_json(request, _create)
    reply = await request.app[keys.CORE].create_booking(
        principal(request),
        provider_id=str(body["provider_id"]),
        customer_id=str(body["customer_id"]),
        start_time=body["start_time"],
        end_time=body["end_time"],
        idempotency_key=idempotency_key(request, body.get("idempotency_key")),
    )
    if reply.booking is None:
        raise ProblemError("INTERNAL", "Internal server error")
    booking_id = reply.booking.id
    headers = {"Location": f"/bookings/{booking_id}"}
    if reply.replayed:
        headers[REPLAYED_HEADER] = "true"
    return web.json_response(
        _created.dump({"booking_id": booking_id}),
        status=200 if reply.replayed else 201,
        headers=headers,
    )


@routes.get("/bookings/{id}")
@roles(Role.CUSTOMER, Role.PROVIDER)
async def get_booking(request: web.Request) -> web.Response:
    """200 ``{"booking"}``; 404 when unknown or not the caller's."""
    booking_id = _booking_id(request)
    booking = await request.app[keys.CORE].get_booking(principal(request), booking_id)
    return web.json_response(_booking_envelope.dump({"booking": booking_data(booking)}))


@routes.get("/bookings")
@roles(Role.CUSTOMER, Role.PROVIDER)
async def list_bookings(request: web.Request) -> web.Response:
    """200 ``{"items", "nextCursor"}`` of the caller's bookings."""
    query = read_query(request, _list)
    reply = await request.app[keys.CORE].list_bookings(
        principal(request),
        upcoming=query["type"] == "upcoming",
        cursor=query.get("cursor"),
        limit=query["limit"],
    )
    page = {
        "items": [booking_data(booking) for booking in reply.bookings],
        "next_cursor": reply.next_cursor or None,
    }
    return web.json_response(_page.dump(page))


@routes.post("/bookings/{id}/cancel")
@roles(Role.CUSTOMER, Role.PROVIDER)
async def cancel_booking(request: web.Request) -> web.Response:
    """200 ``{"booking"}``; cancelling twice is a no-op 200."""
    booking_id = _booking_id(request)
    body = await read_json(request, _cancel, optional=True)
    booking = await request.app[keys.CORE].cancel_booking(
        principal(request), booking_id, body.get("reason")
    )
    return web.json_response(_booking_envelope.dump({"booking": booking_data(booking)}))


@routes.get("/health")
async def health(_request: web.Request) -> web.Response:
    """Liveness: the process answers."""
    return web.json_response({"status": "ok"})


@routes.get("/ready")
async def ready(request: web.Request) -> web.Response:
    """Readiness: booking-core's gRPC health says SERVING; else 503."""
    if not await request.app[keys.CORE].is_serving():
        raise ProblemError(
            "UPSTREAM_UNAVAILABLE", "booking-core is not serving", headers={"Retry-After": "1"}
        )
    return web.json_response({"status": "ready"})


@routes.get("/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 document."""
    return web.json_response(request.app[keys.OPENAPI])


async def dev_token(request: web.Request) -> web.Response:
    """``POST /dev/token`` (routed only when ``APP_ENV=development``): sign a token."""
    body = await read_json(request, _dev_token)
    settings = request.app[keys.SETTINGS]
    token = issue_token(
        settings.jwt, Role(body["role"]), str(body["id"]), ttl_seconds=body["ttl_seconds"]
    )
    return web.json_response(
        _token.dump(
            {"access_token": token, "token_type": "Bearer", "expires_in": body["ttl_seconds"]}
        )
    )
