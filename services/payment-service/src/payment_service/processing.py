"""Processing one payment request into its outcome message; free of dramatiq so it can
be tested against a fake provider.

The outcome's ``messageId`` is derived from the request's idempotency key and the
status (UUID v5), so a request processed twice (a redelivery after a crash)
yields the very same message, which booking-core applies once.
"""

from __future__ import annotations

import uuid
from typing import Any, Final

from bookings_common.logging import get_logger

from .provider import ChargeRequest, PaymentProvider, RefundRequest

log = get_logger("payment_service")
OUTCOME_NAMESPACE: Final = uuid.UUID("6f0c0e5e-2d1b-4a57-9d0e-4a1f6c1b2a90")


class InvalidRequest(ValueError):
    """The message is not a payment request: no retry can help."""


def outcome_id(idempotency_key: str, status: str) -> str:
    return str(uuid.uuid5(OUTCOME_NAMESPACE, f"{idempotency_key}:{status}"))


async def process(provider: PaymentProvider, body: dict[str, Any]) -> dict[str, Any]:
    """Charge or refund as ``body`` asks; return the outcome message's body. Raises
    ``InvalidRequest`` and the provider's ``ProviderUnavailable`` (retry later)."""
    try:
        kind = str(body["kind"])
        key = str(body["idempotencyKey"])
        amount = int(body["amountMinor"])
        currency = str(body["currency"])
        booking_id = str(body["bookingId"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidRequest(f"not a payment request: {exc!r}") from None
    if kind == "charge":
        result = await provider.charge(
            ChargeRequest(
                idempotency_key=key,
                amount_minor=amount,
                currency=currency,
                payment_method=str(body.get("paymentMethod") or ""),
                description=f"Tickets, booking {booking_id}",
            )
        )
    elif kind == "refund":
        result = await provider.refund(
            RefundRequest(key, str(body.get("chargeId") or ""), amount, currency)
        )
    else:
        raise InvalidRequest(f"unknown kind {kind!r}")
    status = "succeeded" if result.succeeded else "failed"
    log.info(
        "payment.processed",
        kind=kind,
        bookingId=booking_id,
        status=status,
        failureCode=result.failure_code,
        amountMinor=amount,
        currency=currency,
    )
    return {
        "messageId": outcome_id(key, status),
        "requestId": body.get("messageId"),
        "kind": kind,
        "bookingId": booking_id,
        "idempotencyKey": key,
        "status": status,
        "chargeId": result.reference if kind == "charge" else body.get("chargeId"),
        "refundId": result.reference if kind == "refund" else None,
        "failureCode": result.failure_code,
        "failureMessage": result.failure_message,
    }
