"""Idempotency keys while their request runs (IETF draft-ietf-httpapi-idempotency-key-
header, section 2.6): the first request holds its key for its transaction; a
concurrent duplicate is told at once (``IdempotencyInProgress``, 409 with
Retry-After at the REST edge) instead of waiting for it or racing it. Once the
first has committed, a retry replays its outcome."""

from __future__ import annotations

from booking_core.domain.errors import IdempotencyInProgress

from .ports import UnitOfWork


async def hold_idempotency_key(uow: UnitOfWork, scope: str, key: str | None) -> None:
    """Hold ``key`` (``scope``: whose keys these are) for ``uow``'s transaction; raises
    ``IdempotencyInProgress`` when a concurrent request holds it. No key: nothing."""
    if key is not None and not await uow.lock_idempotency_key(scope, key):
        raise IdempotencyInProgress("a request with this idempotency key is still in progress")
