"""The worker's long-lived clients (one grpclib channel, one Redis connection pool),
opened lazily on the worker's event loop and closed when the worker shuts down."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from bookings_common.events import CHANNEL, EventEnvelope
from bookings_common.grpc import create_channel
from bookings_proto.bookings import v1 as pb
from dramatiq.middleware import Middleware
from grpclib.client import Channel
from grpclib.const import Status
from grpclib.exceptions import GRPCError
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from .batching import Coalescer
from .delivery import WORKER_ACTOR
from .settings import Settings

# Booking-core's limit for one ClaimReminders or MarkEventPublished call.
MAX_BATCH = 500


class CoreClient:
    """``delivery.Core`` over booking-core's gRPC API.

    Concurrent jobs' claims go out together as ``ClaimReminders`` calls, and their
    marks as one ``MarkEventPublished`` with ``event_ids`` (``batching.Coalescer``):
    a burst of reminders due at once costs booking-core one transaction, one commit
    and one take of the event sequencer's lock per batch instead of per reminder.
    """

    def __init__(self, channel: Channel, deadline_seconds: float) -> None:
        self._stub = pb.BookingServiceStub(channel, timeout=deadline_seconds)
        self.claims: Coalescer[str, pb.ClaimedReminder] = Coalescer(self._claim_batch, MAX_BATCH)
        self.marks: Coalescer[int, None] = Coalescer(self._mark_batch, MAX_BATCH)

    async def claim(self, booking_id: str) -> pb.ClaimReminderResponse:
        """What ``ClaimReminder`` answers; raises ``GRPCError(NOT_FOUND)`` as it does, and
        ``ValueError`` for an id that is no uuid (before it can spoil a shared batch)."""
        claimed = await self.claims(str(uuid.UUID(booking_id)))
        if claimed.outcome == pb.ClaimOutcome.NOT_FOUND:
            raise GRPCError(Status.NOT_FOUND, "the booking has no reminder")
        return pb.ClaimReminderResponse(
            outcome=claimed.outcome,
            event=claimed.event,
            published=claimed.published,
            due_at=claimed.due_at,
        )

    async def mark_published(self, event_id: int) -> None:
        await self.marks(event_id)

    async def claim_many(self, booking_ids: Sequence[str]) -> list[pb.ClaimedReminder]:
        """``ClaimReminders`` in calls of at most ``MAX_BATCH`` ids."""
        claimed: list[pb.ClaimedReminder] = []
        for first in range(0, len(booking_ids), MAX_BATCH):
            claimed += await self._claim_batch(booking_ids[first : first + MAX_BATCH])
        return claimed

    async def mark_published_many(self, event_ids: Sequence[int]) -> None:
        for first in range(0, len(event_ids), MAX_BATCH):
            await self._mark_batch(event_ids[first : first + MAX_BATCH])

    async def _claim_batch(self, booking_ids: Sequence[str]) -> list[pb.ClaimedReminder]:
        reply = await self._stub.claim_reminders(
            pb.ClaimRemindersRequest(actor=WORKER_ACTOR, booking_ids=list(booking_ids))
        )
        return reply.reminders

    async def _mark_batch(self, event_ids: Sequence[int]) -> list[None]:
        await self._stub.mark_event_published(
            pb.MarkEventPublishedRequest(actor=WORKER_ACTOR, event_ids=list(event_ids))
        )
        return [None] * len(event_ids)


class RedisPublisher:
    """``delivery.Publisher`` on Redis pub/sub."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def publish(self, envelope: EventEnvelope) -> None:
        await self._redis.publish(CHANNEL, envelope.to_json())

    async def publish_many(self, envelopes: Sequence[EventEnvelope]) -> None:
        """One pipeline (no MULTI): the PUBLISHes go in one round trip, in order."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for envelope in envelopes:
                pipe.publish(CHANNEL, envelope.to_json())
            await pipe.execute()


class Clients(Middleware):
    """Dramatiq middleware owning the clients: created on first use in the worker's
    event loop thread, closed before the worker shuts down."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._channel: Channel | None = None
        self._redis: Redis | None = None
        self.core: CoreClient | None = None
        self.publisher: RedisPublisher | None = None

    def open(self) -> tuple[CoreClient, RedisPublisher]:
        """The clients, opening them on first use (call from the event loop thread)."""
        if self.core is None or self.publisher is None:
            self._channel = create_channel(
                self._settings.core_grpc_target, internal_token=self._settings.internal_token
            )
            # A pooled connection that Redis closed (a restart) is replaced and the
            # command sent again, twice at most, before the job's own retry.
            self._redis = Redis.from_url(
                self._settings.redis_url,
                socket_connect_timeout=1.0,
                socket_timeout=2.0,
                retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=2),
                retry_on_error=[RedisConnectionError],
            )
            self.core = CoreClient(self._channel, self._settings.core_deadline_seconds)
            self.publisher = RedisPublisher(self._redis)
        return self.core, self.publisher

    async def aclose(self) -> None:
        if self._channel is not None:
            self._channel.close()
        if self._redis is not None:
            await self._redis.aclose()

    def before_worker_shutdown(self, broker: object, worker: object) -> None:
        from dramatiq.asyncio import get_event_loop_thread

        loop_thread = get_event_loop_thread()
        if loop_thread is not None:
            loop_thread.run_coroutine(self.aclose())
