"""The ticketing part of the OpenAPI document: the admin's venues and events, the public
event and seat map, and ticket bookings (a customer's bearer token, or none for a guest,
who then uses the manage token)."""

from __future__ import annotations

from typing import Any, Final

from apispec import APISpec

from . import ticketing_schemas as schemas
from .openapi_common import json_content, operation
from .schemas import BookingPath

SCHEMAS: Final = {
    "Venue": schemas.Venue,
    "Seat": schemas.Seat,
    "TicketedEvent": schemas.TicketedEvent,
    "PublicEvent": schemas.PublicEvent,
    "TicketBooking": schemas.TicketBooking,
    "VenueRequest": schemas.VenueRequest,
    "VenuePatch": schemas.VenuePatch,
    "VenueEnvelope": schemas.VenueEnvelope,
    "VenuePage": schemas.VenuePage,
    "AddSeatsRequest": schemas.AddSeatsRequest,
    "SeatList": schemas.SeatList,
    "TicketedEventRequest": schemas.TicketedEventRequest,
    "TicketedEventPatch": schemas.TicketedEventPatch,
    "TicketedEventEnvelope": schemas.TicketedEventEnvelope,
    "TicketedEventPage": schemas.TicketedEventPage,
    "PublicEventEnvelope": schemas.PublicEventEnvelope,
    "SeatMap": schemas.SeatMap,
    "HoldRequest": schemas.HoldRequest,
    "HoldCreated": schemas.HoldCreated,
    "PayRequest": schemas.PayRequest,
    "TicketCancelRequest": schemas.CancelRequest,
    "RefundRequest": schemas.RefundRequest,
    "TicketBookingEnvelope": schemas.TicketBookingEnvelope,
    "TicketBookingPage": schemas.TicketBookingPage,
}
UPSTREAM: Final = ("UPSTREAM_UNAVAILABLE", "UPSTREAM_TIMEOUT")
BODY: Final = ("VALIDATION_FAILED", "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE")
# A customer's bearer token, or none at all (a guest).
OPTIONAL_AUTH: Final[list[dict[str, list[str]]]] = [{}, {"bearerAuth": []}]
_T: Final = "2026-12-20T19:00:00Z"
_VENUE: Final = {
    "id": schemas.EXAMPLE_VENUE,
    "organisationId": "0d6c1b7e-2f3a-4b5c-8d9e-0f1a2b3c4d5e",
    "name": "Town Hall",
    "address": "Market Square 1, Berlin",
    "timeZone": "Europe/Berlin",
    "seatCount": 240,
    "createdAt": "2026-12-01T10:00:00Z",
    "updatedAt": "2026-12-01T10:00:00Z",
}
_SEAT: Final = {
    "id": schemas.EXAMPLE_SEAT,
    "section": "Stalls",
    "row": "A",
    "number": "12",
    "category": "front",
}
_PRICES: Final = [
    {"category": "front", "amountMinor": 4500},
    {"category": "back", "amountMinor": 2500},
]
_EVENT: Final = {
    "id": schemas.EXAMPLE_EVENT,
    "organisationId": "0d6c1b7e-2f3a-4b5c-8d9e-0f1a2b3c4d5e",
    "venueId": schemas.EXAMPLE_VENUE,
    "name": "Winter concert",
    "description": "",
    "startsAt": _T,
    "endsAt": "2026-12-20T21:00:00Z",
    "salesOpenAt": "2026-12-01T09:00:00Z",
    "salesCloseAt": "2026-12-20T18:00:00Z",
    "currency": "EUR",
    "prices": _PRICES,
    "version": 1,
    "createdAt": "2026-12-01T10:00:00Z",
    "updatedAt": "2026-12-01T10:00:00Z",
}
_BOOKING: Final = {
    "id": schemas.EXAMPLE_TICKET_BOOKING,
    "eventId": schemas.EXAMPLE_EVENT,
    "customerId": "8133b53f-6451-5af0-b72b-ea0c7a71b115",
    "buyer": {"name": "Ada Lovelace", "email": "ada@example.com"},
    "status": "pending",
    "expiresAt": "2026-12-02T10:10:00Z",
    "items": [{"seat": _SEAT, "priceMinor": 4500}],
    "totalMinor": 4500,
    "currency": "EUR",
    "ticketReference": None,
    "payment": {"state": "none", "failureCode": None, "failureMessage": None, "late": False},
    "cancelReason": None,
    "version": 1,
    "createdAt": "2026-12-02T10:00:00Z",
    "confirmedAt": None,
    "cancelledAt": None,
    "expiredAt": None,
}


def _id() -> dict[str, Any]:
    return {"in": "path", "schema": BookingPath}


def _body(schema: str, example: Any, *, required: bool = True) -> dict[str, Any]:
    return {
        "required": required,
        "content": {"application/json": {"schema": schema, "example": example}},
    }


def _admin(summary: str, success: dict[str, Any], *errors: str, **extra: Any) -> dict[str, Any]:
    return operation(summary, success, ("FORBIDDEN", *errors, *UPSTREAM), **extra)


def _public(summary: str, success: dict[str, Any], *errors: str, **extra: Any) -> dict[str, Any]:
    return operation(summary, success, (*errors, *UPSTREAM), authenticated=False, **extra)


def _buyer(summary: str, success: dict[str, Any], *errors: str, **extra: Any) -> dict[str, Any]:
    built = operation(summary, success, ("FORBIDDEN", *errors, *UPSTREAM), **extra)
    built["security"] = OPTIONAL_AUTH
    return built


def _token() -> dict[str, Any]:
    return {"in": "query", "schema": schemas.TokenQuery}


def add_paths(spec: APISpec) -> None:
    """Add the ticketing operations to ``spec`` (schemas registered by the caller)."""
    venue = json_content("VenueEnvelope", "The venue.", {"venue": _VENUE})
    spec.path(
        path="/admin/venues",
        operations={
            "post": _admin(
                "Create a venue",
                {"201": json_content("VenueEnvelope", "Created.", {"venue": _VENUE}, "Location")},
                *BODY,
                requestBody=_body(
                    "VenueRequest",
                    {
                        "name": "Town Hall",
                        "address": "Market Square 1",
                        "timeZone": "Europe/Berlin",
                    },
                ),
            ),
            "get": _admin(
                "The organisation's venues, oldest first",
                {
                    "200": json_content(
                        "VenuePage", "One page.", {"items": [_VENUE], "nextCursor": None}
                    )
                },
                "VALIDATION_FAILED",
                parameters=[{"in": "query", "schema": schemas.PageQuery}],
            ),
        },
    )
    spec.path(
        path="/admin/venues/{id}",
        operations={
            "get": _admin(
                "A venue", {"200": venue}, "VALIDATION_FAILED", "NOT_FOUND", parameters=[_id()]
            ),
            "patch": _admin(
                "Change a venue (JSON Merge Patch, RFC 7396)",
                {"200": venue},
                *BODY,
                "NOT_FOUND",
                parameters=[_id()],
                requestBody=_body("VenuePatch", {"name": "New Town Hall"}),
            ),
        },
    )
    seats = json_content("SeatList", "Every seat of the venue.", {"items": [_SEAT]})
    spec.path(
        path="/admin/venues/{id}/seats",
        operations={
            "post": _admin(
                "Add seats (one by one, or rows of numbered seats; all or none)",
                {"201": seats},
                *BODY,
                "NOT_FOUND",
                parameters=[_id()],
                requestBody=_body(
                    "AddSeatsRequest",
                    {
                        "rows": [
                            {
                                "section": "Stalls",
                                "row": "A",
                                "from": 1,
                                "to": 20,
                                "category": "front",
                            }
                        ]
                    },
                ),
            ),
            "get": _admin(
                "The venue's seats",
                {"200": seats},
                "VALIDATION_FAILED",
                "NOT_FOUND",
                parameters=[_id()],
            ),
        },
    )
    event = json_content("TicketedEventEnvelope", "The event.", {"event": _EVENT})
    spec.path(
        path="/admin/events",
        operations={
            "post": _admin(
                "Create a ticketed event with a price per seat category",
                {
                    "201": json_content(
                        "TicketedEventEnvelope", "Created.", {"event": _EVENT}, "Location"
                    )
                },
                *BODY,
                "NOT_FOUND",
                requestBody=_body(
                    "TicketedEventRequest",
                    {
                        k: v
                        for k, v in _EVENT.items()
                        if k not in ("id", "organisationId", "version", "createdAt", "updatedAt")
                    },
                ),
            ),
            "get": _admin(
                "The organisation's events, oldest first",
                {
                    "200": json_content(
                        "TicketedEventPage", "One page.", {"items": [_EVENT], "nextCursor": None}
                    )
                },
                "VALIDATION_FAILED",
                parameters=[{"in": "query", "schema": schemas.PageQuery}],
            ),
        },
    )
    spec.path(
        path="/admin/events/{id}",
        operations={
            "get": _admin(
                "An event", {"200": event}, "VALIDATION_FAILED", "NOT_FOUND", parameters=[_id()]
            ),
            "patch": _admin(
                "Change an event (JSON Merge Patch; new prices apply to new holds)",
                {"200": event},
                *BODY,
                "NOT_FOUND",
                parameters=[_id()],
                requestBody=_body("TicketedEventPatch", {"prices": _PRICES}),
            ),
        },
    )
    spec.path(
        path="/admin/events/{id}/bookings",
        operations={
            "get": _admin(
                "The event's ticket bookings, newest first",
                {
                    "200": json_content(
                        "TicketBookingPage", "One page.", {"items": [_BOOKING], "nextCursor": None}
                    )
                },
                "VALIDATION_FAILED",
                "NOT_FOUND",
                parameters=[_id(), {"in": "query", "schema": schemas.PageQuery}],
            )
        },
    )
    accepted = json_content(
        "TicketBookingEnvelope", "Accepted: the outcome follows.", {"booking": _BOOKING}
    )
    spec.path(
        path="/admin/ticket-bookings/{id}/refund",
        operations={
            "post": _admin(
                "Refund a confirmed booking (cancelled once the refund succeeds)",
                {"202": accepted},
                *BODY,
                "NOT_FOUND",
                "BOOKING_NOT_REFUNDABLE",
                parameters=[_id()],
                requestBody=_body("RefundRequest", {"reason": "the concert is cancelled"}),
            )
        },
    )
    spec.path(
        path="/public/events/{id}",
        operations={
            "get": _public(
                "A ticketed event as buyers see it",
                {"200": json_content("PublicEventEnvelope", "The event.", {"event": {}})},
                "VALIDATION_FAILED",
                "NOT_FOUND",
                parameters=[_id()],
            )
        },
    )
    spec.path(
        path="/public/events/{id}/seats",
        operations={
            "get": _public(
                "The seat map: every seat for sale with its price and state",
                {
                    "200": json_content(
                        "SeatMap",
                        "available, held (in a pending booking) or sold.",
                        {
                            "currency": "EUR",
                            "items": [{**_SEAT, "priceMinor": 4500, "state": "available"}],
                        },
                    )
                },
                "VALIDATION_FAILED",
                "NOT_FOUND",
                parameters=[_id()],
            )
        },
    )
    booking = json_content("TicketBookingEnvelope", "The booking.", {"booking": _BOOKING})
    spec.path(
        path="/ticket-bookings",
        operations={
            "post": _buyer(
                "Hold seats (a customer, or a guest without a token)",
                {
                    "201": json_content(
                        "HoldCreated",
                        "Held until booking.expiresAt.",
                        {"booking": _BOOKING, "manageToken": "3q2-..."},
                        "Location",
                    ),
                    "200": json_content(
                        "HoldCreated",
                        "An idempotent replay.",
                        {"booking": _BOOKING, "manageToken": None},
                        "Location",
                        "Idempotent-Replayed",
                    ),
                },
                *BODY,
                "NOT_FOUND",
                "SEAT_UNAVAILABLE",
                "SALES_CLOSED",
                "IDEMPOTENCY_KEY_REUSED",
                "IDEMPOTENCY_IN_PROGRESS",
                parameters=[
                    {
                        "in": "header",
                        "name": "Idempotency-Key",
                        "required": False,
                        "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                    }
                ],
                requestBody=_body(
                    "HoldRequest",
                    {
                        "eventId": schemas.EXAMPLE_EVENT,
                        "seatIds": [schemas.EXAMPLE_SEAT],
                        "buyer": {"name": "Ada Lovelace", "email": "ada@example.com"},
                    },
                ),
            )
        },
    )
    spec.path(
        path="/ticket-bookings/{id}",
        operations={
            "get": _buyer(
                "A ticket booking (its customer, an admin, or ?token=)",
                {"200": booking},
                "VALIDATION_FAILED",
                "NOT_FOUND",
                parameters=[_id(), _token()],
            )
        },
    )
    spec.path(
        path="/ticket-bookings/{id}/pay",
        operations={
            "post": _buyer(
                "Pay: payment-service charges the total; confirmed or cancelled when it answers",
                {"202": accepted},
                *BODY,
                "NOT_FOUND",
                "BOOKING_NOT_PAYABLE",
                parameters=[_id(), _token()],
                requestBody=_body("PayRequest", {"paymentMethod": "4242424242424242"}),
            )
        },
    )
    spec.path(
        path="/ticket-bookings/{id}/cancel",
        operations={
            "post": _buyer(
                "Cancel a pending booking (its seats are released)",
                {"200": booking},
                *BODY,
                "NOT_FOUND",
                "BOOKING_NOT_CANCELLABLE",
                parameters=[_id(), _token()],
                requestBody=_body(
                    "TicketCancelRequest", {"reason": "changed plans"}, required=False
                ),
            )
        },
    )
