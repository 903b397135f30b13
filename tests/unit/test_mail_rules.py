"""Mail without I/O: recipients, the invitation (RFC 5545 / 5546), the message built
from it (headers, parts, escaping) and one job's delivery against fakes of its ports."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from booking_core.adapters.invitations import render_invitation
from booking_core.domain.guests import Guest
from booking_core.domain.mail import (
    BookingDetails,
    InvitationMethod,
    Party,
    RecipientRole,
    invitation_for,
    recipients_of,
)
from booking_core.domain.model import Booking, BookingStatus
from bookings_proto.bookings import v1 as pb
from mail_worker.compose import InvalidRecipient, Sender, compose, when
from mail_worker.delivery import RetryLater, deliver
from mail_worker.smtp import SmtpFailure

from tests.rfc5545 import check_rfc5545

BERLIN = ZoneInfo("Europe/Berlin")
SENDER = Party("bookings@example.com", "Bookings")
# 28 March 2027: clocks in Berlin go from 02:00 CET to 03:00 CEST.
DST_DAY_START = datetime(2027, 3, 28, 1, 30, tzinfo=BERLIN)  # 00:30 UTC, CET
DST_DAY_END = datetime(2027, 3, 28, 3, 30, tzinfo=BERLIN)  # 01:30 UTC, CEST


def booking(**changes: Any) -> Booking:
    made = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "provider_id": uuid.uuid4(),
        "customer_id": uuid.uuid4(),
        "start_time": DST_DAY_START.astimezone(UTC),
        "end_time": DST_DAY_END.astimezone(UTC),
        "status": BookingStatus.CONFIRMED,
        "version": 1,
        "created_at": made,
        "updated_at": made,
        **changes,
    }
    return Booking(**values)


def details(**changes: Any) -> BookingDetails:
    values: dict[str, Any] = {
        "summary": "Yoga class",
        "description": "Bring a mat.",
        "location": "Studio 2, Berlin",
        "time_zone": "Europe/Berlin",
        "provider_name": "Dr. Anna Berg",
        "provider_email": "anna@clinic.example",
        "customer": Party("carl@example.com", "Carl"),
        **changes,
    }
    return BookingDetails(**values)


def cancelled(made: Booking) -> Booking:
    made.cancel(now=datetime(2026, 12, 3, 9, 0, tzinfo=UTC), reason="ill")
    return made


# --- recipients --------------------------------------------------------------------------


def test_recipients_are_the_guest_or_customer_and_the_providers_staff_address() -> None:
    guest = Guest("Ada", "Lovelace", "ada@example.com", "+49301234567")
    with_guest = recipients_of(booking(guest=guest, reference="7KQ2M9XD"), details())
    assert [(r.role, r.party.email) for r in with_guest] == [
        (RecipientRole.GUEST, "ada@example.com"),
        (RecipientRole.PROVIDER, "anna@clinic.example"),
    ]
    assert with_guest[0].party.name == "Ada Lovelace"
    customer = recipients_of(booking(), details(provider_email=None))
    assert [(r.role, r.party.email) for r in customer] == [
        (RecipientRole.CUSTOMER, "carl@example.com")
    ]
    # A provider booking themselves gets one message, not two.
    same = recipients_of(booking(), details(customer=Party("ANNA@clinic.example", "Anna")))
    assert len(same) == 1


# --- the invitation ----------------------------------------------------------------------


def test_create_then_cancel_keep_the_uid_and_raise_the_sequence() -> None:
    made = booking()
    request = invitation_for(made, details(), sender=SENDER)
    gone = invitation_for(cancelled(made), details(), sender=SENDER)
    assert request.uid == gone.uid == str(made.id)
    assert (request.method, request.sequence, request.cancelled) == (
        InvitationMethod.REQUEST,
        1,
        False,
    )
    assert (gone.method, gone.sequence, gone.cancelled) == (InvitationMethod.CANCEL, 2, True)
    # The version it was made in renders as it was, even once cancelled.
    as_made = invitation_for(made, details(), sender=SENDER, version=1)
    assert as_made.method is InvitationMethod.REQUEST and as_made.sequence == 1


def test_the_rendered_invitation_follows_rfc5545_with_local_times_on_a_dst_day() -> None:
    made = booking()
    text = render_invitation(invitation_for(made, details(), sender=SENDER))
    calendar = check_rfc5545(text)
    assert str(calendar["METHOD"]) == "REQUEST"
    event = calendar.walk("VEVENT")[0]
    assert "DTSTART;TZID=Europe/Berlin:20270328T013000" in text
    assert "DTEND;TZID=Europe/Berlin:20270328T033000" in text
    assert event.decoded("DTSTART").astimezone(UTC) == datetime(2027, 3, 28, 0, 30, tzinfo=UTC)
    assert event.decoded("DTEND").astimezone(UTC) == datetime(2027, 3, 28, 1, 30, tzinfo=UTC)
    # Two hours on the wall clock, one in real time: 02:00 does not exist that night.
    assert event.decoded("DTEND").astimezone(UTC) - event.decoded("DTSTART").astimezone(
        UTC
    ) == timedelta(hours=1)
    # The VTIMEZONE carries the spring-forward rule the event spans.
    (zone,) = calendar.walk("VTIMEZONE")
    assert str(zone["TZID"]) == "Europe/Berlin"
    assert "RDATE:20270328T030000" in text or "DTSTART:20270328T030000" in text
    assert str(event["ORGANIZER"]) == "mailto:anna@clinic.example"
    attendee = event["ATTENDEE"]
    assert str(attendee) == "mailto:carl@example.com"
    assert attendee.params["RSVP"] == "TRUE" and attendee.params["PARTSTAT"] == "NEEDS-ACTION"
    assert int(event["SEQUENCE"]) == 1 and str(event["STATUS"]) == "CONFIRMED"

    cancel = check_rfc5545(
        render_invitation(invitation_for(cancelled(made), details(), sender=SENDER))
    )
    assert str(cancel["METHOD"]) == "CANCEL"
    gone = cancel.walk("VEVENT")[0]
    assert str(gone["UID"]) == str(event["UID"]) and int(gone["SEQUENCE"]) == 2
    assert str(gone["STATUS"]) == "CANCELLED"


def test_utc_bookings_are_written_in_utc_without_a_vtimezone() -> None:
    text = render_invitation(
        invitation_for(booking(), details(time_zone="UTC", provider_email=None), sender=SENDER)
    )
    calendar = check_rfc5545(text)
    assert "DTSTART:20270328T003000Z" in text and not calendar.walk("VTIMEZONE")
    # No staff address: the sender organizes, under the provider's name.
    organizer = calendar.walk("VEVENT")[0]["ORGANIZER"]
    assert str(organizer) == "mailto:bookings@example.com"
    assert organizer.params["CN"] == "Dr. Anna Berg"


def test_hostile_text_cannot_add_properties_or_parameters() -> None:
    hostile = details(
        summary='Yoga\r\nATTENDEE:mailto:eve@evil.example;,"',
        description="Line one\r\nBEGIN:VEVENT\r\nUID:evil",
        location="Room\nORGANIZER:mailto:eve@evil.example",
        provider_name='Anna "X"\r\nBcc: eve@evil.example',
        customer=Party("carl@example.com", 'Carl";RSVP=FALSE:mailto:eve@evil.example'),
    )
    text = render_invitation(invitation_for(booking(), hostile, sender=SENDER))
    calendar = check_rfc5545(text)
    event = calendar.walk("VEVENT")[0]
    assert len(calendar.walk("VEVENT")) == 1
    assert "evil" not in str(event["UID"])
    attendees = event.get("ATTENDEE")
    assert not isinstance(attendees, list), "one attendee only"
    assert str(attendees) == "mailto:carl@example.com" and attendees.params["RSVP"] == "TRUE"
    assert str(event["ORGANIZER"]) == "mailto:anna@clinic.example"
    assert "Bcc" in event["ORGANIZER"].params["CN"]  # kept as text, inside the parameter
    assert str(event["DESCRIPTION"]).startswith("Line one\nBEGIN:VEVENT")


# --- the message -------------------------------------------------------------------------


def job_pb(**changes: Any) -> pb.MailJob:
    made = booking()
    ics = render_invitation(invitation_for(made, details(), sender=SENDER))
    values: dict[str, Any] = {
        "event_id": 7,
        "kind": pb.MailKind.CREATED,
        "booking": pb.Booking(id=str(made.id), start_time=made.start_time, end_time=made.end_time),
        "version": 1,
        "summary": "Yoga class",
        "location": "Studio 2",
        "description": "Bring a mat.",
        "time_zone": "Europe/Berlin",
        "provider_name": "Dr. Anna Berg",
        "recipients": [
            pb.MailRecipient(role="guest", email="ada@example.com", name="Ada Lovelace"),
            pb.MailRecipient(role="provider", email="anna@clinic.example", name="Dr. Anna Berg"),
        ],
        "reference": "7KQ2M9XD",
        "manage_token": "tok-en_1",
        "invitation_ics": ics,
        "invitation_method": "REQUEST",
        **changes,
    }
    return pb.MailJob(**values)


SINK = Sender("Bookings", "bookings@example.com", "https://book.example.com")


def parse(message: EmailMessage) -> EmailMessage:
    """What a receiving server would see."""
    parsed = message_from_bytes(message.as_bytes(), policy=default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_a_message_has_text_html_and_the_invitation_twice() -> None:
    job = job_pb()
    message = parse(compose(job, job.recipients[0], "<m-1@example.com>", SINK))
    assert message["Message-ID"] == "<m-1@example.com>"
    assert message["To"] == "Ada Lovelace <ada@example.com>"
    assert message["From"] == "Bookings <bookings@example.com>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Subject"].strip() == "Confirmed: Yoga class, Sun 28 Mar 2027, 01:30-03:30 CET"
    assert message.get_content_type() == "multipart/mixed"
    alternative, attachment = message.iter_parts()
    types = [part.get_content_type() for part in alternative.iter_parts()]
    assert types == ["text/plain", "text/html", "text/calendar"]
    calendar_part = list(alternative.iter_parts())[2]
    assert calendar_part.get_param("method") == "REQUEST"
    assert attachment.get_content_disposition() == "attachment"
    assert attachment.get_filename() == "invite.ics"
    assert attachment.get_content() == job.invitation_ics.encode()
    check_rfc5545(calendar_part.get_content())
    text = alternative.get_body(("plain",)).get_content()
    assert "Sun 28 Mar 2027, 01:30–03:30 CET (Europe/Berlin)" in text
    assert "https://book.example.com/manage/7KQ2M9XD?token=tok-en_1" in text
    # The provider's copy names the guest and carries no manage link.
    provider = parse(compose(job, job.recipients[1], "<m-2@example.com>", SINK))
    assert provider["Subject"].strip().startswith("New booking: Yoga class with Ada Lovelace")
    provider_text = provider.get_body(("plain",)).get_content()
    assert "ada@example.com" in provider_text and "token=" not in provider_text


def test_a_cancellation_carries_method_cancel() -> None:
    made = cancelled(booking())
    ics = render_invitation(invitation_for(made, details(), sender=SENDER))
    job = job_pb(kind=pb.MailKind.CANCELLED, invitation_ics=ics, invitation_method="CANCEL")
    message = parse(compose(job, job.recipients[0], "<m@example.com>", SINK))
    assert message["Subject"].strip().startswith("Cancelled: Yoga class")
    calendar_part = list(next(message.iter_parts()).iter_parts())[2]
    assert calendar_part.get_param("method") == "CANCEL"
    assert "removes the event" in message.get_body(("plain",)).get_content()


def test_crlf_and_html_in_any_field_neither_inject_headers_nor_markup() -> None:
    evil = "Eve\r\nBcc: victim@evil.example\r\n\r\n<script>alert(1)</script>"
    job = job_pb(
        summary=evil,
        provider_name=evil,
        location=evil,
        description=evil,
        recipients=[pb.MailRecipient(role="guest", email="ada@example.com", name=evil)],
    )
    message = parse(compose(job, job.recipients[0], "<m@example.com>", SINK))
    assert message["Bcc"] is None
    assert message.get_all("To") == [message["To"]]
    assert message["To"].addresses[0].addr_spec == "ada@example.com"
    assert "\n" not in message["Subject"] and "Bcc: victim" in message["Subject"]
    html = message.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    with pytest.raises(InvalidRecipient):
        compose(job, pb.MailRecipient(role="guest", email="not an address"), "<m@x>", SINK)


def test_when_shows_the_end_date_of_an_overnight_booking() -> None:
    start = datetime(2026, 12, 31, 22, 0, tzinfo=UTC)
    assert when(start, start + timedelta(hours=3), "Europe/Berlin") == (
        "Thu 31 Dec 2026, 23:00–Fri 1 Jan 2027, 02:00 CET"
    )
    assert when(start, start + timedelta(hours=1), "") == "Thu 31 Dec 2026, 22:00–23:00 UTC"


# --- one job's delivery, against fakes ----------------------------------------------------


@dataclass
class FakeCore:
    """booking-core's mail calls: one claim record per recipient, like the real table."""

    job: pb.MailJob | None
    states: dict[str, str] = field(default_factory=dict)  # email -> claimed/sent/failed
    errors: dict[str, str] = field(default_factory=dict)
    completed: list[int] = field(default_factory=list)
    finish_failures: int = 0

    claims_with_job: bool = True  # False: a booking-core that predates claiming with it
    calls: list[str] = field(default_factory=list)

    async def start(
        self, event_id: int
    ) -> tuple[pb.MailJob, list[pb.ClaimMailDeliveryResponse]] | None:
        self.calls.append("start")
        if self.job is None:
            return None
        claims = (
            [await self._claim(r.email) for r in self.job.recipients]
            if self.claims_with_job
            else []
        )
        return self.job, claims

    async def claim(self, event_id: int, recipient: str) -> pb.ClaimMailDeliveryResponse:
        self.calls.append("claim")
        return await self._claim(recipient)

    async def _claim(self, recipient: str) -> pb.ClaimMailDeliveryResponse:
        state = self.states.get(recipient)
        if state in ("sent", "failed"):
            outcome = pb.ClaimMailOutcome.DONE
        elif state == "claimed":
            outcome = pb.ClaimMailOutcome.BUSY
        else:
            self.states[recipient] = "claimed"
            outcome = pb.ClaimMailOutcome.CLAIMED
        return pb.ClaimMailDeliveryResponse(
            outcome=outcome, delivery_id=recipient, message_id=f"<{recipient}>"
        )

    async def finish(
        self,
        delivery_id: str,
        result: pb.MailDeliveryResult,
        error: str,
        *,
        complete_job: bool = False,
    ) -> None:
        self.calls.append("finish+complete" if complete_job else "finish")
        if self.finish_failures:
            self.finish_failures -= 1
            raise ConnectionError("booking-core is restarting")
        self.errors[delivery_id] = error
        if result == pb.MailDeliveryResult.RETRY:
            del self.states[delivery_id]
        else:
            self.states[delivery_id] = "sent" if result == pb.MailDeliveryResult.SENT else "failed"
        if complete_job:
            assert self.job is not None
            self.completed.append(self.job.event_id)

    async def complete(self, event_id: int) -> None:
        self.calls.append("complete")
        self.completed.append(event_id)


@dataclass
class FakeMailer:
    failures: dict[str, SmtpFailure] = field(default_factory=dict)
    sent: list[str] = field(default_factory=list)

    async def send(self, message: EmailMessage) -> None:
        to = message["To"].addresses[0].addr_spec
        if to in self.failures:
            raise self.failures[to]
        self.sent.append(to)


def composer(job: pb.MailJob, recipient: pb.MailRecipient, message_id: str) -> EmailMessage:
    return compose(job, recipient, message_id, SINK)


async def test_each_recipient_gets_one_message_however_often_the_job_runs() -> None:
    core, mailer = FakeCore(job_pb()), FakeMailer()
    report = await deliver(core, mailer, composer, 7)
    assert report.sent == ["ada@example.com", "anna@clinic.example"]
    # The job comes with its claims; the last result completes it.
    assert core.calls == ["start", "finish", "finish+complete"]
    again = await deliver(core, mailer, composer, 7)
    assert again.sent == [] and again.already_done == report.sent
    assert mailer.sent == report.sent and core.completed == [7, 7]


async def test_a_one_recipient_job_takes_two_calls() -> None:
    ada = pb.MailRecipient(role="customer", email="ada@example.com", name="Ada")
    core, mailer = FakeCore(job_pb(recipients=[ada])), FakeMailer()
    report = await deliver(core, mailer, composer, 7)
    assert report.sent == ["ada@example.com"] and core.completed == [7]
    assert core.calls == ["start", "finish+complete"]


async def test_a_core_that_does_not_claim_with_the_job_is_asked_per_recipient() -> None:
    core, mailer = FakeCore(job_pb(), claims_with_job=False), FakeMailer()
    report = await deliver(core, mailer, composer, 7)
    assert report.sent == ["ada@example.com", "anna@clinic.example"]
    assert core.calls == ["start", "claim", "finish", "claim", "finish+complete"]
    assert core.completed == [7]


async def test_a_transient_failure_releases_the_claim_and_retries_only_that_recipient() -> None:
    core = FakeCore(job_pb())
    mailer = FakeMailer({"anna@clinic.example": SmtpFailure("451 try later", permanent=False)})
    with pytest.raises(RetryLater, match="451"):
        await deliver(core, mailer, composer, 7)
    assert mailer.sent == ["ada@example.com"] and core.completed == []
    assert "anna@clinic.example" not in core.states  # released: the retry may claim it
    mailer.failures.clear()
    report = await deliver(core, mailer, composer, 7)
    assert report.sent == ["anna@clinic.example"] and report.already_done == ["ada@example.com"]
    assert core.completed == [7]


async def test_a_permanent_failure_is_recorded_and_never_retried() -> None:
    core = FakeCore(job_pb())
    mailer = FakeMailer({"ada@example.com": SmtpFailure("550 no such user", permanent=True)})
    report = await deliver(core, mailer, composer, 7)
    assert report.failed == ["ada@example.com"] and report.sent == ["anna@clinic.example"]
    assert core.states["ada@example.com"] == "failed"
    assert core.errors["ada@example.com"] == "550 no such user"
    assert core.completed == [7]
    assert (await deliver(core, mailer, composer, 7)).already_done == [
        "ada@example.com",
        "anna@clinic.example",
    ]


async def test_a_delivery_claimed_elsewhere_is_left_alone_and_retried() -> None:
    core = FakeCore(job_pb(), states={"ada@example.com": "claimed"})
    mailer = FakeMailer()
    with pytest.raises(RetryLater, match="another worker"):
        await deliver(core, mailer, composer, 7)
    assert mailer.sent == ["anna@clinic.example"] and core.completed == []


async def test_an_unusable_address_fails_for_good_and_the_mark_survives_a_blip() -> None:
    bad = pb.MailRecipient(role="guest", email="no address", name="X")
    core = FakeCore(job_pb(recipients=[bad]), finish_failures=2)
    report = await deliver(core, FakeMailer(), composer, 7)
    assert report.failed == ["no address"] and core.states["no address"] == "failed"
    assert core.completed == [7]


async def test_an_event_without_mail_is_dropped_for_good() -> None:
    core = FakeCore(None)
    report = await deliver(core, FakeMailer(), composer, 7)
    assert report.sent == [] and core.completed == [7]
