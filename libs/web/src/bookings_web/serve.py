"""Running an aiohttp service the same way everywhere."""

from __future__ import annotations

from aiohttp import web


def serve(app: web.Application, *, host: str, port: int, shutdown_grace_seconds: float) -> None:
    """Serve ``app`` until SIGINT/SIGTERM: aiohttp then stops accepting, runs the
    ``on_shutdown`` hooks, lets in-flight handlers finish for up to
    ``shutdown_grace_seconds``, and runs the cleanup contexts. No access log and
    no banner: ``HttpMetrics.middleware`` logs one JSON line per request."""
    web.run_app(
        app,
        host=host,
        port=port,
        shutdown_timeout=shutdown_grace_seconds,
        access_log=None,
        print=None,
    )
