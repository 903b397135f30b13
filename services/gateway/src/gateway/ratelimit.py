"""The gateway's rate-limit middleware, on ``bookings_web.ratelimit``'s per-key
leaky buckets: per user when authenticated, else per client IP."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import web
from bookings_web.auth import PRINCIPAL_KEY
from bookings_web.client_ip import IpNetwork, client_ip
from bookings_web.problems import ProblemError
from bookings_web.ratelimit import (
    RateLimiter,
)


def rate_limit_middleware(
    limiter: RateLimiter,
    trusted_proxies: Sequence[IpNetwork],
    *,
    exempt_paths: frozenset[str],
    exempt_prefixes: tuple[str, ...] = (),
) -> Any:
    """Limit per user (the JWT ``sub``) when authenticated, else per client IP.

    ``exempt_paths`` (exact) and paths under ``exempt_prefixes`` are not counted.
    Over the limit: 429 ``RATE_LIMITED`` with ``Retry-After``. Every limited
    response carries ``RateLimit-Limit``, ``RateLimit-Remaining`` and ``RateLimit-Reset``.
    """

    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path in exempt_paths or request.path.startswith(exempt_prefixes):
            response: web.StreamResponse = await handler(request)
            return response
        caller = request.get(PRINCIPAL_KEY)
        if caller is not None:
            key = f"user:{caller.subject}"
        else:
            key = f"ip:{client_ip(request, trusted_proxies)}"
        decision = await limiter.check(key)
        headers = decision.headers()
        if not decision.allowed:
            raise ProblemError(
                "RATE_LIMITED",
                f"more than {limiter.per_minute} requests per minute; retry after "
                f"{decision.retry_after_seconds} s",
                headers=headers,
            )
        try:
            response = await handler(request)
        except ProblemError as exc:
            exc.headers.update(headers)
            raise
        response.headers.update(headers)
        return response

    return middleware
