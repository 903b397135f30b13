"""Bad traffic benchmark: 50,000 malformed requests of ten kinds against the gateway.

Starts booking-core (a throwaway database) and one gateway process, then measures
``GET /health`` latency from a steady prober (one request every 10 ms), first on
its own (the baseline) and then while 16 connections send the malformed requests
as fast as the gateway answers them. Reports: every answer's status class, the
gateway's log volume for the flood (target under 1 MB), its RSS before and after
(bounded), the flood's rate, and the prober's p50/p99 next to the baseline. The
log volume includes the prober's own ``http.request`` lines (one per good request).

    make bench-bad-traffic      # or: .venv/bin/python bench/bad_traffic.py --requests 5000
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from bench.measure import percentile  # noqa: E402
from tests.integration.bad_requests import MALFORMED  # noqa: E402
from tests.integration.conftest import fresh_database  # noqa: E402
from tests.integration.harness import REDIS_URL, CoreProcess, GatewayProcess, rss_bytes  # noqa: E402

CONNECTIONS = 16
PROBE_INTERVAL = 0.01


async def probe(url: str, stop: asyncio.Event) -> list[float]:
    """``GET /health`` every PROBE_INTERVAL until ``stop``; the latencies in seconds."""
    latencies: list[float] = []
    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            started = time.perf_counter()
            async with session.get(f"{url}/health") as response:
                await response.read()
                assert response.status == 200
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(PROBE_INTERVAL)
    return latencies


async def flood(port: int, total: int) -> tuple[Counter[str], float]:
    """Send ``total`` malformed requests over CONNECTIONS workers (a new connection each:
    aiohttp closes one after a 400); the answers' status classes and the seconds taken."""
    statuses: Counter[str] = Counter()
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < total:
            raw = MALFORMED[next_index % len(MALFORMED)]
            next_index += 1
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                writer.write(raw)
                await writer.drain()
                line = await asyncio.wait_for(reader.readline(), timeout=10)
                statuses[line.split(b" ")[1][:1].decode() + "xx" if b" " in line else "none"] += 1
            except (ConnectionError, TimeoutError):
                statuses["error"] += 1
            finally:
                writer.close()
                await writer.wait_closed()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
    return statuses, time.perf_counter() - started


async def measure(total: int, workdir: Path) -> dict[str, Any]:
    async with fresh_database() as database_url:
        core = CoreProcess(database_url, REDIS_URL, workdir / "core.log")
        await core.start()
        gateway = GatewayProcess(core.port, workdir / "gateway.log")
        await gateway.start()
        try:
            stop = asyncio.Event()
            baseline_task = asyncio.create_task(probe(gateway.url, stop))
            await asyncio.sleep(3)
            stop.set()
            baseline = await baseline_task
            assert gateway.process is not None
            rss_before = rss_bytes(gateway.process.pid)
            log_before = gateway.log_path.stat().st_size
            stop = asyncio.Event()
            during_task = asyncio.create_task(probe(gateway.url, stop))
            statuses, seconds = await flood(gateway.port, total)
            stop.set()
            during = await during_task
            await asyncio.sleep(0.5)
            logged = gateway.log_path.read_bytes()[log_before:].splitlines()
            malformed = [line for line in logged if b'"http.malformed_request"' in line]
            return {
                "malformed_lines": len(malformed),
                "malformed_bytes": sum(len(line) + 1 for line in malformed),
                "total": total,
                "statuses": dict(statuses),
                "seconds": seconds,
                "log_bytes": gateway.log_path.stat().st_size - log_before,
                "rss_before": rss_before,
                "rss_after": rss_bytes(gateway.process.pid),
                "baseline": baseline,
                "during": during,
            }
        finally:
            gateway.stop()
            core.stop()


def report(result: dict[str, Any]) -> str:
    ms = 1000.0
    base, during = result["baseline"], result["during"]
    mib = 1024 * 1024
    rows = [
        ("malformed requests", f"{result['total']:,}", "", ""),
        (
            "answers by status",
            ", ".join(f"{k} {v:,}" for k, v in sorted(result["statuses"].items())),
            "",
            "all 4xx",
        ),
        ("flood rate (req/s)", f"{result['total'] / result['seconds']:,.0f}", "", ""),
        ("gateway log meanwhile, all (KiB)", f"{result['log_bytes'] / 1024:,.0f}", "", "< 1,024"),
        (
            "of it malformed-request lines",
            f"{result['malformed_lines']:,} ({result['malformed_bytes'] / 1024:,.0f} KiB)",
            "",
            "<= 10 a second",
        ),
        (
            "gateway RSS before / after (MiB)",
            f"{result['rss_before'] / mib:.1f} / {result['rss_after'] / mib:.1f}",
            "",
            "bounded",
        ),
        (
            "GET /health p50 (ms)",
            f"{percentile(during, 0.5) * ms:.1f}",
            f"{percentile(base, 0.5) * ms:.1f}",
            "",
        ),
        (
            "GET /health p99 (ms)",
            f"{percentile(during, 0.99) * ms:.1f}",
            f"{percentile(base, 0.99) * ms:.1f}",
            "",
        ),
    ]
    lines = [
        "| measure | during the flood | baseline (no flood) | target |",
        "|---|---|---|---|",
        *(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=50_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-bad-traffic-") as workdir:
        result = asyncio.run(measure(args.requests, Path(workdir)))
    print(report(result))


if __name__ == "__main__":
    main()
