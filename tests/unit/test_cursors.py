"""CursorCodec: opaque, tamper-evident keyset cursors."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone
from uuid import uuid4

import pytest
from booking_core.domain.errors import InvalidArgument
from booking_core.domain.model import ActorKind, ListType, Owner
from booking_core.service_layer.cursors import CursorCodec
from fakes import CURSOR_SECRET

CODEC = CursorCodec(CURSOR_SECRET)
OWNER = Owner(ActorKind.CUSTOMER, uuid4())


@pytest.mark.parametrize(
    "start",
    [
        datetime(2031, 5, 6, 7, 8, 9, 123457, tzinfo=UTC),
        datetime(2031, 5, 6, 7, 8, 9, 999999, tzinfo=UTC),
        datetime(2031, 5, 6, 7, 8, 9, 1, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ],
)
@pytest.mark.parametrize("list_type", list(ListType))
def test_round_trip_keeps_microseconds_exactly(start: datetime, list_type: ListType) -> None:
    booking_id = uuid4()
    cursor = CODEC.encode(list_type, OWNER, start, booking_id)

    decoded_start, decoded_id = CODEC.decode(cursor, list_type, OWNER)

    assert decoded_id == booking_id
    assert decoded_start == start
    assert decoded_start.microsecond == start.microsecond
    assert decoded_start.utcoffset() == timedelta(0)


def test_round_trip_normalises_other_offsets_to_the_same_instant() -> None:
    start = datetime(2031, 5, 6, 9, 8, 9, 42, tzinfo=timezone(timedelta(hours=2)))
    decoded_start, _ = CODEC.decode(
        CODEC.encode(ListType.PAST, OWNER, start, uuid4()), ListType.PAST, OWNER
    )
    assert decoded_start == start
    assert decoded_start.tzinfo == UTC
    assert decoded_start.hour == 7


def test_a_cursor_is_url_safe_and_opaque() -> None:
    cursor = CODEC.encode(ListType.UPCOMING, OWNER, datetime(2031, 1, 1, tzinfo=UTC), uuid4())
    payload, mac = cursor.split(".")
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    assert len(base64.urlsafe_b64decode(mac + "=" * (-len(mac) % 4))) == 16
    assert payload


@pytest.mark.parametrize("secret", [b"", b"short", b"x" * 15])
def test_a_secret_shorter_than_16_bytes_is_refused(secret: bytes) -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        CursorCodec(secret)


def test_a_16_byte_secret_is_enough() -> None:
    codec = CursorCodec(b"x" * 16)
    booking_id = uuid4()
    start = datetime(2031, 1, 1, tzinfo=UTC)
    cursor = codec.encode(ListType.UPCOMING, OWNER, start, booking_id)
    assert codec.decode(cursor, ListType.UPCOMING, OWNER) == (start, booking_id)


def test_the_secret_matters() -> None:
    cursor = CODEC.encode(ListType.UPCOMING, OWNER, datetime(2031, 1, 1, tzinfo=UTC), uuid4())
    with pytest.raises(InvalidArgument) as info:
        CursorCodec(CURSOR_SECRET + b"!").decode(cursor, ListType.UPCOMING, OWNER)
    assert info.value.field == "cursor"


@pytest.mark.parametrize(
    "other",
    [
        pytest.param((ListType.PAST, OWNER), id="list-type"),
        pytest.param((ListType.UPCOMING, Owner(ActorKind.CUSTOMER, uuid4())), id="owner-id"),
        pytest.param((ListType.UPCOMING, Owner(ActorKind.PROVIDER, OWNER.id)), id="owner-kind"),
    ],
)
def test_a_cursor_is_bound_to_its_list(other: tuple[ListType, Owner]) -> None:
    cursor = CODEC.encode(ListType.UPCOMING, OWNER, datetime(2031, 1, 1, tzinfo=UTC), uuid4())
    with pytest.raises(InvalidArgument) as info:
        CODEC.decode(cursor, *other)
    assert info.value.field == "cursor"


def _rejection_field(cursor: str) -> str | None:
    """The ``InvalidArgument.field`` decoding ``cursor`` raises, or None if it is accepted."""
    try:
        CODEC.decode(cursor, ListType.UPCOMING, OWNER)
    except InvalidArgument as exc:
        return exc.field
    return None


def test_every_single_character_change_is_detected() -> None:
    cursor = CODEC.encode(ListType.UPCOMING, OWNER, datetime(2031, 1, 1, tzinfo=UTC), uuid4())
    outcomes = {
        index: _rejection_field(
            cursor[:index] + ("B" if char == "A" else "A") + cursor[index + 1 :]
        )
        for index, char in enumerate(cursor)
        if char != "."
    }
    accepted = {index for index, field in outcomes.items() if field is None}
    assert set(outcomes.values()) - {None} == {"cursor"}
    # Only the unused low bits of a final base64 character may change without effect.
    assert accepted <= {cursor.index(".") - 1, len(cursor) - 1}
