"""The payment provider port: what a real provider (Stripe, Adyen, Mollie) plugs into.

Both calls take the request's idempotency key and must be idempotent on it, as
real providers' APIs are (Stripe's ``Idempotency-Key`` header): asking again
returns the first result and never charges or refunds twice. That is what makes
a retried or redelivered request safe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class ProviderUnavailable(Exception):
    """The provider could not be reached or answered with a server error: retry later."""


@dataclass(frozen=True, slots=True)
class ChargeRequest:
    idempotency_key: str
    amount_minor: int
    currency: str
    # The provider's payment method (a token from its client SDK).
    payment_method: str
    description: str


@dataclass(frozen=True, slots=True)
class RefundRequest:
    idempotency_key: str
    charge_id: str
    amount_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class Result:
    """``succeeded`` with the provider's charge (or refund) id, or a failure with the
    provider's code (``card_declined``, ``insufficient_funds``, ...) and message."""

    succeeded: bool
    reference: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None


class PaymentProvider(Protocol):
    async def charge(self, request: ChargeRequest) -> Result:
        """Charge the payment method; raises ``ProviderUnavailable``."""

    async def refund(self, request: RefundRequest) -> Result:
        """Refund (all of) a charge; raises ``ProviderUnavailable``."""
