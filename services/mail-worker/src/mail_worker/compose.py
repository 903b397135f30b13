"""Building one booking email with the standard ``email`` package.

Structure (RFC 2046 multiparts; the calendar parts as RFC 6047 describes)::

    multipart/mixed
      multipart/alternative
        text/plain                      the text template
        text/html                       the HTML template (autoescaped)
        text/calendar; method=REQUEST   the invitation, for calendar clients
      application/ics; name=invite.ics  the same invitation, as an attachment

Headers are set through ``email.policy.SMTP``'s header registry (each header class
built once, ``policy.CachedHeaderRegistry``): names go into
``Address`` objects (quoted and RFC 2047-encoded as needed) and every value is
flattened to one line first, so a name with CR, LF or ``Bcc:`` in it stays
inside its own header.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Final
from urllib.parse import quote
from zoneinfo import ZoneInfo

from bookings_proto.bookings import v1 as pb
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from .policy import SMTP_POLICY

TEMPLATES: Final = Path(__file__).parent / "templates"
MAX_SUBJECT: Final = 200
_environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


class InvalidRecipient(ValueError):
    """The recipient's address cannot be written in a header: no retry can help."""


def one_line(text: str) -> str:
    """``text`` with every control character (CR, LF, TAB, ...) as a space, runs of
    whitespace collapsed."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


@dataclass(frozen=True, slots=True)
class Sender:
    """``MAIL_FROM`` and ``PUBLIC_BASE_URL``."""

    name: str
    address: str
    public_base_url: str


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ValueError, KeyError):
        return ZoneInfo("UTC")


def when(start: datetime, end: datetime, time_zone: str, *, dash: str = "\u2013") -> str:
    """``Fri 4 Dec 2026, 18:00–19:00 CET`` in ``time_zone`` (with the end's date when it
    ends on another day)."""
    zone = _zone(time_zone)
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    day = f"{local_start:%a} {local_start.day} {local_start:%b %Y}"
    until = f"{local_end:%H:%M}"
    if local_end.date() != local_start.date() and local_end - local_start >= timedelta(0):
        until = f"{local_end:%a} {local_end.day} {local_end:%b %Y}, {until}"
    return f"{day}, {local_start:%H:%M}{dash}{until} {local_start.tzname()}"


_SUBJECTS: Final = {
    (pb.MailKind.CREATED, False): "Confirmed: {summary}, {when}",
    (pb.MailKind.CREATED, True): "New booking: {summary} with {attendee}, {when}",
    (pb.MailKind.CANCELLED, False): "Cancelled: {summary}, {when}",
    (pb.MailKind.CANCELLED, True): "Cancelled: {summary} with {attendee}, {when}",
    (pb.MailKind.REMINDER, False): "Reminder: {summary}, {when}",
    (pb.MailKind.REMINDER, True): "Reminder: {summary} with {attendee}, {when}",
}


def manage_url(base_url: str, reference: str, token: str) -> str:
    """A guest's manage page (as the gateway links it)."""
    return f"{base_url}/manage/{quote(reference, safe='')}?token={quote(token, safe='')}"


def compose(
    job: pb.MailJob, recipient: pb.MailRecipient, message_id: str, sender: Sender
) -> EmailMessage:
    """The message of ``job`` to ``recipient``; raises ``InvalidRecipient``."""
    booking = job.booking
    if booking is None or booking.start_time is None or booking.end_time is None:
        raise ValueError("a mail job always carries its booking's times")
    for_provider = recipient.role == "provider"
    attendee = next((r for r in job.recipients if r.role != "provider"), recipient)
    context = {
        "kind": job.kind.name.lower(),
        "for_provider": for_provider,
        "recipient_name": one_line(recipient.name),
        "attendee_name": one_line(attendee.name) or attendee.email,
        "attendee_email": attendee.email,
        "summary": one_line(job.summary),
        "when": when(booking.start_time, booking.end_time, job.time_zone),
        "time_zone": job.time_zone or "UTC",
        "location": one_line(job.location),
        "description": job.description.replace("\r\n", "\n").replace("\r", "\n"),
        "provider_name": one_line(job.provider_name),
        "reference": job.reference,
        "manage_url": (
            manage_url(sender.public_base_url, job.reference, job.manage_token)
            if job.manage_token and not for_provider
            else ""
        ),
        "cancel_reason": one_line(booking.cancel_reason or ""),
        # What the provider needs to know of a guest (never in the guest's own copy).
        "guest_phone": booking.guest.phone if for_provider and booking.guest else "",
        "special_requests": (
            booking.guest.special_requests if for_provider and booking.guest else ""
        ),
    }
    subject = _SUBJECTS[(job.kind, for_provider)].format(
        summary=context["summary"],
        attendee=context["attendee_name"],
        # An ASCII dash: Python folds a long header with an encoded word badly.
        when=when(booking.start_time, booking.end_time, job.time_zone, dash="-"),
    )
    message = EmailMessage(policy=SMTP_POLICY)
    try:
        message["To"] = Address(
            display_name=one_line(recipient.name), addr_spec=one_line(recipient.email)
        )
    except (ValueError, IndexError) as exc:  # email.errors.HeaderParseError is a ValueError
        raise InvalidRecipient(f"invalid recipient address: {exc}") from None
    message["From"] = Address(display_name=sender.name, addr_spec=sender.address)
    message["Subject"] = one_line(subject)[:MAX_SUBJECT]
    message["Date"] = format_datetime(datetime.now().astimezone())
    message["Message-ID"] = message_id
    # RFC 3834: automatic replies must not answer this.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(_environment.get_template("message.txt").render(context))
    message.add_alternative(
        _environment.get_template("message.html").render(context), subtype="html"
    )
    method = job.invitation_method or "REQUEST"
    message.add_alternative(
        job.invitation_ics, subtype="calendar", params={"method": method}, cte="base64"
    )
    message.add_attachment(
        job.invitation_ics.encode(),
        maintype="application",
        subtype="ics",
        filename="invite.ics",
    )
    return message
