"""The mock payment provider: deterministic outcomes by test card, as Stripe's test
cards work (https://docs.stripe.com/testing), with configurable latency.

Its "provider side" lives in Redis (hash ``mockpay:results``, keyed by
idempotency key), so, like a real provider, it remembers what it did across
restarts of payment-service: a repeated request returns the first result, and
``mockpay:charges_created`` counts the charges it really made.

| payment method | outcome |
|---|---|
| ``4242424242424242``, ``5555555555554444``, ``pm_card_visa``, ``pm_card_mastercard`` | succeeds |
| ``4000000000000002``, ``pm_card_chargeDeclined`` | ``card_declined`` |
| ``4000000000009995``, ``pm_card_chargeDeclinedInsufficientFunds`` | ``insufficient_funds`` |
| ``4000000000000069``, ``pm_card_chargeDeclinedExpiredCard`` | ``expired_card`` |
| ``4000000000000119``, ``pm_card_chargeDeclinedProcessingError`` | ``processing_error`` |
| anything else | ``incorrect_number`` |
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Final

from redis.asyncio import Redis
from redis.exceptions import RedisError

from .provider import ChargeRequest, ProviderUnavailable, RefundRequest, Result

RESULTS_KEY: Final = "mockpay:results"
CHARGES_CREATED_KEY: Final = "mockpay:charges_created"
REFUNDS_CREATED_KEY: Final = "mockpay:refunds_created"
_SUCCEEDS: Final = frozenset(
    {"4242424242424242", "5555555555554444", "pm_card_visa", "pm_card_mastercard"}
)
_DECLINES: Final = {
    "4000000000000002": ("card_declined", "Your card was declined."),
    "pm_card_chargeDeclined": ("card_declined", "Your card was declined."),
    "4000000000009995": ("insufficient_funds", "Your card has insufficient funds."),
    "pm_card_chargeDeclinedInsufficientFunds": (
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
    "4000000000000069": ("expired_card", "Your card has expired."),
    "pm_card_chargeDeclinedExpiredCard": ("expired_card", "Your card has expired."),
    "4000000000000119": ("processing_error", "An error occurred while processing your card."),
    "pm_card_chargeDeclinedProcessingError": (
        "processing_error",
        "An error occurred while processing your card.",
    ),
}


def decide(payment_method: str) -> Result:
    """The test card's outcome (no state, no latency)."""
    method = payment_method.replace(" ", "")
    if method in _SUCCEEDS:
        return Result(True, reference=f"ch_mock_{uuid.uuid4().hex[:24]}")
    code, message = _DECLINES.get(method, ("incorrect_number", "Your card number is incorrect."))
    return Result(False, failure_code=code, failure_message=message)


class MockProvider:
    """``PaymentProvider`` with test cards, idempotent through Redis."""

    def __init__(self, redis: Redis, *, latency_ms: int) -> None:
        self._redis = redis
        self._latency = latency_ms / 1000

    async def _once(self, key: str, result: Result, counter: str) -> Result:
        """Store ``result`` under ``key`` unless a result is there; return the stored one."""
        encoded = json.dumps(
            {
                "succeeded": result.succeeded,
                "reference": result.reference,
                "failureCode": result.failure_code,
                "failureMessage": result.failure_message,
            }
        )
        try:
            if await self._redis.hsetnx(RESULTS_KEY, key, encoded):
                if result.succeeded:
                    await self._redis.incr(counter)
                return result
            stored = await self._redis.hget(RESULTS_KEY, key)
        except (RedisError, OSError) as exc:
            raise ProviderUnavailable(f"the mock provider's store is down: {exc}") from None
        data = json.loads(stored or "{}")
        return Result(
            bool(data.get("succeeded")),
            data.get("reference"),
            data.get("failureCode"),
            data.get("failureMessage"),
        )

    async def charge(self, request: ChargeRequest) -> Result:
        await asyncio.sleep(self._latency)
        return await self._once(
            f"charge:{request.idempotency_key}", decide(request.payment_method), CHARGES_CREATED_KEY
        )

    async def refund(self, request: RefundRequest) -> Result:
        await asyncio.sleep(self._latency)
        ok = request.charge_id.startswith("ch_mock_")
        result = (
            Result(True, reference=f"re_mock_{uuid.uuid4().hex[:24]}")
            if ok
            else Result(False, failure_code="charge_not_found", failure_message="No such charge.")
        )
        return await self._once(f"refund:{request.idempotency_key}", result, REFUNDS_CREATED_KEY)
