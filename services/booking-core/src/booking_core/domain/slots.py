"""Slots derived from an event type's rules, and which of them are offered. No I/O.

Slots are never stored in advance; for a requested range they are computed
from the rules (``SlotRules``) in the event type's IANA time zone:

- **Weekly hours** step in wall-clock time: slot starts are the window's local
  start plus whole multiples of the period, as a person reading the clock on
  the wall would expect ("a class at 09:00, 10:00, 11:00"). A local start that
  does not exist (the gap when clocks go forward) is skipped. A local time that
  happens twice (the hour repeated when clocks go back) takes its first
  occurrence, the offset in force before the transition (PEP 495 ``fold=0``),
  so the repeated hour is offered once. Window bounds that fall in a gap are
  read the same way (``fold=0``, PEP 495's rule for imaginary times).
- **Dated windows** are fixed instants and step in real time from their start.
- Every slot lasts exactly ``period`` of real (elapsed) time, must end by its
  window's end, and is dropped if it would overlap the slot kept before it
  (only possible across a gap, when a wall-clock step is shorter in real time
  than the period).
- A slot whose local start date is a date exception is not offered.

``offered`` then keeps the slots a guest may book: inside the notice and
horizon bounds, with places left, and not overlapping (each widened by the
buffers) a busy interval of the provider that belongs to another slot or a
1:1 booking. The database enforces the same rule on insert.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

MINUTES_PER_DAY = 24 * 60


@dataclass(frozen=True, slots=True, order=True)
class DatedWindow:
    """``[start, end)``, aware UTC datetimes."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True, order=True)
class WeeklyHours:
    """Local opening hours on an ISO weekday (1 = Monday .. 7 = Sunday).

    ``from_minute`` is 0..1439 and ``to_minute`` 1..1440 minutes after local
    midnight; a window whose ``to_minute`` is not after ``from_minute`` ends on
    the next day (it crosses midnight; equal values make a 24-hour window).
    """

    weekday: int
    from_minute: int
    to_minute: int

    @property
    def crosses_midnight(self) -> bool:
        return self.to_minute <= self.from_minute

    @property
    def length_minutes(self) -> int:
        end = self.to_minute + (MINUTES_PER_DAY if self.crosses_midnight else 0)
        return end - self.from_minute


@dataclass(frozen=True, slots=True)
class SlotRules:
    """When an event type runs: dated windows and/or weekly hours, minus days off."""

    dated_windows: tuple[DatedWindow, ...] = ()
    weekly_hours: tuple[WeeklyHours, ...] = ()
    date_exceptions: frozenset[date] = frozenset()


@dataclass(frozen=True, slots=True, order=True)
class Slot:
    """A slot ``[start, end)`` in aware UTC."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class BusyInterval:
    """Time the provider is committed: an active booking's busy range and its slot id
    (its own id for a 1:1 booking)."""

    start: datetime
    end: datetime
    slot_id: UUID


@dataclass(frozen=True, slots=True)
class OfferedSlot:
    start: datetime
    end: datetime
    capacity: int
    remaining: int


def local_start(naive: datetime, zone: ZoneInfo) -> datetime | None:
    """The UTC instant of a local wall-clock start, or ``None`` if that local time does
    not exist in ``zone`` (a gap). An ambiguous time takes ``fold=0`` (PEP 495)."""
    aware = naive.replace(tzinfo=zone, fold=0)
    instant = aware.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != naive:
        return None
    return instant


def local_bound(naive: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local window bound (``fold=0``, also inside a gap)."""
    return naive.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time())


def _weekly_windows(
    rules: SlotRules, zone: ZoneInfo, first_day: date, last_day: date
) -> Iterator[tuple[datetime, datetime]]:
    """Local (naive) ``[from, to)`` of every weekly window opening on a day in range."""
    day = first_day
    while day <= last_day:
        weekday = day.isoweekday()
        for hours in rules.weekly_hours:
            if hours.weekday == weekday:
                opens = _midnight(day) + timedelta(minutes=hours.from_minute)
                yield opens, opens + timedelta(minutes=hours.length_minutes)
        day += timedelta(days=1)


def _wall_clock_slots(
    opens: datetime, closes: datetime, zone: ZoneInfo, period: timedelta
) -> Iterator[Slot]:
    end_bound = local_bound(closes, zone)
    previous_end: datetime | None = None
    step = opens
    while step < closes:
        start = local_start(step, zone)
        if start is not None:
            end = start + period
            if end > end_bound:
                return  # fold=0 readings are monotonic: later steps end later still
            if previous_end is None or start >= previous_end:
                yield Slot(start, end)
                previous_end = end
        step += period


def _real_time_slots(window: DatedWindow, period: timedelta) -> Iterator[Slot]:
    start = window.start
    while start + period <= window.end:
        yield Slot(start, start + period)
        start += period


def generate_slots(
    rules: SlotRules, *, zone: ZoneInfo, period: timedelta, start: datetime, end: datetime
) -> list[Slot]:
    """Every slot the rules define that starts in ``[start, end)`` (aware datetimes),
    ascending by start, without duplicates (see the module docstring)."""
    found: set[Slot] = set()
    # A window opening the day before the range may cross midnight into it.
    first_day = start.astimezone(zone).date() - timedelta(days=1)
    last_day = end.astimezone(zone).date()
    for opens, closes in _weekly_windows(rules, zone, first_day, last_day):
        for slot in _wall_clock_slots(opens, closes, zone, period):
            if slot.start >= end:
                break
            if slot.start >= start:
                found.add(slot)
    for window in rules.dated_windows:
        if window.end <= start or window.start >= end:
            continue
        for slot in _real_time_slots(window, period):
            if slot.start >= end:
                break
            if slot.start >= start:
                found.add(slot)
    exceptions = rules.date_exceptions
    return sorted(s for s in found if s.start.astimezone(zone).date() not in exceptions)


def offered(
    slots: Sequence[Slot],
    *,
    capacity: int,
    booked: Mapping[datetime, int],
    busy: Sequence[BusyInterval],
    buffer_before: timedelta,
    buffer_after: timedelta,
    slot_id_of: Callable[[datetime], UUID],
    earliest: datetime,
    latest: datetime,
) -> list[OfferedSlot]:
    """The slots (ascending) a guest may book now.

    A slot is offered when ``earliest <= start < latest`` (now plus the minimum
    notice, now plus the horizon), it has places left (``capacity`` minus
    ``booked[start]``), and no busy interval of another slot overlaps it
    widened by the buffers. ``busy`` may be in any order. One sweep over both
    lists: O((n + m) log m).
    """
    intervals = sorted(busy, key=lambda b: b.start)
    pending = 0
    # Busy intervals that began before the current slot's widened end and have
    # not ended by its widened start: (end, slot id), smallest end first.
    current: list[tuple[datetime, UUID]] = []
    ids: Counter[UUID] = Counter()
    result: list[OfferedSlot] = []
    for slot in slots:
        wide_start, wide_end = slot.start - buffer_before, slot.end + buffer_after
        while pending < len(intervals) and intervals[pending].start < wide_end:
            interval = intervals[pending]
            heapq.heappush(current, (interval.end, interval.slot_id))
            ids[interval.slot_id] += 1
            pending += 1
        while current and current[0][0] <= wide_start:
            _, gone = heapq.heappop(current)
            ids[gone] -= 1
        if not earliest <= slot.start < latest:
            continue
        remaining = capacity - booked.get(slot.start, 0)
        if remaining <= 0:
            continue
        if len(current) > ids[slot_id_of(slot.start)]:
            continue  # another booking of the provider overlaps it
        result.append(OfferedSlot(slot.start, slot.end, capacity, remaining))
    return result
