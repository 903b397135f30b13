"""gRPC edge of the event-type context: ``bookings.v1.EventTypeService`` over
``EventTypeService``. Parse protos into commands, call the service, shape replies;
errors are mapped by ``rpc`` exactly as for ``BookingService``."""

from __future__ import annotations

from bookings_proto.bookings import v1 as pb

from booking_core.domain import event_type_commands as cmds
from booking_core.domain.errors import InvalidArgument
from booking_core.domain.event_types import (
    EventType,
    EventTypeSpec,
    format_local_time,
    parse_date,
    parse_local_time,
)
from booking_core.domain.slots import DatedWindow, SlotRules, WeeklyHours
from booking_core.service_layer.event_type_ports import PublicListing
from booking_core.service_layer.event_types import EventTypeService

from .grpc_server import (
    CallGuard,
    booking_to_pb,
    page_limit,
    parse_actor,
    parse_optional_uuid,
    parse_time,
    parse_uuid,
    rpc,
)


def spec_from_pb(message: pb.EventTypeSpec | None) -> EventTypeSpec:
    """A spec as sent (the service validates the bounds); malformed local times, dates
    or windows raise ``InvalidArgument`` naming the element."""
    spec = message or pb.EventTypeSpec()
    windows = []
    for i, window in enumerate(spec.dated_windows):
        windows.append(
            DatedWindow(
                parse_time(window.start, f"dated_windows[{i}].start"),
                parse_time(window.end, f"dated_windows[{i}].end"),
            )
        )
    hours = [
        WeeklyHours(
            int(h.weekday),
            parse_local_time(h.from_time, f"weekly_hours[{i}].from_time", allow_midnight_end=False),
            parse_local_time(h.to_time, f"weekly_hours[{i}].to_time", allow_midnight_end=True),
        )
        for i, h in enumerate(spec.weekly_hours)
    ]
    exceptions = frozenset(
        parse_date(d, f"date_exceptions[{i}]") for i, d in enumerate(spec.date_exceptions)
    )
    return EventTypeSpec(
        name=spec.name,
        description=spec.description,
        location=spec.location,
        time_zone=spec.time_zone,
        period_minutes=spec.period_minutes,
        capacity=spec.capacity,
        buffer_before_minutes=spec.buffer_before_minutes,
        buffer_after_minutes=spec.buffer_after_minutes,
        minimum_notice_minutes=spec.minimum_notice_minutes,
        booking_horizon_days=spec.booking_horizon_days,
        rules=SlotRules(tuple(windows), tuple(hours), exceptions),
        custom_slug=spec.custom_slug or None,
        allow_multiple_places_per_guest=spec.allow_multiple_places_per_guest,
        allow_member_choice=spec.allow_member_choice,
    )


def spec_to_pb(spec: EventTypeSpec) -> pb.EventTypeSpec:
    return pb.EventTypeSpec(
        name=spec.name,
        description=spec.description,
        location=spec.location,
        time_zone=spec.time_zone,
        period_minutes=spec.period_minutes,
        capacity=spec.capacity,
        buffer_before_minutes=spec.buffer_before_minutes,
        buffer_after_minutes=spec.buffer_after_minutes,
        minimum_notice_minutes=spec.minimum_notice_minutes,
        booking_horizon_days=spec.booking_horizon_days,
        dated_windows=[pb.DatedWindow(w.start, w.end) for w in spec.rules.dated_windows],
        weekly_hours=[
            pb.WeeklyHours(
                weekday=pb.Weekday(h.weekday),
                from_time=format_local_time(h.from_minute),
                to_time=format_local_time(h.to_minute),
            )
            for h in spec.rules.weekly_hours
        ],
        date_exceptions=sorted(d.isoformat() for d in spec.rules.date_exceptions),
        custom_slug=spec.custom_slug or "",
        allow_multiple_places_per_guest=spec.allow_multiple_places_per_guest,
        allow_member_choice=spec.allow_member_choice,
    )


def event_type_to_pb(event_type: EventType) -> pb.EventType:
    return pb.EventType(
        id=str(event_type.id),
        provider_id=str(event_type.provider_id) if event_type.provider_id else "",
        team_id=str(event_type.team_id) if event_type.team_id else "",
        organisation_id=str(event_type.organisation_id) if event_type.organisation_id else "",
        spec=spec_to_pb(event_type.spec),
        slug=event_type.slug,
        active=event_type.active,
        version=event_type.version,
        created_at=event_type.created_at,
        updated_at=event_type.updated_at,
    )


def public_to_pb(listing: PublicListing) -> pb.PublicEventType:
    event_type, spec = listing.event_type, listing.event_type.spec
    return pb.PublicEventType(
        slug=event_type.slug,
        custom_slug=spec.custom_slug or "",
        name=spec.name,
        description=spec.description,
        location=spec.location,
        time_zone=spec.time_zone,
        period_minutes=spec.period_minutes,
        capacity=spec.capacity,
        minimum_notice_minutes=spec.minimum_notice_minutes,
        booking_horizon_days=spec.booking_horizon_days,
        provider_name=listing.owner_name,
        members=[pb.TeamMember(provider_id=str(h.provider_id), name=h.name) for h in listing.hosts]
        if event_type.team_id is not None and spec.allow_member_choice
        else [],
    )


def _guest(message: pb.Guest | None) -> cmds.GuestDetails:
    if message is None:
        raise InvalidArgument("guest", "is required")
    return cmds.GuestDetails(
        first_name=message.first_name,
        last_name=message.last_name,
        email=message.email,
        phone=message.phone,
        address=message.address or None,
        special_requests=message.special_requests or None,
    )


class EventTypeServicer(pb.EventTypeServiceBase):
    """``bookings.v1.EventTypeService`` over ``EventTypeService``."""

    def __init__(self, service: EventTypeService, guard: CallGuard) -> None:
        self.service = service
        self.guard = guard

    @rpc
    async def create_event_type(self, message: pb.CreateEventTypeRequest) -> pb.EventTypeResponse:
        event_type = await self.service.create_event_type(
            cmds.CreateEventType(
                actor=parse_actor(message.actor),
                spec=spec_from_pb(message.spec),
                provider_id=parse_optional_uuid(message.provider_id, "provider_id"),
                team_id=parse_optional_uuid(message.team_id, "team_id"),
            )
        )
        return pb.EventTypeResponse(event_type=event_type_to_pb(event_type))

    @rpc
    async def get_event_type(self, message: pb.GetEventTypeRequest) -> pb.EventTypeResponse:
        event_type = await self.service.get_event_type(
            cmds.GetEventType(
                parse_actor(message.actor), parse_uuid(message.event_type_id, "event_type_id")
            )
        )
        return pb.EventTypeResponse(event_type=event_type_to_pb(event_type))

    @rpc
    async def list_event_types(
        self, message: pb.ListEventTypesRequest
    ) -> pb.ListEventTypesResponse:
        page = await self.service.list_event_types(
            cmds.ListEventTypes(
                actor=parse_actor(message.actor),
                limit=page_limit(message.limit, 20),
                cursor=message.cursor or None,
                provider_id=parse_optional_uuid(message.provider_id, "provider_id"),
                team_id=parse_optional_uuid(message.team_id, "team_id"),
            )
        )
        return pb.ListEventTypesResponse(
            event_types=[event_type_to_pb(e) for e in page.event_types],
            next_cursor=page.next_cursor or "",
        )

    @rpc
    async def update_event_type(self, message: pb.UpdateEventTypeRequest) -> pb.EventTypeResponse:
        paths = tuple(message.update_mask.paths) if message.update_mask is not None else ()
        event_type = await self.service.update_event_type(
            cmds.UpdateEventType(
                actor=parse_actor(message.actor),
                event_type_id=parse_uuid(message.event_type_id, "event_type_id"),
                spec=spec_from_pb(message.spec),
                paths=paths,
            )
        )
        return pb.EventTypeResponse(event_type=event_type_to_pb(event_type))

    @rpc
    async def set_event_type_active(
        self, message: pb.SetEventTypeActiveRequest
    ) -> pb.EventTypeResponse:
        event_type = await self.service.set_event_type_active(
            cmds.SetEventTypeActive(
                parse_actor(message.actor),
                parse_uuid(message.event_type_id, "event_type_id"),
                message.active,
            )
        )
        return pb.EventTypeResponse(event_type=event_type_to_pb(event_type))

    @rpc
    async def get_public_event_type(
        self, message: pb.GetPublicEventTypeRequest
    ) -> pb.GetPublicEventTypeResponse:
        listing = await self.service.get_public_event_type(
            cmds.GetPublicEventType(parse_actor(message.actor), message.slug)
        )
        return pb.GetPublicEventTypeResponse(event_type=public_to_pb(listing))

    @rpc
    async def list_slots(self, message: pb.ListSlotsRequest) -> pb.ListSlotsResponse:
        page = await self.service.list_slots(
            cmds.ListSlots(
                actor=parse_actor(message.actor),
                slug=message.slug,
                start=parse_time(message.from_time, "from_time"),
                end=parse_time(message.to_time, "to_time"),
                member_id=parse_optional_uuid(message.member_id, "member_id"),
            )
        )
        return pb.ListSlotsResponse(
            slots=[
                pb.Slot(start=s.start, end=s.end, capacity=s.capacity, remaining=s.remaining)
                for s in page.slots
            ],
            event_type=public_to_pb(page.listing),
        )

    @rpc
    async def book_slot(self, message: pb.BookSlotRequest) -> pb.BookSlotResponse:
        booked = await self.service.book_slot(
            cmds.BookSlot(
                actor=parse_actor(message.actor),
                slug=message.slug,
                slot_start=parse_time(message.slot_start, "slot_start"),
                guest=_guest(message.guest),
                idempotency_key=message.idempotency_key or None,
                member_id=parse_optional_uuid(message.member_id, "member_id"),
            )
        )
        return pb.BookSlotResponse(
            booking=booking_to_pb(booked.booking),
            manage_token=booked.manage_token,
            replayed=booked.replayed,
            event_type=public_to_pb(booked.listing),
        )

    @rpc
    async def get_guest_booking(
        self, message: pb.GetGuestBookingRequest
    ) -> pb.GuestBookingResponse:
        view = await self.service.get_guest_booking(
            cmds.GetGuestBooking(
                parse_actor(message.actor), message.reference, message.manage_token
            )
        )
        return pb.GuestBookingResponse(
            booking=booking_to_pb(view.booking), event_type=public_to_pb(view.listing)
        )

    @rpc
    async def cancel_guest_booking(
        self, message: pb.CancelGuestBookingRequest
    ) -> pb.GuestBookingResponse:
        view = await self.service.cancel_guest_booking(
            cmds.CancelGuestBooking(
                parse_actor(message.actor),
                message.reference,
                message.manage_token,
                message.reason or None,
            )
        )
        return pb.GuestBookingResponse(
            booking=booking_to_pb(view.booking), event_type=public_to_pb(view.listing)
        )

    @rpc
    async def get_manage_token(
        self, message: pb.GetManageTokenRequest
    ) -> pb.GetManageTokenResponse:
        reference, token = await self.service.get_manage_token(
            cmds.GetManageToken(
                parse_actor(message.actor), parse_uuid(message.booking_id, "booking_id")
            )
        )
        return pb.GetManageTokenResponse(reference=reference, manage_token=token)
