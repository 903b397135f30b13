"""Typed ``web.AppKey``s: everything the gateway keeps on its application."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from bookings_web.observability import HttpMetrics
from bookings_web.ratelimit import RateLimiter

from .settings import Settings
from .upstream import CoreClient
from .upstream_event_types import EventTypesClient
from .upstream_identity import IdentityClient
from .upstream_mail import MailClient
from .upstream_ticketing import TicketingClient

SETTINGS = web.AppKey("settings", Settings)
CORE = web.AppKey("core", CoreClient)
EVENT_TYPES = web.AppKey("event_types", EventTypesClient)
IDENTITY = web.AppKey("identity", IdentityClient)
MAIL = web.AppKey("mail", MailClient)
TICKETING = web.AppKey("ticketing", TicketingClient)
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)
PUBLIC_BOOKING_LIMITER = web.AppKey("public_booking_limiter", RateLimiter)
METRICS = web.AppKey("metrics", HttpMetrics)
OPENAPI = web.AppKey("openapi", dict[str, Any])
