"""Figures the benchmarks share."""

from __future__ import annotations


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (0..1) of ``values`` (not empty)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def lateness_rows(
    late: list[float], base: list[float], *, p99_target: str = "< 1000"
) -> list[tuple[str, str, str, str]]:
    """Table rows (measure, value, baseline, target) of lateness p50/p99/max in ms, from
    seconds; ``p99_target`` is the p99's target column (one second unless given)."""
    ms = 1000
    return [
        (
            "lateness p50 (ms)",
            f"{percentile(late, 0.5) * ms:.0f}",
            f"{percentile(base, 0.5) * ms:.1f}",
            "",
        ),
        (
            "lateness p99 (ms)",
            f"{percentile(late, 0.99) * ms:.0f}",
            f"{percentile(base, 0.99) * ms:.1f}",
            p99_target,
        ),
        ("lateness max (ms)", f"{max(late) * ms:.0f}", f"{max(base) * ms:.1f}", ""),
    ]
