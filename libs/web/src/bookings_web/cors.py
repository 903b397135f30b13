"""Browser origins: CORS headers (aiohttp-cors) and the ``Origin`` check for
WebSocket and EventSource connections.

``CORS_ALLOWED_ORIGINS`` is a comma-separated list of exact origins
(``https://app.example.com``, RFC 6454 serialization, no trailing slash). An
empty list allows no browser origin: requests without an ``Origin`` header
(servers, curl) are never affected.
"""

from __future__ import annotations

from collections.abc import Iterable

import aiohttp_cors
from aiohttp import hdrs, web
from environs import Env

SETTING = "CORS_ALLOWED_ORIGINS"


def allowed_origins(env: Env, name: str = SETTING) -> tuple[str, ...]:
    """Read the allowed origins; raises ``ValueError`` for ``*`` (list origins explicitly)."""
    listed: list[str] = env.list(name, [])
    origins = tuple(o.strip().rstrip("/") for o in listed if o.strip())
    if "*" in origins:
        raise ValueError(f'"{name}" must list origins, not "*"')
    return origins


def origin_allowed(request: web.Request, origins: Iterable[str]) -> bool:
    """True when the request has no ``Origin`` (not a browser) or one of ``origins``."""
    origin = request.headers.get(hdrs.ORIGIN)
    return origin is None or origin.rstrip("/") in origins


def enable_cors(
    app: web.Application,
    origins: Iterable[str],
    *,
    allow_headers: Iterable[str],
    expose_headers: Iterable[str] = (),
    allow_methods: Iterable[str] = ("GET",),
) -> None:
    """Answer preflights and add CORS headers for ``origins`` on every non-static route
    (call after the routes are added; no-op when ``origins`` is empty)."""
    origins = tuple(origins)
    if not origins:
        return
    options = aiohttp_cors.ResourceOptions(  # type: ignore[no-untyped-call]
        allow_credentials=False,
        expose_headers=tuple(expose_headers),
        allow_headers=tuple(allow_headers),
        allow_methods=list(allow_methods),
        max_age=600,
    )
    cors = aiohttp_cors.setup(app, defaults=dict.fromkeys(origins, options))
    for route in list(app.router.routes()):
        if not isinstance(route.resource, web.StaticResource):
            cors.add(route)
