"""Typed ``web.AppKey``s: everything the gateway keeps on its application."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from bookings_web.observability import HttpMetrics

from .ratelimit import KeyedRateLimiter
from .settings import Settings
from .upstream import CoreClient

SETTINGS = web.AppKey("settings", Settings)
CORE = web.AppKey("core", CoreClient)
RATE_LIMITER = web.AppKey("rate_limiter", KeyedRateLimiter)
METRICS = web.AppKey("metrics", HttpMetrics)
OPENAPI = web.AppKey("openapi", dict[str, Any])
