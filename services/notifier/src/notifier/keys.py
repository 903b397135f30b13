"""Typed ``web.AppKey``s: everything the notifier keeps on its application."""

from __future__ import annotations

from aiohttp import web
from bookings_web.auth import Authenticator

from .connections import Registry
from .core import CoreEvents
from .leases import ConnectionLeases
from .listener import EventListener
from .metrics import NotifierMetrics
from .settings import Settings

SETTINGS = web.AppKey("settings", Settings)
REGISTRY = web.AppKey("registry", Registry)
METRICS = web.AppKey("metrics", NotifierMetrics)
CORE = web.AppKey("core", CoreEvents)
LISTENER = web.AppKey("listener", EventListener)
LEASES = web.AppKey("leases", ConnectionLeases)
AUTHENTICATOR = web.AppKey("authenticator", Authenticator)
