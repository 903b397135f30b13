"""``bookings_common.wire``: protobuf's C codec behind betterproto2's messages gives
byte for byte what betterproto2 gives, and reads back the same objects."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from io import BytesIO

import betterproto2
import pytest
from bookings_common import wire
from bookings_proto.bookings import v1 as pb
from hypothesis import given, settings
from hypothesis import strategies as st

texts = st.text(max_size=40)
# Aware datetimes at microsecond resolution (what the services send), any offset.
times = st.datetimes(
    min_value=datetime(1900, 1, 1),
    max_value=datetime(2200, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=9)), timezone(timedelta(hours=-5))]),
)
guests = st.builds(
    pb.Guest,
    first_name=texts,
    last_name=texts,
    email=texts,
    phone=texts,
    address=texts,
    special_requests=texts,
)
bookings_ = st.builds(
    pb.Booking,
    id=texts,
    provider_id=texts,
    customer_id=texts,
    start_time=st.none() | times,
    end_time=st.none() | times,
    # Known statuses, and one a newer booking-core might send.
    status=st.sampled_from([*pb.BookingStatus, 7]).map(pb.BookingStatus),
    version=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    created_at=st.none() | times,
    updated_at=st.none() | times,
    cancelled_at=st.none() | times,
    cancel_reason=st.none() | texts,
    event_type_id=texts,
    reference=st.none() | texts,
    guest=st.none() | guests,
)
responses = st.one_of(
    st.builds(pb.ListBookingsResponse, bookings=st.lists(bookings_, max_size=5), next_cursor=texts),
    st.builds(pb.GetBookingResponse, booking=st.none() | bookings_),
    st.builds(pb.CreateBookingResponse, booking=st.none() | bookings_, replayed=st.booleans()),
    st.builds(pb.CancelBookingResponse, booking=st.none() | bookings_),
)


def betterproto2_bytes(message: betterproto2.Message) -> bytes:
    return betterproto2.Message.__bytes__(message)


def betterproto2_parse(cls: type[betterproto2.Message], data: bytes) -> betterproto2.Message:
    with BytesIO(data) as stream:
        return cls().load(stream)


@pytest.fixture
def installed() -> Iterator[None]:
    """The codec installed on ``BOOKING_RESPONSES`` for one test only."""
    names = ("__bytes__", "parse", "FromString")
    before = [
        (cls, {n: vars(cls)[n] for n in names if n in vars(cls)}) for cls in wire.BOOKING_RESPONSES
    ]
    wire.install_upb_codec(*wire.BOOKING_RESPONSES)
    try:
        yield
    finally:
        for cls, own in before:
            for name in names:
                if name in own:
                    setattr(cls, name, own[name])
                else:
                    delattr(cls, name)


@settings(max_examples=300, deadline=None)
@given(message=responses)
def test_the_same_bytes_and_the_same_objects_as_betterproto2(message: betterproto2.Message) -> None:
    data = wire.encode(message)
    assert data == betterproto2_bytes(message)
    decoded = wire.decode(type(message), data)
    assert decoded == betterproto2_parse(type(message), data)
    assert decoded == message  # aware datetimes compare as instants, in any offset


def test_installed_the_services_use_it_through_betterproto2s_own_calls(installed: None) -> None:
    now = datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    page = pb.ListBookingsResponse(
        bookings=[
            pb.Booking(id="a", start_time=now, status=pb.BookingStatus.CONFIRMED),
            # A guest with every field empty is still a guest.
            pb.Booking(id="b", guest=pb.Guest(), cancel_reason="", reference=None),
        ],
        next_cursor="next",
    )
    data = page.SerializeToString()
    assert data == bytes(page) == betterproto2_bytes(page)
    for read in (pb.ListBookingsResponse.FromString(data), pb.ListBookingsResponse.parse(data)):
        assert read == page
        assert read.bookings[1].guest == pb.Guest()
        assert read.bookings[1].cancel_reason == "" and read.bookings[1].reference is None


def test_a_message_with_what_it_cannot_code_is_refused() -> None:
    with pytest.raises(TypeError, match="oneof"):
        wire.install_upb_codec(pb.Actor)
    with pytest.raises(TypeError, match="repeated scalars"):
        wire.install_upb_codec(pb.ClaimRemindersRequest)
    with pytest.raises(ValueError, match="timezone aware"):
        wire.encode(pb.GetBookingResponse(booking=pb.Booking(start_time=datetime(2030, 1, 1))))
