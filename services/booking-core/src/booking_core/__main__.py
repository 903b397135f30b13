"""``python -m booking_core`` / ``booking-core``: run the gRPC server."""

from __future__ import annotations

import uvloop
from bookings_common.logging import configure_logging
from bookings_common.runtime import tune_runtime
from bookings_common.tracing import configure_tracing

from .bootstrap import serve
from .settings import load_settings


def main() -> None:
    settings = load_settings()
    configure_logging("booking-core", settings.log_level)
    configure_tracing("booking-core")
    tune_runtime()  # the modules are loaded; what serve() builds is short work
    uvloop.run(serve(settings))


if __name__ == "__main__":
    main()
