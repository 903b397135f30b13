"""A check of an iCalendar object against what RFC 5545 requires (and what RFC 5546's
REQUEST and CANCEL add), used by the unit and integration tests on every invitation
we generate. It parses with ``icalendar`` and then checks the rules the library does
not enforce; it raises ``AssertionError`` naming the first rule broken."""

from __future__ import annotations

from datetime import datetime

import icalendar

# RFC 5545, section 3.6.1 (VEVENT inside a VCALENDAR with a METHOD: DTSTART is required).
EVENT_REQUIRED = ("UID", "DTSTAMP", "DTSTART")
# RFC 5546, section 3.2.2 (REQUEST) and 3.2.5 (CANCEL).
ITIP_REQUIRED = {
    "REQUEST": ("ATTENDEE", "ORGANIZER", "SEQUENCE", "SUMMARY"),
    "CANCEL": ("ATTENDEE", "ORGANIZER", "SEQUENCE"),
}


def check_rfc5545(text: str) -> icalendar.Calendar:
    """Parse ``text`` and check it; return the parsed calendar."""
    raw = text.encode()
    # Section 3.1: lines end in CRLF and are folded at 75 octets.
    assert raw.endswith(b"\r\n"), "content lines end with CRLF"
    for line in raw.split(b"\r\n"):
        assert b"\n" not in line and b"\r" not in line, f"a bare CR or LF: {line!r}"
        assert len(line) <= 75, f"a line longer than 75 octets: {line!r}"
    calendar = icalendar.Calendar.from_ical(text)
    assert calendar.name == "VCALENDAR"
    # Section 3.6: PRODID and VERSION are required, once.
    assert str(calendar.get("PRODID", "")), "VCALENDAR has a PRODID"
    assert str(calendar.get("VERSION")) == "2.0", "VERSION:2.0"
    method = str(calendar.get("METHOD", ""))
    events = calendar.walk("VEVENT")
    assert len(events) == 1, "one VEVENT"
    event = events[0]
    for name in EVENT_REQUIRED:
        assert name in event, f"VEVENT has {name}"
    for name in ITIP_REQUIRED.get(method, ()):
        assert name in event, f"METHOD:{method} needs {name}"
    if method == "CANCEL":
        assert str(event.get("STATUS")) == "CANCELLED", "a CANCEL is STATUS:CANCELLED"
    start = event.decoded("DTSTART")
    assert isinstance(start, datetime) and start.tzinfo is not None, "DTSTART is a date-time"
    # Section 3.6.1: DTEND, if present, is later than DTSTART.
    if "DTEND" in event:
        assert event.decoded("DTEND") > start, "DTEND after DTSTART"
    stamp = event.decoded("DTSTAMP")
    assert stamp.utcoffset().total_seconds() == 0, "DTSTAMP is in UTC"
    # Section 3.2.19: every TZID used has its VTIMEZONE, with its required parts.
    zones = {str(zone["TZID"]): zone for zone in calendar.walk("VTIMEZONE")}
    for name in ("DTSTART", "DTEND"):
        tzid = event[name].params.get("TZID") if name in event else None
        if tzid:
            assert tzid in zones, f"a VTIMEZONE for {tzid}"
    for zone in zones.values():
        observances = [c for c in zone.subcomponents if c.name in ("STANDARD", "DAYLIGHT")]
        assert observances, "a VTIMEZONE has STANDARD or DAYLIGHT"
        for observance in observances:
            for name in ("DTSTART", "TZOFFSETFROM", "TZOFFSETTO"):
                assert name in observance, f"{observance.name} has {name}"
    return calendar
