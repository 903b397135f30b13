"""The notifier's composition root: ``create_app(settings)`` wires the middlewares,
routes, the connection registry, the booking-core channel and the Redis
listener (both in cleanup contexts), and closes every connection on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Final

from aiohttp import web
from bookings_common.grpc import create_channel
from bookings_common.logging import get_logger
from bookings_web.auth import Authenticator
from bookings_web.cors import enable_cors
from bookings_web.jwks import jwks_cache
from bookings_web.observability import HttpMetrics
from bookings_web.shared_ratelimit import limits_redis, rate_limiter
from prometheus_client import CollectorRegistry

from . import keys, views
from .connections import Registry
from .core import CoreEvents
from .leases import ConnectionLeases
from .listener import EventListener
from .metrics import NotifierMetrics
from .settings import Settings

log = get_logger("notifier")
CORS_HEADERS: Final = ("Authorization", "Last-Event-ID", "X-Request-ID")


async def core_channel(app: web.Application) -> AsyncIterator[None]:
    """One long-lived grpclib channel to booking-core, closed on shutdown."""
    settings = app[keys.SETTINGS]
    channel = create_channel(settings.core_grpc_target, internal_token=settings.internal_token)
    app[keys.CORE] = CoreEvents(channel, deadline_seconds=settings.core_deadline_seconds)
    yield
    channel.close()


async def event_listener(app: web.Application) -> AsyncIterator[None]:
    """The replica's Redis pub/sub listener task, cancelled and awaited on shutdown."""
    listener = EventListener(
        app[keys.SETTINGS].redis_url, app[keys.REGISTRY], app[keys.CORE], app[keys.METRICS]
    )
    app[keys.LISTENER] = listener
    task = asyncio.create_task(listener.run(), name="notifier.listener")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def connection_leases(app: web.Application) -> AsyncIterator[None]:
    """The renewal task of the connection leases (the per-user limit across replicas)."""
    task = asyncio.create_task(app[keys.LEASES].renew_forever(), name="notifier.leases")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def heartbeat(app: web.Application) -> AsyncIterator[None]:
    """The replica's heartbeat task (``Registry.heartbeat_forever``)."""
    settings = app[keys.SETTINGS]
    task = asyncio.create_task(
        app[keys.REGISTRY].heartbeat_forever(
            settings.heartbeat_seconds, send_timeout=settings.send_timeout_seconds
        ),
        name="notifier.heartbeat",
    )
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def close_connections(app: web.Application) -> None:
    """On shutdown: close WebSockets with 1001 and end SSE streams, within the grace period."""
    registry = app[keys.REGISTRY]
    connections = list(registry)
    log.info("notifier.closing", connections=len(connections))
    if connections:
        await asyncio.wait(
            [asyncio.ensure_future(c.close("shutdown")) for c in connections],
            timeout=max(app[keys.SETTINGS].shutdown_grace_seconds, 0.1),
        )


def create_app(settings: Settings) -> web.Application:
    """The notifier application for ``settings`` (nothing connects until startup)."""
    registry = CollectorRegistry()
    http_metrics = HttpMetrics(registry, problems=True)
    http_metrics.log_malformed_requests()
    jwks = jwks_cache(settings.jwt)
    metrics = NotifierMetrics(registry)
    # Limits shared by every replica: connection leases, failed authentications.
    redis = limits_redis(settings.redis_url)
    # One middleware, which also renders errors as problem+json: a middleware's frame
    # lives as long as the connection, so the streaming views authenticate with
    # ``keys.AUTHENTICATOR`` themselves.
    app = web.Application(middlewares=[http_metrics.middleware])
    app[keys.AUTHENTICATOR] = Authenticator(
        settings.jwt,
        allow_query_token=True,
        jwks=jwks,
        failure_limiter=rate_limiter(
            redis,
            settings.auth_failure_rate_limit_per_minute,
            prefix=f"{settings.limits_key_prefix}:notifier-auth-failures",
        ),
        trusted_proxies=settings.trusted_proxies,
        # Each connection shows its token once: remembering it only costs memory.
        cache_size=0,
    )
    app[keys.SETTINGS] = settings
    app[keys.METRICS] = metrics
    app[keys.REGISTRY] = Registry(
        metrics,
        max_per_user=settings.max_connections_per_user,
        max_public_per_ip=settings.max_public_connections_per_ip,
    )
    app[keys.LEASES] = ConnectionLeases(
        redis, max_per_user=settings.max_connections_per_user, prefix=settings.limits_key_prefix
    )
    app.on_cleanup.append(lambda _app: redis.aclose())
    app.cleanup_ctx.append(core_channel)
    app.cleanup_ctx.append(event_listener)
    app.cleanup_ctx.append(connection_leases)
    app.cleanup_ctx.append(heartbeat)
    if jwks is not None:
        app.on_cleanup.append(lambda _app: jwks.close())
    app.on_shutdown.append(close_connections)

    app.add_routes(views.routes)
    app.router.add_get("/metrics", http_metrics.handler)
    enable_cors(app, settings.cors_allowed_origins, allow_headers=CORS_HEADERS)
    return app
