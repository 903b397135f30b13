"""The payment actor. Import ``payment_service.broker`` (which imports this module).

A request is acknowledged only after its outcome is on ``payment_outcomes``: a
crash in between redelivers it, the provider answers the same (idempotency
key), and the same outcome message (same id) is sent again.
"""

from __future__ import annotations

import asyncio
from typing import Any

import dramatiq
import structlog
from bookings_common.jobs import OUTCOME_ACTOR, OUTCOMES_QUEUE, PAYMENT_ACTOR, PAYMENTS_QUEUE
from bookings_common.logging import REQUEST_ID_KEY
from dramatiq import Message
from redis.asyncio import Redis

from .broker import broker, settings
from .mock import MockProvider
from .processing import InvalidRequest, log, process
from .provider import PaymentProvider, ProviderUnavailable

_provider: PaymentProvider | None = None


def provider() -> PaymentProvider:
    """The configured provider, created on the worker's event loop on first use."""
    global _provider
    if _provider is None:
        redis = Redis.from_url(settings.redis_url, socket_connect_timeout=1.0, socket_timeout=5.0)
        _provider = MockProvider(redis, latency_ms=settings.mock_payment_latency_ms)
    return _provider


@dramatiq.actor(
    queue_name=PAYMENTS_QUEUE,
    actor_name=PAYMENT_ACTOR,
    max_retries=1_000,
    min_backoff=200,
    max_backoff=round(settings.payment_retry_max_backoff_seconds * 1000),
    time_limit=120_000,
)
async def process_payment(body: dict[str, Any]) -> None:
    """Charge or refund, then send the outcome (see ``processing.process``)."""
    request_id = f"payment:{body.get('idempotencyKey')}" if isinstance(body, dict) else "payment"
    with structlog.contextvars.bound_contextvars(**{REQUEST_ID_KEY: request_id}):
        try:
            outcome = await process(provider(), body)
        except InvalidRequest as exc:
            log.error("payment.invalid_request", error=str(exc))
            return
        except ProviderUnavailable as exc:
            log.warning("payment.provider_unavailable", error=str(exc))
            raise dramatiq.Retry(str(exc)) from None
        message: Message[None] = Message(
            queue_name=OUTCOMES_QUEUE,
            actor_name=OUTCOME_ACTOR,
            args=(outcome,),
            kwargs={},
            options={},
        )
        await asyncio.to_thread(broker.enqueue, message)
