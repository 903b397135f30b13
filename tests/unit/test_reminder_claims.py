"""Claiming reminders: only due, unsent reminders of active bookings; idempotent."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

import pytest
from booking_core.domain.commands import CancelBooking, ClaimReminder, MarkEventPublished
from booking_core.domain.errors import InvalidArgument, NotFound, PermissionDenied
from booking_core.domain.model import Actor, Booking, ClaimOutcome
from bookings_common.events import BOOKING_REMINDER_DUE
from fakes import Harness
from test_booking_rules import HOUR, SERVICE, book, slot_from_now

WORKER = Actor.trusted_service("reminder-worker")
LEAD = timedelta(minutes=10)  # BookingRules' default lead


async def due_booking(h: Harness) -> tuple[Booking, UUID]:
    booking = await book(h, h.provider(), h.customer(), slot_from_now(h, HOUR))
    h.clock.advance(HOUR - LEAD)  # exactly due
    return booking, booking.id


async def test_claim_writes_one_event_and_marks_sent(h: Harness) -> None:
    booking, booking_id = await due_booking(h)
    published_before = len(h.publisher.events)

    result = await h.service.claim_reminder(ClaimReminder(WORKER, booking_id))

    assert result.outcome is ClaimOutcome.CLAIMED and not result.published
    assert result.event is not None and result.event.type == BOOKING_REMINDER_DUE
    assert result.event.data == {
        "bookingId": str(booking_id),
        "providerId": str(booking.provider_id),
        "customerId": str(booking.customer_id),
        "startTime": result.event.data["startTime"],
    }
    assert h.db.reminders[booking_id].state == "sent"
    assert h.uows.instances[-1].locked == [booking_id]
    # the worker publishes it, not booking-core's drain
    assert len(h.publisher.events) == published_before


async def test_claiming_twice_returns_the_same_event(h: Harness) -> None:
    _, booking_id = await due_booking(h)
    first = await h.service.claim_reminder(ClaimReminder(WORKER, booking_id))
    second = await h.service.claim_reminder(ClaimReminder(WORKER, booking_id))

    assert second.outcome is ClaimOutcome.ALREADY_SENT
    assert second.event == first.event and not second.published
    assert [e.type for e in h.db.events].count(BOOKING_REMINDER_DUE) == 1

    assert first.event is not None
    await h.service.mark_event_published(MarkEventPublished(WORKER, first.event.id))
    await h.service.mark_event_published(MarkEventPublished(WORKER, first.event.id))
    third = await h.service.claim_reminder(ClaimReminder(WORKER, booking_id))
    assert third.outcome is ClaimOutcome.ALREADY_SENT and third.published


async def test_cancelled_booking_never_gets_a_reminder(h: Harness) -> None:
    booking = await book(h, h.provider(), h.customer(), slot_from_now(h, HOUR))
    await h.service.cancel_booking(CancelBooking(SERVICE, booking.id, None))
    h.clock.advance(HOUR - LEAD)

    result = await h.service.claim_reminder(ClaimReminder(WORKER, booking.id))

    assert result.outcome is ClaimOutcome.CANCELLED and result.event is None
    assert BOOKING_REMINDER_DUE not in [e.type for e in h.db.events]


async def test_early_claims_are_refused_with_the_due_time(h: Harness) -> None:
    booking = await book(h, h.provider(), h.customer(), slot_from_now(h, HOUR))
    result = await h.service.claim_reminder(ClaimReminder(WORKER, booking.id))
    assert result.outcome is ClaimOutcome.NOT_DUE
    assert result.due_at == booking.start_time - LEAD
    assert h.db.reminders[booking.id].state == "scheduled"

    h.clock.advance(HOUR - LEAD - timedelta(milliseconds=500))  # within the tolerance
    assert (
        await h.service.claim_reminder(ClaimReminder(WORKER, booking.id))
    ).outcome is ClaimOutcome.CLAIMED


async def test_a_booking_made_after_its_due_time_is_due_at_once(h: Harness) -> None:
    booking = await book(h, h.provider(), h.customer(), slot_from_now(h, LEAD / 2))
    result = await h.service.claim_reminder(ClaimReminder(WORKER, booking.id))
    assert result.outcome is ClaimOutcome.CLAIMED


async def test_claims_are_for_services_and_known_bookings(h: Harness) -> None:
    booking = await book(h, h.provider(), h.customer(), slot_from_now(h, HOUR))
    with pytest.raises(PermissionDenied):
        await h.service.claim_reminder(
            ClaimReminder(Actor.customer(booking.customer_id), booking.id)
        )
    with pytest.raises(NotFound):
        await h.service.claim_reminder(ClaimReminder(WORKER, uuid4()))
    with pytest.raises(PermissionDenied):
        await h.service.mark_event_published(
            MarkEventPublished(Actor.provider(booking.provider_id), 1)
        )
    with pytest.raises(InvalidArgument):
        await h.service.mark_event_published(MarkEventPublished(WORKER, 0))
