"""Notifier benchmark: 5,000 WebSocket clients on two replicas, 1,000 bookings.

Runs the real pieces on this machine: a throwaway PostgreSQL database, a
private redis-server, booking-core and two notifier replicas
(``python -m notifier``). A load generator in its own process opens the
WebSocket clients (half customers, half providers, alternating replicas) and
also subscribes to ``bookings.events`` on Redis. The bookings go through
booking-core at a steady rate, each for one customer and one provider.

Reports, for every delivery:
- Redis -> client: from the event's arrival on the channel (seen by the load
  generator's own subscriber, same clock) to its receipt on the WebSocket: the
  notifier's hop (target p99 < 100 ms);
- commit -> client, next to its baseline commit -> Redis (``occurredAt`` is the
  commit time): what a user sees, and how much of it is the publisher's;
- misdelivered (an event at a client it is not for) and missing, both must be 0;
- memory per idle connection (RSS growth of each replica divided by its
  connections, target <= 16 KiB), next to the same figure for a bare aiohttp
  WebSocket server holding as many connections opened with the same requests (a
  token each), measured in the same run.

    make bench-notifier      # or: .venv/bin/python bench/notifier.py --clients 1000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from bookings_common.events import CHANNEL  # noqa: E402
from bookings_common.grpc import create_channel  # noqa: E402
from bookings_proto.bookings import v1 as pb  # noqa: E402
from redis.asyncio import Redis  # noqa: E402

from bench.measure import percentile  # noqa: E402
from tests.integration.conftest import fresh_database  # noqa: E402
from tests.integration.harness import (  # noqa: E402
    INTERNAL_TOKEN,
    CoreProcess,
    NotifierProcess,
    RedisProcess,
    eventually,
    free_port,
    make_token,
    rss_bytes,
)

SERVICE = pb.Actor(service="bench")
# A bare aiohttp WebSocket server: the memory baseline.
BARE_SERVER = """
import sys
from aiohttp import web

async def ws(request):
    socket = web.WebSocketResponse(compress=False)
    await socket.prepare(request)
    async for _ in socket:
        pass
    return socket

app = web.Application()
app.router.add_get("/ws", ws)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# --- the load generator (its own process) -----------------------------------------------


async def load_generator(config_path: Path) -> None:
    """Connect every client, say so on stdout, record receipts until stdin says stop,
    then write them to the results file."""
    raise_fd_limit()
    config = json.loads(await asyncio.to_thread(config_path.read_text))
    clients: list[dict[str, str]] = config["clients"]
    receipts: list[tuple[int, int, float]] = []  # (client, event id, received at)
    on_redis: dict[int, float] = {}
    misdelivered = 0

    redis = Redis.from_url(config["redis_url"])
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(CHANNEL)

    async def watch_redis() -> None:
        async for message in pubsub.listen():
            if message["type"] == "message":
                event = json.loads(message["data"])
                on_redis.setdefault(int(event["id"]), time.time())

    connector = aiohttp.TCPConnector(limit=0)
    session = aiohttp.ClientSession(connector=connector)
    sockets: list[aiohttp.ClientWebSocketResponse] = []
    gate = asyncio.Semaphore(100)

    async def connect(index: int) -> None:
        client = clients[index]
        async with gate:
            ws = await session.ws_connect(
                f"{client['url']}/ws",
                headers={"Authorization": f"Bearer {client['token']}"},
                autoping=True,
                heartbeat=None,
            )
        sockets.append(ws)
        nonlocal misdelivered
        field = "customerId" if client["role"] == "customer" else "providerId"
        async for message in ws:
            if message.type is aiohttp.WSMsgType.TEXT:
                received = time.time()
                event = json.loads(message.data)
                if event["data"].get(field) != client["owner"]:
                    misdelivered += 1
                receipts.append((index, int(event["id"]), received))

    redis_task = asyncio.create_task(watch_redis())
    tasks = [asyncio.create_task(connect(i)) for i in range(len(clients))]

    async def all_connected() -> bool:
        failed = [t for t in tasks if t.done() and t.exception() is not None]
        if failed:
            raise RuntimeError(f"{len(failed)} clients failed: {failed[0].exception()!r}")
        return len(sockets) == len(clients)

    started = time.monotonic()
    await eventually(all_connected, timeout=600, interval=0.2)
    print(f"connected {len(sockets)} {time.monotonic() - started:.1f}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    results = {"receipts": receipts, "on_redis": on_redis, "misdelivered": misdelivered}
    await asyncio.to_thread(Path(config["results"]).write_text, json.dumps(results))
    redis_task.cancel()
    for task in tasks:
        task.cancel()
    await session.close()
    await redis.aclose()
    print("done", flush=True)


async def start_generator(config: dict[str, Any], workdir: Path) -> asyncio.subprocess.Process:
    path = workdir / "generator.json"
    path.write_text(json.dumps(config))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--load-generator",
        str(path),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 900)
    if not line.startswith(b"connected"):
        raise RuntimeError(f"load generator failed: {line!r}")
    print(f"  load generator: {line.decode().strip()} s", flush=True)
    return process


async def stop_generator(process: asyncio.subprocess.Process) -> None:
    assert process.stdin is not None
    assert process.stdout is not None
    process.stdin.write(b"stop\n")
    await process.stdin.drain()
    await asyncio.wait_for(process.stdout.readline(), 120)
    await process.wait()


# --- the orchestrator -------------------------------------------------------------------


async def bare_baseline(clients: int, workdir: Path, redis_url: str) -> float:
    """Bytes per idle connection of a bare aiohttp WebSocket server."""
    port = free_port()
    server = await asyncio.create_subprocess_exec(sys.executable, "-c", BARE_SERVER, str(port))
    try:

        async def up() -> bool:
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                return True
            return False

        await eventually(up, timeout=20)
        await asyncio.sleep(1)
        before = rss_bytes(server.pid)
        # The same requests as the notifier gets: a token of the same size each.
        config = {
            "clients": [
                {
                    "url": f"http://127.0.0.1:{port}",
                    "token": make_token("customer", str(uuid.uuid4()), ttl=7200),
                    "role": "customer",
                    "owner": "-",
                }
                for _ in range(clients)
            ],
            "redis_url": redis_url,
            "results": str(workdir / "bare.json"),
        }
        generator = await start_generator(config, workdir)
        await asyncio.sleep(2)
        after = rss_bytes(server.pid)
        await stop_generator(generator)
        return (after - before) / clients
    finally:
        server.terminate()
        await server.wait()


async def register(stub: pb.BookingServiceStub, count: int, kind: str) -> list[str]:
    gate = asyncio.Semaphore(16)

    async def one(n: int) -> str:
        async with gate:
            if kind == "provider":
                reply = await stub.register_provider(
                    pb.RegisterProviderRequest(actor=SERVICE, name=f"Bench provider {n}")
                )
                assert reply.provider is not None
                return reply.provider.id
            customer = await stub.register_customer(
                pb.RegisterCustomerRequest(
                    actor=SERVICE, name=f"Bench {n}", email=f"{uuid.uuid4().hex}@example.com"
                )
            )
            assert customer.customer is not None
            return customer.customer.id

    return list(await asyncio.gather(*(one(n) for n in range(count))))


async def run(clients: int, bookings: int, rate: float, workdir: Path) -> dict[str, Any]:
    raise_fd_limit()
    redis = RedisProcess(workdir)
    redis.start()
    print("measuring the bare aiohttp baseline", flush=True)
    bare = await bare_baseline(clients // 2, workdir, redis.url)
    async with fresh_database() as database_url:
        core = CoreProcess(database_url, redis.url, workdir / "core.log", LOG_LEVEL="WARNING")
        await core.start()
        replicas = [
            NotifierProcess(
                core.port, redis.url, workdir / f"notifier-{n}.log", LOG_LEVEL="WARNING"
            )
            for n in range(2)
        ]
        for replica in replicas:
            replica.env["MAX_CONNECTIONS_PER_USER"] = "10"
        await asyncio.gather(*(r.start() for r in replicas))
        channel = create_channel(f"127.0.0.1:{core.port}", internal_token=INTERNAL_TOKEN)
        stub = pb.BookingServiceStub(channel, timeout=30)
        generator = None
        try:
            print("registering users", flush=True)
            half = clients // 2
            customers = await register(stub, half, "customer")
            providers = await register(stub, clients - half, "provider")
            plan = [("customer", c) for c in customers] + [("provider", p) for p in providers]
            config = {
                "clients": [
                    {
                        "url": replicas[i % 2].url,
                        "token": make_token(role, owner, ttl=7200),
                        "role": role,
                        "owner": owner,
                    }
                    for i, (role, owner) in enumerate(plan)
                ],
                "redis_url": redis.url,
                "results": str(workdir / "results.json"),
            }
            await asyncio.sleep(1)
            idle = [rss_bytes(r.process.pid) for r in replicas if r.process is not None]
            print(f"connecting {clients} WebSocket clients", flush=True)
            generator = await start_generator(config, workdir)
            await asyncio.sleep(2)
            connected = [rss_bytes(r.process.pid) for r in replicas if r.process is not None]
            per_replica = [sum(1 for i in range(clients) if i % 2 == n) for n in range(2)]
            per_connection = [(connected[n] - idle[n]) / per_replica[n] for n in range(2)]

            print(f"creating {bookings} bookings at {rate:g}/s", flush=True)
            first = datetime.now(UTC) + timedelta(days=30)
            expected: dict[str, tuple[str, str]] = {}
            started = time.monotonic()
            for n in range(bookings):
                customer, provider = customers[n % half], providers[n % len(providers)]
                start = first + timedelta(minutes=30 * n)
                reply = await stub.create_booking(
                    pb.CreateBookingRequest(
                        actor=SERVICE,
                        provider_id=provider,
                        customer_id=customer,
                        start_time=start,
                        end_time=start + timedelta(minutes=20),
                    )
                )
                assert reply.booking is not None
                expected[reply.booking.id] = (customer, provider)
                delay = started + (n + 1) / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            create_seconds = time.monotonic() - started
            await asyncio.sleep(3)
            peak = [rss_bytes(r.process.pid) for r in replicas if r.process is not None]
            await stop_generator(generator)
            generator = None
            events = (
                await stub.list_events(
                    pb.ListEventsRequest(actor=SERVICE, all_owners=True, limit=1000)
                )
            ).events
        finally:
            if generator is not None:
                generator.kill()
            channel.close()
            for replica in replicas:
                replica.terminate()
            core.terminate()
            redis.stop()
    results = json.loads((workdir / "results.json").read_text())
    index_of = {(role, owner): i for i, (role, owner) in enumerate(plan)}
    occurred = {e.id: e.occurred_at.timestamp() for e in events if e.occurred_at is not None}
    booking_of = {e.id: e.booking_id for e in events}
    wanted = set()
    for event_id, booking_id in booking_of.items():
        customer, provider = expected[booking_id]
        wanted.add((index_of[("customer", customer)], event_id))
        wanted.add((index_of[("provider", provider)], event_id))
    on_redis = {int(k): v for k, v in results["on_redis"].items()}
    got = {(client, event_id): at for client, event_id, at in results["receipts"]}
    hop = [at - on_redis[e] for (_, e), at in got.items() if e in on_redis]
    commit_to_client = [at - occurred[e] for (_, e), at in got.items() if e in occurred]
    commit_to_redis = [at - occurred[e] for e, at in on_redis.items() if e in occurred]
    return {
        "clients": clients,
        "bookings": len(expected),
        "create_seconds": create_seconds,
        "deliveries": len(got),
        "duplicates": len(results["receipts"]) - len(got),
        "missing": len(wanted - got.keys()),
        "misdelivered": results["misdelivered"] + len(got.keys() - wanted),
        "hop": hop,
        "commit_to_client": commit_to_client,
        "commit_to_redis": commit_to_redis,
        "per_connection": per_connection,
        "idle_rss": idle,
        "peak_rss": peak,
        "bare": bare,
    }


def report(result: dict[str, Any]) -> str:
    def row(name: str, values: list[float]) -> str:
        ms = [v * 1000 for v in values]
        return (
            f"| {name} | {percentile(ms, 0.5):.1f} | {percentile(ms, 0.99):.1f} | {max(ms):.1f} |"
        )

    kib = [b / 1024 for b in result["per_connection"]]
    lines = [
        f"{result['clients']} WebSocket clients on 2 replicas, {result['bookings']} bookings "
        f"in {result['create_seconds']:.1f} s, {result['deliveries']} deliveries",
        "",
        "| latency (ms) | p50 | p99 | max |",
        "|---|---|---|---|",
        row("Redis -> client (the notifier's hop; target p99 < 100)", result["hop"]),
        row("commit -> client", result["commit_to_client"]),
        row("baseline: commit -> Redis", result["commit_to_redis"]),
        "",
        "| correctness | count |",
        "|---|---|",
        f"| misdelivered (must be 0) | {result['misdelivered']} |",
        f"| missing (must be 0) | {result['missing']} |",
        f"| duplicates | {result['duplicates']} |",
        "",
        "| memory per idle connection | KiB |",
        "|---|---|",
        *(f"| notifier replica {n} (target ≤ 16) | {k:.1f} |" for n, k in enumerate(kib)),
        f"| baseline: bare aiohttp WebSocket server | {result['bare'] / 1024:.1f} |",
        "",
        "replica RSS idle -> after the run (MiB): "
        + ", ".join(
            f"{i / 2**20:.0f} -> {p / 2**20:.0f}"
            for i, p in zip(result["idle_rss"], result["peak_rss"], strict=True)
        ),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--clients", type=int, default=5000)
    parser.add_argument("--bookings", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0, help="bookings per second")
    parser.add_argument("--keep-logs", action="store_true")
    parser.add_argument("--report", type=Path, help="also write the markdown report here")
    parser.add_argument("--load-generator", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load_generator:
        asyncio.run(load_generator(args.load_generator))
        return
    with tempfile.TemporaryDirectory(prefix="bench-notifier-") as tmp:
        workdir = Path(tmp)
        result = asyncio.run(run(args.clients, args.bookings, args.rate, workdir))
        if args.keep_logs:
            kept = Path(tempfile.mkdtemp(prefix="bench-notifier-logs-"))
            for log in workdir.glob("*.log"):
                log.rename(kept / log.name)
            print(f"logs kept in {kept}")
    text = report(result)
    print()
    print(text)
    if args.report:
        args.report.write_text(text + "\n")


if __name__ == "__main__":
    main()
