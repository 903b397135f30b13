"""booking-core's side of the payment queues: the dispatcher that sends queued payment
requests to ``payments``, and the consumer of ``payment_outcomes``.

**Dispatcher** (a ``PeriodicPass``, woken when a request is queued): takes up to
``batch`` requests ``queued`` (or ``enqueued`` but unresolved for longer than
``redeliver_after``) ``FOR UPDATE SKIP LOCKED``, sends each as a dramatiq message
(``messageId`` in its body is the request's id), marks them ``enqueued`` and
commits. Redis being down leaves them queued in PostgreSQL; a request sent twice is harmless because
payment-service charges by idempotency key.

**Consumer**: a dramatiq ``Worker`` inside booking-core on queue
``payment_outcomes`` (a few threads). Each message is handed to the event loop
(``TicketingService.apply_outcome``, once per message id) and acknowledged only
after it committed; a failure is retried by dramatiq with backoff.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any, Final

import dramatiq
import sqlalchemy as sa
from bookings_common.dramatiq_redis import RedisBroker
from bookings_common.dramatiq_tracing import TracingMiddleware
from bookings_common.jobs import OUTCOME_ACTOR, OUTCOMES_QUEUE, PAYMENT_ACTOR, PAYMENTS_QUEUE
from bookings_common.logging import get_logger
from dramatiq import Message, Worker
from dramatiq.middleware import default_middleware
from dramatiq.middleware.prometheus import Prometheus
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.ext.asyncio import AsyncEngine

from booking_core.service_layer.ports import Clock

from .passes import PeriodicPass
from .tables import payment_requests

log = get_logger(__name__)
DEFAULT_BATCH: Final = 100
APPLY_TIMEOUT_SECONDS: Final = 30.0


class PaymentDispatcher(PeriodicPass):
    """A dispatching pass (``dispatch_once``) and its loop (``run``)."""

    name = "payments"

    def __init__(
        self,
        engine: AsyncEngine,
        broker: RedisBroker,
        clock: Clock,
        *,
        redeliver_after: timedelta,
        batch: int = DEFAULT_BATCH,
    ) -> None:
        super().__init__(batch=batch)
        self._engine = engine
        self._broker = broker
        self._clock = clock
        self._redeliver_after = redeliver_after

    async def dispatch_once(self) -> int:
        """Send one batch of queued and stale requests; return how many.

        Raises ``RedisError`` when Redis is unreachable (nothing is marked)."""
        now = self._clock()
        r = payment_requests.c
        async with self._engine.begin() as conn:
            rows = (
                (
                    await conn.execute(
                        sa.select(payment_requests)
                        .where(
                            sa.or_(
                                r.state == "queued",
                                sa.and_(
                                    r.state == "enqueued",
                                    r.enqueued_at <= now - self._redeliver_after,
                                ),
                            )
                        )
                        .order_by(r.created_at)
                        .limit(self._batch)
                        .with_for_update(skip_locked=True)
                    )
                )
                .mappings()
                .all()
            )
            if not rows:
                return 0
            messages = [_message(row) for row in rows]
            try:
                await asyncio.to_thread(self._broker.enqueue_many, messages)
            except OSError as exc:
                raise RedisConnectionError(str(exc)) from exc
            await conn.execute(
                payment_requests.update()
                .where(r.id.in_([row["id"] for row in rows]))
                .values(state="enqueued", enqueued_at=now, attempts=r.attempts + 1)
            )
        self.redis_ok()
        log.info("payments.enqueued", count=len(messages))
        return len(messages)

    async def pass_once(self) -> int:
        return await self.dispatch_once()


def _message(row: Any) -> Message[None]:
    body = {
        "messageId": str(row["id"]),
        "kind": row["kind"],
        "bookingId": str(row["booking_id"]),
        "idempotencyKey": row["idempotency_key"],
        "amountMinor": row["amount_minor"],
        "currency": row["currency"],
        "paymentMethod": row["payment_method"],
        "chargeId": row["charge_id"],
    }
    return Message(
        queue_name=PAYMENTS_QUEUE,
        actor_name=PAYMENT_ACTOR,
        args=(body,),
        kwargs={},
        options={},
    )


class OutcomeConsumer:
    """A dramatiq worker in this process consuming ``payment_outcomes``; ``apply`` runs
    on the event loop the consumer was started from."""

    def __init__(
        self,
        redis_url: str,
        apply: Callable[[dict[str, Any]], Coroutine[Any, Any, None]],
        *,
        threads: int = 2,
        max_backoff_ms: int = 30_000,
    ) -> None:
        self._apply = apply
        self._loop: asyncio.AbstractEventLoop | None = None
        middleware = [m() for m in default_middleware if m is not Prometheus]
        middleware.append(TracingMiddleware())
        self.broker = RedisBroker(  # type: ignore[no-untyped-call]
            url=redis_url, middleware=middleware, socket_connect_timeout=1.0, socket_timeout=5.0
        )
        dramatiq.actor(
            broker=self.broker,
            queue_name=OUTCOMES_QUEUE,
            actor_name=OUTCOME_ACTOR,
            max_retries=1_000,
            min_backoff=200,
            max_backoff=max_backoff_ms,
        )(self._handle)
        self._worker = Worker(self.broker, worker_threads=threads, worker_timeout=100)

    def _handle(self, body: dict[str, Any]) -> None:
        """One message, on a worker thread: applied on the event loop, then acknowledged."""
        assert self._loop is not None
        future: concurrent.futures.Future[None] = asyncio.run_coroutine_threadsafe(
            self._apply(body), self._loop
        )
        future.result(APPLY_TIMEOUT_SECONDS)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._worker.start()

    def stop(self) -> None:
        """Stop consuming (waits for the messages in hand, at most a few seconds)."""
        self._worker.stop(timeout=5_000)
        self.broker.close()
