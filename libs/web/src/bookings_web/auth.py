"""JWT authentication for the HTTP services, one set of rules for all of them.

Tokens are bearer tokens (RFC 6750) in ``Authorization``, or for browsers that
cannot set headers on WebSocket/EventSource, ``?access_token=`` when a service
allows it. Verification follows RFC 8725 (JWT best current practice): the
algorithm is pinned by configuration (``alg: none`` and algorithm confusion
such as an RS256 public key used as an HS256 secret are rejected), ``exp`` is
required, ``iss``/``aud`` are checked when configured, and a small leeway
absorbs clock skew.

Claims (the contract): ``sub``, ``role`` (``customer`` | ``provider``),
``customerId`` for customers, ``providerId`` for providers, ``exp``.

aiohttp-jwt's ``JWTMiddleware`` does the verification. It passes PyJWT neither
``leeway`` nor ``options["require"]``, raises 403 for a malformed header and
logs rejected tokens with a stack trace, so ``authentication_middleware``
wraps it: it extracts the token itself, checks ``exp`` is present, turns every
failure into one 401 problem (``AuthenticationFailed``, logged as one line),
and re-checks a token aiohttp-jwt rejected once with the full rules and the
leeway, so a token that expired two seconds ago on a skewed clock still works.
"""

from __future__ import annotations

import enum
import functools
import logging
import re
import time
import uuid
import warnings
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import jwt
from aiohttp import hdrs, web
from aiohttp.web_exceptions import NotAppKeyWarning
from aiohttp_jwt import JWTMiddleware
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from environs import Env
from marshmallow.validate import Range

from .client_ip import IpNetwork, client_ip
from .jwks import JwksCache
from .problems import AuthenticationFailed, ProblemError
from .ratelimit import RateLimiter

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Accepted spellings -> PyJWT's names.
ALGORITHMS: Final = {"HS256": "HS256", "RS256": "RS256", "EDDSA": "EdDSA"}
MIN_HS256_SECRET_BYTES: Final = 32  # RFC 7518, section 3.2: key as long as the hash output
MIN_RSA_KEY_BITS: Final = 2048  # RFC 7518, section 3.3
CLAIMS_KEY: Final = "jwt_claims"  # aiohttp-jwt's request_property (it only takes a str)
_BEARER = re.compile(r"bearer +([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*)", re.IGNORECASE)


class Role(enum.StrEnum):
    """Who a token speaks for."""

    CUSTOMER = "customer"
    PROVIDER = "provider"
    # A signed-in administrator of one organisation (tokens from POST /auth/login).
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class JwtSettings:
    """How tokens are verified: ``key`` is the HS256 secret or the RS256 PEM public key;
    with ``jwks_url`` the keys come from that JWK Set instead, chosen by ``kid``, and
    ``algorithms`` lists what they may sign with (EdDSA, RS256)."""

    algorithm: str
    key: str
    issuer: str | None = None
    audience: str | None = None
    leeway_seconds: float = 10.0
    jwks_url: str | None = None
    algorithms: tuple[str, ...] = ()
    # The key set is fetched again for an unknown kid at most this often (seconds).
    jwks_min_refresh_seconds: float = 10.0

    @property
    def allowed_algorithms(self) -> tuple[str, ...]:
        return self.algorithms or (self.algorithm,)

    @classmethod
    def from_env(cls, env: Env) -> JwtSettings:
        """Read ``JWT_ALGORITHM`` (``HS256``, ``RS256``, ``EdDSA``, or a list of the last
        two), ``JWT_SECRET`` / ``JWT_PUBLIC_KEY_FILE`` / ``JWT_JWKS_URL`` (with
        ``JWT_JWKS_MIN_REFRESH_SECONDS``), ``JWT_ISSUER``, ``JWT_AUDIENCE``,
        ``JWT_LEEWAY_SECONDS``.

        Raises ``ValueError`` naming the setting for an unknown algorithm, an
        HS256 secret shorter than 32 bytes, or an unreadable, non-RSA or short
        RS256 public key.
        """
        names = [a.strip() for a in env.str("JWT_ALGORITHM", "HS256").split(",") if a.strip()]
        algorithms = tuple(ALGORITHMS.get(a.upper(), a) for a in names)
        if not algorithms or any(a not in ALGORITHMS.values() for a in algorithms):
            raise ValueError(
                '"JWT_ALGORITHM" must be HS256 or RS256 or EdDSA (several: RS256,EdDSA)'
            )
        if "HS256" in algorithms and len(algorithms) > 1:
            raise ValueError('"JWT_ALGORITHM" cannot mix HS256 with public-key algorithms')
        algorithm = algorithms[0]
        jwks_url = env.str("JWT_JWKS_URL", "") or None
        key = ""
        if algorithm == "HS256":
            key = env.str("JWT_SECRET", "")
            if len(key.encode()) < MIN_HS256_SECRET_BYTES:
                raise ValueError(
                    f'"JWT_SECRET" must be at least {MIN_HS256_SECRET_BYTES} bytes for HS256'
                )
            jwks_url = None
        elif jwks_url is None:
            if algorithms != ("RS256",):
                raise ValueError('"JWT_JWKS_URL" is required for EdDSA')
            key = read_rsa_public_key(env.str("JWT_PUBLIC_KEY_FILE", ""))
        elif not jwks_url.startswith(("http://", "https://")):
            raise ValueError('"JWT_JWKS_URL" must be an http(s) URL')
        return cls(
            algorithm=algorithm,
            key=key,
            issuer=env.str("JWT_ISSUER", "") or None,
            audience=env.str("JWT_AUDIENCE", "") or None,
            leeway_seconds=env.float("JWT_LEEWAY_SECONDS", 10.0, validate=Range(min=0, max=300)),
            jwks_url=jwks_url,
            algorithms=algorithms,
            jwks_min_refresh_seconds=env.float(
                "JWT_JWKS_MIN_REFRESH_SECONDS", 10.0, validate=Range(min=0, max=3600)
            ),
        )


def read_rsa_public_key(path: str) -> str:
    """Return the PEM text of an RSA public key of at least 2048 bits; ``ValueError`` otherwise."""
    if not path:
        raise ValueError('"JWT_PUBLIC_KEY_FILE" is required for RS256')
    try:
        pem = Path(path).read_text()
        key = load_pem_public_key(pem.encode())
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f'"JWT_PUBLIC_KEY_FILE" is not a readable PEM public key: {exc}') from None
    if not isinstance(key, RSAPublicKey) or key.key_size < MIN_RSA_KEY_BITS:
        raise ValueError(
            f'"JWT_PUBLIC_KEY_FILE" must hold an RSA key of >= {MIN_RSA_KEY_BITS} bits'
        )
    return pem


@dataclass(frozen=True, slots=True)
class Principal:
    """The verified caller: ``customer_id`` is set for customers, ``provider_id`` for
    providers, ``organisation_id`` for admins (and for providers who signed in);
    ``user_id`` for staff who signed in (``sub`` = ``user:<uuid>``); ``expires_at`` is
    the token's ``exp`` (seconds since the epoch), for connections that outlive requests."""

    subject: str
    role: Role
    customer_id: str | None = None
    provider_id: str | None = None
    organisation_id: str | None = None
    user_id: str | None = None
    expires_at: float | None = field(default=None, compare=False)

    @property
    def owner_id(self) -> str:
        """The customer, provider or (admin) organisation id the token speaks for."""
        owner = {
            Role.CUSTOMER: self.customer_id,
            Role.PROVIDER: self.provider_id,
            Role.ADMIN: self.organisation_id,
        }[self.role]
        assert owner is not None
        return owner


PRINCIPAL_KEY: Final = web.RequestKey("principal", Principal)
_TOKEN_KEY: Final = web.RequestKey("jwt_token", str)
_VERIFIED: Final = web.Response(status=204)


async def _verified(_request: web.Request) -> web.StreamResponse:
    """aiohttp-jwt's downstream handler: reached only when it accepted the token."""
    return _VERIFIED


def _uuid_claim(claims: dict[str, Any], name: str) -> str | None:
    value = claims.get(name)
    try:
        return str(uuid.UUID(value)) if isinstance(value, str) else None
    except ValueError:
        return None


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    """Check the contract's claims on a verified payload; raises ``AuthenticationFailed``.

    ``role`` is customer (``customerId``), provider (``providerId``) or admin
    (``organisationId``); a staff user's ``sub`` is ``user:<uuid>``.
    """
    if not isinstance(claims.get("exp"), int | float):
        raise AuthenticationFailed('token has no "exp" claim')
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise AuthenticationFailed('token has no "sub" claim')
    try:
        role = Role(str(claims.get("role")))
    except ValueError:
        raise AuthenticationFailed('token "role" must be customer, provider or admin') from None
    id_claim = {
        Role.CUSTOMER: "customerId",
        Role.PROVIDER: "providerId",
        Role.ADMIN: "organisationId",
    }[role]
    owner = _uuid_claim(claims, id_claim)
    if owner is None:
        raise AuthenticationFailed(f'a {role} token needs a uuid "{id_claim}" claim')
    kind, _, user = subject.partition(":")
    user_id = _uuid_claim({"id": user}, "id") if kind == "user" else None
    expires_at = float(claims["exp"])
    if role is Role.CUSTOMER:
        return Principal(subject, role, customer_id=owner, expires_at=expires_at)
    organisation = _uuid_claim(claims, "organisationId")
    if role is Role.PROVIDER:
        return Principal(
            subject,
            role,
            provider_id=owner,
            organisation_id=organisation,
            user_id=user_id,
            expires_at=expires_at,
        )
    return Principal(subject, role, organisation_id=owner, user_id=user_id, expires_at=expires_at)


def decode_claims(token: str, settings: JwtSettings, key: Any = None) -> dict[str, Any]:
    """Verify ``token`` with every rule and the leeway (against ``key``, else the
    configured one); raises ``AuthenticationFailed``."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key if key is not None else settings.key,
            algorithms=list(settings.allowed_algorithms),
            issuer=settings.issuer,
            audience=settings.audience,
            leeway=settings.leeway_seconds,
            options={"require": ["exp", "sub"]},
        )
    except jwt.InvalidTokenError as exc:
        raise AuthenticationFailed(f"invalid token: {exc}") from None
    return claims


def bearer_token(request: web.Request, *, allow_query_token: bool = False) -> str:
    """The compact JWS from ``Authorization: Bearer <token>`` (scheme case-insensitive, RFC 7235),
    else from ``?access_token=`` when allowed; raises ``AuthenticationFailed``."""
    header = request.headers.get(hdrs.AUTHORIZATION)
    if header is not None:
        match = _BEARER.fullmatch(header.strip())
        if match is None:
            raise AuthenticationFailed("Authorization header must be 'Bearer <token>'")
        return match.group(1)
    if allow_query_token and "access_token" in request.query:
        return request.query["access_token"]
    raise AuthenticationFailed("missing bearer token")


class VerifiedTokens:
    """The principals of tokens verified lately, so a client's next request with the
    same token skips the signature check (HMAC or EdDSA/RSA, most of what
    authentication costs).

    Keyed by the exact compact token, so nothing unverified can hit. An entry is
    used until the token's ``exp`` (plus the leeway) and for at most ``max_age``
    seconds (a key withdrawn from the JWKS stops working within that time); at
    most ``size`` entries, least recently used dropped first. Tokens without a
    numeric ``exp`` are never kept.
    """

    def __init__(self, *, leeway_seconds: float, max_age: float = 60.0, size: int = 4096) -> None:
        self._leeway = leeway_seconds
        self._max_age = max_age
        self._size = size
        self._entries: dict[str, tuple[Principal, float]] = {}

    def get(self, token: str) -> Principal | None:
        entry = self._entries.pop(token, None)
        if entry is None:
            return None
        principal, until = entry
        if time.time() >= until:
            return None
        self._entries[token] = entry  # now the most recently used
        return principal

    def put(self, token: str, principal: Principal) -> None:
        if principal.expires_at is None:
            return
        until = min(principal.expires_at + self._leeway, time.time() + self._max_age)
        self._entries.pop(token, None)
        self._entries[token] = (principal, until)
        while len(self._entries) > self._size:
            del self._entries[next(iter(self._entries))]


class Authenticator:
    """Verifies a request's bearer token into its ``Principal``: the rules of the
    module docstring, ``VerifiedTokens`` for repeat requests and, with
    ``failure_limiter``, a limit on failed attempts per client address.

    With ``failure_limiter``, failed authentications (missing, bad or expired
    tokens) are counted per client address (``trusted_proxies`` as for the rate
    limit): past its limit a failure answers 429 ``RATE_LIMITED`` with
    ``Retry-After`` instead of 401, so guessing tokens costs time; good tokens
    from that address are unaffected. With ``jwks`` (``settings.jwks_url``),
    tokens are verified against that key set by ``kid``. ``cache_size`` 0 keeps
    no verified tokens (a service whose clients present each token once).
    """

    def __init__(
        self,
        settings: JwtSettings,
        *,
        allow_query_token: bool = False,
        jwks: JwksCache | None = None,
        failure_limiter: RateLimiter | None = None,
        trusted_proxies: Sequence[IpNetwork] = (),
        cache_size: int = 4096,
    ) -> None:
        # aiohttp-jwt logs every rejected token with a traceback; we log one line instead.
        logging.getLogger("aiohttp_jwt").setLevel(logging.CRITICAL)
        # It also stores the claims under a str key, which aiohttp 3.14 warns about.
        warnings.filterwarnings("ignore", category=NotAppKeyWarning, module="aiohttp_jwt")
        self._settings = settings
        self._allow_query_token = allow_query_token
        self._jwks = jwks
        self._failure_limiter = failure_limiter
        self._trusted_proxies = trusted_proxies
        self._verified = (
            VerifiedTokens(leeway_seconds=settings.leeway_seconds, size=cache_size)
            if cache_size > 0
            else None
        )

        async def token_getter(request: web.Request) -> str:
            token = bearer_token(request, allow_query_token=allow_query_token)
            request[_TOKEN_KEY] = token
            return token

        # With a key set, tokens are verified against it by kid (below) instead.
        self._verify = (
            JWTMiddleware(
                settings.key,
                request_property=CLAIMS_KEY,
                credentials_required=True,
                token_getter=token_getter,
                algorithms=[settings.algorithm],
                issuer=settings.issuer,
                audience=settings.audience,
            )
            if jwks is None
            else None
        )

    async def authenticate(self, request: web.Request) -> Principal:
        """The request's verified principal; raises ``AuthenticationFailed`` (401), or
        ``ProblemError`` ``RATE_LIMITED`` (429) past the failure limit."""
        try:
            token = bearer_token(request, allow_query_token=self._allow_query_token)
            cached = self._verified.get(token) if self._verified is not None else None
            if cached is not None:
                return cached
            principal = principal_from_claims(await self._claims(request, token))
            if self._verified is not None:
                self._verified.put(token, principal)
            return principal
        except AuthenticationFailed:
            if self._failure_limiter is not None:
                address = client_ip(request, self._trusted_proxies)
                decision = await self._failure_limiter.check(f"auth-failures:{address}")
                if not decision.allowed:
                    raise ProblemError(
                        "RATE_LIMITED",
                        "too many failed authentications from this address; retry later",
                        headers={"Retry-After": str(decision.retry_after_seconds)},
                    ) from None
            raise

    async def _claims(self, request: web.Request, token: str) -> dict[str, Any]:
        settings = self._settings
        if self._jwks is not None:
            key, algorithm = await self._jwks.verify(token, settings.allowed_algorithms)
            return decode_claims(token, replace(settings, algorithms=(algorithm,)), key.key)
        assert self._verify is not None
        # aiohttp-jwt verifies in front of a stand-in handler, not around ours:
        # its frame, the token and the claims are gone before a long-lived
        # handler (WebSocket, SSE) starts, and our handler's own 401/403 errors
        # are never mistaken for its rejections.
        try:
            await self._verify(request, _verified)
            claims: dict[str, Any] = request.pop(CLAIMS_KEY)
        except web.HTTPException as exc:
            if exc.status not in (401, 403) or _TOKEN_KEY not in request:
                raise
            # aiohttp-jwt rejected the token without leeway: decide with the full
            # rules (this also gives the precise reason for the log line).
            claims = decode_claims(request[_TOKEN_KEY], settings)
        del request[_TOKEN_KEY]
        return claims


def authentication_middleware(
    settings: JwtSettings,
    *,
    public_paths: Iterable[str] = (),
    allow_query_token: bool = False,
    is_public: Callable[[web.Request], bool] | None = None,
    jwks: JwksCache | None = None,
    failure_limiter: RateLimiter | None = None,
    trusted_proxies: Sequence[IpNetwork] = (),
) -> Any:
    """Middleware that sets ``request[PRINCIPAL_KEY]`` (see ``Authenticator``) or raises
    ``AuthenticationFailed`` (401).

    ``public_paths`` are regular expressions matched (``re.fullmatch``) against
    the path; those requests, requests ``is_public`` says are public (by more
    than their path), CORS preflights (``OPTIONS``) and requests no route
    matches (so they get their 404 or 405) pass unauthenticated.
    """
    public = [re.compile(pattern) for pattern in public_paths]
    authenticator = Authenticator(
        settings,
        allow_query_token=allow_query_token,
        jwks=jwks,
        failure_limiter=failure_limiter,
        trusted_proxies=trusted_proxies,
    )

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not (
            request.method == hdrs.METH_OPTIONS
            or request.match_info.http_exception is not None  # 404/405: say so, not 401
            or any(p.fullmatch(request.path) for p in public)
            or (is_public is not None and is_public(request))
        ):
            request[PRINCIPAL_KEY] = await authenticator.authenticate(request)
        return await handler(request)

    return middleware


def roles(*allowed: Role) -> Callable[[Handler], Handler]:
    """Guard a handler: 401 without a principal, 403 ``FORBIDDEN`` for another role."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            principal = request.get(PRINCIPAL_KEY)
            if principal is None:
                raise AuthenticationFailed("authentication required")
            if principal.role not in allowed:
                raise ProblemError("FORBIDDEN", f"not allowed for role {principal.role}")
            return await handler(request)

        return guarded

    return decorate


def principal(request: web.Request) -> Principal:
    """The request's verified ``Principal``; raises ``AuthenticationFailed`` if there is none."""
    if PRINCIPAL_KEY not in request:
        raise AuthenticationFailed("authentication required")
    return request[PRINCIPAL_KEY]


def issue_token(
    settings: JwtSettings, role: Role, owner_id: str, *, ttl_seconds: int = 3600
) -> str:
    """Sign a development token for ``role`` and ``owner_id`` (a uuid) valid ``ttl_seconds``.

    HS256 only (the gateway holds just the public key under RS256); raises
    ``ValueError`` otherwise or for a malformed id.
    """
    if settings.algorithm != "HS256":
        raise ValueError("development tokens need JWT_ALGORITHM=HS256")
    owner = str(uuid.UUID(owner_id))
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": f"{role}:{owner}",
        "role": str(role),
        "customerId" if role is Role.CUSTOMER else "providerId": owner,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    if settings.issuer:
        claims["iss"] = settings.issuer
    if settings.audience:
        claims["aud"] = settings.audience
    return jwt.encode(claims, settings.key, algorithm="HS256")
