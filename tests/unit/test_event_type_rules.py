"""Event-type and guest rules without I/O: spec bounds, custom slugs, guest details,
references and manage tokens."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from booking_core.domain.errors import InvalidArgument
from booking_core.domain.event_types import (
    EventTypeSpec,
    merge_spec,
    new_slug,
    parse_date,
    parse_local_time,
    slot_id,
    validate_custom_slug,
    validate_spec,
)
from booking_core.domain.guests import (
    CROCKFORD_ALPHABET,
    ManageTokens,
    new_reference,
    normalize_reference,
    parse_guest,
)
from booking_core.domain.slots import DatedWindow, SlotRules, WeeklyHours

SPEC = EventTypeSpec(name="Yoga", time_zone="Europe/Berlin", period_minutes=60, capacity=12)
T0 = datetime(2030, 1, 7, 9, tzinfo=UTC)


def field_of(spec: EventTypeSpec) -> str:
    with pytest.raises(InvalidArgument) as caught:
        validate_spec(spec)
    return caught.value.field


def test_a_plain_spec_is_valid_and_normalized() -> None:
    spec = validate_spec(replace(SPEC, name="  Yoga  ", custom_slug="Yoga-Tuesdays"))
    assert spec.name == "Yoga"
    assert spec.custom_slug == "yoga-tuesdays"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "Yoga\r\nBcc: everyone"}, "name"),
        ({"description": "x" * 5001}, "description"),
        ({"location": "line\nbreak"}, "location"),
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"time_zone": "../../etc/passwd"}, "time_zone"),
        ({"time_zone": ""}, "time_zone"),
        ({"period_minutes": 0}, "period_minutes"),
        ({"period_minutes": 481}, "period_minutes"),
        ({"capacity": 0}, "capacity"),
        ({"capacity": 10**9}, "capacity"),
        ({"buffer_before_minutes": -1}, "buffer_before_minutes"),
        ({"buffer_after_minutes": 481}, "buffer_after_minutes"),
        ({"minimum_notice_minutes": -5}, "minimum_notice_minutes"),
        ({"booking_horizon_days": 0}, "booking_horizon_days"),
        ({"booking_horizon_days": 731}, "booking_horizon_days"),
        ({"custom_slug": "a"}, "custom_slug"),
        ({"custom_slug": "-yoga"}, "custom_slug"),
        ({"custom_slug": "yo--ga"}, "custom_slug"),
        ({"custom_slug": "yoga_class"}, "custom_slug"),
        ({"custom_slug": "yóga"}, "custom_slug"),
    ],
)
def test_each_bound_names_its_field(change: dict[str, object], field: str) -> None:
    assert field_of(replace(SPEC, **change)) == field  # type: ignore[arg-type]


def test_rules_bounds_and_overlaps() -> None:
    def rules(**kwargs: object) -> EventTypeSpec:
        return replace(SPEC, rules=SlotRules(**kwargs))  # type: ignore[arg-type]

    assert field_of(rules(dated_windows=(DatedWindow(T0, T0),))) == "dated_windows[0].end"
    long = DatedWindow(T0, T0 + timedelta(days=32))
    assert field_of(rules(dated_windows=(long,))) == "dated_windows[0].end"
    overlapping = (
        DatedWindow(T0, T0 + timedelta(hours=2)),
        DatedWindow(T0 + timedelta(hours=1), T0 + timedelta(hours=3)),
    )
    assert field_of(rules(dated_windows=overlapping)) == "dated_windows"
    back_to_back = (
        DatedWindow(T0, T0 + timedelta(hours=1)),
        DatedWindow(T0 + timedelta(hours=1), T0 + timedelta(hours=2)),
    )
    validate_spec(rules(dated_windows=back_to_back))
    assert (
        field_of(rules(dated_windows=(DatedWindow(T0, T0 + timedelta(hours=1)),) * 101))
        == "dated_windows"
    )

    assert field_of(rules(weekly_hours=(WeeklyHours(0, 540, 600),))) == "weekly_hours[0].weekday"
    assert field_of(rules(weekly_hours=(WeeklyHours(8, 540, 600),))) == "weekly_hours[0].weekday"
    same_day = (WeeklyHours(1, 540, 720), WeeklyHours(1, 660, 780))
    assert field_of(rules(weekly_hours=same_day)) == "weekly_hours"
    # Sunday 22:00-02:00 runs into Monday 01:00.
    wrapping = (WeeklyHours(7, 1320, 120), WeeklyHours(1, 60, 180))
    assert field_of(rules(weekly_hours=wrapping)) == "weekly_hours"
    fine = (WeeklyHours(7, 1320, 120), WeeklyHours(1, 120, 180), WeeklyHours(1, 1320, 1440))
    assert validate_spec(rules(weekly_hours=fine)).rules.weekly_hours == tuple(sorted(fine))
    many = frozenset(date(2026, 1, 1) + timedelta(days=i) for i in range(367))
    assert field_of(rules(date_exceptions=many)) == "date_exceptions"


def test_local_times_and_dates() -> None:
    assert parse_local_time("09:30", "f", allow_midnight_end=False) == 570
    assert parse_local_time("24:00", "f", allow_midnight_end=True) == 1440
    for bad in ("24:00", "9:30", "09:60", "25:00", "", "09:30:00", "0930"):
        with pytest.raises(InvalidArgument):
            parse_local_time(bad, "f", allow_midnight_end=False)
    assert parse_date("2026-12-24", "d") == date(2026, 12, 24)
    for bad in ("2026-02-30", "24.12.2026", "2026-1-1", "20261224"):
        with pytest.raises(InvalidArgument):
            parse_date(bad, "d")


def test_merge_spec_takes_only_the_named_fields() -> None:
    update = replace(
        SPEC, name="Pilates", capacity=3, rules=SlotRules(weekly_hours=(WeeklyHours(1, 0, 60),))
    )
    merged = merge_spec(SPEC, update, ["capacity", "weekly_hours"])
    assert (merged.name, merged.capacity, merged.rules.weekly_hours) == (
        "Yoga",
        3,
        (WeeklyHours(1, 0, 60),),
    )
    with pytest.raises(InvalidArgument) as caught:
        merge_spec(SPEC, update, ["id"])
    assert caught.value.field == "update_mask"


def test_slugs_are_random_lowercase_base32_of_80_bits() -> None:
    slugs = {new_slug() for _ in range(1000)}
    assert len(slugs) == 1000
    assert all(len(s) == 16 and s.isalnum() and s == s.lower() for s in slugs)
    assert validate_custom_slug(None) is None
    assert validate_custom_slug("") is None
    assert validate_custom_slug("ABC") == "abc"


def test_slot_ids_are_deterministic_and_distinct() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    assert slot_id(a, T0) == slot_id(a, T0)
    assert len({slot_id(a, T0), slot_id(b, T0), slot_id(a, T0 + timedelta(microseconds=1))}) == 3


GUEST = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "Ada.Lovelace@Example.COM",
    "phone": "+49 (30) 123-4567",
}


def test_guest_details_are_normalized() -> None:
    guest = parse_guest(**GUEST, address="  Hauptstr. 1\n10115 Berlin ", special_requests="")
    assert guest.email == "Ada.Lovelace@example.com"
    assert guest.phone == "+49301234567"
    assert guest.address == "Hauptstr. 1\n10115 Berlin"
    assert guest.special_requests is None
    assert parse_guest(**{**GUEST, "first_name": "  Zoë   Anne "}).first_name == "Zoë Anne"
    assert parse_guest(**{**GUEST, "last_name": "李"}).last_name == "李"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"first_name": "😀😀"}, "guest.first_name"),
        ({"first_name": ""}, "guest.first_name"),
        ({"last_name": "x" * 101}, "guest.last_name"),
        ({"last_name": "Evil\r\nBcc: all@example.com"}, "guest.last_name"),
        ({"email": "ada@"}, "guest.email"),
        ({"email": "ada@example.com\r\nBcc: x@example.com"}, "guest.email"),
        ({"email": "a" * 250 + "@example.com"}, "guest.email"),
        ({"phone": "030 1234567"}, "guest.phone"),
        ({"phone": "+49 1"}, "guest.phone"),
        ({"phone": "not a phone"}, "guest.phone"),
        ({"phone": "+1" + "2" * 40}, "guest.phone"),
    ],
)
def test_bad_guest_details_name_their_field(change: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_guest(**{**GUEST, **change})
    assert caught.value.field == field


def test_bad_optional_guest_texts() -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_guest(**GUEST, address="x" * 501)
    assert caught.value.field == "guest.address"
    with pytest.raises(InvalidArgument) as caught:
        parse_guest(**GUEST, special_requests="bell\x07")
    assert caught.value.field == "guest.special_requests"


def test_references_are_crockford_base32_and_read_leniently() -> None:
    refs = {new_reference() for _ in range(2000)}
    assert len(refs) > 1990  # 40 random bits
    assert all(len(r) == 8 and set(r) <= set(CROCKFORD_ALPHABET) for r in refs)
    assert normalize_reference("7kq2-m9xd") == "7KQ2M9XD"
    assert normalize_reference("OIL0 1234") == "0110" + "1234"
    for bad in ("", "7KQ2M9X", "7KQ2M9XDD", "7KQ2M9XU", "7KQ2M9X!"):
        assert normalize_reference(bad) is None


def test_manage_tokens_are_derived_stored_hashed_and_checked() -> None:
    tokens = ManageTokens(b"unit-test-manage-token-key")
    booking = uuid.uuid4()
    token = tokens.token_for(booking)
    assert len(token) == 43 and token == tokens.token_for(booking)
    assert token != tokens.token_for(uuid.uuid4())
    assert token != ManageTokens(b"another-manage-token-key!").token_for(booking)
    stored = tokens.hash(token)
    assert stored != token.encode() and len(stored) == 32
    assert tokens.matches(token, stored)
    assert not tokens.matches(token[:-1] + ("A" if token[-1] != "A" else "B"), stored)
    assert not tokens.matches(token, tokens.dummy_hash)
    with pytest.raises(ValueError, match="16 bytes"):
        ManageTokens(b"short")
