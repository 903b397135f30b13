"""The gateway's composition root: ``create_app(settings)`` wires every middleware,
route and resource; the booking-core channel lives in a cleanup context."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Final

from aiohttp import web
from bookings_common.grpc import create_channel
from bookings_web.auth import authentication_middleware
from bookings_web.cors import enable_cors
from bookings_web.jwks import jwks_cache
from bookings_web.observability import HttpMetrics
from bookings_web.ratelimit import RateLimiter
from bookings_web.shared_ratelimit import limits_redis, rate_limiter
from swagger_ui import api_doc

from . import (
    admin_views,
    auth_views,
    event_type_views,
    keys,
    mail_views,
    ticketing_views,
    views,
    web_app,
)
from .openapi import build_spec
from .parsing import MAX_BODY_BYTES
from .ratelimit import rate_limit_middleware
from .settings import Settings
from .upstream import CoreClient
from .upstream_event_types import EventTypesClient
from .upstream_identity import IdentityClient
from .upstream_mail import MailClient
from .upstream_ticketing import TicketingClient

DOCS_PREFIX: Final = "/docs"
# Never authenticated; the first three are never rate-limited either (probes, scrapers).
UNLIMITED_PATHS: Final = frozenset({"/health", "/ready", "/metrics"})
PUBLIC_PATHS: Final = (
    *(path for path in sorted(UNLIMITED_PATHS)),
    "/openapi.json",
    "/dev/token",
    f"{DOCS_PREFIX}(/.*)?",
    "/public/.*",
    "/auth/(login|refresh|logout)",
    "/\\.well-known/jwks\\.json",
    *web_app.PUBLIC_PATHS,
)
CORS_HEADERS: Final = ("Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID")
CORS_EXPOSED: Final = (
    "Location",
    "Idempotent-Replayed",
    "Retry-After",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "X-Request-ID",
)


async def core_channel(app: web.Application) -> AsyncIterator[None]:
    """One long-lived grpclib channel to booking-core, closed on shutdown."""
    settings = app[keys.SETTINGS]
    channel = create_channel(settings.core_grpc_target, internal_token=settings.internal_token)
    app[keys.CORE] = CoreClient(channel, deadline_seconds=settings.core_deadline_seconds)
    app[keys.EVENT_TYPES] = EventTypesClient(
        channel, deadline_seconds=settings.core_deadline_seconds
    )
    app[keys.IDENTITY] = IdentityClient(channel, deadline_seconds=settings.core_deadline_seconds)
    app[keys.MAIL] = MailClient(channel, deadline_seconds=settings.core_deadline_seconds)
    app[keys.TICKETING] = TicketingClient(channel, deadline_seconds=settings.core_deadline_seconds)
    yield
    channel.close()


def create_app(settings: Settings) -> web.Application:
    """The gateway application for ``settings`` (nothing connects until startup)."""
    # Errors are rendered as problem+json by the outermost middleware itself.
    metrics = HttpMetrics(problems=True)
    metrics.log_malformed_requests()
    jwks = jwks_cache(settings.jwt)
    redis = limits_redis(settings.limits_redis_url) if settings.limits_redis_url else None

    def limiter_for(name: str, per_minute: int) -> RateLimiter:
        prefix = f"{settings.limits_key_prefix}:{name}"
        return rate_limiter(redis, per_minute, prefix=prefix, max_keys=settings.rate_limit_max_keys)

    limiter = limiter_for("requests", settings.rate_limit_per_minute)
    app = web.Application(
        client_max_size=MAX_BODY_BYTES,
        middlewares=[
            metrics.middleware,
            authentication_middleware(
                settings.jwt,
                public_paths=PUBLIC_PATHS,
                is_public=ticketing_views.is_guest_request,
                jwks=jwks,
                failure_limiter=limiter_for(
                    "auth-failures", settings.auth_failure_rate_limit_per_minute
                ),
                trusted_proxies=settings.trusted_proxies,
            ),
            rate_limit_middleware(
                limiter,
                settings.trusted_proxies,
                exempt_paths=UNLIMITED_PATHS,
                exempt_prefixes=(web_app.ASSETS_PREFIX,),
            ),
        ],
    )
    app[keys.SETTINGS] = settings
    app[keys.METRICS] = metrics
    app[keys.RATE_LIMITER] = limiter
    app[keys.PUBLIC_BOOKING_LIMITER] = limiter_for(
        "public-bookings", settings.public_booking_rate_limit_per_minute
    )
    app[keys.OPENAPI] = build_spec(development=settings.development)
    app.cleanup_ctx.append(core_channel)
    if jwks is not None:
        app.on_cleanup.append(lambda _app: jwks.close())
    if redis is not None:
        app.on_cleanup.append(lambda _app: redis.aclose())

    app.add_routes(mail_views.routes)  # first: /bookings/{id}.ics before /bookings/{id}
    app.add_routes(views.routes)
    app.add_routes(event_type_views.routes)
    app.add_routes(auth_views.routes)
    app.add_routes(admin_views.routes)
    app.add_routes(ticketing_views.routes)
    app.router.add_get("/metrics", metrics.handler)
    web_app.add_web_app(app, settings.web_dist_dir)
    if settings.development:
        app.router.add_post("/dev/token", views.dev_token)
    # Swagger UI 5 from local assets; it fetches the document at /docs/openapi.json.
    app.router.add_get(f"{DOCS_PREFIX}/openapi.json", views.openapi)
    api_doc(app, config_rel_url="/openapi.json", url_prefix=DOCS_PREFIX, title="Bookings API")
    enable_cors(
        app,
        settings.cors_allowed_origins,
        allow_headers=CORS_HEADERS,
        expose_headers=CORS_EXPOSED,
        allow_methods=("GET", "POST", "PATCH", "DELETE"),
    )
    return app
