"""The broker module: ``dramatiq reminder_worker.broker`` starts the worker.

Importing it reads the settings (exiting with one line if one is bad), sets up
JSON logging, builds the Redis broker with its middleware and registers the
actors. Nothing connects until the worker boots.

Middleware: dramatiq's defaults (time limits, retries with backoff, shutdown
notifications, ...), ``AsyncIO`` for the async actor, ``Prometheus`` (metrics
on ``dramatiq_prom_port``, 9191 by default) and ``Clients`` (our gRPC and Redis
clients). Set ``dramatiq_worker_timeout=100`` in the environment (``make
run-worker`` does) so idle consumers poll every 100 ms instead of every
second: that poll interval bounds how late a reminder can be.
"""

from __future__ import annotations

import dramatiq
from bookings_common.dramatiq_redis import RedisBroker
from bookings_common.dramatiq_tracing import TracingMiddleware
from bookings_common.logging import configure_logging
from bookings_common.tracing import configure_tracing
from dramatiq.middleware import AsyncIO, default_middleware
from dramatiq.middleware.prometheus import Prometheus

from .clients import Clients
from .settings import load_settings

settings = load_settings()
configure_logging("reminder-worker", settings.log_level)
configure_tracing("reminder-worker")
clients = Clients(settings)
broker = RedisBroker(  # type: ignore[no-untyped-call]
    url=settings.redis_url,
    middleware=[
        *(m() for m in default_middleware),
        TracingMiddleware(),
        AsyncIO(),
        Prometheus(),
        clients,
    ],
    socket_connect_timeout=1.0,
    socket_timeout=5.0,
)
dramatiq.set_broker(broker)

from . import actors  # noqa: E402, F401 - registers the actors on this broker
