"""The load generator: a closed-loop asyncio client in its own process.

``python bench/load.py CONFIG.json`` reads one workload, runs it and writes its
figures to ``CONFIG["results"]`` (JSON). Each of ``len(workers)`` concurrent
workers sends one request, waits for the answer, and sends the next; the first
``warmup`` seconds are sent but not counted, then ``duration`` seconds are.

Workloads (``mode``):

- ``create-http``: ``POST /bookings`` through the gateway. Worker *i* books its
  own provider for its own customer, slot *k* starting ``k`` hours after
  ``base``, so nothing conflicts.
- ``create-grpc``: the same bookings straight to booking-core's ``CreateBooking``
  (actor = the customer, as the gateway sends it).
- ``get-http``: ``GET /bookings/{id}`` over the worker's own ``ids``.
- ``list-http``: ``GET /bookings?type=upcoming&limit=20``, a first page.
- ``contention``: every worker sends one ``POST /bookings`` for the same provider
  and slot at the same moment (connections opened beforehand); reports the
  statuses and the time until all have answered.

Latency is per request, from just before sending to the end of the body, in
milliseconds. ``statuses`` counts HTTP statuses (gRPC status names for gRPC).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from bookings_common.grpc import create_channel  # noqa: E402
from bookings_proto.bookings import v1 as pb  # noqa: E402
from grpclib.exceptions import GRPCError  # noqa: E402

from bench.measure import percentile  # noqa: E402

SLOT = timedelta(minutes=30)


def slot(base: datetime, k: int) -> tuple[datetime, datetime]:
    start = base + timedelta(hours=k)
    return start, start + SLOT


class Recorder:
    """Counts what finished inside the measured window."""

    def __init__(self, warmup: float, duration: float) -> None:
        now = time.perf_counter()
        self.measure_from = now + warmup
        self.stop_at = self.measure_from + duration
        self.latencies: list[float] = []
        self.statuses: Counter[str] = Counter()
        self.created: dict[int, list[str]] = {}
        self.total = 0  # warm-up included

    def running(self) -> bool:
        return time.perf_counter() < self.stop_at

    def record(self, sent: float, status: str) -> None:
        done = time.perf_counter()
        self.total += 1
        if self.measure_from <= sent and done <= self.stop_at:
            self.latencies.append((done - sent) * 1000)
            self.statuses[status] += 1

    def summary(self, duration: float) -> dict[str, Any]:
        ok = self.latencies or [0.0]
        errors = sum(n for status, n in self.statuses.items() if status not in ("200", "201", "OK"))
        return {
            "requests": len(self.latencies),
            "total_requests": self.total,
            "rps": len(self.latencies) / duration,
            "p50": percentile(ok, 0.5),
            "p99": percentile(ok, 0.99),
            "max": max(ok),
            "errors": errors,
            "statuses": dict(self.statuses),
            "created": self.created,
        }


async def create_http(
    config: dict[str, Any], session: aiohttp.ClientSession, recorder: Recorder
) -> None:
    base = datetime.fromisoformat(config["base"])
    url = f"{config['target']}/bookings"

    async def worker(index: int, spec: dict[str, str]) -> None:
        headers = {"Authorization": f"Bearer {spec['token']}"}
        created = recorder.created.setdefault(index, [])
        k = 0
        while recorder.running():
            start, end = slot(base, k)
            k += 1
            body = {
                "providerId": spec["provider"],
                "customerId": spec["customer"],
                "startTime": start.isoformat(),
                "endTime": end.isoformat(),
            }
            sent = time.perf_counter()
            async with session.post(url, json=body, headers=headers) as response:
                payload = await response.read()
            recorder.record(sent, str(response.status))
            if response.status == 201:
                created.append(json.loads(payload)["bookingId"])

    await asyncio.gather(*(worker(i, spec) for i, spec in enumerate(config["workers"])))


async def create_grpc(config: dict[str, Any], recorder: Recorder) -> None:
    base = datetime.fromisoformat(config["base"])
    channel = create_channel(config["target"], internal_token=config["internal_token"])
    stub = pb.BookingServiceStub(channel, timeout=10)

    async def worker(spec: dict[str, str]) -> None:
        actor = pb.Actor(customer_id=spec["customer"])
        k = 0
        while recorder.running():
            start, end = slot(base, k)
            k += 1
            request = pb.CreateBookingRequest(
                actor=actor,
                provider_id=spec["provider"],
                customer_id=spec["customer"],
                start_time=start,
                end_time=end,
            )
            sent = time.perf_counter()
            try:
                await stub.create_booking(request)
                status = "OK"
            except GRPCError as exc:
                status = exc.status.name
            recorder.record(sent, status)

    try:
        await asyncio.gather(*(worker(spec) for spec in config["workers"]))
    finally:
        channel.close()


async def read_http(
    config: dict[str, Any], session: aiohttp.ClientSession, recorder: Recorder
) -> None:
    async def worker(spec: dict[str, Any]) -> None:
        headers = {"Authorization": f"Bearer {spec['token']}"}
        ids: list[str] = spec.get("ids", [])
        k = 0
        while recorder.running():
            if config["mode"] == "get-http":
                url = f"{config['target']}/bookings/{ids[k % len(ids)]}"
            else:
                url = f"{config['target']}/bookings?type=upcoming&limit=20"
            k += 1
            sent = time.perf_counter()
            async with session.get(url, headers=headers) as response:
                await response.read()
            recorder.record(sent, str(response.status))

    await asyncio.gather(*(worker(spec) for spec in config["workers"]))


async def contention(config: dict[str, Any], session: aiohttp.ClientSession) -> dict[str, Any]:
    start, end = slot(datetime.fromisoformat(config["base"]), 0)
    url = f"{config['target']}/bookings"
    workers: list[dict[str, str]] = config["workers"]

    async def connect() -> None:
        async with session.get(f"{config['target']}/health") as response:
            await response.read()

    # Open every connection first (the pool keeps them), so the creates leave together.
    await asyncio.gather(*(connect() for _ in workers))
    go = asyncio.Event()
    answered: list[tuple[int, float]] = []

    async def one(spec: dict[str, str]) -> None:
        body = {
            "providerId": spec["provider"],
            "customerId": spec["customer"],
            "startTime": start.isoformat(),
            "endTime": end.isoformat(),
        }
        headers = {"Authorization": f"Bearer {spec['token']}"}
        await go.wait()
        async with session.post(url, json=body, headers=headers) as response:
            await response.read()
        answered.append((response.status, time.perf_counter()))

    tasks = [asyncio.create_task(one(spec)) for spec in workers]
    await asyncio.sleep(0.2)
    began = time.perf_counter()
    go.set()
    await asyncio.gather(*tasks)
    statuses = Counter(str(status) for status, _ in answered)
    return {
        "requests": len(answered),
        "statuses": dict(statuses),
        "total_requests": len(answered),
        "all_answered_ms": (max(at for _, at in answered) - began) * 1000,
    }


async def run(config: dict[str, Any]) -> dict[str, Any]:
    mode = config["mode"]
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        if mode == "contention":
            return await contention(config, session)
        recorder = Recorder(config["warmup"], config["duration"])
        if mode == "create-http":
            await create_http(config, session, recorder)
        elif mode == "create-grpc":
            await create_grpc(config, recorder)
        elif mode in ("get-http", "list-http"):
            await read_http(config, session, recorder)
        else:
            raise ValueError(f"unknown mode {mode!r}")
        return recorder.summary(config["duration"])


def main() -> None:
    config = json.loads(Path(sys.argv[1]).read_text())
    result = asyncio.run(run(config))
    Path(config["results"]).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
