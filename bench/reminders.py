"""Reminder benchmark: 10,000 bookings whose reminders fall due over two minutes.

Runs the real pieces on this machine: a throwaway PostgreSQL database, a
private redis-server, booking-core (short lead) and the reminder worker
started with the ``dramatiq`` command, exactly as ``make run-worker`` starts it.
A subscriber on ``bookings.events`` records when each ``booking.reminder.due``
arrives.

Reports lateness (arrival minus due time) p50 / p99 / max, duplicates, missing
reminders, and the worker's peak RSS, next to baselines measured in the same
run: an ideal scheduler (an asyncio timer in this process publishing to the
same Redis at the due time) for lateness, and the idle worker for memory.

    make bench-reminders            # or: .venv/bin/python bench/reminders.py --bookings 2000
    .venv/bin/python bench/reminders.py --burst 5000   # all due at the same second

``--burst N``: N bookings (each with a provider of its own) whose reminders all
fall due at the same second; reports how long until every one was claimed and
published (target: 5 s for 5,000), with the same missing and duplicate counts.

The worker runs with 8 threads as ``make run-worker`` does
(``BENCH_WORKER_THREADS`` to change that); ``BENCH_WORKER_LOG_LEVEL`` and
``BENCH_CORE_LOG_LEVEL`` (default WARNING) with ``--keep-logs DIR`` help diagnose.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bookings_common.events import CHANNEL  # noqa: E402
from bookings_common.grpc import create_channel  # noqa: E402
from bookings_proto.bookings import v1 as pb  # noqa: E402
from redis.asyncio import Redis  # noqa: E402

from bench.measure import lateness_rows, percentile  # noqa: E402
from tests.integration.conftest import fresh_database  # noqa: E402
from tests.integration.harness import (  # noqa: E402
    INTERNAL_TOKEN,
    CoreProcess,
    RedisProcess,
    WorkerProcess,
    rss_bytes,
)

SERVICE = pb.Actor(service="bench")
LEAD_SECONDS = 60
PROVIDERS = 100


async def collect(url: str, into: dict[str, list[float]], ready: asyncio.Event) -> None:
    redis = Redis.from_url(url)
    async with redis.pubsub() as pubsub:
        await pubsub.subscribe(CHANNEL)
        ready.set()
        async for message in pubsub.listen():
            if message["type"] != "message":
                continue
            envelope = json.loads(message["data"])
            if envelope["type"] == "booking.reminder.due":
                into.setdefault(envelope["data"]["bookingId"], []).append(time.time())


async def ideal_baseline(url: str, count: int = 1000, window: float = 10.0) -> list[float]:
    """Lateness of an in-process asyncio timer publishing at each due time (seconds)."""
    redis = Redis.from_url(url)
    arrivals: dict[str, list[float]] = {}
    ready = asyncio.Event()
    listener = asyncio.create_task(collect(url, arrivals, ready))
    await ready.wait()
    loop = asyncio.get_running_loop()
    start = time.time() + 1.0
    due = {str(uuid.uuid4()): start + window * i / count for i in range(count)}

    async def fire(booking_id: str) -> None:
        body = {"type": "booking.reminder.due", "data": {"bookingId": booking_id}}
        await redis.publish(CHANNEL, json.dumps(body))

    firing: set[asyncio.Task[None]] = set()

    def fire_later(booking_id: str) -> None:
        task = asyncio.ensure_future(fire(booking_id))
        firing.add(task)
        task.add_done_callback(firing.discard)

    for booking_id, at in due.items():
        loop.call_at(loop.time() + (at - time.time()), fire_later, booking_id)
    await asyncio.sleep(window + 3)
    listener.cancel()
    await redis.aclose()
    return [arrivals[b][0] - at for b, at in due.items() if b in arrivals]


async def run(bookings: int, window: float, workdir: Path, *, burst: bool) -> dict[str, Any]:
    redis = RedisProcess(workdir)
    redis.start()
    async with fresh_database() as database_url:
        core = CoreProcess(
            database_url,
            redis.url,
            workdir / "core.log",
            REMINDER_LEAD_SECONDS=str(LEAD_SECONDS),
            # The deployed default (the test harness relays after 0.5 s): a batch that
            # takes longer than that to publish and mark would be relayed a second time.
            OUTBOX_RELAY_MIN_AGE_SECONDS="5",
            LOG_LEVEL=os.environ.get("BENCH_CORE_LOG_LEVEL", "WARNING"),
        )
        await core.start()
        # INFO: readiness is read from the worker's "ready for action" line.
        worker_log_level = os.environ.get("BENCH_WORKER_LOG_LEVEL", "INFO")
        worker = WorkerProcess(
            core.port, redis.url, workdir / "worker.log", LOG_LEVEL=worker_log_level
        )
        worker.args = (
            "reminder_worker.broker",
            "--processes",
            "1",
            "--threads",
            os.environ.get("BENCH_WORKER_THREADS", "8"),
            "--skip-logging",
        )
        await worker.start()
        assert worker.process is not None
        await asyncio.sleep(1)
        idle_rss = rss_bytes(worker.process.pid, with_children=True)
        channel = create_channel(f"127.0.0.1:{core.port}", internal_token=INTERNAL_TOKEN)
        stub = pb.BookingServiceStub(channel, timeout=30)
        try:
            baseline = [] if burst else await ideal_baseline(redis.url)

            # A burst needs a provider per booking: one provider's slots cannot overlap.
            provider_count = bookings if burst else PROVIDERS
            providers: list[str] = []

            async def register(n: int) -> None:
                reply = await stub.register_provider(
                    pb.RegisterProviderRequest(actor=SERVICE, name=f"Bench {n}")
                )
                assert reply.provider is not None
                providers.append(reply.provider.id)

            for first in range(0, provider_count, 32):
                await asyncio.gather(
                    *(register(n) for n in range(first, min(provider_count, first + 32)))
                )
            customer = await stub.register_customer(
                pb.RegisterCustomerRequest(
                    actor=SERVICE, name="Bench", email=f"{uuid.uuid4().hex}@example.com"
                )
            )
            assert customer.customer is not None

            # Creating takes a while: the window opens once they are all made.
            creation_budget = bookings / 150 + 15
            first_due = datetime.now(UTC) + timedelta(seconds=creation_budget)
            # Due times spread evenly over the window, round-robin over the
            # providers, so each provider's bookings are PROVIDERS steps apart.
            step = 0.0 if burst else window / bookings
            spacing = 60.0 if burst else step * PROVIDERS
            plan = [
                (providers[i % provider_count], first_due + timedelta(seconds=i * step))
                for i in range(bookings)
            ]
            arrivals: dict[str, list[float]] = {}
            ready = asyncio.Event()
            listener = asyncio.create_task(collect(redis.url, arrivals, ready))
            await ready.wait()

            due_by_id: dict[str, float] = {}
            queue = list(plan)

            async def creator() -> None:
                while queue:
                    provider, due = queue.pop()
                    start = due + timedelta(seconds=LEAD_SECONDS)
                    reply = await stub.create_booking(
                        pb.CreateBookingRequest(
                            actor=SERVICE,
                            provider_id=provider,
                            customer_id=customer.customer.id,  # type: ignore[union-attr]
                            start_time=start,
                            end_time=start + timedelta(seconds=spacing * 0.9),
                        )
                    )
                    assert reply.booking is not None
                    due_by_id[reply.booking.id] = due.timestamp()

            created_at = time.monotonic()
            await asyncio.gather(*(creator() for _ in range(32)))
            create_seconds = time.monotonic() - created_at
            late_start = max(0.0, time.time() - first_due.timestamp())

            peak_rss = idle_rss
            end = first_due.timestamp() + window + 10
            while time.time() < end and len(arrivals) < len(due_by_id):
                peak_rss = max(peak_rss, rss_bytes(worker.process.pid, with_children=True))
                await asyncio.sleep(0.5)
            await asyncio.sleep(3)  # late duplicates
            peak_rss = max(peak_rss, rss_bytes(worker.process.pid, with_children=True))
            listener.cancel()
        finally:
            channel.close()
            worker.terminate()
            core.terminate()
            redis.stop()
    lateness = [arrivals[b][0] - due for b, due in due_by_id.items() if b in arrivals]
    return {
        "burst": burst,
        "bookings": len(due_by_id),
        "create_seconds": create_seconds,
        "window_started_late_by": late_start,
        "lateness": lateness,
        "missing": sum(1 for b in due_by_id if b not in arrivals),
        "duplicates": sum(len(arrivals[b]) - 1 for b in due_by_id if b in arrivals),
        "baseline": baseline,
        "idle_rss": idle_rss,
        "peak_rss": peak_rss,
    }


def burst_report(result: dict[str, Any]) -> str:
    late = result["lateness"]
    ms = 1000.0
    rows = [("reminders due at the same second", f"{result['bookings']}", "")]
    if late:
        rows += [
            ("all claimed and published after (ms)", f"{max(late) * ms:.0f}", "< 5000"),
            ("lateness p50 (ms)", f"{percentile(late, 0.5) * ms:.0f}", ""),
            ("lateness p99 (ms)", f"{percentile(late, 0.99) * ms:.0f}", ""),
        ]
    rows += [
        ("missing", str(result["missing"]), "0"),
        ("duplicates", str(result["duplicates"]), "0"),
        ("worker peak RSS (MB)", f"{result['peak_rss'] / 2**20:.0f}", "< 150"),
    ]
    lines = [
        "| figure | reminder pipeline | target |",
        "|---|---|---|",
        *(f"| {a} | {b} | {c} |" for a, b, c in rows),
        "",
        f"{result['bookings']} bookings, each with a provider of its own, all due at one "
        "second; the worker with 8 threads. booking-core's scheduler sends reminders due "
        "within 50 ms of each other as one `send_reminders` message of up to 500, and the "
        "worker claims each message's reminders with one `ClaimReminders` call (one "
        "transaction, one take of the event sequencer's lock), publishes them in one Redis "
        "pipeline and marks them with one call.",
    ]
    if result["window_started_late_by"] > 0:
        lines.append(
            f"Warning: creation overran the due second by {result['window_started_late_by']:.1f} s."
        )
    return "\n".join(lines)


def report(result: dict[str, Any]) -> str:
    if result["burst"]:
        return burst_report(result)
    ms = 1000.0
    late, base = result["lateness"], result["baseline"]
    rows = [
        ("reminders", f"{result['bookings']}", "", ""),
        *lateness_rows(late, base, p99_target="< 500"),
        ("missing", str(result["missing"]), "", "0"),
        ("duplicates", str(result["duplicates"]), "", "0"),
        (
            "worker peak RSS (MB)",
            f"{result['peak_rss'] / 2**20:.0f}",
            f"{result['idle_rss'] / 2**20:.0f} (idle)",
            "< 150",
        ),
    ]
    lines = [
        "| figure | reminder pipeline | baseline (same run) | target |",
        "|---|---|---|---|",
        *(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows),
        "",
        f"Lateness baseline: an asyncio timer in the benchmark process publishing at each due "
        f"time. {result['bookings']} bookings created in {result['create_seconds']:.0f} s; "
        f"mean lateness {statistics.fmean(late) * ms:.0f} ms.",
    ]
    if result["window_started_late_by"] > 0:
        lines.append(
            "Warning: creation overran the window start by "
            f"{result['window_started_late_by']:.1f} s."
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--bookings", type=int, default=10_000)
    parser.add_argument("--window", type=float, default=120.0, help="seconds")
    parser.add_argument("--burst", type=int, help="this many reminders due at the same second")
    parser.add_argument("--keep-logs", type=Path, help="write the processes' logs here")
    parser.add_argument("--report", type=Path, help="also write the markdown report here")
    args = parser.parse_args()
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    burst = args.burst is not None
    bookings = args.burst if burst else args.bookings
    if args.keep_logs:
        args.keep_logs.mkdir(parents=True, exist_ok=True)
        result = asyncio.run(run(bookings, args.window, args.keep_logs, burst=burst))
    else:
        with tempfile.TemporaryDirectory(prefix="bench-reminders-") as workdir:
            result = asyncio.run(run(bookings, args.window, Path(workdir), burst=burst))
    text = report(result)
    print(text)
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / ("reminders-burst.md" if burst else "reminders.md")).write_text(text + "\n")
    if args.report:
        args.report.write_text(text + "\n")


if __name__ == "__main__":
    main()
