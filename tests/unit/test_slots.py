"""Slot generation and the offered-slot rule (``booking_core.domain.slots``), without I/O:
worked examples on daylight-saving days and property-based tests (hypothesis) over
random rules, zones and ranges."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from booking_core.domain.errors import InvalidArgument
from booking_core.domain.event_types import validate_rules
from booking_core.domain.slots import (
    BusyInterval,
    DatedWindow,
    Slot,
    SlotRules,
    WeeklyHours,
    generate_slots,
    local_start,
    offered,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "America/Santiago",
    "Europe/London",
]
MON, TUE, WED, THU, FRI, SAT, SUN = range(1, 8)


def hours(weekday: int, start: str, end: str) -> WeeklyHours:
    def minutes(text: str) -> int:
        h, m = text.split(":")
        return int(h) * 60 + int(m)

    return WeeklyHours(weekday, minutes(start), minutes(end))


def local_starts(slots: list[Slot], zone: ZoneInfo) -> list[str]:
    return [s.start.astimezone(zone).strftime("%a %H:%M %Z") for s in slots]


def day_range(day: date, zone: ZoneInfo, days: int = 1) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), tzinfo=zone)
    return start.astimezone(UTC), (start + timedelta(days=days)).astimezone(UTC)


def generate(rules: SlotRules, zone: ZoneInfo, period: int, day: date, days: int = 1) -> list[Slot]:
    start, end = day_range(day, zone, days)
    return generate_slots(rules, zone=zone, period=timedelta(minutes=period), start=start, end=end)


# --- worked examples -------------------------------------------------------------------


def test_weekly_hours_step_by_the_period_and_end_inside_the_window() -> None:
    rules = SlotRules(weekly_hours=(hours(TUE, "09:00", "11:45"),))
    slots = generate(rules, BERLIN, 60, date(2026, 12, 8))  # a Tuesday
    assert local_starts(slots, BERLIN) == ["Tue 09:00 CET", "Tue 10:00 CET"]
    assert all(s.end - s.start == timedelta(minutes=60) for s in slots)


def test_berlin_spring_forward_skips_the_missing_hour() -> None:
    # 2026-03-29: 02:00 CET becomes 03:00 CEST.
    rules = SlotRules(weekly_hours=(hours(SUN, "01:00", "04:00"),))
    slots = generate(rules, BERLIN, 30, date(2026, 3, 29))
    assert local_starts(slots, BERLIN) == [
        "Sun 01:00 CET",
        "Sun 01:30 CET",
        "Sun 03:00 CEST",
        "Sun 03:30 CEST",
    ]
    assert [s.start.isoformat() for s in slots] == [
        "2026-03-29T00:00:00+00:00",
        "2026-03-29T00:30:00+00:00",
        "2026-03-29T01:00:00+00:00",
        "2026-03-29T01:30:00+00:00",
    ]


def test_berlin_fall_back_offers_the_repeated_hour_once() -> None:
    # 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:00-03:00 happens twice.
    rules = SlotRules(weekly_hours=(hours(SUN, "01:00", "04:00"),))
    slots = generate(rules, BERLIN, 60, date(2026, 10, 25))
    assert local_starts(slots, BERLIN) == ["Sun 01:00 CEST", "Sun 02:00 CEST", "Sun 03:00 CET"]
    assert [s.start.isoformat() for s in slots] == [
        "2026-10-24T23:00:00+00:00",
        "2026-10-25T00:00:00+00:00",
        "2026-10-25T02:00:00+00:00",
    ]


def test_a_slot_across_the_gap_that_would_overlap_the_next_is_dropped() -> None:
    # 90 minutes from 00:30: 00:30, 02:00 (missing), 03:30. The 00:30 slot lasts
    # 90 real minutes, until 03:00 CEST: no overlap with 03:30.
    rules = SlotRules(weekly_hours=(hours(SUN, "00:30", "06:00"),))
    slots = generate(rules, BERLIN, 90, date(2026, 3, 29))
    assert local_starts(slots, BERLIN) == ["Sun 00:30 CET", "Sun 03:30 CEST"]
    # 01:00 + 120 real minutes ends at 04:00 CEST, after 03:00 CEST: that one goes.
    rules = SlotRules(weekly_hours=(hours(SUN, "01:00", "08:00"),))
    slots = generate(rules, BERLIN, 120, date(2026, 3, 29))
    assert local_starts(slots, BERLIN) == ["Sun 01:00 CET", "Sun 05:00 CEST"]
    assert all(b.start >= a.end for a, b in itertools.pairwise(slots))


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        # 2026-03-08: 02:00 EST becomes 03:00 EDT.
        (date(2026, 3, 8), ["Sun 01:00 EST", "Sun 03:00 EDT"]),
        # 2026-11-01: 02:00 EDT becomes 01:00 EST; 01:00 is taken the first time.
        (date(2026, 11, 1), ["Sun 01:00 EDT", "Sun 02:00 EST", "Sun 03:00 EST"]),
    ],
)
def test_new_york_on_both_transition_days(day: date, expected: list[str]) -> None:
    rules = SlotRules(weekly_hours=(hours(SUN, "01:00", "04:00"),))
    assert local_starts(generate(rules, NEW_YORK, 60, day), NEW_YORK) == expected


def test_lord_howe_half_hour_shift() -> None:
    # 2026-10-04: 02:00 (+10:30) becomes 02:30 (+11:00); 2026-04-05: 02:00 (+11:00)
    # becomes 01:30 (+10:30), so 01:30-02:00 happens twice.
    rules = SlotRules(weekly_hours=(hours(SUN, "01:00", "03:30"),))
    forward = generate(rules, LORD_HOWE, 30, date(2026, 10, 4))
    assert [s.start.astimezone(LORD_HOWE).strftime("%H:%M%z") for s in forward] == [
        "01:00+1030",
        "01:30+1030",
        "02:30+1100",
        "03:00+1100",
    ]
    back = generate(rules, LORD_HOWE, 30, date(2026, 4, 5))
    assert [s.start.astimezone(LORD_HOWE).strftime("%H:%M%z") for s in back] == [
        "01:00+1100",
        "01:30+1100",
        "02:00+1030",
        "02:30+1030",
        "03:00+1030",
    ]


def test_a_window_that_crosses_midnight_and_its_day_off() -> None:
    rules = SlotRules(weekly_hours=(hours(FRI, "22:00", "02:00"),))
    friday = date(2026, 12, 11)
    slots = generate(rules, BERLIN, 60, friday, days=2)
    assert local_starts(slots, BERLIN) == [
        "Fri 22:00 CET",
        "Fri 23:00 CET",
        "Sat 00:00 CET",
        "Sat 01:00 CET",
    ]
    # A range starting at Saturday midnight still sees the slots after midnight.
    saturday = generate(rules, BERLIN, 60, date(2026, 12, 12))
    assert local_starts(saturday, BERLIN) == ["Sat 00:00 CET", "Sat 01:00 CET"]
    # A day off removes the slots whose local start date it is.
    off = SlotRules(rules.dated_windows, rules.weekly_hours, frozenset({date(2026, 12, 12)}))
    assert local_starts(generate(off, BERLIN, 60, friday, days=2), BERLIN) == [
        "Fri 22:00 CET",
        "Fri 23:00 CET",
    ]


def test_dated_windows_step_in_real_time_and_merge_with_weekly_hours() -> None:
    window = DatedWindow(
        datetime(2026, 10, 24, 23, 0, tzinfo=UTC), datetime(2026, 10, 25, 3, 0, tzinfo=UTC)
    )
    rules = SlotRules(dated_windows=(window,))
    slots = generate(rules, BERLIN, 60, date(2026, 10, 24), days=3)
    assert [s.start.hour for s in slots] == [23, 0, 1, 2]  # four real hours, four slots
    both = SlotRules(dated_windows=(window,), weekly_hours=(hours(SUN, "01:00", "02:00"),))
    # Sunday 01:00 CEST is 23:00Z, already a slot of the dated window: not twice.
    assert len(generate(both, BERLIN, 60, date(2026, 10, 24), days=3)) == 4


def test_the_range_is_half_open_on_starts() -> None:
    rules = SlotRules(weekly_hours=(hours(TUE, "09:00", "12:00"),))
    nine = datetime(2026, 12, 8, 9, tzinfo=BERLIN).astimezone(UTC)
    slots = generate_slots(
        rules,
        zone=BERLIN,
        period=timedelta(hours=1),
        start=nine + timedelta(minutes=1),
        end=nine + timedelta(hours=2),
    )
    assert local_starts(slots, BERLIN) == ["Tue 10:00 CET"]


def test_local_start_of_a_missing_time_is_none() -> None:
    assert local_start(datetime(2026, 3, 29, 2, 30), BERLIN) is None
    assert local_start(datetime(2026, 10, 25, 2, 30), BERLIN) == datetime(
        2026, 10, 25, 0, 30, tzinfo=UTC
    )


# --- offered slots -----------------------------------------------------------------------

ET = uuid.UUID(int=1)
T0 = datetime(2030, 1, 7, 9, tzinfo=UTC)


def hourly(n: int) -> list[Slot]:
    return [Slot(T0 + timedelta(hours=i), T0 + timedelta(hours=i + 1)) for i in range(n)]


def slot_id(start: datetime) -> uuid.UUID:
    return uuid.uuid5(ET, start.isoformat())


def offer(
    slots: list[Slot],
    *,
    booked: dict[datetime, int] | None = None,
    busy: list[BusyInterval] | None = None,
    before: int = 0,
    after: int = 0,
    capacity: int = 3,
    earliest: datetime = T0,
    latest: datetime = T0 + timedelta(days=1),
) -> list[tuple[int, int]]:
    result = offered(
        slots,
        capacity=capacity,
        booked=booked or {},
        busy=busy or [],
        buffer_before=timedelta(minutes=before),
        buffer_after=timedelta(minutes=after),
        slot_id_of=slot_id,
        earliest=earliest,
        latest=latest,
    )
    return [(int((s.start - T0) / timedelta(hours=1)), s.remaining) for s in result]


def test_full_slots_and_those_outside_notice_and_horizon_are_not_offered() -> None:
    slots = hourly(5)
    assert offer(slots, booked={slots[1].start: 3, slots[2].start: 2}) == [
        (0, 3),
        (2, 1),
        (3, 3),
        (4, 3),
    ]
    assert offer(slots, earliest=T0 + timedelta(minutes=1), latest=slots[4].start) == [
        (1, 3),
        (2, 3),
        (3, 3),
    ]


def test_another_booking_of_the_provider_blocks_overlapping_slots_buffers_included() -> None:
    slots = hourly(5)
    one_to_one = BusyInterval(
        T0 + timedelta(hours=2, minutes=10), T0 + timedelta(hours=2, minutes=40), uuid.uuid4()
    )
    assert offer(slots, busy=[one_to_one]) == [(0, 3), (1, 3), (3, 3), (4, 3)]
    # A 30-minute buffer after each slot reaches the 1:1 booking from slot 1 too, and
    # 30 minutes before reaches it from slot 3.
    assert offer(slots, busy=[one_to_one], after=30) == [(0, 3), (3, 3), (4, 3)]
    assert offer(slots, busy=[one_to_one], before=30, after=30) == [(0, 3), (4, 3)]
    # Back to back is not an overlap.
    touching = BusyInterval(T0 + timedelta(hours=1), T0 + timedelta(hours=2), uuid.uuid4())
    assert offer(slots, busy=[touching]) == [(0, 3), (2, 3), (3, 3), (4, 3)]


def test_places_of_the_same_slot_do_not_block_it_but_block_its_neighbours() -> None:
    slots = hourly(3)
    # A place of slot 1 whose busy range carries its 15-minute buffer after.
    place = BusyInterval(
        slots[1].start, slots[1].end + timedelta(minutes=15), slot_id(slots[1].start)
    )
    assert offer(slots, booked={slots[1].start: 1}, busy=[place]) == [(0, 3), (1, 2)]
    # With the buffer on every slot, slot 0 reaches into slot 1's place as well.
    assert offer(slots, booked={slots[1].start: 1}, busy=[place, place], after=15) == [(1, 2)]


# --- properties -------------------------------------------------------------------------


@st.composite
def weekly_rules(draw: st.DrawFn) -> SlotRules:
    entries = []
    for weekday in draw(st.lists(st.integers(1, 7), min_size=1, max_size=7, unique=True)):
        start = draw(st.integers(0, 23 * 60)) // 15 * 15
        length = draw(st.integers(15, 24 * 60)) // 15 * 15
        entries.append(WeeklyHours(weekday, start, (start + length) % (24 * 60) or 24 * 60))
    exceptions = draw(st.frozensets(st.dates(date(2026, 1, 1), date(2027, 12, 31)), max_size=20))
    try:
        return validate_rules(SlotRules((), tuple(entries), exceptions))
    except InvalidArgument:  # overlapping windows: keep the first weekday only
        return SlotRules((), tuple(entries[:1]), exceptions)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rules=weekly_rules(),
    zone_name=st.sampled_from(ZONES),
    period=st.sampled_from([5, 15, 20, 30, 45, 60, 90, 120, 480]),
    start=st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 1), timezones=st.just(UTC)),
    days=st.integers(1, 10),
)
def test_generated_slots_keep_every_rule(
    rules: SlotRules, zone_name: str, period: int, start: datetime, days: int
) -> None:
    zone = ZoneInfo(zone_name)
    end = start + timedelta(days=days)
    length = timedelta(minutes=period)
    slots = generate_slots(rules, zone=zone, period=length, start=start, end=end)
    assert slots == sorted(slots)
    for previous, slot in itertools.pairwise(slots):
        assert slot.start >= previous.end, "slots never overlap"
    for slot in slots:
        assert start <= slot.start < end
        assert slot.end - slot.start == length, "a slot lasts exactly the period of real time"
        local = slot.start.astimezone(zone)
        assert local.date() not in rules.date_exceptions
        naive = local.replace(tzinfo=None)
        assert local_start(naive, zone) == slot.start, "an existing local time, fold 0"
        # It starts a whole number of periods after the opening of a window of its
        # weekday, or of the day before (a window crossing midnight), and ends by its close.
        fits = False
        for back in (0, 1):
            opening_day = local.date() - timedelta(days=back)
            for h in rules.weekly_hours:
                if h.weekday != opening_day.isoweekday():
                    continue
                opens = datetime.combine(opening_day, time()) + timedelta(minutes=h.from_minute)
                closes = opens + timedelta(minutes=h.length_minutes)
                offset = naive - opens
                if (
                    timedelta(0) <= offset
                    and naive < closes
                    and offset % length == timedelta(0)
                    and slot.end <= closes.replace(tzinfo=zone).astimezone(UTC)
                ):
                    fits = True
        assert fits, (slot, local)


@settings(max_examples=100, deadline=None)
@given(
    weekday=st.integers(1, 7),
    start_minute=st.integers(0, 95).map(lambda q: q * 15),
    length=st.integers(1, 96).map(lambda q: q * 15),
    period=st.sampled_from([5, 15, 30, 60, 90]),
)
def test_without_dst_a_window_has_floor_length_over_period_slots_a_week(
    weekday: int, start_minute: int, length: int, period: int
) -> None:
    rules = SlotRules(
        weekly_hours=(WeeklyHours(weekday, start_minute, (start_minute + length) % 1440 or 1440),)
    )
    # From one opening of the window (2030-01-07 is a Monday) to its close.
    opens = datetime(2030, 1, 6 + weekday, tzinfo=UTC) + timedelta(minutes=start_minute)
    slots = generate_slots(
        rules,
        zone=ZoneInfo("UTC"),
        period=timedelta(minutes=period),
        start=opens,
        end=opens + timedelta(minutes=length),
    )
    assert len(slots) == length // period
    assert [s.start for s in slots] == [
        opens + timedelta(minutes=period * i) for i in range(length // period)
    ]


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 30),
    capacity=st.integers(1, 5),
    before=st.integers(0, 90),
    after=st.integers(0, 90),
    data=st.data(),
)
def test_offered_matches_a_brute_force_check(
    n: int, capacity: int, before: int, after: int, data: st.DataObject
) -> None:
    slots = hourly(n)
    booked = {
        s.start: data.draw(st.integers(0, capacity)) for s in slots if data.draw(st.booleans())
    }
    busy = []
    for _ in range(data.draw(st.integers(0, 8))):
        begin = T0 + timedelta(minutes=data.draw(st.integers(-120, n * 60 + 120)))
        own = data.draw(st.booleans()) and slots
        interval_id = slot_id(data.draw(st.sampled_from(slots)).start) if own else uuid.uuid4()
        busy.append(
            BusyInterval(
                begin, begin + timedelta(minutes=data.draw(st.integers(1, 240))), interval_id
            )
        )
    got = offer(slots, booked=booked, busy=busy, before=before, after=after, capacity=capacity)
    expected = []
    for i, s in enumerate(slots):
        wide = (s.start - timedelta(minutes=before), s.end + timedelta(minutes=after))
        blocked = any(
            b.start < wide[1] and b.end > wide[0] and b.slot_id != slot_id(s.start) for b in busy
        )
        remaining = capacity - booked.get(s.start, 0)
        in_horizon = s.start < T0 + timedelta(days=1)
        if remaining > 0 and not blocked and in_horizon:
            expected.append((i, remaining))
    assert got == expected
