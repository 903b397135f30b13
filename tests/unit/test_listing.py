"""ListBookings: limits, keyset pagination over the fake repository, cursors, ownership."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

import pytest
from booking_core.domain.commands import CancelBooking, CreateBooking, ListBookings
from booking_core.domain.errors import InvalidArgument, PermissionDenied
from booking_core.domain.model import (
    Actor,
    ActorKind,
    Booking,
    BookingStatus,
    ListType,
    Owner,
    TimeSlot,
)
from booking_core.service_layer.cursors import CursorCodec
from booking_core.service_layer.handlers import BookingRules, BookingService
from fakes import CURSOR_SECRET, Harness

SERVICE = Actor.trusted_service("api-gateway")
UPCOMING, PAST = ListType.UPCOMING, ListType.PAST
HOUR = timedelta(hours=1)


def order_key(booking: Booking) -> tuple[object, UUID]:
    return booking.start_time, booking.id


async def seed_bookings(h: Harness, customer_id: UUID, count: int) -> list[Booking]:
    """``count`` one-hour bookings of ``customer_id``, three providers per start time so
    that ties on ``start_time`` are broken by id."""
    providers = [h.provider() for _ in range(3)]
    created = []
    for i in range(count):
        start = h.clock.now + timedelta(days=1, hours=2 * (i // 3))
        result = await h.service.create_booking(
            CreateBooking(SERVICE, providers[i % 3], customer_id, TimeSlot(start, start + HOUR))
        )
        created.append(result.booking)
    return created


async def read_all(
    h: Harness,
    actor: Actor,
    list_type: ListType,
    limit: int,
    *,
    provider_id: UUID | None = None,
) -> tuple[list[Booking], list[int]]:
    """Follow next_cursor to the end; return the rows and each page's size."""
    rows: list[Booking] = []
    sizes: list[int] = []
    cursor: str | None = None
    while True:
        page = await h.service.list_bookings(
            ListBookings(actor, list_type, limit, cursor=cursor, provider_id=provider_id)
        )
        rows.extend(page.bookings)
        sizes.append(len(page.bookings))
        if page.next_cursor is None:
            return rows, sizes
        cursor = page.next_cursor
        assert len(sizes) <= 100, "pagination does not terminate"


@pytest.mark.parametrize("limit", [0, -1, 101])
async def test_limit_must_be_1_to_100(h: Harness, limit: int) -> None:
    with pytest.raises(InvalidArgument) as info:
        await h.service.list_bookings(ListBookings(Actor.customer(uuid4()), UPCOMING, limit))
    assert info.value.field == "limit"


async def test_limits_1_and_100_are_accepted(h: Harness) -> None:
    customer_id = h.customer()
    [booking] = await seed_bookings(h, customer_id, 1)
    for limit in (1, 100):
        page = await h.service.list_bookings(
            ListBookings(Actor.customer(customer_id), UPCOMING, limit)
        )
        assert [b.id for b in page.bookings] == [booking.id]
        assert page.next_cursor is None


async def test_upcoming_pages_return_every_booking_once_in_ascending_order(h: Harness) -> None:
    customer_id = h.customer()
    created = await seed_bookings(h, customer_id, 45)

    rows, sizes = await read_all(h, Actor.customer(customer_id), UPCOMING, 20)

    assert sizes == [20, 20, 5]
    assert [b.id for b in rows] == [b.id for b in sorted(created, key=order_key)]
    assert len({b.id for b in rows}) == 45


async def test_past_pages_return_every_booking_once_in_descending_order(h: Harness) -> None:
    customer_id = h.customer()
    created = await seed_bookings(h, customer_id, 45)
    h.clock.advance(timedelta(days=30))

    rows, sizes = await read_all(h, Actor.customer(customer_id), PAST, 20)

    assert sizes == [20, 20, 5]
    assert [b.id for b in rows] == [b.id for b in sorted(created, key=order_key, reverse=True)]
    assert await read_all(h, Actor.customer(customer_id), UPCOMING, 20) == ([], [0])


async def test_an_exact_multiple_of_the_limit_ends_with_an_empty_page_or_none(h: Harness) -> None:
    customer_id = h.customer()
    created = await seed_bookings(h, customer_id, 40)

    rows, sizes = await read_all(h, Actor.customer(customer_id), UPCOMING, 20)

    # limit + 1 rows are fetched, so the second full page already knows it is the last.
    assert sizes == [20, 20]
    assert {b.id for b in rows} == {b.id for b in created}


async def test_upcoming_and_past_split_at_now(h: Harness) -> None:
    customer_id = h.customer()
    created = await seed_bookings(h, customer_id, 12)
    ordered = sorted(created, key=order_key)
    # Stand exactly at the start of the 7th booking: it counts as upcoming.
    h.clock.now = ordered[6].start_time

    upcoming, _ = await read_all(h, Actor.customer(customer_id), UPCOMING, 5)
    past, _ = await read_all(h, Actor.customer(customer_id), PAST, 5)

    assert [b.id for b in upcoming] == [b.id for b in ordered if b.start_time >= h.clock.now]
    assert [b.id for b in past] == [b.id for b in reversed(ordered) if b.start_time < h.clock.now]
    assert ordered[6].id in {b.id for b in upcoming}
    assert {b.id for b in upcoming}.isdisjoint({b.id for b in past})
    assert len(upcoming) + len(past) == 12


async def test_a_provider_lists_only_its_own_bookings(h: Harness) -> None:
    customer_id = h.customer()
    created = await seed_bookings(h, customer_id, 9)
    provider_id = created[0].provider_id

    rows, _ = await read_all(h, Actor.provider(provider_id), UPCOMING, 2)
    by_service, _ = await read_all(h, SERVICE, UPCOMING, 2, provider_id=provider_id)

    expected = sorted((b for b in created if b.provider_id == provider_id), key=order_key)
    assert [b.id for b in rows] == [b.id for b in expected] == [b.id for b in by_service]
    assert len(expected) == 3


async def test_cancelled_bookings_stay_listed(h: Harness) -> None:
    customer_id = h.customer()
    first, second = await seed_bookings(h, customer_id, 2)
    await h.service.cancel_booking(CancelBooking(SERVICE, first.id))

    page = await h.service.list_bookings(ListBookings(Actor.customer(customer_id), UPCOMING, 10))

    assert {b.id: b.status for b in page.bookings} == {
        first.id: BookingStatus.CANCELLED,
        second.id: BookingStatus.CONFIRMED,
    }


async def test_a_booking_created_between_pages_does_not_shift_the_cursor(h: Harness) -> None:
    customer_id = h.customer()
    created = await seed_bookings(h, customer_id, 6)
    actor = Actor.customer(customer_id)
    first = await h.service.list_bookings(ListBookings(actor, UPCOMING, 3))
    # A booking sorting before the cursor appears; the next page must not repeat rows.
    earlier = await h.service.create_booking(
        CreateBooking(
            SERVICE,
            h.provider(),
            customer_id,
            TimeSlot(h.clock.now + HOUR, h.clock.now + 2 * HOUR),
        )
    )

    second = await h.service.list_bookings(ListBookings(actor, UPCOMING, 3, first.next_cursor))

    ordered = sorted(created, key=order_key)
    assert [b.id for b in first.bookings] == [b.id for b in ordered[:3]]
    assert [b.id for b in second.bookings] == [b.id for b in ordered[3:]]
    assert earlier.booking.id not in {b.id for b in first.bookings + second.bookings}


# --- cursors --------------------------------------------------------------------------


async def _first_cursor(h: Harness, customer_id: UUID, list_type: ListType = UPCOMING) -> str:
    await seed_bookings(h, customer_id, 5)
    if list_type is PAST:
        h.clock.advance(timedelta(days=30))
    page = await h.service.list_bookings(ListBookings(Actor.customer(customer_id), list_type, 2))
    assert page.next_cursor is not None
    return page.next_cursor


def _flip(text: str, index: int) -> str:
    replacement = "A" if text[index] != "A" else "B"
    return text[:index] + replacement + text[index + 1 :]


@pytest.mark.parametrize("part", ["payload", "mac"])
async def test_a_tampered_cursor_is_rejected(h: Harness, part: str) -> None:
    customer_id = h.customer()
    cursor = await _first_cursor(h, customer_id)
    payload, mac = cursor.split(".")
    tampered = f"{_flip(payload, 5)}.{mac}" if part == "payload" else f"{payload}.{_flip(mac, 0)}"

    with pytest.raises(InvalidArgument) as info:
        await h.service.list_bookings(
            ListBookings(Actor.customer(customer_id), UPCOMING, 2, tampered)
        )
    assert info.value.field == "cursor"


@pytest.mark.parametrize(
    "garbage",
    ["garbage", "a.b.c", "x.y", "AAAA.AAAA", "é.é", ".", "....", "%%%.$$$", "bm9wZQ"],
)
async def test_a_garbage_cursor_is_rejected(h: Harness, garbage: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        await h.service.list_bookings(
            ListBookings(Actor.customer(uuid4()), UPCOMING, 10, cursor=garbage)
        )
    assert info.value.field == "cursor"


async def test_a_cursor_of_another_owner_is_rejected(h: Harness) -> None:
    alice, bob = h.customer(), h.customer()
    cursor = await _first_cursor(h, alice)
    await seed_bookings(h, bob, 3)

    with pytest.raises(InvalidArgument) as info:
        await h.service.list_bookings(ListBookings(Actor.customer(bob), UPCOMING, 2, cursor))
    assert info.value.field == "cursor"


async def test_a_customers_cursor_does_not_work_for_a_provider_with_the_same_id(
    h: Harness,
) -> None:
    customer_id = h.customer()
    cursor = await _first_cursor(h, customer_id)
    with pytest.raises(InvalidArgument) as info:
        await h.service.list_bookings(
            ListBookings(SERVICE, UPCOMING, 2, cursor, provider_id=customer_id)
        )
    assert info.value.field == "cursor"


@pytest.mark.parametrize("issued_for", [UPCOMING, PAST])
async def test_a_cursor_of_the_other_list_type_is_rejected(
    h: Harness, issued_for: ListType
) -> None:
    customer_id = h.customer()
    cursor = await _first_cursor(h, customer_id, issued_for)
    other = PAST if issued_for is UPCOMING else UPCOMING

    with pytest.raises(InvalidArgument) as info:
        await h.service.list_bookings(ListBookings(Actor.customer(customer_id), other, 2, cursor))
    assert info.value.field == "cursor"


async def test_a_cursor_signed_with_another_secret_is_rejected(h: Harness) -> None:
    customer_id = h.customer()
    foreign = CursorCodec(b"another-secret-of-enough-bytes").encode(
        UPCOMING, Owner(ActorKind.CUSTOMER, customer_id), h.clock.now, uuid4()
    )
    with pytest.raises(InvalidArgument) as info:
        await h.service.list_bookings(
            ListBookings(Actor.customer(customer_id), UPCOMING, 2, foreign)
        )
    assert info.value.field == "cursor"


async def test_a_cursor_works_for_a_service_reading_the_same_list(h: Harness) -> None:
    """The cursor binds the list (owner and type), not the caller."""
    customer_id = h.customer()
    cursor = await _first_cursor(h, customer_id)
    own = await h.service.list_bookings(
        ListBookings(Actor.customer(customer_id), UPCOMING, 2, cursor)
    )
    via_service = await h.service.list_bookings(
        ListBookings(SERVICE, UPCOMING, 2, cursor, customer_id=customer_id)
    )
    assert [b.id for b in via_service.bookings] == [b.id for b in own.bookings]
    assert len(own.bookings) == 2


async def test_cursors_survive_a_restart_with_the_same_secret(h: Harness) -> None:
    customer_id = h.customer()
    cursor = await _first_cursor(h, customer_id)
    restarted = BookingService(
        h.uows, h.publisher, h.clock, CursorCodec(CURSOR_SECRET), BookingRules()
    )
    page = await restarted.list_bookings(
        ListBookings(Actor.customer(customer_id), UPCOMING, 10, cursor)
    )
    assert len(page.bookings) == 3


# --- ownership ------------------------------------------------------------------------


async def test_a_customer_may_not_list_another_customers_bookings(h: Harness) -> None:
    alice, bob = h.customer(), h.customer()
    with pytest.raises(PermissionDenied):
        await h.service.list_bookings(
            ListBookings(Actor.customer(alice), UPCOMING, 10, customer_id=bob)
        )
    with pytest.raises(PermissionDenied):
        await h.service.list_bookings(
            ListBookings(Actor.customer(alice), UPCOMING, 10, provider_id=uuid4())
        )


async def test_a_provider_may_not_list_another_providers_or_a_customers_bookings(
    h: Harness,
) -> None:
    me = h.provider()
    with pytest.raises(PermissionDenied):
        await h.service.list_bookings(
            ListBookings(Actor.provider(me), UPCOMING, 10, provider_id=uuid4())
        )
    with pytest.raises(PermissionDenied):
        await h.service.list_bookings(
            ListBookings(Actor.provider(me), UPCOMING, 10, customer_id=uuid4())
        )


async def test_naming_oneself_is_the_same_as_naming_no_one(h: Harness) -> None:
    customer_id = h.customer()
    await seed_bookings(h, customer_id, 4)
    actor = Actor.customer(customer_id)
    implicit = await h.service.list_bookings(ListBookings(actor, UPCOMING, 10))
    explicit = await h.service.list_bookings(
        ListBookings(actor, UPCOMING, 10, customer_id=customer_id)
    )
    assert [b.id for b in implicit.bookings] == [b.id for b in explicit.bookings]
    assert len(implicit.bookings) == 4


@pytest.mark.parametrize("owners", ["none", "both"])
async def test_a_service_must_name_exactly_one_owner(h: Harness, owners: str) -> None:
    both = owners == "both"
    customer_id, provider_id = (uuid4(), uuid4()) if both else (None, None)
    with pytest.raises(InvalidArgument) as info:
        await h.service.list_bookings(
            ListBookings(SERVICE, UPCOMING, 10, customer_id=customer_id, provider_id=provider_id)
        )
    assert info.value.field == "customer_id"


async def test_ownership_is_decided_before_the_limit_and_cursor(h: Harness) -> None:
    with pytest.raises(PermissionDenied):
        await h.service.list_bookings(
            ListBookings(Actor.customer(uuid4()), UPCOMING, 0, "garbage", customer_id=uuid4())
        )
