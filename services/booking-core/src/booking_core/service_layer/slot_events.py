"""The public ``slot.availability`` event, written whenever a slot's occupancy changes
(a place booked or given back), in the same transaction as the change."""

from __future__ import annotations

from bookings_common.events import SLOT_AVAILABILITY, event_type_channel, format_time
from bookings_common.logging import current_request_id

from booking_core.domain.model import Booking, NewEvent

from .ports import SlotState


def availability_event(state: SlotState, booking: Booking) -> NewEvent:
    """slot.availability of the slot ``booking`` is a place of: ``data`` = {slug,
    slotStart, slotEnd, capacity, remaining}, no owners, on the channel
    ``event-type:<slug>`` (no personal data)."""
    return NewEvent(
        type=SLOT_AVAILABILITY,
        booking_id=booking.id,
        provider_id=None,
        customer_id=None,
        data={
            "slug": state.slug,
            "slotStart": format_time(booking.start_time),
            "slotEnd": format_time(booking.end_time),
            "capacity": state.capacity,
            "remaining": state.remaining,
        },
        request_id=current_request_id(),
        channel=event_type_channel(state.slug),
    )
