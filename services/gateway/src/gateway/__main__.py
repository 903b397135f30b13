"""``python -m gateway`` / ``gateway``: serve the REST API.

On SIGTERM aiohttp stops accepting, lets in-flight requests finish for up to
``SHUTDOWN_GRACE_SECONDS``, then runs the cleanup contexts (closing the
booking-core channel).
"""

from __future__ import annotations

from bookings_common.logging import configure_logging, get_logger
from bookings_common.runtime import tune_runtime
from bookings_common.tracing import configure_tracing
from bookings_common.wire import BOOKING_RESPONSES, install_upb_codec
from bookings_web.serve import serve

from .app import create_app
from .settings import load_settings


def main() -> None:
    settings = load_settings()
    configure_logging("gateway", settings.log_level)
    configure_tracing("gateway")
    get_logger("gateway").info(
        "gateway.starting",
        port=settings.port,
        core=settings.core_grpc_target,
        appEnv=settings.app_env,
        devTokens=settings.development,
    )
    app = create_app(settings)
    # Pages of bookings are decoded by protobuf's C codec (same objects as betterproto2's).
    install_upb_codec(*BOOKING_RESPONSES)
    tune_runtime()
    serve(
        app,
        host=settings.host,
        port=settings.port,
        shutdown_grace_seconds=settings.shutdown_grace_seconds,
    )


if __name__ == "__main__":
    main()
