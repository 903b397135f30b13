"""The worker's delivery logic against fakes of its two ports (booking-core, Redis)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from bookings_common.events import EventEnvelope
from bookings_proto.bookings import v1 as pb
from reminder_worker.delivery import deliver

BOOKING = "0b6b3c1e-8f5a-4d2e-9a61-3c2f7d9e4a10"
EVENT = pb.Event(
    id=42,
    type="booking.reminder.due",
    occurred_at=datetime(2030, 1, 1, 9, tzinfo=UTC),
    booking_id=BOOKING,
    data_json=json.dumps({"bookingId": BOOKING}),
)


class FakeCore:
    def __init__(self, *replies: pb.ClaimReminderResponse) -> None:
        self.replies = list(replies)
        self.marked: list[int] = []

    async def claim(self, booking_id: str) -> pb.ClaimReminderResponse:
        assert booking_id == BOOKING
        return self.replies.pop(0)

    async def mark_published(self, event_id: int) -> None:
        self.marked.append(event_id)


class FakeRedis:
    def __init__(self, *, fail: bool = False) -> None:
        self.fail = fail
        self.published: list[EventEnvelope] = []

    async def publish(self, envelope: EventEnvelope) -> None:
        if self.fail:
            raise ConnectionError("redis is down")
        self.published.append(envelope)


async def test_a_claim_is_published_then_marked() -> None:
    core = FakeCore(pb.ClaimReminderResponse(outcome=pb.ClaimOutcome.CLAIMED, event=EVENT))
    redis = FakeRedis()
    outcome = await deliver(core, redis, BOOKING)
    assert outcome.published == 42
    assert [e.id for e in redis.published] == [42] and core.marked == [42]
    assert redis.published[0].data == {"bookingId": BOOKING}


@pytest.mark.parametrize("published", [True, False])
async def test_an_already_sent_reminder_is_never_published_again(published: bool) -> None:
    reply = pb.ClaimReminderResponse(
        outcome=pb.ClaimOutcome.ALREADY_SENT, event=EVENT, published=published
    )
    core, redis = FakeCore(reply), FakeRedis()
    outcome = await deliver(core, redis, BOOKING)
    assert outcome.published is None and redis.published == [] and core.marked == []


async def test_cancelled_is_skipped_and_early_is_rescheduled() -> None:
    core, redis = FakeCore(pb.ClaimReminderResponse(outcome=pb.ClaimOutcome.CANCELLED)), FakeRedis()
    assert (await deliver(core, redis, BOOKING)).published is None
    due = datetime.now(UTC) + timedelta(seconds=5)
    core = FakeCore(pb.ClaimReminderResponse(outcome=pb.ClaimOutcome.NOT_DUE, due_at=due))
    outcome = await deliver(core, redis, BOOKING)
    assert outcome.retry_in_ms is not None and 4000 < outcome.retry_in_ms <= 5000
    assert redis.published == []


async def test_a_failed_publish_raises_so_the_job_is_retried_and_not_marked() -> None:
    core = FakeCore(pb.ClaimReminderResponse(outcome=pb.ClaimOutcome.CLAIMED, event=EVENT))
    with pytest.raises(ConnectionError):
        await deliver(core, FakeRedis(fail=True), BOOKING)
    assert core.marked == []  # the outbox relay will publish the row


async def test_an_unknown_booking_is_dropped_but_other_errors_are_retried() -> None:
    from grpclib.const import Status
    from grpclib.exceptions import GRPCError

    class Failing(FakeCore):
        def __init__(self, status: Status) -> None:
            super().__init__()
            self.status = status

        async def claim(self, booking_id: str) -> pb.ClaimReminderResponse:
            raise GRPCError(self.status, "no")

    redis = FakeRedis()
    assert (await deliver(Failing(Status.NOT_FOUND), redis, BOOKING)).published is None
    with pytest.raises(GRPCError):
        await deliver(Failing(Status.UNAVAILABLE), redis, BOOKING)
    assert redis.published == []
