"""REST handlers of event types: the provider's routes (``/event-types``) and the public
ones (``/public/...``: no account; limited per client IP, booking creation more
strictly). Parse and validate, call booking-core, shape the answer. No rules here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web
from bookings_proto.bookings import v1 as pb
from bookings_web.auth import Role, principal, roles
from bookings_web.client_ip import client_ip
from bookings_web.problems import FieldError, ProblemError, ValidationFailed

from . import event_type_schemas as schemas
from . import keys
from .parsing import load, read_json, read_query
from .schemas import CancelBookingRequest
from .upstream import guest_data
from .upstream_event_types import (
    event_type_data,
    manage_url,
    public_event_type_data,
    spec_to_pb,
)
from .views import REPLAYED_HEADER, idempotency_key

DEFAULT_SLOT_RANGE: Final = timedelta(days=7)

_create = schemas.EventTypeRequest()
_patch = schemas.EventTypePatch()
_event_type_path = schemas.EventTypePath()
_list = schemas.ListEventTypesQuery()
_slug_path = schemas.SlugPath()
_slots_query = schemas.SlotsQuery()
_book = schemas.PublicBookingRequest()
_reference_path = schemas.ReferencePath()
_manage = schemas.ManageQuery()
_cancel = CancelBookingRequest()
_envelope = schemas.EventTypeEnvelope()
_page = schemas.EventTypePage()
_public_envelope = schemas.PublicEventTypeEnvelope()
_slot_list = schemas.SlotList()
_created = schemas.PublicBookingCreated()
_guest_booking = schemas.GuestBookingEnvelope()

routes = web.RouteTableDef()


def _base_url(request: web.Request) -> str:
    return request.app[keys.SETTINGS].public_base_url


def _event_type_id(request: web.Request) -> str:
    return str(load(_event_type_path, {"id": request.match_info["id"]}, location="path")["id"])


def _respond(
    request: web.Request, event_type: pb.EventType | None, status: int = 200
) -> web.Response:
    data = event_type_data(event_type, _base_url(request))
    headers = {"Location": f"/event-types/{data['id']}"} if status == 201 else None
    return web.json_response(_envelope.dump({"event_type": data}), status=status, headers=headers)


@routes.post("/event-types")
@roles(Role.PROVIDER, Role.ADMIN)
async def create_event_type(request: web.Request) -> web.Response:
    """201 ``{"eventType"}`` + ``Location``: a new event type of the calling provider."""
    body = await read_json(request, _create)
    event_type = await request.app[keys.EVENT_TYPES].create(
        principal(request),
        spec_to_pb(body),
        provider_id=str(body.get("provider_id") or ""),
        team_id=str(body.get("team_id") or ""),
    )
    return _respond(request, event_type, 201)


@routes.get("/event-types")
@roles(Role.PROVIDER, Role.ADMIN)
async def list_event_types(request: web.Request) -> web.Response:
    """200 ``{"items", "nextCursor"}``: the provider's event types, oldest first."""
    query = read_query(request, _list)
    reply = await request.app[keys.EVENT_TYPES].list_page(
        principal(request),
        cursor=query.get("cursor"),
        limit=query["limit"],
        provider_id=str(query.get("provider_id") or ""),
        team_id=str(query.get("team_id") or ""),
    )
    base = _base_url(request)
    return web.json_response(
        _page.dump(
            {
                "items": [event_type_data(e, base) for e in reply.event_types],
                "next_cursor": reply.next_cursor or None,
            }
        )
    )


@routes.get("/event-types/{id}")
@roles(Role.PROVIDER, Role.ADMIN)
async def get_event_type(request: web.Request) -> web.Response:
    """200 ``{"eventType"}``; 404 when it is not the caller's."""
    client = request.app[keys.EVENT_TYPES]
    return _respond(request, await client.get(principal(request), _event_type_id(request)))


@routes.patch("/event-types/{id}")
@roles(Role.PROVIDER, Role.ADMIN)
async def update_event_type(request: web.Request) -> web.Response:
    """200 ``{"eventType"}``: the fields present changed (JSON Merge Patch, RFC 7396)."""
    event_type_id = _event_type_id(request)
    body = await read_json(request, _patch)
    event_type = await request.app[keys.EVENT_TYPES].update(
        principal(request), event_type_id, spec_to_pb(body), sorted(body)
    )
    return _respond(request, event_type)


@routes.post("/event-types/{id}/deactivate")
@roles(Role.PROVIDER, Role.ADMIN)
async def deactivate_event_type(request: web.Request) -> web.Response:
    """200 ``{"eventType"}`` with ``active: false``; its bookings stay, its link is 404."""
    client = request.app[keys.EVENT_TYPES]
    reply = await client.set_active(principal(request), _event_type_id(request), active=False)
    return _respond(request, reply)


@routes.post("/event-types/{id}/activate")
@roles(Role.PROVIDER, Role.ADMIN)
async def activate_event_type(request: web.Request) -> web.Response:
    """200 ``{"eventType"}`` with ``active: true``."""
    client = request.app[keys.EVENT_TYPES]
    reply = await client.set_active(principal(request), _event_type_id(request), active=True)
    return _respond(request, reply)


def _slug(request: web.Request) -> str:
    return str(load(_slug_path, {"slug": request.match_info["slug"]}, location="path")["slug"])


@routes.get("/public/event-types/{slug}")
async def public_event_type(request: web.Request) -> web.Response:
    """200 ``{"eventType"}`` as a guest sees it; 404 for an unknown or deactivated slug."""
    event_type = await request.app[keys.EVENT_TYPES].public(_slug(request))
    return web.json_response(
        _public_envelope.dump(
            {"event_type": public_event_type_data(event_type, _base_url(request))}
        )
    )


def _zone(name: str | None, default: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or default)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValidationFailed([FieldError("timeZone", "not an IANA time zone name")]) from None


@routes.get("/public/event-types/{slug}/slots")
async def public_slots(request: web.Request) -> web.Response:
    """200 ``{"timeZone", "slots"}``: the offered slots in ``[from, to)`` (at most 62 days),
    ``start``/``end`` rendered in ``timeZone`` (default: the event type's)."""
    slug = _slug(request)
    query = read_query(request, _slots_query)
    start: datetime = query.get("from_time") or datetime.now(UTC)
    if "time_zone" in query:
        _zone(query["time_zone"], "UTC")  # a bad zone is a 400 before any call
    try:
        end = query.get("to_time") or start + DEFAULT_SLOT_RANGE
    except OverflowError:
        raise ValidationFailed([FieldError("from", "too far in the future")]) from None
    member = str(query.get("member_id") or "")
    reply = await request.app[keys.EVENT_TYPES].slots(slug, start, end, member)
    event_type = reply.event_type
    zone = _zone(query.get("time_zone"), event_type.time_zone if event_type else "UTC")
    slots = [
        {
            "start": s.start.astimezone(zone).isoformat() if s.start else "",
            "end": s.end.astimezone(zone).isoformat() if s.end else "",
            "capacity": s.capacity,
            "remaining": s.remaining,
        }
        for s in reply.slots
    ]
    return web.json_response(_slot_list.dump({"time_zone": zone.key, "slots": slots}))


async def limit_public_bookings(request: web.Request) -> None:
    """429 ``RATE_LIMITED`` past ``PUBLIC_BOOKING_RATE_LIMIT_PER_MINUTE`` bookings from the
    client's address (guests' event-type places and ticket holds together)."""
    settings = request.app[keys.SETTINGS]
    limiter = request.app[keys.PUBLIC_BOOKING_LIMITER]
    decision = await limiter.check(f"ip:{client_ip(request, settings.trusted_proxies)}")
    if not decision.allowed:
        raise ProblemError(
            "RATE_LIMITED",
            f"more than {limiter.per_minute} bookings per minute from this address; retry "
            f"after {decision.retry_after_seconds} s",
            headers=decision.headers(),
        )


@routes.post("/public/event-types/{slug}/bookings")
async def public_book(request: web.Request) -> web.Response:
    """201 ``{bookingId, reference, manageUrl}`` + ``Location``: a guest's place in a slot;
    an idempotent replay is 200 with ``Idempotent-Replayed: true``."""
    slug = _slug(request)
    await limit_public_bookings(request)
    body = await read_json(request, _book)
    reply = await request.app[keys.EVENT_TYPES].book(
        slug,
        body["slot_start"],
        pb.Guest(
            first_name=body["first_name"],
            last_name=body["last_name"],
            email=body["email"],
            phone=body["phone"],
            address=body.get("address", ""),
            special_requests=body.get("special_requests", ""),
        ),
        idempotency_key(request, body.get("idempotency_key")),
        str(body.get("member_id") or ""),
    )
    booking = reply.booking
    if booking is None or not booking.reference:
        raise ProblemError("INTERNAL", "Internal server error")
    link = manage_url(_base_url(request), booking.reference, reply.manage_token)
    headers = {"Location": f"/public/bookings/{booking.reference}"}
    if reply.replayed:
        headers[REPLAYED_HEADER] = "true"
    return web.json_response(
        _created.dump(
            {"booking_id": booking.id, "reference": booking.reference, "manage_url": link}
        ),
        status=200 if reply.replayed else 201,
        headers=headers,
    )


def _guest_booking_data(reply: pb.GuestBookingResponse, base_url: str) -> dict[str, Any]:
    booking = reply.booking
    if booking is None or booking.guest is None:
        raise ProblemError("INTERNAL", "Internal server error")
    data: dict[str, Any] = {
        "id": booking.id,
        "reference": booking.reference,
        "status": "cancelled" if booking.status == pb.BookingStatus.CANCELLED else "confirmed",
        "start_time": booking.start_time,
        "end_time": booking.end_time,
        "created_at": booking.created_at,
        "guest": guest_data(booking.guest),
        "event_type": public_event_type_data(reply.event_type, base_url),
    }
    if booking.status == pb.BookingStatus.CANCELLED:
        data["cancelled_at"] = booking.cancelled_at
        if booking.cancel_reason:
            data["cancel_reason"] = booking.cancel_reason
    return data


def _manage_args(request: web.Request) -> tuple[str, str]:
    reference = load(
        _reference_path, {"reference": request.match_info["reference"]}, location="path"
    )["reference"]
    token = read_query(request, _manage)["token"]
    return str(reference), str(token)


@routes.get("/public/bookings/{reference}")
async def public_guest_booking(request: web.Request) -> web.Response:
    """200 ``{"booking"}`` for the manage link; a wrong token and an unknown reference are
    the same 404."""
    reference, token = _manage_args(request)
    reply = await request.app[keys.EVENT_TYPES].guest_booking(reference, token)
    return web.json_response(
        _guest_booking.dump({"booking": _guest_booking_data(reply, _base_url(request))})
    )


@routes.post("/public/bookings/{reference}/cancel")
async def public_cancel(request: web.Request) -> web.Response:
    """200 ``{"booking"}`` cancelled (cancelling twice is a no-op 200)."""
    reference, token = _manage_args(request)
    body = await read_json(request, _cancel, optional=True)
    reply = await request.app[keys.EVENT_TYPES].cancel_guest_booking(
        reference, token, body.get("reason")
    )
    return web.json_response(
        _guest_booking.dump({"booking": _guest_booking_data(reply, _base_url(request))})
    )
