"""Rendering an ``Invitation`` as RFC 5545 text with the ``icalendar`` library.

The library escapes TEXT values (RFC 5545, section 3.3.11) and quotes parameter
values with RFC 6868's caret encoding, so a name with quotes, commas or line
breaks cannot add a property or a parameter. Times carry a ``TZID`` with a
``VTIMEZONE`` (RFC 5545, section 3.6.5) for the booking's zone, trimmed to a
year either side of the event, or are written in UTC (``...Z``) for UTC.
"""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Final
from zoneinfo import ZoneInfo

import icalendar

from booking_core.domain.mail import Invitation, Party

PRODID: Final = "-//Bookings//Booking Core//EN"
CONTENT_TYPE: Final = "text/calendar"


def _address(party: Party, **params: str) -> icalendar.vCalAddress:
    address = icalendar.vCalAddress(f"mailto:{party.email}")
    if party.name:
        address.params["CN"] = _one_line(party.name)
    address.params.update(params)
    return address


def _one_line(text: str) -> str:
    """Control characters (a CR or LF in a name) become spaces."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def _multi_line(text: str) -> str:
    """Line breaks normalised to LF (the library writes them as ``\\n``); other control
    characters dropped."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join("".join(c for c in line if c.isprintable() or c == "\t") for line in lines)


def render_invitation(invitation: Invitation) -> str:
    """The invitation as one ``VCALENDAR`` (CRLF line endings, folded at 75 octets)."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", invitation.method.value)
    event = icalendar.Event()
    event.add("uid", invitation.uid)
    event.add("dtstamp", invitation.stamp.astimezone(UTC))
    zone = UTC if invitation.time_zone in ("", "UTC", "Etc/UTC") else ZoneInfo(invitation.time_zone)
    event.add("dtstart", invitation.start.astimezone(zone))
    event.add("dtend", invitation.end.astimezone(zone))
    event.add("sequence", invitation.sequence)
    event.add("summary", _one_line(invitation.summary))
    if invitation.description:
        event.add("description", _multi_line(invitation.description))
    if invitation.location:
        event.add("location", _one_line(invitation.location))
    event.add("status", "CANCELLED" if invitation.cancelled else "CONFIRMED")
    event.add("transp", "OPAQUE")
    event.add("organizer", _address(invitation.organizer))
    for attendee in invitation.attendees:
        event.add(
            "attendee",
            _address(
                attendee,
                CUTYPE="INDIVIDUAL",
                ROLE="REQ-PARTICIPANT",
                PARTSTAT="NEEDS-ACTION",
                RSVP="TRUE",
            ),
        )
    calendar.add_component(event)
    if zone is not UTC:
        calendar.add_missing_timezones(
            first_date=(invitation.start - timedelta(days=366)).date(),
            last_date=(invitation.end + timedelta(days=366)).date(),
        )
    text: str = calendar.to_ical().decode()
    return text
