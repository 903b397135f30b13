"""Use cases of ``BookingService`` other than listing: create (and idempotency), get,
cancel, register, list_events, all against the in-memory fakes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from uuid import UUID, uuid4

import pytest
import structlog
from booking_core.domain.commands import (
    CancelBooking,
    CreateBooking,
    GetBooking,
    ListEvents,
    RegisterCustomer,
    RegisterProvider,
)
from booking_core.domain.errors import (
    BookingNotCancellable,
    BookingOverlap,
    IdempotencyInProgress,
    IdempotencyKeyReused,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from booking_core.domain.model import Actor, Booking, BookingStatus, LoggedEvent, TimeSlot
from booking_core.service_layer.handlers import BookingRules, CreateResult
from bookings_common.events import BOOKING_CANCELLED, BOOKING_CREATED, format_time
from bookings_common.logging import bind_request_id
from fakes import FakeUnitOfWork, Harness, make_harness

SERVICE = Actor.trusted_service("api-gateway")
HOUR = timedelta(hours=1)
CONTRACT_KEYS = {"bookingId", "providerId", "customerId", "startTime", "endTime", "status"}


def slot_from_now(h: Harness, start_in: timedelta, duration: timedelta = HOUR) -> TimeSlot:
    start = h.clock.now + start_in
    return TimeSlot(start, start + duration)


def create_cmd(
    provider_id: UUID,
    customer_id: UUID,
    slot: TimeSlot,
    *,
    actor: Actor = SERVICE,
    key: str | None = None,
) -> CreateBooking:
    return CreateBooking(actor, provider_id, customer_id, slot, idempotency_key=key)


async def book(
    h: Harness,
    provider_id: UUID,
    customer_id: UUID,
    slot: TimeSlot,
    *,
    actor: Actor = SERVICE,
    key: str | None = None,
) -> Booking:
    result = await h.service.create_booking(
        create_cmd(provider_id, customer_id, slot, actor=actor, key=key)
    )
    assert not result.replayed
    return result.booking


def assert_unchanged(h: Harness, before: tuple[object, ...], published: int = 0) -> None:
    """Nothing was committed and nothing (more) was published."""
    assert h.db.snapshot() == before
    assert len(h.publisher.published) == published


# --- create ---------------------------------------------------------------------------


async def test_create_writes_booking_reminder_and_event_then_publishes(h: Harness) -> None:
    provider_id, customer_id = h.provider(), h.customer()
    slot = slot_from_now(h, timedelta(days=2), 90 * timedelta(minutes=1))

    result = await h.service.create_booking(
        create_cmd(provider_id, customer_id, slot, actor=Actor.customer(customer_id))
    )

    booking = result.booking
    assert result.replayed is False
    assert (booking.provider_id, booking.customer_id) == (provider_id, customer_id)
    assert (booking.start_time, booking.end_time) == (slot.start, slot.end)
    assert booking.status is BookingStatus.CONFIRMED
    assert booking.version == 1
    assert booking.created_at == booking.updated_at == h.clock.now
    assert h.db.bookings == {booking.id: booking}

    reminder = h.db.reminders[booking.id]
    assert reminder.reminder.due_at == slot.start - h.rules.reminder_lead
    assert reminder.state == "scheduled"
    assert reminder.reminder.job_id == f"reminder:{booking.id}"

    [event] = h.db.events
    assert event.type == BOOKING_CREATED
    assert (event.booking_id, event.provider_id, event.customer_id) == (
        booking.id,
        provider_id,
        customer_id,
    )
    assert set(event.data) == CONTRACT_KEYS
    assert event.data == {
        "bookingId": str(booking.id),
        "providerId": str(provider_id),
        "customerId": str(customer_id),
        "startTime": format_time(slot.start),
        "endTime": format_time(slot.end),
        "status": "confirmed",
    }
    assert event.data["startTime"].endswith("Z")

    assert h.publisher.published == [[event]]
    assert h.publisher.committed_when_published == [True]
    assert h.db.commits == 1


async def test_reminder_is_due_at_once_when_created_inside_the_lead_time() -> None:
    h = make_harness(rules=BookingRules(reminder_lead=timedelta(minutes=30)))
    provider_id, customer_id = h.provider(), h.customer()

    short = timedelta(minutes=10)
    soon = await book(h, provider_id, customer_id, slot_from_now(h, timedelta(minutes=10), short))
    at_lead = await book(
        h, provider_id, customer_id, slot_from_now(h, timedelta(minutes=30), short)
    )
    later = await book(h, provider_id, customer_id, slot_from_now(h, timedelta(minutes=41), short))

    assert h.db.reminders[soon.id].reminder.due_at == h.clock.now
    assert h.db.reminders[at_lead.id].reminder.due_at == h.clock.now
    assert h.db.reminders[later.id].reminder.due_at == later.start_time - timedelta(minutes=30)


async def test_event_carries_the_bound_request_id(h: Harness) -> None:
    provider_id, customer_id = h.provider(), h.customer()
    bind_request_id("req-123")
    try:
        await book(h, provider_id, customer_id, slot_from_now(h, HOUR))
    finally:
        structlog.contextvars.clear_contextvars()
    assert [e.request_id for e in h.db.events] == ["req-123"]


@pytest.mark.parametrize(
    ("start_in", "duration", "field"),
    [
        pytest.param(HOUR, timedelta(0), "end_time", id="end-equals-start"),
        pytest.param(HOUR, -timedelta(minutes=1), "end_time", id="end-before-start"),
        pytest.param(timedelta(0), HOUR, "start_time", id="start-now"),
        pytest.param(-timedelta(microseconds=1), HOUR, "start_time", id="start-just-past"),
        pytest.param(-timedelta(days=1), HOUR, "start_time", id="start-yesterday"),
        pytest.param(
            HOUR, timedelta(hours=8, microseconds=1), "end_time", id="one-microsecond-over-8h"
        ),
        pytest.param(HOUR, timedelta(days=2), "end_time", id="two-days"),
    ],
)
async def test_create_rejects_bad_slots(
    h: Harness, start_in: timedelta, duration: timedelta, field: str
) -> None:
    provider_id, customer_id = h.provider(), h.customer()
    before = h.db.snapshot()

    with pytest.raises(InvalidArgument) as info:
        await h.service.create_booking(
            create_cmd(provider_id, customer_id, slot_from_now(h, start_in, duration))
        )

    assert info.value.field == field
    assert info.value.code == "VALIDATION_FAILED"
    assert_unchanged(h, before)


async def test_a_booking_of_exactly_the_maximum_duration_is_allowed(h: Harness) -> None:
    provider_id, customer_id = h.provider(), h.customer()
    booking = await book(h, provider_id, customer_id, slot_from_now(h, HOUR, timedelta(hours=8)))
    assert booking.end_time - booking.start_time == timedelta(hours=8)
    assert h.db.bookings[booking.id].status is BookingStatus.CONFIRMED


async def test_the_maximum_duration_is_configurable() -> None:
    h = make_harness(rules=BookingRules(max_duration=timedelta(hours=2)))
    provider_id, customer_id = h.provider(), h.customer()
    await book(h, provider_id, customer_id, slot_from_now(h, HOUR, timedelta(hours=2)))
    with pytest.raises(InvalidArgument) as info:
        await book(h, provider_id, customer_id, slot_from_now(h, 5 * HOUR, 2 * HOUR + HOUR / 60))
    assert info.value.field == "end_time"
    assert len(h.db.bookings) == 1


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("", id="empty"),
        pytest.param("k" * 256, id="256-chars"),
        pytest.param("abc\n", id="newline"),
        pytest.param("a\x00b", id="nul"),
        pytest.param("tab\tkey", id="tab"),
        pytest.param("bell\x07", id="control"),
    ],
)
async def test_create_rejects_bad_idempotency_keys(h: Harness, key: str) -> None:
    provider_id, customer_id = h.provider(), h.customer()
    before = h.db.snapshot()

    with pytest.raises(InvalidArgument) as info:
        await book(h, provider_id, customer_id, slot_from_now(h, HOUR), key=key)

    assert info.value.field == "idempotency_key"
    assert_unchanged(h, before)


async def test_a_255_character_printable_key_is_accepted(h: Harness) -> None:
    provider_id, customer_id = h.provider(), h.customer()
    key = "Ä" + "k" * 254
    booking = await book(h, provider_id, customer_id, slot_from_now(h, HOUR), key=key)
    assert h.db.bookings[booking.id].idempotency_key == key


async def test_a_customer_may_not_book_for_another_customer(h: Harness) -> None:
    provider_id, me, other = h.provider(), h.customer(), h.customer()
    before = h.db.snapshot()

    with pytest.raises(PermissionDenied) as info:
        await book(h, provider_id, other, slot_from_now(h, HOUR), actor=Actor.customer(me))

    assert info.value.code == "FORBIDDEN"
    assert_unchanged(h, before)


async def test_a_provider_may_not_book_another_provider(h: Harness) -> None:
    me, other, customer_id = h.provider(), h.provider(), h.customer()
    before = h.db.snapshot()

    with pytest.raises(PermissionDenied):
        await book(h, other, customer_id, slot_from_now(h, HOUR), actor=Actor.provider(me))

    assert_unchanged(h, before)


async def test_permission_is_checked_before_anything_else(h: Harness) -> None:
    """A forbidden request learns nothing about its slot or key from the answer."""
    provider_id, me, other = h.provider(), h.customer(), h.customer()
    with pytest.raises(PermissionDenied):
        await book(h, provider_id, other, slot_from_now(h, -HOUR), actor=Actor.customer(me), key="")


async def test_customers_and_providers_book_for_themselves_and_a_service_for_anyone(
    h: Harness,
) -> None:
    provider_id, customer_id = h.provider(), h.customer()
    as_customer = await book(
        h, provider_id, customer_id, slot_from_now(h, HOUR), actor=Actor.customer(customer_id)
    )
    as_provider = await book(
        h, provider_id, customer_id, slot_from_now(h, 3 * HOUR), actor=Actor.provider(provider_id)
    )
    as_service = await book(h, provider_id, customer_id, slot_from_now(h, 5 * HOUR), actor=SERVICE)

    assert set(h.db.bookings) == {as_customer.id, as_provider.id, as_service.id}
    assert len(h.publisher.events) == 3


@pytest.mark.parametrize(
    ("offset", "duration"),
    [
        pytest.param(timedelta(0), HOUR, id="same-slot"),
        pytest.param(timedelta(minutes=30), HOUR, id="overlaps-the-end"),
        pytest.param(-timedelta(minutes=30), HOUR, id="overlaps-the-start"),
        pytest.param(timedelta(minutes=15), timedelta(minutes=30), id="inside"),
        pytest.param(-HOUR, 3 * HOUR, id="around"),
        pytest.param(HOUR - timedelta(microseconds=1), HOUR, id="last-microsecond"),
    ],
)
async def test_overlapping_an_active_booking_of_the_provider_is_refused(
    h: Harness, offset: timedelta, duration: timedelta
) -> None:
    provider_id, customer_id = h.provider(), h.customer()
    first = await book(h, provider_id, customer_id, slot_from_now(h, 4 * HOUR))
    someone_else = h.customer()
    before = h.db.snapshot()

    with pytest.raises(BookingOverlap) as info:
        await book(h, provider_id, someone_else, slot_from_now(h, 4 * HOUR + offset, duration))

    assert info.value.code == "BOOKING_OVERLAP"
    assert h.db.add_errors == [BookingOverlap]
    assert_unchanged(h, before, published=1)
    assert list(h.db.bookings) == [first.id]


async def test_back_to_back_bookings_both_succeed(h: Harness) -> None:
    provider_id, customer_id = h.provider(), h.customer()
    middle = await book(h, provider_id, customer_id, slot_from_now(h, 4 * HOUR))
    after = await book(
        h, provider_id, customer_id, TimeSlot(middle.end_time, middle.end_time + HOUR)
    )
    before = await book(
        h, provider_id, customer_id, TimeSlot(middle.start_time - HOUR, middle.start_time)
    )
    assert set(h.db.bookings) == {middle.id, after.id, before.id}
    assert [e.booking_id for e in h.publisher.events] == [middle.id, after.id, before.id]


async def test_other_providers_and_cancelled_bookings_do_not_block_a_slot(h: Harness) -> None:
    provider_id, other_provider, customer_id = h.provider(), h.provider(), h.customer()
    slot = slot_from_now(h, 4 * HOUR)
    first = await book(h, provider_id, customer_id, slot)
    elsewhere = await book(h, other_provider, customer_id, slot)
    await h.service.cancel_booking(CancelBooking(SERVICE, first.id))

    again = await book(h, provider_id, customer_id, slot)

    assert len({first.id, elsewhere.id, again.id}) == 3
    assert h.db.bookings[again.id].is_active


@pytest.mark.parametrize("unknown", ["provider", "customer"])
async def test_unknown_provider_or_customer_is_not_found(h: Harness, unknown: str) -> None:
    provider_id = uuid4() if unknown == "provider" else h.provider()
    customer_id = uuid4() if unknown == "customer" else h.customer()
    before = h.db.snapshot()

    with pytest.raises(NotFound) as info:
        await book(h, provider_id, customer_id, slot_from_now(h, HOUR), key="k-1")

    assert info.value.message == f"{unknown} not found"
    assert_unchanged(h, before)
    # One unit of work for the key lookup, one for the insert: neither committed.
    assert [(u.committed, u.rolled_back) for u in h.uows.instances] == [(False, True)] * 2


# --- idempotency ----------------------------------------------------------------------


async def test_same_key_same_request_replays_the_booking(h: Harness) -> None:
    provider_id, customer_id = h.provider(), h.customer()
    cmd = create_cmd(provider_id, customer_id, slot_from_now(h, HOUR), key="order-42")

    first = await h.service.create_booking(cmd)
    h.clock.advance(timedelta(minutes=5))
    second = await h.service.create_booking(cmd)

    assert first.replayed is False
    assert second == CreateResult(first.booking, replayed=True)
    assert len(h.db.bookings) == 1
    assert len(h.db.events) == 1
    assert len(h.publisher.published) == 1


async def test_a_retry_after_the_start_still_replays_the_booking(h: Harness) -> None:
    provider_id, customer_id = h.provider(), h.customer()
    cmd = create_cmd(provider_id, customer_id, slot_from_now(h, HOUR), key="order-43")
    first = await h.service.create_booking(cmd)
    h.clock.advance(2 * HOUR)  # the slot has started: a fresh request would be invalid

    again = await h.service.create_booking(cmd)

    assert again == CreateResult(first.booking, replayed=True)
    with pytest.raises(InvalidArgument) as info:
        await h.service.create_booking(
            create_cmd(provider_id, customer_id, cmd.slot, key="order-44")
        )
    assert info.value.field == "start_time"


async def test_same_key_for_a_different_slot_is_refused(h: Harness) -> None:
    provider_id, customer_id = h.provider(), h.customer()
    await book(h, provider_id, customer_id, slot_from_now(h, HOUR), key="order-42")
    before = h.db.snapshot()

    with pytest.raises(IdempotencyKeyReused) as info:
        await book(h, provider_id, customer_id, slot_from_now(h, 3 * HOUR), key="order-42")

    assert info.value.code == "IDEMPOTENCY_KEY_REUSED"
    assert_unchanged(h, before, published=1)


@pytest.mark.parametrize("as_other_customer", [True, False], ids=["customer-actor", "service"])
async def test_a_key_never_returns_another_customers_booking(
    h: Harness, as_other_customer: bool
) -> None:
    provider_id, alice, bob = h.provider(), h.customer(), h.customer()
    slot = slot_from_now(h, HOUR)
    await book(h, provider_id, alice, slot, actor=Actor.customer(alice), key="shared")
    actor = Actor.customer(bob) if as_other_customer else SERVICE
    before = h.db.snapshot()

    with pytest.raises(IdempotencyKeyReused):
        await book(h, provider_id, bob, slot, actor=actor, key="shared")

    assert_unchanged(h, before, published=1)


async def test_keys_are_scoped_to_the_provider(h: Harness) -> None:
    first_provider, second_provider, customer_id = h.provider(), h.provider(), h.customer()
    slot = slot_from_now(h, HOUR)
    one = await book(h, first_provider, customer_id, slot, key="same")
    two = await book(h, second_provider, customer_id, slot, key="same")
    assert one.id != two.id
    assert len(h.db.events) == 2


async def _concurrent_winner(h: Harness, cmd: CreateBooking) -> list[CreateResult]:
    """Arrange for ``cmd`` to be run to completion by a concurrent request just before
    the next insert, and return the list its result will be appended to."""
    results: list[CreateResult] = []

    async def win() -> None:
        results.append(await h.service.create_booking(cmd))

    h.db.before_add = win
    return results


@pytest.mark.parametrize(
    ("key_first", "raised"),
    [
        pytest.param(True, "DuplicateIdempotencyKey", id="duplicate-key"),
        pytest.param(False, "BookingOverlap", id="overlap-before-key"),
    ],
)
async def test_losing_a_race_on_the_key_replays_the_winner(
    h: Harness, key_first: bool, raised: str
) -> None:
    provider_id, customer_id = h.provider(), h.customer()
    cmd = create_cmd(provider_id, customer_id, slot_from_now(h, HOUR), key="retry-7")
    h.db.key_checked_before_overlap = key_first
    winner = await _concurrent_winner(h, cmd)

    loser = await h.service.create_booking(cmd)

    [won] = winner
    assert won.replayed is False
    assert loser == CreateResult(won.booking, replayed=True)
    assert [e.__name__ for e in h.db.add_errors] == [raised]
    # The loser looked the key up before inserting (none yet) and again after.
    assert [(found.id if found else None) for *_, found in h.db.key_lookups] == [
        None,
        None,
        won.booking.id,
    ]
    assert list(h.db.bookings) == [won.booking.id]
    assert [e.booking_id for e in h.db.events] == [won.booking.id]
    assert len(h.publisher.published) == 1
    assert h.db.reminders.keys() == {won.booking.id}


async def test_a_duplicate_while_the_first_is_in_flight_is_told_so_at_once(h: Harness) -> None:
    """The draft's 409: the first request holds its key for its transaction; a
    concurrent duplicate neither waits nor races, and a retry after it replays."""
    provider_id, customer_id = h.provider(), h.customer()
    cmd = create_cmd(provider_id, customer_id, slot_from_now(h, HOUR), key="retry-8")
    async with FakeUnitOfWork(h.db) as first:
        assert await first.lock_idempotency_key(f"provider:{provider_id}", "retry-8")
        with pytest.raises(IdempotencyInProgress):
            await h.service.create_booking(cmd)
        # Other keys, and the same key of another provider, are not held.
        other = create_cmd(provider_id, customer_id, slot_from_now(h, 2 * HOUR), key="retry-9")
        assert (await h.service.create_booking(other)).replayed is False
    assert h.db.keys_in_flight == set()
    assert len(h.db.bookings) == 1
    created = await h.service.create_booking(cmd)
    assert created.replayed is False
    assert (await h.service.create_booking(cmd)) == CreateResult(created.booking, replayed=True)


async def test_losing_a_key_race_to_a_different_request_is_refused(h: Harness) -> None:
    provider_id, customer_id = h.provider(), h.customer()
    slot = slot_from_now(h, HOUR)
    await _concurrent_winner(h, create_cmd(provider_id, customer_id, slot, key="retry-7"))

    with pytest.raises(IdempotencyKeyReused):
        await book(
            h, provider_id, customer_id, TimeSlot(slot.start, slot.end + HOUR), key="retry-7"
        )

    assert len(h.db.bookings) == 1
    assert len(h.publisher.published) == 1


async def test_losing_an_overlap_race_without_a_key_is_an_overlap(h: Harness) -> None:
    provider_id, customer_id = h.provider(), h.customer()
    slot = slot_from_now(h, HOUR)
    await _concurrent_winner(h, create_cmd(provider_id, h.customer(), slot, key="theirs"))

    with pytest.raises(BookingOverlap):
        await book(h, provider_id, customer_id, slot)

    [winner] = h.db.bookings.values()
    assert winner.customer_id != customer_id
    assert len(h.publisher.published) == 1


async def test_losing_an_overlap_race_with_an_unused_key_is_an_overlap(h: Harness) -> None:
    provider_id, customer_id = h.provider(), h.customer()
    slot = slot_from_now(h, HOUR)
    await _concurrent_winner(h, create_cmd(provider_id, h.customer(), slot, key="theirs"))

    with pytest.raises(BookingOverlap):
        await book(h, provider_id, customer_id, slot, key="mine")

    assert len(h.db.bookings) == 1


# --- get ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "viewer",
    [
        pytest.param(lambda b: Actor.customer(b.customer_id), id="its-customer"),
        pytest.param(lambda b: Actor.provider(b.provider_id), id="its-provider"),
        pytest.param(lambda b: SERVICE, id="a-service"),
    ],
)
async def test_get_shows_a_booking_to_those_who_may_see_it(
    h: Harness, viewer: Callable[[Booking], Actor]
) -> None:
    booking = await book(h, h.provider(), h.customer(), slot_from_now(h, HOUR))
    assert await h.service.get_booking(GetBooking(viewer(booking), booking.id)) == booking


@pytest.mark.parametrize(
    "stranger",
    [
        pytest.param(lambda: Actor.customer(uuid4()), id="another-customer"),
        pytest.param(lambda: Actor.provider(uuid4()), id="another-provider"),
    ],
)
async def test_get_hides_a_booking_from_others_as_not_found(
    h: Harness, stranger: Callable[[], Actor]
) -> None:
    booking = await book(h, h.provider(), h.customer(), slot_from_now(h, HOUR))
    with pytest.raises(NotFound) as hidden:
        await h.service.get_booking(GetBooking(stranger(), booking.id))
    with pytest.raises(NotFound) as missing:
        await h.service.get_booking(GetBooking(SERVICE, uuid4()))
    assert hidden.value.message == missing.value.message


async def test_a_customer_id_does_not_grant_a_providers_view(h: Harness) -> None:
    """Ids are typed: a customer whose id equals the provider's still is not the provider."""
    provider_id, customer_id = h.provider(), h.customer()
    booking = await book(h, provider_id, customer_id, slot_from_now(h, HOUR))
    with pytest.raises(NotFound):
        await h.service.get_booking(GetBooking(Actor.customer(provider_id), booking.id))


# --- cancel ---------------------------------------------------------------------------


async def test_cancel_cancels_bumps_version_cancels_reminder_and_writes_event(h: Harness) -> None:
    booking = await book(h, h.provider(), h.customer(), slot_from_now(h, 3 * HOUR))
    h.clock.advance(HOUR)

    cancelled = await h.service.cancel_booking(
        CancelBooking(Actor.customer(booking.customer_id), booking.id, "sick")
    )

    assert cancelled.status is BookingStatus.CANCELLED
    assert cancelled.version == booking.version + 1
    assert cancelled.cancelled_at == cancelled.updated_at == h.clock.now
    assert cancelled.cancel_reason == "sick"
    assert cancelled.created_at == booking.created_at
    assert h.db.bookings[booking.id] == cancelled
    assert h.db.reminders[booking.id].state == "cancelled"
    assert h.uows.instances[-1].locked == [booking.id]

    created, cancel_event = h.db.events
    assert cancel_event.type == BOOKING_CANCELLED
    assert cancel_event.id > created.id
    assert cancel_event.booking_id == booking.id
    assert set(cancel_event.data) == CONTRACT_KEYS
    assert cancel_event.data["status"] == "cancelled"
    assert cancel_event.data["bookingId"] == str(booking.id)
    assert h.publisher.published[-1] == [cancel_event]
    assert h.publisher.committed_when_published == [True, True]


async def test_cancelling_twice_is_a_no_op(h: Harness) -> None:
    booking = await book(h, h.provider(), h.customer(), slot_from_now(h, 3 * HOUR))
    once = await h.service.cancel_booking(CancelBooking(SERVICE, booking.id, "first"))
    before = h.db.snapshot()
    h.clock.advance(timedelta(minutes=1))

    twice = await h.service.cancel_booking(CancelBooking(SERVICE, booking.id, "second"))

    assert twice == once
    assert twice.version == 2
    assert twice.cancel_reason == "first"
    assert_unchanged(h, before, published=2)
    assert [e.type for e in h.db.events] == [BOOKING_CREATED, BOOKING_CANCELLED]


async def test_a_provider_and_a_service_may_cancel_too(h: Harness) -> None:
    provider_id, customer_id = h.provider(), h.customer()
    one = await book(h, provider_id, customer_id, slot_from_now(h, HOUR))
    two = await book(h, provider_id, customer_id, slot_from_now(h, 3 * HOUR))
    await h.service.cancel_booking(CancelBooking(Actor.provider(provider_id), one.id))
    await h.service.cancel_booking(CancelBooking(SERVICE, two.id, ""))
    assert {b.status for b in h.db.bookings.values()} == {BookingStatus.CANCELLED}
    assert h.db.bookings[two.id].cancel_reason is None


@pytest.mark.parametrize(
    "elapsed",
    [
        pytest.param(HOUR, id="at-start"),
        pytest.param(HOUR + timedelta(minutes=30), id="in-progress"),
        pytest.param(5 * HOUR, id="over"),
    ],
)
async def test_a_started_booking_is_not_cancellable(h: Harness, elapsed: timedelta) -> None:
    booking = await book(h, h.provider(), h.customer(), slot_from_now(h, HOUR))
    h.clock.advance(elapsed)
    before = h.db.snapshot()

    with pytest.raises(BookingNotCancellable) as info:
        await h.service.cancel_booking(CancelBooking(SERVICE, booking.id))

    assert info.value.code == "BOOKING_NOT_CANCELLABLE"
    assert_unchanged(h, before, published=1)
    assert h.db.bookings[booking.id].status is BookingStatus.CONFIRMED
    assert h.db.reminders[booking.id].state == "scheduled"


async def test_cancel_reason_is_limited_to_500_characters(h: Harness) -> None:
    booking = await book(h, h.provider(), h.customer(), slot_from_now(h, HOUR))
    before = h.db.snapshot()

    with pytest.raises(InvalidArgument) as info:
        await h.service.cancel_booking(CancelBooking(SERVICE, booking.id, "r" * 501))

    assert info.value.field == "reason"
    assert_unchanged(h, before, published=1)
    cancelled = await h.service.cancel_booking(CancelBooking(SERVICE, booking.id, "r" * 500))
    assert cancelled.cancel_reason == "r" * 500


async def test_cancel_reason_refuses_control_characters_but_keeps_newlines(h: Harness) -> None:
    booking = await book(h, h.provider(), h.customer(), slot_from_now(h, HOUR))
    with pytest.raises(InvalidArgument) as info:
        await h.service.cancel_booking(CancelBooking(SERVICE, booking.id, "sick\x00"))
    assert info.value.field == "reason"
    cancelled = await h.service.cancel_booking(
        CancelBooking(SERVICE, booking.id, "Sick.\n\tWill rebook.")
    )
    assert cancelled.cancel_reason == "Sick.\n\tWill rebook."


@pytest.mark.parametrize(
    "actor",
    [
        pytest.param(lambda: Actor.customer(uuid4()), id="another-customer"),
        pytest.param(lambda: Actor.provider(uuid4()), id="another-provider"),
    ],
)
async def test_cancel_of_an_invisible_booking_is_not_found(
    h: Harness, actor: Callable[[], Actor]
) -> None:
    booking = await book(h, h.provider(), h.customer(), slot_from_now(h, HOUR))
    before = h.db.snapshot()

    with pytest.raises(NotFound):
        await h.service.cancel_booking(CancelBooking(actor(), booking.id))
    with pytest.raises(NotFound):
        await h.service.cancel_booking(CancelBooking(SERVICE, uuid4()))

    assert_unchanged(h, before, published=1)


# --- register -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "actor",
    [pytest.param(Actor.customer(uuid4()), id="customer"), pytest.param(Actor.provider(uuid4()))],
)
async def test_only_a_service_registers_providers_and_customers(h: Harness, actor: Actor) -> None:
    before = h.db.snapshot()
    with pytest.raises(PermissionDenied):
        await h.service.register_provider(RegisterProvider(actor, "Dr. Who", "Europe/Berlin"))
    with pytest.raises(PermissionDenied):
        await h.service.register_customer(RegisterCustomer(actor, "Ada", "ada@example.com"))
    assert_unchanged(h, before)


async def test_register_provider_stores_a_trimmed_name_and_its_zone(h: Harness) -> None:
    provider = await h.service.register_provider(
        RegisterProvider(SERVICE, "  Dr. Who  ", "Europe/Berlin")
    )
    assert (provider.name, provider.time_zone) == ("Dr. Who", "Europe/Berlin")
    assert provider.created_at == h.clock.now
    assert h.db.providers == {provider.id: provider}
    # The registered provider can be booked right away.
    await book(h, provider.id, h.customer(), slot_from_now(h, HOUR))


async def test_register_provider_defaults_the_zone_to_utc(h: Harness) -> None:
    provider = await h.service.register_provider(RegisterProvider(SERVICE, "Dr. Who", ""))
    assert h.db.providers[provider.id].time_zone == "UTC"


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "Europe/Berlinn", "../etc/passwd", "+01:00"])
async def test_register_provider_rejects_unknown_time_zones(h: Harness, zone: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        await h.service.register_provider(RegisterProvider(SERVICE, "Dr. Who", zone))
    assert info.value.field == "time_zone"
    assert h.db.providers == {}


@pytest.mark.parametrize("zone", ["America", "Z" * 300])
async def test_register_provider_rejects_directory_and_overlong_zone_names(
    h: Harness, zone: str
) -> None:
    with pytest.raises(InvalidArgument) as info:
        await h.service.register_provider(RegisterProvider(SERVICE, "Dr. Who", zone))
    assert info.value.field == "time_zone"


@pytest.mark.parametrize(
    "name",
    ["", "   ", "n" * 201, "line\nbreak", "nul\x00"],
    ids=["empty", "blank", "201", "nl", "nul"],
)
async def test_register_rejects_bad_names(h: Harness, name: str) -> None:
    before = h.db.snapshot()
    with pytest.raises(InvalidArgument) as provider_error:
        await h.service.register_provider(RegisterProvider(SERVICE, name, "UTC"))
    with pytest.raises(InvalidArgument) as customer_error:
        await h.service.register_customer(RegisterCustomer(SERVICE, name, "ada@example.com"))
    assert provider_error.value.field == customer_error.value.field == "name"
    assert_unchanged(h, before)


async def test_a_200_character_name_is_accepted(h: Harness) -> None:
    provider = await h.service.register_provider(RegisterProvider(SERVICE, "n" * 200, "UTC"))
    assert len(h.db.providers[provider.id].name) == 200


@pytest.mark.parametrize(
    "email",
    [
        "",
        "ada",
        "ada@example",
        "ada@@example.com",
        "a da@example.com",
        "@example.com",
        "ada@.",
        "a" * 243 + "@example.com",
    ],
)
async def test_register_customer_rejects_malformed_emails(h: Harness, email: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        await h.service.register_customer(RegisterCustomer(SERVICE, "Ada", email))
    assert info.value.field == "email"
    assert h.db.customers == {}


async def test_register_customer_rejects_control_characters_in_emails(h: Harness) -> None:
    with pytest.raises(InvalidArgument):
        await h.service.register_customer(RegisterCustomer(SERVICE, "Ada", "a\x00da@example.com"))


async def test_register_customer_returns_the_existing_customer_for_a_known_email(
    h: Harness,
) -> None:
    first, created = await h.service.register_customer(
        RegisterCustomer(SERVICE, "Ada", " Ada.Lovelace@Example.com ")
    )
    h.clock.advance(HOUR)
    again, created_again = await h.service.register_customer(
        RegisterCustomer(SERVICE, "Someone Else", "ada.lovelace@EXAMPLE.COM")
    )

    assert (created, created_again) == (True, False)
    assert first.email == "Ada.Lovelace@Example.com"
    assert again == first
    assert h.db.customers == {first.id: first}


# --- list_events ----------------------------------------------------------------------


async def _history(h: Harness) -> tuple[UUID, UUID, UUID, list[Booking]]:
    """Two customers of one provider: alice books twice and cancels one, bob once."""
    provider_id, alice, bob = h.provider(), h.customer(), h.customer()
    a1 = await book(h, provider_id, alice, slot_from_now(h, HOUR))
    b1 = await book(h, provider_id, bob, slot_from_now(h, 3 * HOUR))
    a2 = await book(h, provider_id, alice, slot_from_now(h, 5 * HOUR))
    await h.service.cancel_booking(CancelBooking(SERVICE, a1.id))
    return provider_id, alice, bob, [a1, b1, a2]


async def listed(h: Harness, cmd: ListEvents) -> list[LoggedEvent]:
    return (await h.service.list_events(cmd)).events


async def test_list_events_replays_an_owners_events_in_id_order(h: Harness) -> None:
    provider_id, alice, bob, (a1, b1, a2) = await _history(h)

    mine = await listed(h, ListEvents(Actor.customer(alice), after_id=0, limit=10))
    theirs = await listed(h, ListEvents(SERVICE, 0, 10, customer_id=bob))
    providers = await listed(h, ListEvents(Actor.provider(provider_id), 0, 10))

    assert [(e.type, e.booking_id) for e in mine] == [
        (BOOKING_CREATED, a1.id),
        (BOOKING_CREATED, a2.id),
        (BOOKING_CANCELLED, a1.id),
    ]
    assert [e.booking_id for e in theirs] == [b1.id]
    assert [e.id for e in providers] == sorted(e.id for e in h.db.events)
    assert len(providers) == 4

    after_first = await listed(h, ListEvents(Actor.customer(alice), mine[0].id, 10))
    assert after_first == mine[1:]
    limited = await listed(h, ListEvents(Actor.customer(alice), 0, 2))
    assert limited == mine[:2]
    assert await listed(h, ListEvents(Actor.customer(alice), mine[-1].id, 10)) == []


@pytest.mark.parametrize(
    ("after_id", "limit", "field"),
    [(-1, 10, "after_id"), (0, 0, "limit"), (0, 1001, "limit"), (0, -5, "limit")],
)
async def test_list_events_validates_its_window(
    h: Harness, after_id: int, limit: int, field: str
) -> None:
    with pytest.raises(InvalidArgument) as info:
        await h.service.list_events(ListEvents(Actor.customer(uuid4()), after_id, limit))
    assert info.value.field == field


async def test_list_events_accepts_the_largest_page(h: Harness) -> None:
    _, alice, _, _ = await _history(h)
    events = await listed(h, ListEvents(Actor.customer(alice), 0, 1000))
    assert len(events) == 3


async def test_list_events_ownership(h: Harness) -> None:
    provider_id, alice, bob, _ = await _history(h)

    with pytest.raises(PermissionDenied):
        await h.service.list_events(ListEvents(Actor.customer(alice), 0, 10, customer_id=bob))
    with pytest.raises(PermissionDenied):
        await h.service.list_events(
            ListEvents(Actor.provider(provider_id), 0, 10, customer_id=alice)
        )
    with pytest.raises(PermissionDenied):
        await h.service.list_events(
            ListEvents(Actor.provider(uuid4()), 0, 10, provider_id=provider_id)
        )
    with pytest.raises(InvalidArgument):
        await h.service.list_events(ListEvents(SERVICE, 0, 10))
    with pytest.raises(InvalidArgument):
        await h.service.list_events(
            ListEvents(SERVICE, 0, 10, customer_id=alice, provider_id=provider_id)
        )
    # Naming oneself explicitly is fine.
    own = await listed(h, ListEvents(Actor.customer(alice), 0, 10, customer_id=alice))
    assert {e.customer_id for e in own} == {alice}


async def test_list_events_all_owners_is_for_services_only(h: Harness) -> None:
    provider_id, alice, _, _ = await _history(h)

    everything = await h.service.list_events(ListEvents(SERVICE, 0, 10, all_owners=True))
    assert [e.id for e in everything.events] == sorted(e.id for e in h.db.events)
    after = await h.service.list_events(
        ListEvents(SERVICE, everything.events[1].id, 10, all_owners=True)
    )
    assert after.events == everything.events[2:]
    with pytest.raises(PermissionDenied):
        await h.service.list_events(ListEvents(Actor.customer(alice), 0, 10, all_owners=True))
    with pytest.raises(InvalidArgument) as info:
        await h.service.list_events(
            ListEvents(SERVICE, 0, 10, provider_id=provider_id, all_owners=True)
        )
    assert info.value.field == "all_owners"


async def test_list_events_reports_the_log_head_on_every_page(h: Harness) -> None:
    empty = await h.service.list_events(ListEvents(SERVICE, 0, 10, all_owners=True))
    assert (empty.events, empty.head_id) == ([], 0)
    _, alice, bob, _ = await _history(h)
    head = max(e.id for e in h.db.events)
    # bob's last event is not the head: the head is over all owners.
    page = await h.service.list_events(ListEvents(Actor.customer(bob), head, 10))
    assert (page.events, page.head_id) == ([], head)
    assert (await h.service.list_events(ListEvents(Actor.customer(alice), 0, 1))).head_id == head
