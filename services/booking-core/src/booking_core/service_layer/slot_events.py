"""A slot's places left, and the public ``slot.availability`` event written whenever they
change (a place booked or given back), in the same transaction as the change."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from bookings_common.events import SLOT_AVAILABILITY, event_type_channel, format_time
from bookings_common.logging import current_request_id

from booking_core.domain.event_types import EventType
from booking_core.domain.model import Booking, NewEvent
from booking_core.domain.slots import Slot, offered

from .event_type_ports import EventTypesUnitOfWork, Host

_MICROSECOND: Final = timedelta(microseconds=1)


async def places_left(
    uow: EventTypesUnitOfWork, event_type: EventType, hosts: tuple[Host, ...], slot: Slot
) -> tuple[int, int]:
    """``(capacity, remaining)`` of a slot across its hosts, as the transaction sees it: each
    host's places not taken, unless another booking of that host overlaps the slot."""
    spec = event_type.spec
    ids = [h.provider_id for h in hosts]
    booked = await uow.slots.booked_between(event_type.id, slot.start, slot.start + _MICROSECOND)
    busy = await uow.calendar.busy_between(
        ids, slot.start - spec.buffer_before, slot.end + spec.buffer_after
    )
    remaining = 0
    for provider_id in ids:
        for left in offered(
            [slot],
            capacity=spec.capacity,
            booked={slot.start: booked.get((slot.start, provider_id), 0)},
            busy=busy.get(provider_id, []),
            buffer_before=spec.buffer_before,
            buffer_after=spec.buffer_after,
            slot_id_of=event_type.slot_id,
            earliest=slot.start,
            latest=slot.end,
        ):
            remaining += left.remaining
    return spec.capacity * len(ids), remaining


async def availability_event(
    uow: EventTypesUnitOfWork, event_type: EventType, booking: Booking
) -> NewEvent:
    """slot.availability of the slot ``booking`` is a place of: ``data`` = {slug,
    slotStart, slotEnd, capacity, remaining}, no owners, on the channel
    ``event-type:<slug>`` (no personal data)."""
    hosts = await uow.event_types.hosts(event_type)
    capacity, remaining = await places_left(
        uow, event_type, hosts, Slot(booking.start_time, booking.end_time)
    )
    return NewEvent(
        type=SLOT_AVAILABILITY,
        booking_id=booking.id,
        provider_id=None,
        customer_id=None,
        data={
            "slug": event_type.slug,
            "slotStart": format_time(booking.start_time),
            "slotEnd": format_time(booking.end_time),
            "capacity": capacity,
            "remaining": remaining,
        },
        request_id=current_request_id(),
        channel=event_type_channel(event_type.slug),
    )


async def release_place(uow: EventTypesUnitOfWork, booking: Booking) -> NewEvent:
    """Give back the place a cancelled ``booking`` held, in ``uow``'s transaction; return
    the slot's availability event to append."""
    assert booking.event_type_id is not None
    await uow.slots.release(booking.event_type_id, booking.provider_id, booking.start_time)
    event_type = await uow.event_types.get(booking.event_type_id)
    assert event_type is not None  # the booking's foreign key
    return await availability_event(uow, event_type, booking)
