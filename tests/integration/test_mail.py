"""Mail end to end: booking-core's dispatcher, the mail worker started with the
``dramatiq`` command, the reminder worker, a real SMTP server (aiosmtpd, in this
process) that can refuse, go away or have the worker killed mid-send, and the
gateway's ``.ics`` and mail-failure routes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import asyncpg
import icalendar
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from bookings_common.grpc import create_channel
from bookings_proto.bookings import v1 as pb
from gateway.app import create_app as create_gateway
from grpclib.client import Channel

from tests.rfc5545 import check_rfc5545

from .conftest import SERVICE, fresh_database, gateway_settings
from .harness import (
    INTERNAL_TOKEN,
    CoreProcess,
    MailWorkerProcess,
    RedisProcess,
    WorkerProcess,
    eventually,
    free_port,
    make_token,
)
from .test_identity import bearer, login, new_organisation, new_user

pytestmark = pytest.mark.integration

LEAD_SECONDS = 60
LEASE_SECONDS = 3
CORE_ENV = {
    "REMINDER_LEAD_SECONDS": str(LEAD_SECONDS),
    "REMINDER_SCHEDULER_INTERVAL_SECONDS": "0.5",
    "MAIL_DISPATCH_INTERVAL_SECONDS": "0.2",
    "MAIL_REDELIVERY_SECONDS": "4",
    "MAIL_CLAIM_LEASE_SECONDS": str(LEASE_SECONDS),
    "MAIL_FROM": "Test Bookings <bookings@mail.example>",
}
WORKER_ENV = {
    "MAIL_FROM": "Test Bookings <bookings@mail.example>",
    "PUBLIC_BASE_URL": "https://book.test",
    "MAIL_RETRY_MAX_BACKOFF_SECONDS": "1",
    "SMTP_TIMEOUT_SECONDS": "3",
}


@dataclass
class Received:
    envelope_to: list[str]
    message: EmailMessage


@dataclass
class SmtpRecorder:
    """aiosmtpd handler keeping every message; ``replies`` answer RCPT TO for an address
    (consumed one per attempt, the last one kept) and ``on_data`` runs on each message
    before it is accepted."""

    received: list[Received] = field(default_factory=list)
    replies: dict[str, list[str]] = field(default_factory=dict)
    on_data: Callable[[EmailMessage], None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        with self.lock:
            queued = self.replies.get(address)
            reply = (queued.pop(0) if len(queued) > 1 else queued[0]) if queued else None
        if reply is not None and not reply.startswith("250"):
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        message = message_from_bytes(envelope.content, policy=default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.received.append(Received(list(envelope.rcpt_tos), message))
        if self.on_data is not None:
            self.on_data(message)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [r.message for r in self.received if address in r.envelope_to]


class SmtpServer:
    """The recorder behind an aiosmtpd ``Controller`` (its own thread) on a fixed port,
    which can be stopped and started again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.recorder = SmtpRecorder()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@dataclass
class MailStack:
    database_url: str
    core: CoreProcess
    worker: MailWorkerProcess
    smtp: SmtpServer
    channel: Channel
    log_dir: Path

    @property
    def bookings(self) -> pb.BookingServiceStub:
        return pb.BookingServiceStub(self.channel, timeout=10)

    @property
    def event_types(self) -> pb.EventTypeServiceStub:
        return pb.EventTypeServiceStub(self.channel, timeout=10)

    async def customer(self) -> pb.Customer:
        reply = await self.bookings.register_customer(
            pb.RegisterCustomerRequest(
                actor=SERVICE,
                name="Carl Customer",
                email=f"carl.{uuid.uuid4().hex[:8]}@example.com",
            )
        )
        assert reply.customer is not None
        return reply.customer

    async def provider_user(self, organisation_id: str | None = None) -> pb.User:
        """A provider with a staff account (so with an email), in Europe/Berlin."""
        organisation_id = organisation_id or await new_organisation(self.channel)
        return await new_user(
            self.channel,
            organisation_id,
            "provider",
            email=f"anna.{uuid.uuid4().hex[:8]}@clinic.example",
        )

    async def appointment(
        self, provider_id: str, customer_id: str, *, starts_in: timedelta
    ) -> pb.Booking:
        start = datetime.now(UTC) + starts_in
        reply = await self.bookings.create_booking(
            pb.CreateBookingRequest(
                actor=SERVICE,
                provider_id=provider_id,
                customer_id=customer_id,
                start_time=start,
                end_time=start + timedelta(minutes=30),
            )
        )
        assert reply.booking is not None
        return reply.booking

    async def deliveries(self, booking_id: str) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.database_url)
        try:
            return list(
                await conn.fetch(
                    "SELECT kind, recipient, state, attempts, last_error, message_id "
                    "FROM mail_deliveries WHERE booking_id = $1 ORDER BY created_at",
                    uuid.UUID(booking_id),
                )
            )
        finally:
            await conn.close()


@pytest.fixture(scope="module")
async def mail(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[MailStack]:
    log_dir = tmp_path_factory.mktemp("mail")
    async with fresh_database() as database_url:
        redis = RedisProcess(log_dir)
        redis.start()
        smtp = SmtpServer()
        smtp.start()
        core = CoreProcess(database_url, redis.url, log_dir / "core.log", **CORE_ENV)
        await core.start()
        reminders = WorkerProcess(core.port, redis.url, log_dir / "reminder-worker.log")
        await reminders.start()
        worker = MailWorkerProcess(
            core.port, redis.url, log_dir / "mail-worker.log", smtp_port=smtp.port, **WORKER_ENV
        )
        await worker.start()
        channel = create_channel(f"127.0.0.1:{core.port}", internal_token=INTERNAL_TOKEN)
        try:
            yield MailStack(database_url, core, worker, smtp, channel, log_dir)
        finally:
            channel.close()
            worker.stop()
            reminders.terminate()
            core.terminate()
            smtp.stop()
            redis.stop()


@pytest.fixture
async def gateway(mail: MailStack, aiohttp_client: Any) -> Any:
    settings = gateway_settings(mail.core, public_booking_rate_limit_per_minute=1_000_000)
    return await aiohttp_client(create_gateway(settings))


async def messages_to(
    mail: MailStack, address: str, count: int, *, within: float = 30, settle: float = 1.5
) -> list[EmailMessage]:
    """Wait until ``address`` has ``count`` messages, then a little longer, and return all
    it got (so a test sees a duplicate that would follow)."""

    async def arrived() -> bool:
        return len(mail.smtp.recorder.to(address)) >= count

    await eventually(arrived, timeout=within, interval=0.1)
    await asyncio.sleep(settle)
    return mail.smtp.recorder.to(address)


def invitation(message: EmailMessage) -> tuple[icalendar.Calendar, icalendar.Event, str]:
    """The message's ``text/calendar`` part, checked, which must equal its invite.ics."""
    alternative = next(message.iter_parts())
    parts = list(alternative.iter_parts())
    calendar_part = next(p for p in parts if p.get_content_type() == "text/calendar")
    text = calendar_part.get_content()
    attachment = next(message.iter_attachments())
    assert attachment.get_filename() == "invite.ics"
    assert attachment.get_content_disposition() == "attachment"
    assert attachment.get_content().decode() == text
    calendar = check_rfc5545(text)
    assert calendar_part.get_param("method") == str(calendar["METHOD"])
    return calendar, calendar.walk("VEVENT")[0], text


def subject(message: EmailMessage) -> str:
    return str(message["Subject"]).strip()


async def test_create_reminder_and_cancel_each_mail_both_sides_once(mail: MailStack) -> None:
    provider = await mail.provider_user()
    customer = await mail.customer()
    # Its reminder falls due about three seconds from now.
    booking = await mail.appointment(
        provider.provider_id, customer.id, starts_in=timedelta(seconds=LEAD_SECONDS + 3)
    )
    await messages_to(mail, customer.email, 2, settle=0)
    await messages_to(mail, provider.email, 2, settle=0)
    await mail.bookings.cancel_booking(
        pb.CancelBookingRequest(actor=SERVICE, booking_id=booking.id, reason="ill")
    )
    for address, name in ((customer.email, customer.name), (provider.email, provider.display_name)):
        got = await messages_to(mail, address, 3)
        assert len(got) == 3, [subject(m) for m in got]
        kinds = {subject(m).split(":")[0]: m for m in got}
        assert set(kinds) in (
            {"Confirmed", "Reminder", "Cancelled"},
            {"New booking", "Reminder", "Cancelled"},
        )
        for message in got:
            assert message["To"].addresses[0].addr_spec == address
            assert message["To"].addresses[0].display_name == name
            assert message["From"].addresses[0].addr_spec == "bookings@mail.example"
        assert len({m["Message-ID"] for m in got}) == 3
        assert all(str(m["Message-ID"]).endswith("@mail.example>") for m in got)
        ordered = sorted(
            (invitation(m) for m in got),
            key=lambda i: (int(i[1]["SEQUENCE"]), str(i[0]["METHOD"]) == "CANCEL"),
        )
        assert [str(c["METHOD"]) for c, _, _ in ordered] == ["REQUEST", "REQUEST", "CANCEL"]
        assert [int(e["SEQUENCE"]) for _, e, _ in ordered] == [1, 1, 2]
        assert {str(e["UID"]) for _, e, _ in ordered} == {booking.id}
        assert str(ordered[-1][1]["STATUS"]) == "CANCELLED"
        assert str(ordered[0][1]["ORGANIZER"]) == f"mailto:{provider.email}"
        assert str(ordered[0][1]["ATTENDEE"]) == f"mailto:{customer.email}"
        # The appointment is in the provider's zone, Europe/Berlin.
        assert ordered[0][1]["DTSTART"].params["TZID"] == "Europe/Berlin"
        assert ordered[0][1].decoded("DTSTART").astimezone(UTC).replace(
            microsecond=0
        ) == booking.start_time.replace(microsecond=0)
    rows = await mail.deliveries(booking.id)
    assert sorted((r["kind"], r["state"]) for r in rows) == sorted(
        [(kind, "sent") for kind in ("created", "reminder", "cancelled")] * 2
    )


async def _dst_event_type(mail: MailStack, provider: pb.User, **spec: Any) -> pb.EventType:
    values: dict[str, Any] = {
        "name": "Night yoga",
        "description": "Bring a mat.",
        "location": "Studio 2",
        "time_zone": "Europe/Berlin",
        "period_minutes": 60,
        "capacity": 5,
        "booking_horizon_days": 200,
        "weekly_hours": [
            pb.WeeklyHours(weekday=pb.Weekday.SUNDAY, from_time="01:00", to_time="05:00")
        ],
        **spec,
    }
    reply = await mail.event_types.create_event_type(
        pb.CreateEventTypeRequest(
            actor=pb.Actor(provider_id=provider.provider_id), spec=pb.EventTypeSpec(**values)
        )
    )
    assert reply.event_type is not None
    return reply.event_type


def _guest(**fields: Any) -> dict[str, Any]:
    return {
        "firstName": "Ada",
        "lastName": "Lovelace",
        "email": f"ada.{uuid.uuid4().hex[:8]}@example.com",
        "phone": "+49 30 1234567",
        **fields,
    }


async def test_a_guest_booking_on_a_dst_day_and_its_ics_routes(
    mail: MailStack, gateway: Any
) -> None:
    provider = await mail.provider_user()
    event_type = await _dst_event_type(mail, provider)
    # 28 March 2027 in Berlin: 01:00 CET, then 03:00 and 04:00 CEST (02:00 does not exist).
    slots = await mail.event_types.list_slots(
        pb.ListSlotsRequest(
            actor=pb.Actor(guest=True),
            slug=event_type.slug,
            from_time=datetime(2027, 3, 27, 23, 0, tzinfo=UTC),
            to_time=datetime(2027, 3, 28, 4, 0, tzinfo=UTC),
        )
    )
    starts = [s.start.astimezone(UTC) for s in slots.slots]
    assert starts[:3] == [datetime(2027, 3, 28, h, 0, tzinfo=UTC) for h in (0, 1, 2)]
    guest = _guest()
    response = await gateway.post(
        f"/public/event-types/{event_type.slug}/bookings",
        json={"slotStart": "2027-03-28T01:00:00Z", **guest},
    )
    assert response.status == 201, await response.text()
    created = await response.json()
    token = created["manageUrl"].split("token=")[1]

    (message,) = await messages_to(mail, guest["email"], 1)
    (to_provider,) = await messages_to(mail, provider.email, 1, settle=0)
    _, event, text = invitation(message)
    assert "DTSTART;TZID=Europe/Berlin:20270328T030000" in text
    assert "DTEND;TZID=Europe/Berlin:20270328T040000" in text
    assert event.decoded("DTSTART").astimezone(UTC) == datetime(2027, 3, 28, 1, 0, tzinfo=UTC)
    assert str(event["SUMMARY"]) == "Night yoga" and str(event["LOCATION"]) == "Studio 2"
    body = message.get_body(("plain",)).get_content()
    assert "Sun 28 Mar 2027, 03:00–04:00 CEST (Europe/Berlin)" in body
    assert f"https://book.test/manage/{created['reference']}?token={token}" in body
    assert created["reference"] in body
    assert "token=" not in to_provider.get_body(("plain",)).get_content()
    assert str(invitation(to_provider)[1]["UID"]) == created["bookingId"]

    # The manage link's .ics, the provider's, and what others get.
    ics = await gateway.get(f"/public/bookings/{created['reference']}.ics", params={"token": token})
    assert ics.status == 200
    assert ics.headers["Content-Type"].startswith("text/calendar")
    assert 'method="REQUEST"' in ics.headers["Content-Type"]
    assert ics.headers["Content-Disposition"] == 'attachment; filename="invite.ics"'
    assert ics.headers["Cache-Control"] == "private, no-store"
    live = check_rfc5545(await ics.text()).walk("VEVENT")[0]
    assert str(live["UID"]) == created["bookingId"] and int(live["SEQUENCE"]) == 1
    wrong = await gateway.get(
        f"/public/bookings/{created['reference']}.ics", params={"token": "x" * 20}
    )
    assert wrong.status == 404
    assert (await wrong.json())["code"] == "NOT_FOUND"
    missing = await gateway.get(f"/public/bookings/{created['reference']}.ics")
    assert missing.status == 400
    own = {"Authorization": f"Bearer {make_token('provider', provider.provider_id)}"}
    mine = await gateway.get(f"/bookings/{created['bookingId']}.ics", headers=own)
    assert mine.status == 200 and "UID:" + created["bookingId"] in await mine.text()
    other = await mail.provider_user()
    others = {"Authorization": f"Bearer {make_token('provider', other.provider_id)}"}
    assert (
        await gateway.get(f"/bookings/{created['bookingId']}.ics", headers=others)
    ).status == 404
    assert (await gateway.get(f"/bookings/{created['bookingId']}.ics")).status == 401
    assert (await gateway.get("/bookings/not-a-uuid.ics", headers=own)).status == 400
    # The .ics route did not shadow the booking itself.
    assert (await gateway.get(f"/bookings/{created['bookingId']}", headers=own)).status == 200

    cancel = await gateway.post(
        f"/public/bookings/{created['reference']}/cancel", params={"token": token}, json={}
    )
    assert cancel.status == 200
    got = await messages_to(mail, guest["email"], 2)
    assert len(got) == 2
    _, gone, _ = invitation(got[1])
    assert (str(gone["UID"]), int(gone["SEQUENCE"]), str(gone["STATUS"])) == (
        created["bookingId"],
        2,
        "CANCELLED",
    )
    after = await gateway.get(
        f"/public/bookings/{created['reference']}.ics", params={"token": token}
    )
    assert 'method="CANCEL"' in after.headers["Content-Type"]
    assert "METHOD:CANCEL" in await after.text()


async def test_hostile_guest_fields_inject_no_header_and_no_markup(
    mail: MailStack, gateway: Any
) -> None:
    provider = await mail.provider_user()
    event_type = await _dst_event_type(
        mail,
        provider,
        name="Yoga <b>class</b>",
        description="Line one\nBcc: victim@evil.example\n<script>alert(1)</script>",
    )
    slot = "2027-03-28T01:00:00Z"
    crlf = _guest(firstName="Eve\r\nBcc: victim@evil.example")
    refused = await gateway.post(
        f"/public/event-types/{event_type.slug}/bookings", json={"slotStart": slot, **crlf}
    )
    assert refused.status == 400
    assert (await refused.json())["code"] == "VALIDATION_FAILED"

    hostile = _guest(
        firstName="<img src=x onerror=alert(1)>",
        lastName="Bcc: victim@evil.example",
        specialRequests="<script>alert(2)</script>\nBcc: victim@evil.example",
    )
    response = await gateway.post(
        f"/public/event-types/{event_type.slug}/bookings", json={"slotStart": slot, **hostile}
    )
    assert response.status == 201, await response.text()
    (message,) = await messages_to(mail, hostile["email"], 1)
    await messages_to(mail, provider.email, 1)
    received = [r for r in mail.smtp.recorder.received if hostile["email"] in r.envelope_to]
    assert [r.envelope_to for r in received] == [[hostile["email"]]]
    assert not mail.smtp.recorder.to(crlf["email"])
    assert not mail.smtp.recorder.to("victim@evil.example")
    assert message["Bcc"] is None and message["Cc"] is None
    assert [a.addr_spec for a in message["To"].addresses] == [hostile["email"]]
    html = message.get_body(("html",)).get_content()
    assert "<script>" not in html and "<img" not in html and "<b>class" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Yoga &lt;b&gt;class&lt;/b&gt;" in html
    provider_html = mail.smtp.recorder.to(provider.email)[0].get_body(("html",)).get_content()
    assert "&lt;img src=x onerror=alert(1)&gt;" in provider_html and "<img" not in provider_html
    # The provider's copy shows the guest's special requests, escaped.
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in provider_html
    assert "<script>" not in provider_html
    _, event, _ = invitation(message)
    assert str(event["SUMMARY"]) == "Yoga <b>class</b>"
    assert "Bcc: victim@evil.example" in str(event["DESCRIPTION"])


async def test_an_smtp_server_down_for_a_while_delays_mail_and_loses_or_repeats_none(
    mail: MailStack,
) -> None:
    provider = await mail.provider_user()
    customers = [await mail.customer() for _ in range(3)]
    mail.smtp.stop()
    try:
        bookings = [
            await mail.appointment(provider.provider_id, c.id, starts_in=timedelta(days=3, hours=i))
            for i, c in enumerate(customers)
        ]

        async def attempted() -> bool:
            rows = await mail.deliveries(bookings[0].id)
            return any(r["last_error"] for r in rows)

        await eventually(attempted, timeout=20)
        await asyncio.sleep(5)  # several more retries against nothing
        assert not any(mail.smtp.recorder.to(c.email) for c in customers)
        rows = await mail.deliveries(bookings[0].id)
        assert all(r["state"] == "claimed" for r in rows)
    finally:
        mail.smtp.start()
    for customer in customers:
        assert len(await messages_to(mail, customer.email, 1, settle=0)) == 1
    provider_mail = await messages_to(mail, provider.email, 3)
    assert len(provider_mail) == 3
    for customer in customers:
        assert len(mail.smtp.recorder.to(customer.email)) == 1
    for booking in bookings:
        rows = await mail.deliveries(booking.id)
        assert [r["state"] for r in rows] == ["sent", "sent"]
        assert all(r["attempts"] >= 1 for r in rows)


async def test_a_4xx_reply_is_retried_and_a_5xx_is_given_up_and_shown_to_admins(
    mail: MailStack, gateway: Any
) -> None:
    organisation = await new_organisation(mail.channel)
    admin = await new_user(mail.channel, organisation, "admin")
    provider = await mail.provider_user(organisation)
    later, gone = await mail.customer(), await mail.customer()
    mail.smtp.recorder.replies[later.email] = ["451 4.3.0 Try again later"] * 2 + ["250 OK"]
    mail.smtp.recorder.replies[gone.email] = ["550 5.1.1 <gone>: mailbox unavailable"]
    deferred = await mail.appointment(provider.provider_id, later.id, starts_in=timedelta(days=2))
    refused = await mail.appointment(
        provider.provider_id, gone.id, starts_in=timedelta(days=2, hours=1)
    )
    assert len(await messages_to(mail, later.email, 1)) == 1
    await messages_to(mail, provider.email, 2, settle=0)

    async def failed() -> bool:
        rows = await mail.deliveries(refused.id)
        return any(r["state"] == "failed" for r in rows)

    await eventually(failed, timeout=20)
    await asyncio.sleep(2.5)  # no retry follows a permanent failure
    (row,) = [r for r in await mail.deliveries(refused.id) if r["recipient"] == gone.email]
    assert (row["state"], row["attempts"]) == ("failed", 1)
    assert row["last_error"].startswith("550 5.1.1")
    (ok,) = [r for r in await mail.deliveries(deferred.id) if r["recipient"] == later.email]
    assert ok["state"] == "sent" and ok["attempts"] == 3 and ok["last_error"] is None

    admin_headers = bearer(await login(gateway, admin.email))
    response = await gateway.get("/admin/mail-failures", headers=admin_headers)
    assert response.status == 200, await response.text()
    items = (await response.json())["items"]
    assert [(i["bookingId"], i["recipient"], i["kind"]) for i in items] == [
        (refused.id, gone.email, "created")
    ]
    assert items[0]["error"].startswith("550 5.1.1") and items[0]["attempts"] == 1
    outsider = await new_user(mail.channel, await new_organisation(mail.channel), "admin")
    theirs = await gateway.get(
        "/admin/mail-failures", headers=bearer(await login(gateway, outsider.email))
    )
    assert (await theirs.json())["items"] == []
    as_provider = {"Authorization": f"Bearer {make_token('provider', provider.provider_id)}"}
    assert (await gateway.get("/admin/mail-failures", headers=as_provider)).status == 403
    bad = await gateway.get("/admin/mail-failures", params={"limit": "0"}, headers=admin_headers)
    assert bad.status == 400


async def test_a_worker_killed_between_send_and_mark_repeats_a_message_at_most_once(
    mail: MailStack,
) -> None:
    provider = await mail.provider_user()
    victim = await mail.customer()
    killed = threading.Event()

    def kill_mid_send(message: EmailMessage) -> None:
        # The server has the message; the worker dies before it hears "250" or marks it.
        if victim.email in str(message["To"]) and not killed.is_set():
            killed.set()
            assert mail.worker.process is not None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(mail.worker.process.pid, 9)

    mail.smtp.recorder.on_data = kill_mid_send
    try:
        booking = await mail.appointment(
            provider.provider_id, victim.id, starts_in=timedelta(days=2)
        )
        await eventually(lambda: asyncio.sleep(0, killed.is_set()), timeout=20)
        mail.worker.wait_exit(10)
        rows = await mail.deliveries(booking.id)
        assert any(r["state"] == "claimed" for r in rows)
        await mail.worker.start()
        # The lease ends, the dispatcher hands the job out again, the claim is taken over.
        got = await messages_to(mail, victim.email, 2, within=30, settle=2)
    finally:
        mail.smtp.recorder.on_data = None
    assert len(got) == 2
    assert got[0]["Message-ID"] == got[1]["Message-ID"]
    rows = await mail.deliveries(booking.id)
    (mine,) = [r for r in rows if r["recipient"] == victim.email]
    assert mine["state"] == "sent" and mine["attempts"] == 2
    assert mine["message_id"] == str(got[0]["Message-ID"])
    provider_mail = mail.smtp.recorder.to(provider.email)
    assert 1 <= len(provider_mail) <= 2
    assert len({m["Message-ID"] for m in provider_mail}) == 1
