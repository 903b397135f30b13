"""Verifying tokens against a JWK Set fetched over HTTP (``JWT_JWKS_URL``), the way an
OpenID Connect relying party does: keys are cached by ``kid`` and the set is fetched
again when a token names a ``kid`` it does not know (at most every
``min_refresh_seconds``, so random ``kid`` values cannot make us hammer the
publisher). The algorithm comes from our configuration and must be the key's own
(RFC 8725, section 3.1: no algorithm confusion, no ``alg: none``).

PyJWT's ``PyJWKClient`` does the same with blocking ``urllib``; this is its asyncio
equivalent on aiohttp, with PyJWT parsing the set (``PyJWKSet``).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import aiohttp
import jwt
from bookings_common.logging import get_logger

from .problems import AuthenticationFailed, ProblemError

if TYPE_CHECKING:
    from .auth import JwtSettings

log = get_logger("bookings_web.jwks")


class JwksCache:
    """The keys of one JWK Set URL; ``close()`` when the application stops."""

    def __init__(
        self,
        url: str,
        *,
        min_refresh_seconds: float = 10.0,
        timeout_seconds: float = 3.0,
    ) -> None:
        self._url = url
        self._min_refresh = min_refresh_seconds
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _fetch(self) -> None:
        self._fetched_at = time.monotonic()
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.get(self._url) as response:
                response.raise_for_status()
                document = await response.json(content_type=None)
            keys = jwt.PyJWKSet.from_dict(document).keys
        except (aiohttp.ClientError, TimeoutError, ValueError, jwt.PyJWKSetError) as exc:
            log.warning("jwks.fetch_failed", url=self._url, error=repr(exc))
            return
        self._keys = {key.key_id: key for key in keys if key.key_id}
        log.info("jwks.fetched", url=self._url, kids=sorted(self._keys))

    async def key(self, kid: str) -> jwt.PyJWK | None:
        """The key with this ``kid``, fetching the set again if it is not known yet.

        Raises ``ProblemError`` (503) when no key could ever be fetched."""
        if kid not in self._keys:
            async with self._lock:
                if (
                    kid not in self._keys
                    and time.monotonic() - self._fetched_at >= self._min_refresh
                ):
                    await self._fetch()
        if not self._keys:
            raise ProblemError(
                "UPSTREAM_UNAVAILABLE",
                "the signing keys cannot be fetched; retry",
                headers={"Retry-After": "1"},
            )
        return self._keys.get(kid)

    async def verify(self, token: str, algorithms: tuple[str, ...]) -> tuple[jwt.PyJWK, str]:
        """The key and algorithm a token must be verified with; raises
        ``AuthenticationFailed`` for a malformed header, an algorithm we do not accept, a
        missing or unknown ``kid``, or a key of another kind than the algorithm."""
        try:
            header: dict[str, Any] = jwt.get_unverified_header(token)
        except jwt.DecodeError as exc:
            raise AuthenticationFailed(f"invalid token: {exc}") from None
        algorithm, kid = header.get("alg"), header.get("kid")
        if algorithm not in algorithms:
            raise AuthenticationFailed(f"invalid token: algorithm {algorithm!r} is not accepted")
        if not isinstance(kid, str) or not kid:
            raise AuthenticationFailed('invalid token: no "kid" header')
        key = await self.key(kid)
        if key is None:
            raise AuthenticationFailed(f"invalid token: unknown key {kid!r}")
        if key.algorithm_name != algorithm:
            raise AuthenticationFailed("invalid token: the key does not sign with that algorithm")
        return key, algorithm


def jwks_cache(settings: JwtSettings) -> JwksCache | None:
    """The key cache ``settings`` ask for (``JWT_JWKS_URL``), or ``None``."""
    if settings.jwks_url is None:
        return None
    return JwksCache(settings.jwks_url, min_refresh_seconds=settings.jwks_min_refresh_seconds)
