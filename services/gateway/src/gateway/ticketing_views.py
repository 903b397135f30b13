"""The ticketing routes.

- Admin (role ``admin``): ``/admin/venues`` (+ ``/{id}``, ``/{id}/seats``),
  ``/admin/events`` (+ ``/{id}``, ``/{id}/bookings``) and
  ``/admin/ticket-bookings/{id}/refund``.
- Public: ``/public/events/{id}`` and ``/public/events/{id}/seats``.
- ``/ticket-bookings``: a customer with a bearer token, or a guest without one
  (then the booking's manage token, ``?token=``, opens it afterwards). Guests'
  holds count against ``PUBLIC_BOOKING_RATE_LIMIT_PER_MINUTE`` per address.
"""

from __future__ import annotations

import re
from typing import Any, Final

from aiohttp import web
from bookings_proto.bookings import v1 as pb
from bookings_web.auth import PRINCIPAL_KEY, Principal, Role, principal, roles
from bookings_web.problems import ProblemError

from . import keys
from . import ticketing_schemas as schemas
from .event_type_views import limit_public_bookings
from .parsing import load, read_json, read_query
from .schemas import BookingPath
from .upstream_ticketing import (
    event_data,
    public_event_data,
    seat_data,
    seat_offer_data,
    ticket_booking_data,
    venue_data,
)
from .views import REPLAYED_HEADER, idempotency_key

# The routes a request without a token may use as a guest.
GUEST_PATHS: Final = re.compile(r"/ticket-bookings(/[^/]+(/(pay|cancel))?)?")

_id = BookingPath()
_venue = schemas.VenueRequest()
_venue_patch = schemas.VenuePatch()
_venue_out = schemas.VenueEnvelope()
_venues = schemas.VenuePage()
_add_seats = schemas.AddSeatsRequest()
_seats = schemas.SeatList()
_event = schemas.TicketedEventRequest()
_event_patch = schemas.TicketedEventPatch()
_event_out = schemas.TicketedEventEnvelope()
_events = schemas.TicketedEventPage()
_public_event = schemas.PublicEventEnvelope()
_seat_map = schemas.SeatMap()
_hold = schemas.HoldRequest()
_held = schemas.HoldCreated()
_booking = schemas.TicketBookingEnvelope()
_bookings = schemas.TicketBookingPage()
_pay = schemas.PayRequest()
_cancel = schemas.CancelRequest()
_refund = schemas.RefundRequest()
_token = schemas.TokenQuery()
_page = schemas.PageQuery()

routes = web.RouteTableDef()


def is_guest_request(request: web.Request) -> bool:
    """A ``/ticket-bookings`` request without credentials: served as a guest's."""
    return (
        GUEST_PATHS.fullmatch(request.path) is not None
        and "Authorization" not in request.headers
        and "access_token" not in request.query
    )


def _path_id(request: web.Request) -> str:
    return str(load(_id, {"id": request.match_info["id"]}, location="path")["id"])


def _optional_principal(request: web.Request) -> Principal | None:
    found: Principal | None = request.get(PRINCIPAL_KEY)
    if found is not None and found.role not in (Role.CUSTOMER, Role.ADMIN):
        raise ProblemError("FORBIDDEN", f"not allowed for role {found.role}")
    return found


# --- admin: venues and seats -------------------------------------------------------


@routes.post("/admin/venues")
@roles(Role.ADMIN)
async def create_venue(request: web.Request) -> web.Response:
    """201 ``{"venue"}`` + ``Location``."""
    body = await read_json(request, _venue)
    venue = await request.app[keys.TICKETING].create_venue(principal(request), body)
    data = venue_data(venue)
    return web.json_response(
        _venue_out.dump({"venue": data}),
        status=201,
        headers={"Location": f"/admin/venues/{data['id']}"},
    )


@routes.get("/admin/venues")
@roles(Role.ADMIN)
async def list_venues(request: web.Request) -> web.Response:
    """200 ``{"items", "nextCursor"}``, oldest first."""
    query = read_query(request, _page)
    reply = await request.app[keys.TICKETING].list_venues(
        principal(request), query.get("cursor"), query["limit"]
    )
    page = {
        "items": [venue_data(v) for v in reply.venues],
        "next_cursor": reply.next_cursor or None,
    }
    return web.json_response(_venues.dump(page))


@routes.get("/admin/venues/{id}")
@roles(Role.ADMIN)
async def get_venue(request: web.Request) -> web.Response:
    venue = await request.app[keys.TICKETING].get_venue(principal(request), _path_id(request))
    return web.json_response(_venue_out.dump({"venue": venue_data(venue)}))


@routes.patch("/admin/venues/{id}")
@roles(Role.ADMIN)
async def update_venue(request: web.Request) -> web.Response:
    """200 ``{"venue"}``: the fields present changed (JSON Merge Patch, RFC 7396)."""
    venue_id = _path_id(request)
    body = await read_json(request, _venue_patch)
    venue = await request.app[keys.TICKETING].update_venue(principal(request), venue_id, body)
    return web.json_response(_venue_out.dump({"venue": venue_data(venue)}))


@routes.post("/admin/venues/{id}/seats")
@roles(Role.ADMIN)
async def add_seats(request: web.Request) -> web.Response:
    """201 ``{"items"}``: every seat of the venue after adding these (all or none)."""
    venue_id = _path_id(request)
    body = await read_json(request, _add_seats)
    specs = [pb.SeatSpec(**seat) for seat in body["seats"]]
    for row in body["rows"]:
        specs.extend(
            pb.SeatSpec(
                section=row["section"], row=row["row"], number=str(n), category=row["category"]
            )
            for n in range(row["first"], row["last"] + 1)
        )
    seats = await request.app[keys.TICKETING].add_seats(principal(request), venue_id, specs)
    return web.json_response(_seats.dump({"items": [seat_data(s) for s in seats]}), status=201)


@routes.get("/admin/venues/{id}/seats")
@roles(Role.ADMIN)
async def list_seats(request: web.Request) -> web.Response:
    seats = await request.app[keys.TICKETING].list_seats(principal(request), _path_id(request))
    return web.json_response(_seats.dump({"items": [seat_data(s) for s in seats]}))


# --- admin: events and bookings ----------------------------------------------------


def _event_response(event: pb.TicketedEvent | None, status: int = 200) -> web.Response:
    data = event_data(event)
    headers = {"Location": f"/admin/events/{data['id']}"} if status == 201 else None
    return web.json_response(_event_out.dump({"event": data}), status=status, headers=headers)


@routes.post("/admin/events")
@roles(Role.ADMIN)
async def create_event(request: web.Request) -> web.Response:
    """201 ``{"event"}`` + ``Location``."""
    body = await read_json(request, _event)
    return _event_response(
        await request.app[keys.TICKETING].create_event(principal(request), body), 201
    )


@routes.get("/admin/events")
@roles(Role.ADMIN)
async def list_events(request: web.Request) -> web.Response:
    query = read_query(request, _page)
    reply = await request.app[keys.TICKETING].list_events(
        principal(request), query.get("cursor"), query["limit"]
    )
    page = {
        "items": [event_data(e) for e in reply.events],
        "next_cursor": reply.next_cursor or None,
    }
    return web.json_response(_events.dump(page))


@routes.get("/admin/events/{id}")
@roles(Role.ADMIN)
async def get_event(request: web.Request) -> web.Response:
    return _event_response(
        await request.app[keys.TICKETING].get_event(principal(request), _path_id(request))
    )


@routes.patch("/admin/events/{id}")
@roles(Role.ADMIN)
async def update_event(request: web.Request) -> web.Response:
    """200 ``{"event"}`` (JSON Merge Patch; the venue and currency stay)."""
    event_id = _path_id(request)
    body = await read_json(request, _event_patch)
    return _event_response(
        await request.app[keys.TICKETING].update_event(principal(request), event_id, body)
    )


@routes.get("/admin/events/{id}/bookings")
@roles(Role.ADMIN)
async def list_event_bookings(request: web.Request) -> web.Response:
    """200 ``{"items", "nextCursor"}``: the event's ticket bookings, newest first."""
    event_id = _path_id(request)
    query = read_query(request, _page)
    reply = await request.app[keys.TICKETING].list_bookings(
        principal(request), event_id, query.get("cursor"), query["limit"]
    )
    page = {
        "items": [ticket_booking_data(b) for b in reply.bookings],
        "next_cursor": reply.next_cursor or None,
    }
    return web.json_response(_bookings.dump(page))


@routes.post("/admin/ticket-bookings/{id}/refund")
@roles(Role.ADMIN)
async def refund(request: web.Request) -> web.Response:
    """202 ``{"booking"}`` with ``payment.state`` ``refund_requested``; it is cancelled
    (seats released) once payment-service reports the refund."""
    booking_id = _path_id(request)
    body = await read_json(request, _refund)
    booking = await request.app[keys.TICKETING].refund(
        principal(request), booking_id, body["reason"]
    )
    return web.json_response(_booking.dump({"booking": ticket_booking_data(booking)}), status=202)


# --- public ------------------------------------------------------------------------


@routes.get("/public/events/{id}")
async def public_event(request: web.Request) -> web.Response:
    event = await request.app[keys.TICKETING].public_event(_path_id(request))
    return web.json_response(_public_event.dump({"event": public_event_data(event)}))


@routes.get("/public/events/{id}/seats")
async def public_seats(request: web.Request) -> web.Response:
    """200 ``{"currency", "items"}``: each seat for sale with its price and state."""
    client = request.app[keys.TICKETING]
    event_id = _path_id(request)
    event = await client.public_event(event_id)
    offers = await client.seat_map(event_id)
    assert event is not None
    return web.json_response(
        _seat_map.dump({"currency": event.currency, "items": [seat_offer_data(o) for o in offers]})
    )


# --- ticket bookings ---------------------------------------------------------------


def _token_of(request: web.Request) -> str:
    return str(read_query(request, _token)["token"])


def _booking_response(booking: pb.TicketBooking | None, status: int = 200) -> web.Response:
    return web.json_response(
        _booking.dump({"booking": ticket_booking_data(booking)}), status=status
    )


@routes.post("/ticket-bookings")
async def hold(request: web.Request) -> web.Response:
    """201 ``{"booking", "manageToken"}`` + ``Location``: seats held until
    ``booking.expiresAt``; a replay (same ``Idempotency-Key``): 200 +
    ``Idempotent-Replayed``. 409 ``SEAT_UNAVAILABLE`` lists the taken ``seatIds``."""
    caller = _optional_principal(request)
    if caller is None:
        await limit_public_bookings(request)
    body = await read_json(request, _hold)
    key = idempotency_key(request, body.get("idempotency_key"))
    reply = await request.app[keys.TICKETING].hold(caller, body, key)
    data = ticket_booking_data(reply.booking)
    headers = {"Location": f"/ticket-bookings/{data['id']}"}
    if reply.replayed:
        headers[REPLAYED_HEADER] = "true"
    created: dict[str, Any] = {"booking": data, "manage_token": reply.manage_token or None}
    return web.json_response(
        _held.dump(created), status=200 if reply.replayed else 201, headers=headers
    )


@routes.get("/ticket-bookings/{id}")
async def get_booking(request: web.Request) -> web.Response:
    """200 ``{"booking"}`` for its customer, an admin of its organisation, or a guest
    with ``?token=``; 404 otherwise."""
    booking = await request.app[keys.TICKETING].get_booking(
        _optional_principal(request), _path_id(request), _token_of(request)
    )
    return _booking_response(booking)


@routes.post("/ticket-bookings/{id}/pay")
async def pay(request: web.Request) -> web.Response:
    """202 ``{"booking"}`` with ``payment.state`` ``requested``: payment-service charges
    the total; the booking is confirmed (or cancelled) when it answers. Paying again
    while requested changes nothing (never a second charge)."""
    booking_id = _path_id(request)
    token = _token_of(request)
    body = await read_json(request, _pay)
    booking = await request.app[keys.TICKETING].pay(
        _optional_principal(request), booking_id, token, body["payment_method"]
    )
    return _booking_response(booking, 202)


@routes.post("/ticket-bookings/{id}/cancel")
async def cancel(request: web.Request) -> web.Response:
    """200 ``{"booking"}`` cancelled; its seats are released at once (pending only)."""
    booking_id = _path_id(request)
    token = _token_of(request)
    body = await read_json(request, _cancel, optional=True)
    booking = await request.app[keys.TICKETING].cancel(
        _optional_principal(request), booking_id, token, body.get("reason")
    )
    return _booking_response(booking)
