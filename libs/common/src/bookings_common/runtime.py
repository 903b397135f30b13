"""Process-wide runtime settings shared by the long-running services."""

from __future__ import annotations

import gc
from typing import Final

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
