"""Process-wide runtime settings shared by the long-running services."""

from __future__ import annotations

import gc
from typing import Any, Final

import betterproto2

# CPython's default first threshold is 700 allocations: under load a collection of
# the youngest generation runs every few requests, and every tenth cascade scans
# the older ones. Objects live for one request here, so a larger first generation
# collects the same garbage far less often.
GC_THRESHOLDS: Final = (20_000, 20, 20)


def tune_gc() -> None:
    """Call once start-up is done: move everything allocated so far (modules,
    classes, compiled statements, settings) out of the collector's sight with
    ``gc.freeze`` (it is never garbage, yet a full collection would walk it every
    time) and raise the collection thresholds to ``GC_THRESHOLDS``. Garbage is
    still collected; collections are rarer and shorter, so the event loop stalls
    less (``bench/system.py`` shows the effect on p99)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _field_default(self: betterproto2.Message, field_name: str) -> Any:
    return self._betterproto.default_gen[field_name]()  # type: ignore[arg-type]


def speed_up_betterproto() -> None:
    """Serialize protobuf messages without a ``warnings.catch_warnings()`` per field.

    betterproto2 (0.10) compares every field with its default while encoding, and
    builds each default inside ``catch_warnings`` so that defaults of fields marked
    ``deprecated`` do not warn. Entering and leaving it copies the warning filters
    and invalidates their cache, a third of the time of encoding a page of 20
    bookings (1.7 -> 1.1 ms here). Our protos (``protos/``) mark no field
    deprecated, so the guard has nothing to silence; ``tests/unit`` checks that this
    stays true. Wire bytes are unchanged."""
    betterproto2.Message._get_field_default = _field_default  # type: ignore[method-assign]


def tune_runtime() -> None:
    """What every service's ``main`` does once start-up is done: ``speed_up_betterproto``
    then ``tune_gc``."""
    speed_up_betterproto()
    tune_gc()
