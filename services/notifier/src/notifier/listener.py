"""One Redis pub/sub listener per replica, subscribed to ``bookings.events``.

Every event it reads is dispatched once to the registry (a bounded window of
recent ids drops the duplicates that at-least-once publishing produces).

Redis outages: the listener reconnects with capped exponential backoff and
jitter. Before it reads live messages again it asks booking-core for every
event after the highest id it had seen (``ListEvents`` with ``all_owners``) and
dispatches those first; messages published meanwhile wait in the new
subscription, so connected clients miss nothing and get events in order.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Final

from bookings_common import tracing
from bookings_common.events import CHANNEL, EventEnvelope
from bookings_common.logging import get_logger
from opentelemetry.trace import SpanKind
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from .connections import Outgoing, Registry
from .core import CoreEvents, CoreUnavailable
from .metrics import NotifierMetrics

log = get_logger("notifier.listener")

BACKOFF_INITIAL_SECONDS: Final = 0.1
BACKOFF_MAX_SECONDS: Final = 5.0
# How long the listener keeps asking booking-core for missed events before
# giving up on that catch-up (clients can still replay with lastEventId).
CATCH_UP_ATTEMPTS: Final = 5
SEEN_WINDOW: Final = 65_536
POLL_SECONDS: Final = 5.0


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff with jitter, in seconds: uniform in [c/2, c] where
    c = min(5, 0.1 * 2**attempt)."""
    ceiling = min(BACKOFF_MAX_SECONDS, BACKOFF_INITIAL_SECONDS * 2**attempt)
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not security


class SeenIds:
    """The last ``size`` event ids dispatched, to drop duplicates (FIFO eviction)."""

    def __init__(self, size: int = SEEN_WINDOW) -> None:
        self._ids: OrderedDict[int, None] = OrderedDict()
        self._size = size

    def add(self, event_id: int) -> bool:
        """Record ``event_id``; False when it was already recorded."""
        if event_id in self._ids:
            return False
        self._ids[event_id] = None
        if len(self._ids) > self._size:
            self._ids.popitem(last=False)
        return True


class EventListener:
    """Owns the subscription; ``run`` until cancelled. ``head_id`` is the highest event
    id known to be committed (from booking-core at first subscribe, then live)."""

    def __init__(
        self,
        redis_url: str,
        registry: Registry,
        core: CoreEvents,
        metrics: NotifierMetrics,
        *,
        health_check_seconds: float = 10.0,
    ) -> None:
        self._redis_url = redis_url
        self._registry = registry
        self._core = core
        self._metrics = metrics
        self._health_check_seconds = health_check_seconds
        self._seen = SeenIds()
        self.head_id: int | None = None
        self.subscribed = asyncio.Event()

    async def run(self) -> None:
        """Subscribe, catch up, dispatch; reconnect with backoff on Redis errors."""
        attempt = 0
        lost = False
        while True:
            try:
                redis = Redis.from_url(
                    self._redis_url,
                    socket_connect_timeout=2.0,
                    socket_keepalive=True,
                    health_check_interval=self._health_check_seconds,
                )
                async with redis, redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    attempt = 0
                    if lost:
                        self._metrics.redis_reconnects.inc()
                        log.info("notifier.redis.reconnected")
                    await self._catch_up(after_id=self.head_id)
                    self.subscribed.set()
                    await self._read(pubsub)
            except (RedisError, OSError) as exc:
                if self.subscribed.is_set() or not lost:
                    log.warning("notifier.redis.lost", error=repr(exc))
                self.subscribed.clear()
                lost = True
                await asyncio.sleep(backoff_seconds(attempt))
                attempt += 1

    async def _read(self, pubsub: PubSub) -> None:
        while True:
            message = await pubsub.get_message(timeout=POLL_SECONDS)
            if message is None or message["type"] != "message":
                continue
            try:
                envelope = EventEnvelope.from_json(message["data"])
            except ValueError as exc:
                self._metrics.dropped.labels("malformed").inc()
                log.warning("notifier.event.malformed", error=str(exc))
                continue
            self.dispatch(envelope)

    def dispatch(self, envelope: EventEnvelope) -> None:
        """Fan ``envelope`` out to the registry unless it was already dispatched."""
        if not self._seen.add(envelope.id):
            self._metrics.dropped.labels("duplicate").inc()
            return
        if self.head_id is None or envelope.id > self.head_id:
            self.head_id = envelope.id
        self._metrics.lag.observe(
            max(0.0, (datetime.now(UTC) - envelope.occurred_at).total_seconds())
        )
        if envelope.traceparent is None or not tracing.enabled():
            self._registry.dispatch(envelope, Outgoing.event(envelope))
            return
        with tracing.span(
            "notifier fan-out",
            parent=envelope.traceparent,
            kind=SpanKind.CONSUMER,
            attributes={"event.id": envelope.id, "event.type": envelope.type},
        ) as fan_out:
            queued = self._registry.dispatch(envelope, Outgoing.event(envelope))
            if fan_out is not None:
                fan_out.set_attribute("notifier.connections", queued)

    async def _catch_up(self, *, after_id: int | None) -> None:
        """Dispatch what was committed after ``after_id`` (None: just learn the head)."""
        if after_id is None:
            # Nothing was missed before the first subscription; the head only
            # matters for a later outage, and the first live event teaches it too,
            # so booking-core still starting is no reason to wait.
            try:
                self.head_id = max(self.head_id or 0, await self._core.head_id())
            except CoreUnavailable as exc:
                log.info("notifier.head.unknown", error=str(exc))
            return
        for attempt in range(CATCH_UP_ATTEMPTS):
            try:
                started, count = time.perf_counter(), 0
                async for page in self._core.all_events(after_id):
                    for envelope in page:
                        self.dispatch(envelope)
                    count += len(page)
                    after_id = page[-1].id
                self._metrics.caught_up_events.inc(count)
                log.info(
                    "notifier.caught_up",
                    events=count,
                    durationMs=round((time.perf_counter() - started) * 1000, 1),
                )
                return
            except CoreUnavailable as exc:
                log.warning("notifier.catch_up.failed", attempt=attempt + 1, error=str(exc))
                await asyncio.sleep(backoff_seconds(attempt + 3))
        log.error(
            "notifier.catch_up.gave_up",
            afterId=after_id,
            detail="clients may have missed events; they can replay with lastEventId",
        )
