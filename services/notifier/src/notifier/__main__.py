"""``python -m notifier`` / ``notifier``: serve WebSocket and SSE connections.

On SIGTERM aiohttp stops accepting, the shutdown hook closes every WebSocket
with 1001 and ends every SSE stream, handlers get ``SHUTDOWN_GRACE_SECONDS``
to finish, then the cleanup contexts stop the Redis listener and close the
booking-core channel.
"""

from __future__ import annotations

from bookings_common.logging import configure_logging, get_logger
from bookings_common.runtime import tune_runtime
from bookings_common.tracing import configure_tracing
from bookings_web.serve import serve

from .app import create_app
from .settings import load_settings


def main() -> None:
    settings = load_settings()
    configure_logging("notifier", settings.log_level)
    configure_tracing("notifier")
    get_logger("notifier").info(
        "notifier.starting",
        port=settings.port,
        core=settings.core_grpc_target,
        maxConnectionsPerUser=settings.max_connections_per_user,
    )
    app = create_app(settings)
    tune_runtime()
    serve(
        app,
        host=settings.host,
        port=settings.port,
        shutdown_grace_seconds=settings.shutdown_grace_seconds,
        # An SSE client that goes away is noticed at once, not at the next heartbeat.
        cancel_on_disconnect=True,
    )


if __name__ == "__main__":
    main()
