"""The broker module: ``dramatiq payment_service.broker --queues payments`` starts the
service.

Importing it reads the settings (exiting with one line if one is bad), sets up
JSON logging, builds the Redis broker with its middleware (dramatiq's defaults,
``AsyncIO``, ``Prometheus`` on ``dramatiq_prom_port``) and registers the actor.
"""

from __future__ import annotations

import dramatiq
from bookings_common.dramatiq_redis import RedisBroker
from bookings_common.dramatiq_tracing import TracingMiddleware
from bookings_common.logging import configure_logging
from bookings_common.tracing import configure_tracing
from dramatiq.middleware import AsyncIO, default_middleware
from dramatiq.middleware.prometheus import Prometheus

from .settings import load_settings

settings = load_settings()
configure_logging("payment-service", settings.log_level)
configure_tracing("payment-service")
broker = RedisBroker(  # type: ignore[no-untyped-call]
    url=settings.redis_url,
    middleware=[m() for m in default_middleware] + [TracingMiddleware(), AsyncIO(), Prometheus()],
    socket_connect_timeout=1.0,
    socket_timeout=5.0,
)
dramatiq.set_broker(broker)

from . import actors  # noqa: E402, F401 - registers the actor on this broker
