"""Running an aiohttp service the same way everywhere."""

from __future__ import annotations

import uvloop
from aiohttp import web


def serve(
    app: web.Application,
    *,
    host: str,
    port: int,
    shutdown_grace_seconds: float,
    cancel_on_disconnect: bool = False,
) -> None:
    """Serve ``app`` until SIGINT/SIGTERM: aiohttp then stops accepting, runs the
    ``on_shutdown`` hooks, lets in-flight handlers finish for up to
    ``shutdown_grace_seconds``, and runs the cleanup contexts. No access log and
    no banner: ``HttpMetrics.middleware`` logs one JSON line per request.

    The event loop is uvloop's (libuv), the services' loop everywhere.

    ``cancel_on_disconnect`` cancels a handler whose client went away (aiohttp's
    ``handler_cancellation``): right for long-lived streams that only send, wrong
    for handlers that write (a cancelled call may or may not have committed)."""
    web.run_app(
        app,
        host=host,
        port=port,
        shutdown_timeout=shutdown_grace_seconds,
        handler_cancellation=cancel_on_disconnect,
        access_log=None,
        print=None,
        loop=uvloop.new_event_loop(),
    )
