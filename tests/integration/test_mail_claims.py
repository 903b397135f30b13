"""booking-core's mail calls on their own, over gRPC against the shared booking-core:
what a job holds, and that a delivery's claim is decided once however many
workers ask at the same moment (one statement in autocommit, with a second read
only when two claims race)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from bookings_common.events import BOOKING_CANCELLED, BOOKING_CREATED
from bookings_proto.bookings import v1 as pb
from grpclib.client import Channel
from grpclib.const import Status
from grpclib.exceptions import GRPCError
from sqlalchemy.ext.asyncio import AsyncEngine

from .conftest import SERVICE
from .harness import eventually

pytestmark = pytest.mark.integration

WORKER = pb.Actor(service="mail-worker")


@pytest.fixture
def mail(channel: Channel) -> pb.MailServiceStub:
    return pb.MailServiceStub(channel, timeout=10)


async def booked(
    stub: pb.BookingServiceStub, provider: pb.Provider, customer: pb.Customer
) -> tuple[str, dict[str, int]]:
    """A new booking of ``customer`` with ``provider``, cancelled; its id and the ids
    of its created and cancelled events."""
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(
        days=3, hours=uuid.uuid4().int % 500
    )
    created = await stub.create_booking(
        pb.CreateBookingRequest(
            actor=pb.Actor(customer_id=customer.id),
            provider_id=provider.id,
            customer_id=customer.id,
            start_time=start,
            end_time=start + timedelta(minutes=30),
        )
    )
    assert created.booking is not None
    booking_id = created.booking.id
    await stub.cancel_booking(
        pb.CancelBookingRequest(actor=pb.Actor(customer_id=customer.id), booking_id=booking_id)
    )
    listed = await stub.list_events(pb.ListEventsRequest(actor=SERVICE, customer_id=customer.id))
    ids = {e.type: e.id for e in listed.events if e.booking_id == booking_id}
    return booking_id, ids


async def test_a_job_holds_its_booking_details_and_invitation_per_event(
    stub: pb.BookingServiceStub,
    mail: pb.MailServiceStub,
    provider: pb.Provider,
    customer: pb.Customer,
) -> None:
    booking_id, events = await booked(stub, provider, customer)

    created = (
        await mail.get_mail_job(
            pb.GetMailJobRequest(actor=WORKER, event_id=events[BOOKING_CREATED])
        )
    ).job
    cancelled = (
        await mail.get_mail_job(
            pb.GetMailJobRequest(actor=WORKER, event_id=events[BOOKING_CANCELLED])
        )
    ).job

    assert created is not None and cancelled is not None
    assert created.kind == pb.MailKind.CREATED and cancelled.kind == pb.MailKind.CANCELLED
    assert created.booking is not None and created.booking.id == booking_id
    # The booking as it is now (cancelled); the invitation of the version each event made.
    assert created.booking.status == pb.BookingStatus.CANCELLED
    assert (created.version, cancelled.version) == (1, 2)
    assert (created.invitation_method, cancelled.invitation_method) == ("REQUEST", "CANCEL")
    assert "SEQUENCE:1" in created.invitation_ics and "SEQUENCE:2" in cancelled.invitation_ics
    assert created.summary == f"Appointment with {provider.name}"
    assert created.time_zone == "Europe/Berlin"
    assert created.provider_name == provider.name
    assert [(r.role, r.email, r.name) for r in created.recipients] == [
        ("customer", customer.email, customer.name)
    ]


async def test_no_job_for_an_unknown_event_and_only_services_ask(
    stub: pb.BookingServiceStub,
    mail: pb.MailServiceStub,
    provider: pb.Provider,
    customer: pb.Customer,
) -> None:
    _, events = await booked(stub, provider, customer)
    with pytest.raises(GRPCError) as unknown:
        await mail.get_mail_job(pb.GetMailJobRequest(actor=WORKER, event_id=2**62))
    assert unknown.value.status is Status.NOT_FOUND
    with pytest.raises(GRPCError) as not_service:
        await mail.claim_mail_delivery(
            pb.ClaimMailDeliveryRequest(
                actor=pb.Actor(customer_id=customer.id),
                event_id=events[BOOKING_CREATED],
                recipient=customer.email,
            )
        )
    assert not_service.value.status is Status.PERMISSION_DENIED
    with pytest.raises(GRPCError) as stranger:
        await mail.claim_mail_delivery(
            pb.ClaimMailDeliveryRequest(
                actor=WORKER, event_id=events[BOOKING_CREATED], recipient="someone@else.example"
            )
        )
    assert stranger.value.status is Status.INVALID_ARGUMENT


async def test_of_many_simultaneous_claims_one_wins_then_done_after_sent(
    stub: pb.BookingServiceStub,
    mail: pb.MailServiceStub,
    provider: pb.Provider,
    customer: pb.Customer,
) -> None:
    _, events = await booked(stub, provider, customer)
    event_id = events[BOOKING_CREATED]

    def claim() -> pb.ClaimMailDeliveryRequest:
        # The address as the worker may spell it: claims match it case-insensitively.
        return pb.ClaimMailDeliveryRequest(
            actor=WORKER, event_id=event_id, recipient=customer.email.upper()
        )

    claims = await asyncio.gather(*(mail.claim_mail_delivery(claim()) for _ in range(24)))

    outcomes = [c.outcome for c in claims]
    assert outcomes.count(pb.ClaimMailOutcome.CLAIMED) == 1
    assert outcomes.count(pb.ClaimMailOutcome.BUSY) == 23
    winner = next(c for c in claims if c.outcome == pb.ClaimMailOutcome.CLAIMED)
    assert winner.message_id.startswith("<") and winner.message_id.endswith(">")
    # Every loser saw the winner's delivery.
    assert {(c.delivery_id, c.message_id) for c in claims} == {
        (winner.delivery_id, winner.message_id)
    }

    # A retry releases it: the next claim takes it over with the same Message-ID.
    await mail.finish_mail_delivery(
        pb.FinishMailDeliveryRequest(
            actor=WORKER,
            delivery_id=winner.delivery_id,
            result=pb.MailDeliveryResult.RETRY,
            error="451 try again",
        )
    )
    again = await mail.claim_mail_delivery(claim())
    assert again.outcome == pb.ClaimMailOutcome.CLAIMED
    assert (again.delivery_id, again.message_id) == (winner.delivery_id, winner.message_id)

    await mail.finish_mail_delivery(
        pb.FinishMailDeliveryRequest(
            actor=WORKER, delivery_id=again.delivery_id, result=pb.MailDeliveryResult.SENT
        )
    )
    done = await mail.claim_mail_delivery(claim())
    assert done.outcome == pb.ClaimMailOutcome.DONE
    assert (done.delivery_id, done.message_id) == (winner.delivery_id, winner.message_id)
    # A finished delivery is no live claim any more.
    with pytest.raises(GRPCError) as finished:
        await mail.finish_mail_delivery(
            pb.FinishMailDeliveryRequest(
                actor=WORKER, delivery_id=again.delivery_id, result=pb.MailDeliveryResult.SENT
            )
        )
    assert finished.value.status is Status.NOT_FOUND
    # Completing the job twice is harmless.
    for _ in range(2):
        await mail.complete_mail_job(pb.CompleteMailJobRequest(actor=WORKER, event_id=event_id))


async def test_a_claim_that_waited_on_another_workers_insert_sees_it_busy(
    stub: pb.BookingServiceStub,
    mail: pb.MailServiceStub,
    provider: pb.Provider,
    customer: pb.Customer,
    engine: AsyncEngine,
) -> None:
    """The claim statement's own snapshot predates a delivery that another claim inserted
    while it waited on the unique key: it reads that delivery with a second query."""
    booking_id, events = await booked(stub, provider, customer)
    event_id = events[BOOKING_CREATED]
    other_id = uuid.uuid4()
    async with engine.connect() as other:
        await other.execute(
            sa.text(
                "INSERT INTO mail_deliveries (id, event_id, booking_id, version, kind, recipient,"
                " state, message_id, claimed_at) VALUES (:id, :event, :booking, 1, 'created',"
                " :recipient, 'claimed', '<other@worker>', now())"
            ),
            {"id": other_id, "event": event_id, "booking": booking_id, "recipient": customer.email},
        )
        pending = asyncio.create_task(
            mail.claim_mail_delivery(
                pb.ClaimMailDeliveryRequest(
                    actor=WORKER, event_id=event_id, recipient=customer.email
                )
            )
        )

        async def waiting_on_the_key() -> bool:
            waits = await engine.connect()
            try:
                locked = await waits.scalar(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                        " AND query LIKE '%mail_deliveries%' AND datname = current_database()"
                    )
                )
            finally:
                await waits.close()
            return bool(locked)

        await eventually(waiting_on_the_key, timeout=10)
        assert not pending.done()
        await other.commit()
    claim = await asyncio.wait_for(pending, 10)
    assert claim.outcome == pb.ClaimMailOutcome.BUSY
    assert (claim.delivery_id, claim.message_id) == (str(other_id), "<other@worker>")


async def test_a_job_with_its_claims_and_a_result_that_completes_it_two_calls(
    stub: pb.BookingServiceStub,
    mail: pb.MailServiceStub,
    provider: pb.Provider,
    customer: pb.Customer,
    engine: AsyncEngine,
) -> None:
    _, events = await booked(stub, provider, customer)
    event_id = events[BOOKING_CREATED]

    async def job_state() -> str | None:
        async with engine.connect() as conn:
            state = await conn.scalar(
                sa.text("SELECT state FROM mail_jobs WHERE event_id = :id"), {"id": event_id}
            )
        return None if state is None else str(state)

    await eventually(job_state)  # the dispatcher recorded the job
    started = await mail.get_mail_job(
        pb.GetMailJobRequest(actor=WORKER, event_id=event_id, claim=True)
    )
    assert started.job is not None
    assert [r.email for r in started.job.recipients] == [customer.email]
    [claim] = started.claims
    assert claim.outcome == pb.ClaimMailOutcome.CLAIMED
    # Asked again, the job comes with the same delivery, busy now.
    again = await mail.get_mail_job(
        pb.GetMailJobRequest(actor=WORKER, event_id=event_id, claim=True)
    )
    assert [(c.outcome, c.delivery_id) for c in again.claims] == [
        (pb.ClaimMailOutcome.BUSY, claim.delivery_id)
    ]
    # Without `claim`, nothing is claimed.
    plain = await mail.get_mail_job(pb.GetMailJobRequest(actor=WORKER, event_id=event_id))
    assert plain.claims == []

    assert await job_state() == "enqueued"
    await mail.finish_mail_delivery(
        pb.FinishMailDeliveryRequest(
            actor=WORKER,
            delivery_id=claim.delivery_id,
            result=pb.MailDeliveryResult.SENT,
            complete_job=True,
        )
    )
    assert await job_state() == "done"
    done = await mail.get_mail_job(
        pb.GetMailJobRequest(actor=WORKER, event_id=event_id, claim=True)
    )
    assert [c.outcome for c in done.claims] == [pb.ClaimMailOutcome.DONE]
