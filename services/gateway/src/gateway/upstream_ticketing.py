"""booking-core's ``TicketingService`` as the REST API uses it, and the protobuf to REST
mappings of its records."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any, Final, TypeVar

from bookings_proto.bookings import v1 as pb
from bookings_proto.google.protobuf import FieldMask
from bookings_web.auth import Principal
from bookings_web.grpc import actor
from grpclib.client import Channel

from .upstream import call_core

T = TypeVar("T")
GUEST: Final = pb.Actor(guest=True)
FIELD_RENAMES: Final[dict[str, str]] = {}
_STATUS: Final = {
    pb.TicketBookingStatus.PENDING: "pending",
    pb.TicketBookingStatus.CONFIRMED: "confirmed",
    pb.TicketBookingStatus.CANCELLED: "cancelled",
    pb.TicketBookingStatus.EXPIRED: "expired",
}
_PAYMENT: Final = {
    pb.PaymentState.NONE: "none",
    pb.PaymentState.REQUESTED: "requested",
    pb.PaymentState.SUCCEEDED: "succeeded",
    pb.PaymentState.FAILED: "failed",
    pb.PaymentState.REFUND_REQUESTED: "refund_requested",
    pb.PaymentState.REFUNDED: "refunded",
}
_SEAT_STATE: Final = {
    pb.SeatState.AVAILABLE: "available",
    pb.SeatState.HELD: "held",
    pb.SeatState.SOLD: "sold",
}


def caller(principal: Principal | None) -> pb.Actor:
    """The verified caller's actor, or a guest's."""
    return actor(principal) if principal is not None else GUEST


def venue_data(venue: pb.Venue | None) -> dict[str, Any]:
    assert venue is not None
    return {
        "id": venue.id,
        "organisation_id": venue.organisation_id,
        "name": venue.name,
        "address": venue.address,
        "time_zone": venue.time_zone,
        "seat_count": venue.seat_count,
        "created_at": venue.created_at,
        "updated_at": venue.updated_at,
    }


def seat_data(seat: pb.Seat | None) -> dict[str, Any]:
    assert seat is not None
    return {
        "id": seat.id,
        "section": seat.section,
        "row": seat.row,
        "number": seat.number,
        "category": seat.category,
    }


def _prices(prices: list[pb.Price]) -> list[dict[str, Any]]:
    return [{"category": p.category, "amount_minor": p.amount_minor} for p in prices]


def event_data(event: pb.TicketedEvent | None) -> dict[str, Any]:
    assert event is not None
    assert event.spec is not None
    spec = event.spec
    return {
        "id": event.id,
        "organisation_id": event.organisation_id,
        "venue_id": spec.venue_id,
        "name": spec.name,
        "description": spec.description,
        "starts_at": spec.starts_at,
        "ends_at": spec.ends_at,
        "sales_open_at": spec.sales_open_at,
        "sales_close_at": spec.sales_close_at,
        "currency": spec.currency,
        "prices": _prices(spec.prices),
        "version": event.version,
        "created_at": event.created_at,
        "updated_at": event.updated_at,
    }


def public_event_data(event: pb.PublicEvent | None) -> dict[str, Any]:
    assert event is not None
    return {
        "id": event.id,
        "name": event.name,
        "description": event.description,
        "venue_name": event.venue_name,
        "venue_address": event.venue_address,
        "time_zone": event.time_zone,
        "starts_at": event.starts_at,
        "ends_at": event.ends_at,
        "sales_open_at": event.sales_open_at,
        "sales_close_at": event.sales_close_at,
        "currency": event.currency,
        "prices": _prices(event.prices),
        "on_sale": event.on_sale,
        "seats_available": event.seats_available,
        "seats_total": event.seats_total,
    }


def seat_offer_data(offer: pb.EventSeat) -> dict[str, Any]:
    return {
        **seat_data(offer.seat),
        "price_minor": offer.price_minor,
        "state": _SEAT_STATE[offer.state],
    }


def ticket_booking_data(booking: pb.TicketBooking | None) -> dict[str, Any]:
    assert booking is not None
    assert booking.buyer is not None
    return {
        "id": booking.id,
        "event_id": booking.event_id,
        "customer_id": booking.customer_id,
        "buyer": {"name": booking.buyer.name, "email": booking.buyer.email},
        "status": _STATUS[booking.status],
        "expires_at": booking.expires_at,
        "items": [
            {"seat": seat_data(item.seat), "price_minor": item.price_minor}
            for item in booking.items
        ],
        "total_minor": booking.total_minor,
        "currency": booking.currency,
        "ticket_reference": booking.ticket_reference or None,
        "payment": {
            "state": _PAYMENT[booking.payment_state],
            "failure_code": booking.payment_failure_code or None,
            "failure_message": booking.payment_failure_message or None,
            "late": booking.late_payment,
        },
        "cancel_reason": booking.cancel_reason or None,
        "version": booking.version,
        "created_at": booking.created_at,
        "confirmed_at": booking.confirmed_at,
        "cancelled_at": booking.cancelled_at,
        "expired_at": booking.expired_at,
    }


def event_spec(body: Mapping[str, Any]) -> pb.TicketedEventSpec:
    """A (partial) REST event body as a protobuf spec."""
    return pb.TicketedEventSpec(
        venue_id=str(body.get("venue_id") or ""),
        name=body.get("name", ""),
        description=body.get("description", ""),
        starts_at=body.get("starts_at"),
        ends_at=body.get("ends_at"),
        sales_open_at=body.get("sales_open_at"),
        sales_close_at=body.get("sales_close_at"),
        currency=body.get("currency", ""),
        prices=[
            pb.Price(category=p["category"], amount_minor=p["amount_minor"])
            for p in body.get("prices", [])
        ],
    )


class TicketingClient:
    """The ticketing calls the REST API makes; each raises ``ProblemError`` on failure."""

    def __init__(self, channel: Channel, *, deadline_seconds: float) -> None:
        self._stub = pb.TicketingServiceStub(channel, timeout=deadline_seconds)

    @staticmethod
    async def _call(call: Awaitable[T]) -> T:
        return await call_core(call, FIELD_RENAMES)

    async def create_venue(self, principal: Principal, body: Mapping[str, Any]) -> pb.Venue | None:
        spec = pb.VenueSpec(name=body["name"], address=body["address"], time_zone=body["time_zone"])
        reply = await self._call(
            self._stub.create_venue(pb.CreateVenueRequest(actor=actor(principal), spec=spec))
        )
        return reply.venue

    async def update_venue(
        self, principal: Principal, venue_id: str, body: Mapping[str, Any]
    ) -> pb.Venue | None:
        spec = pb.VenueSpec(
            name=body.get("name", ""),
            address=body.get("address", ""),
            time_zone=body.get("time_zone", ""),
        )
        reply = await self._call(
            self._stub.update_venue(
                pb.UpdateVenueRequest(
                    actor=actor(principal),
                    venue_id=venue_id,
                    spec=spec,
                    update_mask=FieldMask(paths=sorted(body)),
                )
            )
        )
        return reply.venue

    async def get_venue(self, principal: Principal, venue_id: str) -> pb.Venue | None:
        reply = await self._call(
            self._stub.get_venue(pb.GetVenueRequest(actor=actor(principal), venue_id=venue_id))
        )
        return reply.venue

    async def list_venues(
        self, principal: Principal, cursor: str | None, limit: int
    ) -> pb.ListVenuesResponse:
        return await self._call(
            self._stub.list_venues(
                pb.ListVenuesRequest(actor=actor(principal), cursor=cursor or "", limit=limit)
            )
        )

    async def add_seats(
        self, principal: Principal, venue_id: str, seats: list[pb.SeatSpec]
    ) -> list[pb.Seat]:
        reply = await self._call(
            self._stub.add_seats(
                pb.AddSeatsRequest(actor=actor(principal), venue_id=venue_id, seats=seats)
            )
        )
        return reply.seats

    async def list_seats(self, principal: Principal, venue_id: str) -> list[pb.Seat]:
        reply = await self._call(
            self._stub.list_seats(pb.ListSeatsRequest(actor=actor(principal), venue_id=venue_id))
        )
        return reply.seats

    async def create_event(
        self, principal: Principal, body: Mapping[str, Any]
    ) -> pb.TicketedEvent | None:
        reply = await self._call(
            self._stub.create_ticketed_event(
                pb.CreateTicketedEventRequest(actor=actor(principal), spec=event_spec(body))
            )
        )
        return reply.event

    async def update_event(
        self, principal: Principal, event_id: str, body: Mapping[str, Any]
    ) -> pb.TicketedEvent | None:
        reply = await self._call(
            self._stub.update_ticketed_event(
                pb.UpdateTicketedEventRequest(
                    actor=actor(principal),
                    event_id=event_id,
                    spec=event_spec(body),
                    update_mask=FieldMask(paths=sorted(body)),
                )
            )
        )
        return reply.event

    async def get_event(self, principal: Principal, event_id: str) -> pb.TicketedEvent | None:
        reply = await self._call(
            self._stub.get_ticketed_event(
                pb.GetTicketedEventRequest(actor=actor(principal), event_id=event_id)
            )
        )
        return reply.event

    async def list_events(
        self, principal: Principal, cursor: str | None, limit: int
    ) -> pb.ListTicketedEventsResponse:
        return await self._call(
            self._stub.list_ticketed_events(
                pb.ListTicketedEventsRequest(
                    actor=actor(principal), cursor=cursor or "", limit=limit
                )
            )
        )

    async def list_bookings(
        self, principal: Principal, event_id: str, cursor: str | None, limit: int
    ) -> pb.ListTicketBookingsResponse:
        return await self._call(
            self._stub.list_ticket_bookings(
                pb.ListTicketBookingsRequest(
                    actor=actor(principal), event_id=event_id, cursor=cursor or "", limit=limit
                )
            )
        )

    async def refund(
        self, principal: Principal, booking_id: str, reason: str
    ) -> pb.TicketBooking | None:
        reply = await self._call(
            self._stub.refund_ticket_booking(
                pb.RefundTicketBookingRequest(
                    actor=actor(principal), booking_id=booking_id, reason=reason
                )
            )
        )
        return reply.booking

    async def public_event(self, event_id: str) -> pb.PublicEvent | None:
        reply = await self._call(
            self._stub.get_public_event(pb.GetPublicEventRequest(actor=GUEST, event_id=event_id))
        )
        return reply.event

    async def seat_map(self, event_id: str) -> list[pb.EventSeat]:
        reply = await self._call(
            self._stub.list_event_seats(pb.ListEventSeatsRequest(actor=GUEST, event_id=event_id))
        )
        return reply.seats

    async def hold(
        self, principal: Principal | None, body: Mapping[str, Any], idempotency_key: str | None
    ) -> pb.TicketBookingResponse:
        return await self._call(
            self._stub.hold_seats(
                pb.HoldSeatsRequest(
                    actor=caller(principal),
                    event_id=str(body["event_id"]),
                    seat_ids=[str(s) for s in body["seat_ids"]],
                    buyer=pb.Buyer(name=body["buyer"]["name"], email=body["buyer"]["email"]),
                    idempotency_key=idempotency_key or "",
                )
            )
        )

    async def get_booking(
        self, principal: Principal | None, booking_id: str, token: str
    ) -> pb.TicketBooking | None:
        reply = await self._call(
            self._stub.get_ticket_booking(
                pb.GetTicketBookingRequest(
                    actor=caller(principal), booking_id=booking_id, manage_token=token
                )
            )
        )
        return reply.booking

    async def pay(
        self, principal: Principal | None, booking_id: str, token: str, payment_method: str
    ) -> pb.TicketBooking | None:
        reply = await self._call(
            self._stub.pay_ticket_booking(
                pb.PayTicketBookingRequest(
                    actor=caller(principal),
                    booking_id=booking_id,
                    manage_token=token,
                    payment_method=payment_method,
                )
            )
        )
        return reply.booking

    async def cancel(
        self, principal: Principal | None, booking_id: str, token: str, reason: str | None
    ) -> pb.TicketBooking | None:
        reply = await self._call(
            self._stub.cancel_ticket_booking(
                pb.CancelTicketBookingRequest(
                    actor=caller(principal),
                    booking_id=booking_id,
                    manage_token=token,
                    reason=reason or "",
                )
            )
        )
        return reply.booking
