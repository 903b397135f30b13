"""gRPC edge of the ticketing context: ``bookings.v1.TicketingService`` over
``TicketingService``. Errors are mapped by ``rpc`` exactly as for ``BookingService``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final
from uuid import UUID

from bookings_proto.bookings import v1 as pb

from booking_core.domain.ticketing import (
    Buyer,
    EventSpec,
    PaymentState,
    Seat,
    SeatSpec,
    SeatState,
    TicketBooking,
    TicketedEvent,
    TicketStatus,
    Venue,
    VenueSpec,
)
from booking_core.service_layer.ticketing import Held, TicketingService

from .grpc_server import CallGuard, page_limit, parse_actor, parse_time, parse_uuid, rpc

DEFAULT_PAGE: Final = 20
# Placeholders of a partial update's fields its mask leaves out (never stored).
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_NIL: Final = UUID(int=0)
_STATUS: Final = {
    TicketStatus.PENDING: pb.TicketBookingStatus.PENDING,
    TicketStatus.CONFIRMED: pb.TicketBookingStatus.CONFIRMED,
    TicketStatus.CANCELLED: pb.TicketBookingStatus.CANCELLED,
    TicketStatus.EXPIRED: pb.TicketBookingStatus.EXPIRED,
}
_PAYMENT: Final = {
    PaymentState.NONE: pb.PaymentState.NONE,
    PaymentState.REQUESTED: pb.PaymentState.REQUESTED,
    PaymentState.SUCCEEDED: pb.PaymentState.SUCCEEDED,
    PaymentState.FAILED: pb.PaymentState.FAILED,
    PaymentState.REFUND_REQUESTED: pb.PaymentState.REFUND_REQUESTED,
    PaymentState.REFUNDED: pb.PaymentState.REFUNDED,
}
_SEAT_STATE: Final = {
    SeatState.AVAILABLE: pb.SeatState.AVAILABLE,
    SeatState.HELD: pb.SeatState.HELD,
    SeatState.SOLD: pb.SeatState.SOLD,
}


def venue_to_pb(venue: Venue) -> pb.Venue:
    return pb.Venue(
        id=str(venue.id),
        organisation_id=str(venue.organisation_id),
        name=venue.spec.name,
        address=venue.spec.address,
        time_zone=venue.spec.time_zone,
        seat_count=venue.seat_count,
        created_at=venue.created_at,
        updated_at=venue.updated_at,
    )


def seat_to_pb(seat: Seat) -> pb.Seat:
    return pb.Seat(
        id=str(seat.id),
        section=seat.section,
        row=seat.row,
        number=seat.number,
        category=seat.category,
    )


def venue_spec_from_pb(spec: pb.VenueSpec | None) -> VenueSpec:
    spec = spec or pb.VenueSpec()
    return VenueSpec(spec.name, spec.address, spec.time_zone)


def event_spec_from_pb(spec: pb.TicketedEventSpec | None, *, partial: bool) -> EventSpec:
    """A spec as sent; for a partial update, missing times become placeholders the mask
    leaves unused."""
    spec = spec or pb.TicketedEventSpec()

    def when(value: datetime | None, field: str) -> datetime:
        if value is None and partial:
            return _EPOCH
        return parse_time(value, field)

    return EventSpec(
        venue_id=parse_uuid(spec.venue_id, "venue_id") if spec.venue_id or not partial else _NIL,
        name=spec.name,
        description=spec.description,
        starts_at=when(spec.starts_at, "starts_at"),
        ends_at=when(spec.ends_at, "ends_at"),
        sales_open_at=when(spec.sales_open_at, "sales_open_at"),
        sales_close_at=when(spec.sales_close_at, "sales_close_at"),
        currency=spec.currency,
        prices={p.category: p.amount_minor for p in spec.prices},
    )


def event_to_pb(event: TicketedEvent) -> pb.TicketedEvent:
    spec = event.spec
    return pb.TicketedEvent(
        id=str(event.id),
        organisation_id=str(event.organisation_id),
        spec=pb.TicketedEventSpec(
            venue_id=str(spec.venue_id),
            name=spec.name,
            description=spec.description,
            starts_at=spec.starts_at,
            ends_at=spec.ends_at,
            sales_open_at=spec.sales_open_at,
            sales_close_at=spec.sales_close_at,
            currency=spec.currency,
            prices=[pb.Price(category=c, amount_minor=a) for c, a in sorted(spec.prices.items())],
        ),
        version=event.version,
        created_at=event.created_at,
        updated_at=event.updated_at,
    )


def ticket_booking_to_pb(booking: TicketBooking) -> pb.TicketBooking:
    return pb.TicketBooking(
        id=str(booking.id),
        event_id=str(booking.event_id),
        customer_id=str(booking.customer_id),
        buyer=pb.Buyer(name=booking.buyer.name, email=booking.buyer.email),
        status=_STATUS[booking.status],
        expires_at=booking.expires_at,
        items=[
            pb.TicketItem(seat=seat_to_pb(item.seat), price_minor=item.price_minor)
            for item in booking.items
        ],
        total_minor=booking.total_minor,
        currency=booking.currency,
        ticket_reference=booking.ticket_reference or "",
        payment_state=_PAYMENT[booking.payment_state],
        payment_failure_code=booking.payment_failure_code or "",
        payment_failure_message=booking.payment_failure_message or "",
        late_payment=booking.late_payment,
        cancel_reason=booking.cancel_reason or "",
        version=booking.version,
        created_at=booking.created_at,
        confirmed_at=booking.confirmed_at,
        cancelled_at=booking.cancelled_at,
        expired_at=booking.expired_at,
    )


def _held(held: Held, *, guest: bool) -> pb.TicketBookingResponse:
    return pb.TicketBookingResponse(
        booking=ticket_booking_to_pb(held.booking),
        manage_token=held.manage_token if guest else "",
        replayed=held.replayed,
    )


def _paths(mask: object) -> list[str]:
    return list(getattr(mask, "paths", []) or [])


class TicketingServicer(pb.TicketingServiceBase):
    """``bookings.v1.TicketingService`` over ``TicketingService``."""

    def __init__(self, service: TicketingService, guard: CallGuard) -> None:
        self.service = service
        self.guard = guard

    @rpc
    async def create_venue(self, message: pb.CreateVenueRequest) -> pb.VenueResponse:
        venue = await self.service.create_venue(
            parse_actor(message.actor), venue_spec_from_pb(message.spec)
        )
        return pb.VenueResponse(venue=venue_to_pb(venue))

    @rpc
    async def update_venue(self, message: pb.UpdateVenueRequest) -> pb.VenueResponse:
        venue = await self.service.update_venue(
            parse_actor(message.actor),
            parse_uuid(message.venue_id, "venue_id"),
            venue_spec_from_pb(message.spec),
            _paths(message.update_mask),
        )
        return pb.VenueResponse(venue=venue_to_pb(venue))

    @rpc
    async def get_venue(self, message: pb.GetVenueRequest) -> pb.VenueResponse:
        venue = await self.service.get_venue(
            parse_actor(message.actor), parse_uuid(message.venue_id, "venue_id")
        )
        return pb.VenueResponse(venue=venue_to_pb(venue))

    @rpc
    async def list_venues(self, message: pb.ListVenuesRequest) -> pb.ListVenuesResponse:
        venues, cursor = await self.service.list_venues(
            parse_actor(message.actor), message.cursor, page_limit(message.limit, DEFAULT_PAGE)
        )
        return pb.ListVenuesResponse(venues=[venue_to_pb(v) for v in venues], next_cursor=cursor)

    @rpc
    async def add_seats(self, message: pb.AddSeatsRequest) -> pb.SeatsResponse:
        seats = await self.service.add_seats(
            parse_actor(message.actor),
            parse_uuid(message.venue_id, "venue_id"),
            [SeatSpec(s.section, s.row, s.number, s.category) for s in message.seats],
        )
        return pb.SeatsResponse(seats=[seat_to_pb(s) for s in seats])

    @rpc
    async def list_seats(self, message: pb.ListSeatsRequest) -> pb.SeatsResponse:
        seats = await self.service.list_seats(
            parse_actor(message.actor), parse_uuid(message.venue_id, "venue_id")
        )
        return pb.SeatsResponse(seats=[seat_to_pb(s) for s in seats])

    @rpc
    async def create_ticketed_event(
        self, message: pb.CreateTicketedEventRequest
    ) -> pb.TicketedEventResponse:
        event = await self.service.create_event(
            parse_actor(message.actor), event_spec_from_pb(message.spec, partial=False)
        )
        return pb.TicketedEventResponse(event=event_to_pb(event))

    @rpc
    async def update_ticketed_event(
        self, message: pb.UpdateTicketedEventRequest
    ) -> pb.TicketedEventResponse:
        event = await self.service.update_event(
            parse_actor(message.actor),
            parse_uuid(message.event_id, "event_id"),
            event_spec_from_pb(message.spec, partial=True),
            _paths(message.update_mask),
        )
        return pb.TicketedEventResponse(event=event_to_pb(event))

    @rpc
    async def get_ticketed_event(
        self, message: pb.GetTicketedEventRequest
    ) -> pb.TicketedEventResponse:
        event = await self.service.get_event(
            parse_actor(message.actor), parse_uuid(message.event_id, "event_id")
        )
        return pb.TicketedEventResponse(event=event_to_pb(event))

    @rpc
    async def list_ticketed_events(
        self, message: pb.ListTicketedEventsRequest
    ) -> pb.ListTicketedEventsResponse:
        events, cursor = await self.service.list_events(
            parse_actor(message.actor), message.cursor, page_limit(message.limit, DEFAULT_PAGE)
        )
        return pb.ListTicketedEventsResponse(
            events=[event_to_pb(e) for e in events], next_cursor=cursor
        )

    @rpc
    async def list_ticket_bookings(
        self, message: pb.ListTicketBookingsRequest
    ) -> pb.ListTicketBookingsResponse:
        bookings, cursor = await self.service.list_bookings(
            parse_actor(message.actor),
            parse_uuid(message.event_id, "event_id"),
            message.cursor,
            page_limit(message.limit, DEFAULT_PAGE),
        )
        return pb.ListTicketBookingsResponse(
            bookings=[ticket_booking_to_pb(b) for b in bookings], next_cursor=cursor
        )

    @rpc
    async def refund_ticket_booking(
        self, message: pb.RefundTicketBookingRequest
    ) -> pb.TicketBookingResponse:
        booking = await self.service.refund(
            parse_actor(message.actor), parse_uuid(message.booking_id, "booking_id"), message.reason
        )
        return pb.TicketBookingResponse(booking=ticket_booking_to_pb(booking))

    @rpc
    async def get_public_event(self, message: pb.GetPublicEventRequest) -> pb.PublicEventResponse:
        view = await self.service.public_event(parse_uuid(message.event_id, "event_id"))
        spec = view.event.spec
        return pb.PublicEventResponse(
            event=pb.PublicEvent(
                id=str(view.event.id),
                name=spec.name,
                description=spec.description,
                venue_name=view.venue.spec.name,
                venue_address=view.venue.spec.address,
                time_zone=view.venue.spec.time_zone,
                starts_at=spec.starts_at,
                ends_at=spec.ends_at,
                sales_open_at=spec.sales_open_at,
                sales_close_at=spec.sales_close_at,
                currency=spec.currency,
                prices=[
                    pb.Price(category=c, amount_minor=a) for c, a in sorted(spec.prices.items())
                ],
                on_sale=view.on_sale,
                seats_available=view.seats_available,
                seats_total=view.seats_total,
            )
        )

    @rpc
    async def list_event_seats(
        self, message: pb.ListEventSeatsRequest
    ) -> pb.ListEventSeatsResponse:
        offers = await self.service.seat_map(parse_uuid(message.event_id, "event_id"))
        return pb.ListEventSeatsResponse(
            seats=[
                pb.EventSeat(
                    seat=seat_to_pb(o.seat), price_minor=o.price_minor, state=_SEAT_STATE[o.state]
                )
                for o in offers
                if o.price_minor is not None
            ]
        )

    @rpc
    async def hold_seats(self, message: pb.HoldSeatsRequest) -> pb.TicketBookingResponse:
        actor = parse_actor(message.actor)
        buyer = message.buyer or pb.Buyer()
        held = await self.service.hold(
            actor,
            parse_uuid(message.event_id, "event_id"),
            [parse_uuid(s, f"seat_ids[{i}]") for i, s in enumerate(message.seat_ids)],
            Buyer(buyer.name, buyer.email),
            message.idempotency_key or None,
        )
        return _held(held, guest=not (actor.id and actor.id == held.booking.customer_id))

    @rpc
    async def get_ticket_booking(
        self, message: pb.GetTicketBookingRequest
    ) -> pb.TicketBookingResponse:
        booking = await self.service.get_booking(
            parse_actor(message.actor),
            parse_uuid(message.booking_id, "booking_id"),
            message.manage_token,
        )
        return pb.TicketBookingResponse(booking=ticket_booking_to_pb(booking))

    @rpc
    async def pay_ticket_booking(
        self, message: pb.PayTicketBookingRequest
    ) -> pb.TicketBookingResponse:
        booking = await self.service.pay(
            parse_actor(message.actor),
            parse_uuid(message.booking_id, "booking_id"),
            message.manage_token,
            message.payment_method,
        )
        return pb.TicketBookingResponse(booking=ticket_booking_to_pb(booking))

    @rpc
    async def cancel_ticket_booking(
        self, message: pb.CancelTicketBookingRequest
    ) -> pb.TicketBookingResponse:
        booking = await self.service.cancel(
            parse_actor(message.actor),
            parse_uuid(message.booking_id, "booking_id"),
            message.manage_token,
            message.reason or None,
        )
        return pb.TicketBookingResponse(booking=ticket_booking_to_pb(booking))
