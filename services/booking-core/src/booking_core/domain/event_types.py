"""Event types: what a provider publishes behind a public link, and the rules on it.

An event type has a spec (``EventTypeSpec``: name, zone, period, capacity,
buffers, notice, horizon and its ``SlotRules``), an unguessable random slug and
optionally a custom one. ``validate_spec`` checks every bound and raises
``InvalidArgument`` naming the field (proto field names, dotted for
elements: ``weekly_hours[2].to_time``).
"""

from __future__ import annotations

import base64
import itertools
import re
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bookings_common import limits
from bookings_common.events import event_type_channel

from .errors import InvalidArgument
from .model import MAX_NAME_LENGTH
from .slots import MINUTES_PER_DAY, SlotRules, WeeklyHours

MAX_DESCRIPTION_LENGTH: Final = limits.DESCRIPTION_MAX
MAX_LOCATION_LENGTH: Final = limits.LOCATION_MAX
PERIOD_MINUTES: Final = limits.PERIOD_MINUTES
CAPACITY: Final = limits.CAPACITY
BUFFER_MINUTES: Final = limits.BUFFER_MINUTES
NOTICE_MINUTES: Final = limits.NOTICE_MINUTES
HORIZON_DAYS: Final = limits.HORIZON_DAYS
MAX_DATED_WINDOWS: Final = limits.DATED_WINDOWS_MAX
MAX_DATED_WINDOW: Final = timedelta(days=limits.DATED_WINDOW_MAX_DAYS)
MAX_WEEKLY_HOURS: Final = limits.WEEKLY_HOURS_MAX
MAX_DATE_EXCEPTIONS: Final = limits.DATE_EXCEPTIONS_MAX
SLUG_RANDOM_BYTES: Final = 10  # 80 bits, 16 base32 characters
_CUSTOM_SLUG: Final = re.compile(r"[a-z0-9](?:[a-z0-9-]{1,62})[a-z0-9]")
_LOCAL_TIME: Final = re.compile(r"([01]\d|2[0-4]):([0-5]\d)")
_SLOT_NAMESPACE: Final = uuid.UUID("6f1d4c52-5a8e-4d0c-9a39-3e3d3f6b9a21")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

# The spec's fields, by proto field name: what an update mask may name.
SPEC_FIELDS: Final = frozenset(
    {
        "name",
        "description",
        "location",
        "time_zone",
        "period_minutes",
        "capacity",
        "buffer_before_minutes",
        "buffer_after_minutes",
        "minimum_notice_minutes",
        "booking_horizon_days",
        "dated_windows",
        "weekly_hours",
        "date_exceptions",
        "custom_slug",
        "allow_multiple_places_per_guest",
        "allow_member_choice",
    }
)


@dataclass(frozen=True, slots=True)
class EventTypeSpec:
    """What a provider configures (see ``validate_spec`` for the bounds)."""

    name: str
    time_zone: str
    period_minutes: int
    capacity: int
    description: str = ""
    location: str = ""
    buffer_before_minutes: int = 0
    buffer_after_minutes: int = 0
    minimum_notice_minutes: int = 0
    booking_horizon_days: int = 60
    rules: SlotRules = field(default_factory=SlotRules)
    custom_slug: str | None = None
    allow_multiple_places_per_guest: bool = False
    allow_member_choice: bool = False

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def period(self) -> timedelta:
        return timedelta(minutes=self.period_minutes)

    @property
    def buffer_before(self) -> timedelta:
        return timedelta(minutes=self.buffer_before_minutes)

    @property
    def buffer_after(self) -> timedelta:
        return timedelta(minutes=self.buffer_after_minutes)


@dataclass(frozen=True, slots=True)
class EventType:
    """An event type of a provider, or of a team (exactly one of ``provider_id`` and
    ``team_id``). ``slug`` is random and fixed for its whole life; ``organisation_id``
    is its owner's organisation (read only, ``None`` outside any)."""

    id: uuid.UUID
    provider_id: uuid.UUID | None
    spec: EventTypeSpec
    slug: str
    active: bool
    version: int
    created_at: datetime
    updated_at: datetime
    team_id: uuid.UUID | None = None
    organisation_id: uuid.UUID | None = None

    def __post_init__(self) -> None:
        if (self.provider_id is None) == (self.team_id is None):
            raise ValueError("an event type belongs to a provider or to a team")

    @property
    def public_slug(self) -> str:
        """The slug its booking link shows: the custom one if set, else the random one."""
        return self.spec.custom_slug or self.slug

    @property
    def channel(self) -> str:
        """The public event channel of its live availability."""
        return event_type_channel(self.slug)

    def slot_id(self, start: datetime) -> uuid.UUID:
        """The id every place of the slot starting at ``start`` shares."""
        return slot_id(self.id, start)

    def with_spec(self, spec: EventTypeSpec, *, now: datetime) -> EventType:
        return replace(self, spec=spec, version=self.version + 1, updated_at=now)

    def with_active(self, active: bool, *, now: datetime) -> EventType:
        if active == self.active:
            return self
        return replace(self, active=active, version=self.version + 1, updated_at=now)


def slot_id(event_type_id: uuid.UUID, start: datetime) -> uuid.UUID:
    """A deterministic id of (event type, slot start): uuid5 over both."""
    micros = (start - _EPOCH) // timedelta(microseconds=1)
    return uuid.uuid5(_SLOT_NAMESPACE, f"{event_type_id}|{micros}")


def new_slug() -> str:
    """16 lowercase base32 characters of 80 random bits (URL-safe, unguessable)."""
    raw = base64.b32encode(secrets.token_bytes(SLUG_RANDOM_BYTES)).decode()
    return raw.lower().rstrip("=")


def normalize_slug(text: str) -> str:
    """Slugs compare case-insensitively; they are stored lowercase."""
    return text.strip().lower()


def parse_local_time(text: str, field_name: str, *, allow_midnight_end: bool) -> int:
    """``"HH:MM"`` -> minutes after midnight; ``"24:00"`` only as an end."""
    match = _LOCAL_TIME.fullmatch(text)
    if match is None:
        raise InvalidArgument(field_name, 'must be a local time "HH:MM"')
    minutes = int(match.group(1)) * 60 + int(match.group(2))
    if minutes > MINUTES_PER_DAY or (minutes == MINUTES_PER_DAY and not allow_midnight_end):
        raise InvalidArgument(
            field_name, '"24:00" is only allowed as an end' if minutes == 1440 else "out of range"
        )
    return minutes


def format_local_time(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_date(text: str, field_name: str) -> date:
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidArgument(field_name, "must be a date YYYY-MM-DD") from None


def clean_text(value: str, field_name: str, *, maximum: int, minimum: int = 0, lines: bool) -> str:
    """``value`` trimmed, ``minimum``..``maximum`` printable characters (line breaks and
    tabs too when ``lines``); ``InvalidArgument`` naming ``field_name`` otherwise."""
    value = value.strip()
    allowed = "\n\t" if lines else ""
    if not minimum <= len(value) <= maximum or not all(
        c.isprintable() or c in allowed for c in value
    ):
        raise InvalidArgument(field_name, f"must be {minimum} to {maximum} printable characters")
    return value


def _bounded(value: int, field_name: str, bounds: tuple[int, int]) -> int:
    low, high = bounds
    if not low <= value <= high:
        raise InvalidArgument(field_name, f"must be between {low} and {high}")
    return value


def validate_time_zone(name: str, field_name: str = "time_zone") -> str:
    """An IANA time zone name from the tz database; raises ``InvalidArgument``."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory, too long
        raise InvalidArgument(field_name, "must be an IANA time zone name") from None
    if not name or name != name.strip():
        raise InvalidArgument(field_name, "must be an IANA time zone name")
    return name


def validate_custom_slug(text: str | None) -> str | None:
    """``None``/empty for none; else 3..64 of ``[a-z0-9-]`` (any case in), starting and
    ending with a letter or digit. Returns it lowercase."""
    if not text:
        return None
    slug = normalize_slug(text)
    if not _CUSTOM_SLUG.fullmatch(slug) or "--" in slug:
        raise InvalidArgument(
            "custom_slug",
            "must be 3 to 64 letters, digits and single hyphens, starting and ending "
            "with a letter or digit",
        )
    return slug


def _weekly_overlaps(hours: Iterable[WeeklyHours]) -> bool:
    week = 7 * MINUTES_PER_DAY
    spans: list[tuple[int, int]] = []
    for h in hours:
        start = (h.weekday - 1) * MINUTES_PER_DAY + h.from_minute
        end = start + h.length_minutes
        if end > week:  # Sunday night into Monday
            spans += [(start, week), (0, end - week)]
        else:
            spans.append((start, end))
    spans.sort()
    return any(b[0] < a[1] for a, b in itertools.pairwise(spans))


def validate_rules(rules: SlotRules) -> SlotRules:
    """Bounds and non-overlap of each kind of window; returns them normalized (sorted)."""
    if len(rules.dated_windows) > MAX_DATED_WINDOWS:
        raise InvalidArgument("dated_windows", f"at most {MAX_DATED_WINDOWS} windows")
    for i, window in enumerate(rules.dated_windows):
        if window.end <= window.start:
            raise InvalidArgument(f"dated_windows[{i}].end", "must be after start")
        if window.end - window.start > MAX_DATED_WINDOW:
            raise InvalidArgument(
                f"dated_windows[{i}].end",
                f"a window may last at most {limits.DATED_WINDOW_MAX_DAYS} days",
            )
    windows = tuple(sorted(rules.dated_windows))
    if any(b.start < a.end for a, b in itertools.pairwise(windows)):
        raise InvalidArgument("dated_windows", "windows must not overlap")
    if len(rules.weekly_hours) > MAX_WEEKLY_HOURS:
        raise InvalidArgument("weekly_hours", f"at most {MAX_WEEKLY_HOURS} entries")
    for i, hours in enumerate(rules.weekly_hours):
        if not 1 <= hours.weekday <= 7:
            raise InvalidArgument(f"weekly_hours[{i}].weekday", "must be a day of the week")
        if not 0 <= hours.from_minute < MINUTES_PER_DAY:
            raise InvalidArgument(f"weekly_hours[{i}].from_time", "out of range")
        if not 0 < hours.to_minute <= MINUTES_PER_DAY:
            raise InvalidArgument(f"weekly_hours[{i}].to_time", "out of range")
    if _weekly_overlaps(rules.weekly_hours):
        raise InvalidArgument("weekly_hours", "hours must not overlap")
    if len(rules.date_exceptions) > MAX_DATE_EXCEPTIONS:
        raise InvalidArgument("date_exceptions", f"at most {MAX_DATE_EXCEPTIONS} dates")
    return SlotRules(windows, tuple(sorted(rules.weekly_hours)), rules.date_exceptions)


def validate_spec(spec: EventTypeSpec) -> EventTypeSpec:
    """Check every field of ``spec`` and return it normalized (trimmed text, lowercase
    custom slug, sorted windows). Raises ``InvalidArgument`` naming the first bad field."""
    return replace(
        spec,
        name=clean_text(spec.name, "name", minimum=1, maximum=MAX_NAME_LENGTH, lines=False),
        description=clean_text(
            spec.description, "description", maximum=MAX_DESCRIPTION_LENGTH, lines=True
        ),
        location=clean_text(spec.location, "location", maximum=MAX_LOCATION_LENGTH, lines=False),
        time_zone=validate_time_zone(spec.time_zone),
        period_minutes=_bounded(spec.period_minutes, "period_minutes", PERIOD_MINUTES),
        capacity=_bounded(spec.capacity, "capacity", CAPACITY),
        buffer_before_minutes=_bounded(
            spec.buffer_before_minutes, "buffer_before_minutes", BUFFER_MINUTES
        ),
        buffer_after_minutes=_bounded(
            spec.buffer_after_minutes, "buffer_after_minutes", BUFFER_MINUTES
        ),
        minimum_notice_minutes=_bounded(
            spec.minimum_notice_minutes, "minimum_notice_minutes", NOTICE_MINUTES
        ),
        booking_horizon_days=_bounded(
            spec.booking_horizon_days, "booking_horizon_days", HORIZON_DAYS
        ),
        rules=validate_rules(spec.rules),
        custom_slug=validate_custom_slug(spec.custom_slug),
    )


def merge_spec(
    current: EventTypeSpec, update: EventTypeSpec, paths: Iterable[str]
) -> EventTypeSpec:
    """``current`` with the fields named in ``paths`` (proto field names) taken from
    ``update``; raises ``InvalidArgument`` for an unknown path."""
    changes: dict[str, Any] = {}
    rules = current.rules
    for path in paths:
        if path not in SPEC_FIELDS:
            raise InvalidArgument("update_mask", f"unknown field {path!r}")
        if path == "dated_windows":
            rules = replace(rules, dated_windows=update.rules.dated_windows)
        elif path == "weekly_hours":
            rules = replace(rules, weekly_hours=update.rules.weekly_hours)
        elif path == "date_exceptions":
            rules = replace(rules, date_exceptions=update.rules.date_exceptions)
        else:
            changes[path] = getattr(update, path)
    return replace(current, rules=rules, **changes)
