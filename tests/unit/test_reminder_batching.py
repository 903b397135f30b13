"""Reminders due together: the worker's ``Coalescer``, the scheduler's ``group_due``,
``BookingService.claim_reminders`` (against the fakes) and ``deliver_many`` (against
fakes of the worker's ports)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from booking_core.adapters.reminder_scheduler import ReminderScheduler, group_due
from booking_core.domain.commands import (
    CancelBooking,
    ClaimReminder,
    ClaimReminders,
    MarkEventPublished,
)
from booking_core.domain.errors import InvalidArgument, PermissionDenied
from booking_core.domain.model import Actor, Booking, ClaimOutcome
from booking_core.service_layer.handlers import MAX_CLAIM_BATCH
from bookings_common.events import BOOKING_REMINDER_DUE, EventEnvelope
from bookings_common.jobs import (
    REMINDER_ACTOR,
    REMINDER_BATCH_ACTOR,
    REMINDER_BATCH_LIMIT,
    REMINDER_GROUP_MS,
    REMINDER_QUEUE,
)
from bookings_proto.bookings import v1 as pb
from fakes import Harness
from reminder_worker.batching import Coalescer
from reminder_worker.delivery import deliver_many
from test_booking_rules import HOUR, SERVICE, book, slot_from_now

WORKER = Actor.trusted_service("reminder-worker")
LEAD = timedelta(minutes=10)  # BookingRules' default lead


# --- Coalescer --------------------------------------------------------------------------


class Backend:
    """A ``send`` for a Coalescer: records each call's keys; answers ``f"{key}!{call}"``.

    With ``gated``, each call waits for ``release()`` before answering."""

    def __init__(self, *, gated: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.gated = gated
        self.started = asyncio.Event()
        self._gate = asyncio.Event()
        self.fail_next: BaseException | None = None
        self.short_next = False

    def release(self) -> None:
        self._gate.set()

    async def __call__(self, keys: Sequence[str]) -> list[str]:
        self.calls.append(list(keys))
        call = len(self.calls)
        self.started.set()
        if self.gated:
            await self._gate.wait()
            self._gate.clear()
        if self.fail_next is not None:
            exc, self.fail_next = self.fail_next, None
            raise exc
        answers = [f"{key}!{call}" for key in keys]
        if self.short_next:
            self.short_next = False
            return answers[:-1]
        return answers


async def spin(times: int = 5) -> None:
    """Let the event loop run a few rounds, without any timer."""
    for _ in range(times):
        await asyncio.sleep(0)


async def test_a_lone_ask_is_sent_at_once() -> None:
    backend = Backend()
    coalescer: Coalescer[str, str] = Coalescer(backend, limit=10)
    started = time.monotonic()
    asking = asyncio.create_task(coalescer("a"))
    await spin()  # no timer in the way: a few loop rounds are enough
    assert backend.calls == [["a"]]
    assert asking.done() and asking.result() == "a!1"
    assert time.monotonic() - started < 0.05
    assert coalescer.batches == 1


async def test_asks_made_while_a_call_is_in_flight_go_together_next() -> None:
    backend = Backend(gated=True)
    coalescer: Coalescer[str, str] = Coalescer(backend, limit=10)
    first = asyncio.create_task(coalescer("a"))
    await asyncio.wait_for(backend.started.wait(), 1)
    later = [asyncio.create_task(coalescer(key)) for key in ("b", "c", "d")]
    await spin()
    assert backend.calls == [["a"]]  # the others wait for the call in flight
    backend.release()
    assert await first == "a!1"
    await spin()
    assert backend.calls == [["a"], ["b", "c", "d"]]
    backend.release()
    assert await asyncio.gather(*later) == ["b!2", "c!2", "d!2"]
    assert coalescer.batches == 2


async def test_the_limit_caps_each_call() -> None:
    backend = Backend()
    coalescer: Coalescer[str, str] = Coalescer(backend, limit=3)
    keys = [f"k{n}" for n in range(7)]
    answers = await asyncio.gather(*(coalescer(key) for key in keys))
    assert backend.calls == [["k0", "k1", "k2"], ["k3", "k4", "k5"], ["k6"]]
    assert answers == ["k0!1", "k1!1", "k2!1", "k3!2", "k4!2", "k5!2", "k6!3"]


async def test_a_key_asked_twice_goes_in_two_calls_with_an_answer_each() -> None:
    backend = Backend()
    coalescer: Coalescer[str, str] = Coalescer(backend, limit=10)
    answers = await asyncio.gather(coalescer("x"), coalescer("y"), coalescer("x"))
    assert backend.calls == [["x", "y"], ["x"]]  # never twice in one call
    assert list(answers) == ["x!1", "y!1", "x!2"]  # each asker its own answer


async def test_an_error_reaches_every_asker_of_its_batch_and_later_batches_work() -> None:
    backend = Backend(gated=True)
    coalescer: Coalescer[str, str] = Coalescer(backend, limit=10)
    first = asyncio.create_task(coalescer("a"))
    await asyncio.wait_for(backend.started.wait(), 1)
    second = [asyncio.create_task(coalescer(key)) for key in ("b", "c")]
    await spin()
    backend.fail_next = ConnectionError("core is down")
    backend.release()  # the first call fails
    with pytest.raises(ConnectionError, match="core is down"):
        await first
    await spin()
    assert backend.calls == [["a"], ["b", "c"]]
    backend.fail_next = ConnectionError("still down")
    backend.release()  # and the second
    for task in second:
        with pytest.raises(ConnectionError, match="still down"):
            await task
    backend.gated = False
    assert await coalescer("a") == "a!3"
    assert list(await asyncio.gather(coalescer("d"), coalescer("e"))) == ["d!4", "e!4"]


async def test_a_wrong_number_of_results_raises_for_the_askers() -> None:
    backend = Backend()
    backend.short_next = True
    coalescer: Coalescer[str, str] = Coalescer(backend, limit=10)
    results = await asyncio.gather(coalescer("a"), coalescer("b"), return_exceptions=True)
    assert backend.calls == [["a", "b"]]
    assert all(isinstance(r, RuntimeError) for r in results), results
    assert await coalescer("c") == "c!2"  # the next call works


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="limit"):
        Coalescer(Backend(), limit=0)


# --- group_due --------------------------------------------------------------------------

T0 = 2_000_000_000.0


def ids_of(groups: list[list[tuple[str, float]]]) -> list[list[str]]:
    return [[booking_id for booking_id, _ in group] for group in groups]


def test_no_jobs_no_groups() -> None:
    assert group_due([]) == []


def test_one_job_one_group() -> None:
    assert group_due([("a", T0)]) == [[("a", T0)]]


def test_jobs_10_ms_apart_are_grouped() -> None:
    jobs = [(f"b{n}", T0 + n * 0.010) for n in range(5)]  # the last 40 ms after the first
    assert group_due(jobs) == [jobs]


def test_a_gap_beyond_the_group_window_starts_a_new_group() -> None:
    assert REMINDER_GROUP_MS == 50
    jobs = [("a", T0), ("b", T0 + 0.030), ("c", T0 + 0.049), ("d", T0 + 0.120), ("e", T0 + 0.2)]
    assert ids_of(group_due(jobs)) == [["a", "b", "c"], ["d"], ["e"]]


def test_the_window_runs_from_the_groups_first_job() -> None:
    # Each job 30 ms after the one before: the third is 60 ms after the first.
    jobs = [(f"b{n}", T0 + n * 0.030) for n in range(5)]
    assert ids_of(group_due(jobs)) == [["b0", "b1"], ["b2", "b3"], ["b4"]]


def test_a_burst_at_one_second_is_cut_into_groups_of_the_batch_limit() -> None:
    assert REMINDER_BATCH_LIMIT == 500
    jobs = [(f"b{n}", T0) for n in range(1200)]
    groups = group_due(jobs)
    assert [len(group) for group in groups] == [500, 500, 200]
    assert [job for group in groups for job in group] == jobs  # in order, none lost


class RecordingBroker:
    def __init__(self) -> None:
        self.sent: list[tuple[Any, int | None]] = []

    def enqueue(self, message: Any, *, delay: int | None = None) -> Any:
        self.sent.append((message, delay))
        return message


def test_a_group_is_sent_when_its_last_reminder_is_due() -> None:
    broker = RecordingBroker()
    scheduler = ReminderScheduler(
        None,  # type: ignore[arg-type]  # _enqueue needs no database
        broker,  # type: ignore[arg-type]
        lambda: datetime.now(UTC),
        horizon=timedelta(seconds=60),
        redeliver_after=timedelta(seconds=15),
    )
    now = time.time()
    jobs = [
        ("past-1", now - 5.0),
        ("past-2", now - 4.99),
        ("g-1", now + 10.0),
        ("g-2", now + 10.02),
        ("g-3", now + 10.04),
        ("alone", now + 20.0),
    ]
    before = time.time()
    scheduler._enqueue(jobs)
    elapsed_ms = (time.time() - before) * 1000 + 1
    assert len(broker.sent) == 3
    (past, past_delay), (group, group_delay), (alone, alone_delay) = broker.sent

    assert past.actor_name == REMINDER_BATCH_ACTOR and past.args == (["past-1", "past-2"],)
    assert past_delay is None  # due already: no delay
    assert group.actor_name == REMINDER_BATCH_ACTOR
    assert group.args == (["g-1", "g-2", "g-3"],)
    assert group_delay is not None
    assert 10_040 - elapsed_ms <= group_delay <= 10_040  # the last one's due time
    assert alone.actor_name == REMINDER_ACTOR and alone.args == ("alone",)
    assert alone_delay is not None and 20_000 - elapsed_ms <= alone_delay <= 20_000
    assert {m.queue_name for m, _ in broker.sent} == {REMINDER_QUEUE}


# --- BookingService.claim_reminders -----------------------------------------------------


async def booking_in(h: Harness, start_in: timedelta) -> Booking:
    """A booking of a provider of its own, starting ``start_in`` from now."""
    return await book(h, h.provider(), h.customer(), slot_from_now(h, start_in))


def reminder_events(h: Harness) -> list[Any]:
    return [e for e in h.db.events if e.type == BOOKING_REMINDER_DUE]


async def test_a_batch_gives_each_booking_its_outcome_in_request_order(h: Harness) -> None:
    due_1 = await booking_in(h, HOUR)
    due_2 = await booking_in(h, HOUR)
    sent = await booking_in(h, HOUR)
    cancelled = await booking_in(h, HOUR)
    not_due = await booking_in(h, 3 * HOUR)
    await h.service.cancel_booking(CancelBooking(SERVICE, cancelled.id, None))
    h.clock.advance(HOUR - LEAD)  # due_1, due_2, sent and cancelled are due now
    earlier = await h.service.claim_reminder(ClaimReminder(WORKER, sent.id))
    assert earlier.outcome is ClaimOutcome.CLAIMED and earlier.event is not None
    unknown = uuid4()
    commits, uows, published = h.db.commits, len(h.uows.instances), len(h.publisher.events)
    events_before = list(h.db.events)

    ids = (not_due.id, due_2.id, unknown, cancelled.id, sent.id, due_1.id)
    results = await h.service.claim_reminders(ClaimReminders(WORKER, ids))

    assert len(results) == len(ids)
    r_not_due, r_due_2, r_unknown, r_cancelled, r_sent, r_due_1 = results
    assert r_unknown is None
    assert r_not_due is not None and r_not_due.outcome is ClaimOutcome.NOT_DUE
    assert r_not_due.due_at == not_due.start_time - LEAD and r_not_due.event is None
    assert r_cancelled is not None and r_cancelled.outcome is ClaimOutcome.CANCELLED
    assert r_cancelled.event is None
    assert r_sent is not None and r_sent.outcome is ClaimOutcome.ALREADY_SENT
    assert r_sent.event == earlier.event and not r_sent.published
    for booking, result in ((due_1, r_due_1), (due_2, r_due_2)):
        assert result is not None and result.outcome is ClaimOutcome.CLAIMED
        assert not result.published and result.due_at == booking.start_time - LEAD
        assert result.event is not None and result.event.type == BOOKING_REMINDER_DUE
        assert result.event.booking_id == booking.id
        assert result.event.data == booking.reminder_data()

    # One transaction, every existing reminder locked, one commit appending the two events.
    assert len(h.uows.instances) == uows + 1
    assert sorted(h.uows.instances[-1].locked) == sorted(
        [not_due.id, due_2.id, cancelled.id, sent.id, due_1.id]
    )
    assert h.db.commits == commits + 1
    new = h.db.events[len(events_before) :]
    assert h.db.events[: len(events_before)] == events_before
    assert sorted(e.booking_id for e in new) == sorted([due_1.id, due_2.id])
    by_booking = {e.booking_id: e for e in new}
    assert r_due_1.event == by_booking[due_1.id] and r_due_2.event == by_booking[due_2.id]
    assert [e.booking_id for e in reminder_events(h)].count(sent.id) == 1
    # The worker publishes them, not booking-core's drain.
    assert len(h.publisher.events) == published
    states = {b.id: h.db.reminders[b.id].state for b in (due_1, due_2, sent, cancelled, not_due)}
    assert states == {
        due_1.id: "sent",
        due_2.id: "sent",
        sent.id: "sent",
        cancelled.id: "cancelled",
        not_due.id: "scheduled",
    }


async def test_claiming_a_batch_twice_gives_the_same_events(h: Harness) -> None:
    bookings = [await booking_in(h, HOUR) for _ in range(3)]
    h.clock.advance(HOUR - LEAD)
    ids = tuple(b.id for b in bookings)
    first = await h.service.claim_reminders(ClaimReminders(WORKER, ids))
    commits, events = h.db.commits, list(h.db.events)

    second = await h.service.claim_reminders(ClaimReminders(WORKER, ids))

    assert [r.outcome for r in first if r] == [ClaimOutcome.CLAIMED] * 3
    assert [r.outcome for r in second if r] == [ClaimOutcome.ALREADY_SENT] * 3
    assert [r.event for r in second if r] == [r.event for r in first if r]
    assert not any(r.published for r in second if r)
    assert h.db.commits == commits and h.db.events == events  # nothing written
    assert len(reminder_events(h)) == 3


async def test_a_batch_of_one_behaves_as_claim_reminder(h: Harness) -> None:
    booking = await booking_in(h, HOUR)
    h.clock.advance(HOUR - LEAD)
    (result,) = await h.service.claim_reminders(ClaimReminders(WORKER, (booking.id,)))
    assert result is not None and result.outcome is ClaimOutcome.CLAIMED
    again = await h.service.claim_reminder(ClaimReminder(WORKER, booking.id))
    assert again.outcome is ClaimOutcome.ALREADY_SENT and again.event == result.event


async def test_a_batch_of_unknown_bookings_writes_nothing(h: Harness) -> None:
    before = h.db.snapshot()
    assert await h.service.claim_reminders(ClaimReminders(WORKER, (uuid4(), uuid4()))) == [
        None,
        None,
    ]
    assert h.db.snapshot() == before


@pytest.mark.parametrize(
    "ids",
    [
        pytest.param("repeated", id="a repeated id"),
        pytest.param("none", id="no ids"),
        pytest.param("too-many", id="501 ids"),
    ],
)
async def test_bad_batches_are_invalid_arguments(h: Harness, ids: str) -> None:
    booking = await booking_in(h, HOUR)
    h.clock.advance(HOUR - LEAD)
    other = uuid4()
    batch: tuple[UUID, ...] = {
        "repeated": (booking.id, other, booking.id),
        "none": (),
        "too-many": (booking.id, *(uuid4() for _ in range(MAX_CLAIM_BATCH))),
    }[ids]
    before = h.db.snapshot()
    with pytest.raises(InvalidArgument) as info:
        await h.service.claim_reminders(ClaimReminders(WORKER, batch))
    assert info.value.field == "booking_ids"
    assert h.db.snapshot() == before
    assert h.db.reminders[booking.id].state == "scheduled"


async def test_a_batch_of_the_limit_is_accepted(h: Harness) -> None:
    booking = await booking_in(h, HOUR)
    h.clock.advance(HOUR - LEAD)
    batch = (*(uuid4() for _ in range(MAX_CLAIM_BATCH - 1)), booking.id)
    assert MAX_CLAIM_BATCH == 500
    results = await h.service.claim_reminders(ClaimReminders(WORKER, batch))
    assert results[:-1] == [None] * (MAX_CLAIM_BATCH - 1)
    assert results[-1] is not None and results[-1].outcome is ClaimOutcome.CLAIMED


async def test_only_services_claim_batches(h: Harness) -> None:
    booking = await booking_in(h, HOUR)
    h.clock.advance(HOUR - LEAD)
    before = h.db.snapshot()
    for actor in (Actor.customer(booking.customer_id), Actor.provider(booking.provider_id)):
        with pytest.raises(PermissionDenied):
            await h.service.claim_reminders(ClaimReminders(actor, (booking.id,)))
    assert h.db.snapshot() == before


async def test_marking_more_event_ids_marks_them_all(h: Harness) -> None:
    bookings = [await booking_in(h, HOUR) for _ in range(4)]
    h.clock.advance(HOUR - LEAD)
    ids = tuple(b.id for b in bookings)
    claimed = await h.service.claim_reminders(ClaimReminders(WORKER, ids))
    event_ids = [r.event.id for r in claimed if r and r.event]
    assert len(event_ids) == 4

    await h.service.mark_event_published(MarkEventPublished(WORKER, 0, tuple(event_ids[:2])))
    assert h.db.published_event_ids >= set(event_ids[:2])
    assert not h.db.published_event_ids & set(event_ids[2:])
    await h.service.mark_event_published(
        MarkEventPublished(WORKER, event_ids[2], (event_ids[3], event_ids[0]))
    )
    assert h.db.published_event_ids >= set(event_ids)

    again = await h.service.claim_reminders(ClaimReminders(WORKER, ids))
    assert all(r and r.outcome is ClaimOutcome.ALREADY_SENT and r.published for r in again)


@pytest.mark.parametrize(
    ("event_id", "more"),
    [(0, ()), (0, (1, 0)), (0, (-3,)), (-1, (1,)), (1, (2, -7)), (0, tuple(range(1, 502)))],
)
async def test_marking_bad_event_ids_is_an_invalid_argument(
    h: Harness, event_id: int, more: tuple[int, ...]
) -> None:
    booking = await booking_in(h, HOUR)
    h.clock.advance(HOUR - LEAD)
    await h.service.claim_reminders(ClaimReminders(WORKER, (booking.id,)))
    published = set(h.db.published_event_ids)
    with pytest.raises(InvalidArgument):
        await h.service.mark_event_published(MarkEventPublished(WORKER, event_id, more))
    assert h.db.published_event_ids == published  # nothing marked


async def test_marking_is_for_services_only(h: Harness) -> None:
    booking = await booking_in(h, HOUR)
    with pytest.raises(PermissionDenied):
        await h.service.mark_event_published(
            MarkEventPublished(Actor.customer(booking.customer_id), 0, (1,))
        )


# --- deliver_many -----------------------------------------------------------------------


def event(n: int, booking_id: str) -> pb.Event:
    return pb.Event(
        id=n,
        type="booking.reminder.due",
        occurred_at=datetime(2030, 1, 1, 9, tzinfo=UTC),
        booking_id=booking_id,
        data_json=json.dumps({"bookingId": booking_id}),
    )


class FakeCore:
    """``claim_many`` answers from ``replies`` by booking id; records every call."""

    def __init__(self, replies: dict[str, pb.ClaimedReminder]) -> None:
        self.replies = replies
        self.claims: list[list[str]] = []
        self.marks: list[list[int]] = []

    async def claim(self, booking_id: str) -> pb.ClaimReminderResponse:
        raise AssertionError("a batch is claimed in one ClaimReminders call")

    async def mark_published(self, event_id: int) -> None:
        raise AssertionError("a batch is marked in one MarkEventPublished call")

    async def claim_many(self, booking_ids: Sequence[str]) -> list[pb.ClaimedReminder]:
        self.claims.append(list(booking_ids))
        return [self.replies[b] for b in booking_ids]

    async def mark_published_many(self, event_ids: Sequence[int]) -> None:
        self.marks.append(list(event_ids))


class FakeRedis:
    def __init__(self, *, fail: bool = False) -> None:
        self.fail = fail
        self.calls: list[list[EventEnvelope]] = []

    async def publish(self, envelope: EventEnvelope) -> None:
        raise AssertionError("a batch is published in one round trip")

    async def publish_many(self, envelopes: Sequence[EventEnvelope]) -> None:
        if self.fail:
            raise ConnectionError("redis is down")
        self.calls.append(list(envelopes))


def booking_ids(n: int) -> list[str]:
    return [str(uuid.UUID(int=k + 1)) for k in range(n)]


def claimed(booking_id: str, outcome: pb.ClaimOutcome, **fields: Any) -> pb.ClaimedReminder:
    return pb.ClaimedReminder(booking_id=booking_id, outcome=outcome, **fields)


async def test_claimed_ones_are_published_in_order_then_marked_at_once() -> None:
    a, sent, b, cancelled, c, gone, sent_too = booking_ids(7)
    due = datetime.now(UTC) - timedelta(seconds=1)
    core = FakeCore(
        {
            a: claimed(a, pb.ClaimOutcome.CLAIMED, event=event(11, a), due_at=due),
            sent: claimed(sent, pb.ClaimOutcome.ALREADY_SENT, event=event(5, sent)),
            b: claimed(b, pb.ClaimOutcome.CLAIMED, event=event(12, b), due_at=due),
            cancelled: claimed(cancelled, pb.ClaimOutcome.CANCELLED, due_at=due),
            c: claimed(c, pb.ClaimOutcome.CLAIMED, event=event(13, c)),
            gone: claimed(gone, pb.ClaimOutcome.NOT_FOUND),
            sent_too: claimed(
                sent_too, pb.ClaimOutcome.ALREADY_SENT, event=event(6, sent_too), published=True
            ),
        }
    )
    redis = FakeRedis()
    ids = [a, sent, b, cancelled, c, gone, sent_too]

    outcome = await deliver_many(core, redis, ids)

    assert core.claims == [ids]
    assert len(redis.calls) == 1
    assert [e.id for e in redis.calls[0]] == [11, 12, 13]
    assert [e.data for e in redis.calls[0]] == [{"bookingId": x} for x in (a, b, c)]
    assert core.marks == [[11, 12, 13]]
    assert outcome.published == [11, 12, 13] and outcome.retry_in_ms == {}


async def test_not_due_ones_come_back_and_unknown_ones_are_dropped() -> None:
    early, soon, gone, sent = booking_ids(4)
    now = datetime.now(UTC)
    core = FakeCore(
        {
            early: claimed(early, pb.ClaimOutcome.NOT_DUE, due_at=now + timedelta(seconds=5)),
            soon: claimed(soon, pb.ClaimOutcome.NOT_DUE, due_at=now + timedelta(seconds=2)),
            gone: claimed(gone, pb.ClaimOutcome.NOT_FOUND),
            sent: claimed(sent, pb.ClaimOutcome.ALREADY_SENT, event=event(3, sent)),
        }
    )
    redis = FakeRedis()

    outcome = await deliver_many(core, redis, [early, soon, gone, sent])

    assert outcome.published == []
    assert set(outcome.retry_in_ms) == {early, soon}
    assert 4000 < outcome.retry_in_ms[early] <= 5000
    assert 1000 < outcome.retry_in_ms[soon] <= 2000
    assert redis.calls == [] and core.marks == []


async def test_a_failed_batch_publish_raises_and_marks_nothing() -> None:
    a, b = booking_ids(2)
    core = FakeCore(
        {
            a: claimed(a, pb.ClaimOutcome.CLAIMED, event=event(21, a)),
            b: claimed(b, pb.ClaimOutcome.CLAIMED, event=event(22, b)),
        }
    )
    with pytest.raises(ConnectionError):
        await deliver_many(core, FakeRedis(fail=True), [a, b])
    assert core.marks == []  # the outbox relay will publish the rows


async def test_an_empty_batch_asks_nothing() -> None:
    core, redis = FakeCore({}), FakeRedis()
    outcome = await deliver_many(core, redis, [])
    assert outcome.published == [] and outcome.retry_in_ms == {}
    assert core.claims == [] and redis.calls == [] and core.marks == []
