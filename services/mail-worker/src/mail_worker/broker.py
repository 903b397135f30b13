"""The broker module: ``dramatiq mail_worker.broker --queues mail`` starts the worker.

Importing it reads the settings (exiting with one line if one is bad), sets up
JSON logging, builds the Redis broker with its middleware and registers the
actor. Nothing connects until the worker boots.

A worker of its own rather than a queue of the reminder worker's: SMTP servers
are slow (seconds per message, more while one is struggling) and mail retries
for minutes, while reminders must fire within a second of being due. Separate
processes keep a mail backlog from ever delaying a reminder, and let each be
scaled and given threads for its own load.
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
configure_logging("mail-worker", settings.log_level)
configure_tracing("mail-worker")
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

from . import actors  # noqa: E402, F401 - registers the actor on this broker
