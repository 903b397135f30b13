"""``python -m booking_core`` / ``booking-core``: run the gRPC server."""

from __future__ import annotations

import uvloop
from bookings_common.logging import configure_logging
from bookings_common.runtime import tune_runtime
from bookings_common.tracing import configure_tracing
from bookings_common.wire import BOOKING_RESPONSES, install_upb_codec

from .bootstrap import serve
from .settings import load_settings


def main() -> None:
    settings = load_settings()
    configure_logging("booking-core", settings.log_level)
    configure_tracing("booking-core")
    # Pages of bookings are coded by protobuf's C codec (same bytes as betterproto2's).
    install_upb_codec(*BOOKING_RESPONSES)
    tune_runtime()  # the modules are loaded; what serve() builds is short work
    uvloop.run(serve(settings))


if __name__ == "__main__":
    main()
