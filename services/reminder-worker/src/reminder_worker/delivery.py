"""Delivering one reminder: claim it through booking-core, publish its event, mark it
published. Kept free of dramatiq so it can be tested against fakes of its two ports.

Exactly once in normal operation, at least once always, with one event id:

- booking-core's claim is atomic and idempotent: the first claim writes the
  booking.reminder.due event row; any later claim returns that same event.
- only the job whose claim wrote the event publishes it, then tells
  booking-core it is published. A job that finds the reminder already sent
  (a redelivered or retried message) publishes nothing, so several messages
  for one reminder still give one publication.
- if the claiming job dies before the mark, the outbox relay publishes the row
  a few seconds later (``OUTBOX_RELAY_MIN_AGE_SECONDS``), with the same id, so
  a client that also got the first publication drops the duplicate.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from bookings_common.events import EventEnvelope
from bookings_common.logging import get_logger
from bookings_proto.bookings import v1 as pb
from grpclib.const import Status
from grpclib.exceptions import GRPCError

log = get_logger("reminder_worker")
WORKER_ACTOR = pb.Actor(service="reminder-worker")


class Core(Protocol):
    """The booking-core calls a delivery needs."""

    async def claim(self, booking_id: str) -> pb.ClaimReminderResponse: ...

    async def mark_published(self, event_id: int) -> None: ...

    async def claim_many(self, booking_ids: Sequence[str]) -> list[pb.ClaimedReminder]:
        """``ClaimReminders``: one result per id, in order (NOT_FOUND in place)."""

    async def mark_published_many(self, event_ids: Sequence[int]) -> None: ...


class Publisher(Protocol):
    async def publish(self, envelope: EventEnvelope) -> None:
        """Publish to Redis channel ``bookings.events``; raises on failure."""

    async def publish_many(self, envelopes: Sequence[EventEnvelope]) -> None:
        """Publish each, in order, in one round trip; raises on failure."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a delivery did: ``published`` the event id, or ``retry_in_ms`` (not due yet)."""

    outcome: pb.ClaimOutcome
    published: int | None = None
    retry_in_ms: int | None = None


def envelope_of(event: pb.Event) -> EventEnvelope:
    """The event as clients see it (the same envelope the outbox relay publishes)."""
    occurred = event.occurred_at or datetime.now(UTC)
    return EventEnvelope(event.id, event.type, occurred, json.loads(event.data_json))


async def deliver(core: Core, publisher: Publisher, booking_id: str) -> Outcome:
    """Claim the booking's reminder and, if there is an event to publish, publish it.

    Raises whatever the claim, publish or mark raise (gRPC, Redis): the job is
    then retried, and the retry is safe. An unknown booking (NOT_FOUND) is
    logged and dropped, since no retry can succeed.
    """
    try:
        reply = await core.claim(booking_id)
    except GRPCError as exc:
        if exc.status is not Status.NOT_FOUND:
            raise
        # No such booking in this booking-core's database: retrying cannot help.
        log.warning("reminder.unknown_booking", bookingId=booking_id)
        return Outcome(pb.ClaimOutcome.UNSPECIFIED)
    outcome = reply.outcome
    if outcome == pb.ClaimOutcome.NOT_DUE and reply.due_at is not None:
        wait = (reply.due_at - datetime.now(UTC)).total_seconds()
        return Outcome(outcome, retry_in_ms=max(1, round(wait * 1000)))
    event = reply.event
    if event is None or outcome != pb.ClaimOutcome.CLAIMED:
        log.info(
            "reminder.skipped",
            bookingId=booking_id,
            outcome=outcome.name,
            eventId=event.id if event else None,
            published=reply.published,
        )
        return Outcome(outcome)
    await publisher.publish(envelope_of(event))
    late_ms = None
    if reply.due_at is not None:
        late_ms = round((datetime.now(UTC) - reply.due_at).total_seconds() * 1000)
    log.info("booking.reminder.due", bookingId=booking_id, eventId=event.id, latenessMs=late_ms)
    await core.mark_published(event.id)
    return Outcome(outcome, published=event.id)


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What a batch delivery did: the event ids it ``published``, and the reminders
    delivered early (``retry_in_ms`` by booking id: come back for each then)."""

    published: list[int]
    retry_in_ms: dict[str, int]


async def deliver_many(
    core: Core, publisher: Publisher, booking_ids: Sequence[str]
) -> BatchOutcome:
    """``deliver`` for reminders due together: one ``ClaimReminders`` call, the new
    events published in one Redis round trip, then one ``MarkEventPublished``.

    The same guarantees as ``deliver``, per reminder: only the claim that wrote an
    event publishes it. Raises whatever the claim, publish or mark raise; the whole
    batch is then retried, which is safe (reminders claimed by the failed attempt
    come back ALREADY_SENT, and the outbox relay publishes what was not marked).
    """
    if not booking_ids:
        return BatchOutcome([], {})
    claimed = await core.claim_many(booking_ids)
    now = datetime.now(UTC)
    fresh: list[tuple[str, pb.ClaimedReminder, pb.Event]] = []
    retry: dict[str, int] = {}
    for booking_id, reply in zip(booking_ids, claimed, strict=True):
        outcome = reply.outcome
        if outcome == pb.ClaimOutcome.NOT_FOUND:
            log.warning("reminder.unknown_booking", bookingId=booking_id)
        elif outcome == pb.ClaimOutcome.NOT_DUE and reply.due_at is not None:
            wait = (reply.due_at - now).total_seconds()
            retry[booking_id] = max(1, round(wait * 1000))
        elif outcome == pb.ClaimOutcome.CLAIMED and reply.event is not None:
            fresh.append((booking_id, reply, reply.event))
        else:
            log.info(
                "reminder.skipped",
                bookingId=booking_id,
                outcome=outcome.name,
                eventId=reply.event.id if reply.event else None,
                published=reply.published,
            )
    if not fresh:
        return BatchOutcome([], retry)
    await publisher.publish_many([envelope_of(event) for _, _, event in fresh])
    published_at = datetime.now(UTC)
    for booking_id, reply, event in fresh:
        late_ms = None
        if reply.due_at is not None:
            late_ms = round((published_at - reply.due_at).total_seconds() * 1000)
        log.info("booking.reminder.due", bookingId=booking_id, eventId=event.id, latenessMs=late_ms)
    ids = [event.id for _, _, event in fresh]
    await core.mark_published_many(ids)
    return BatchOutcome(ids, retry)
