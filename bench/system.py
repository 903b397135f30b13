"""``make bench``: the whole system under load, next to the database's own ceiling.

Starts the system exactly as ``make dev`` does (booking-core, the gateway, two
notifiers, the workers and the mail sink under honcho) against a fresh database
and a private redis-server, then measures, each workload from a load generator in
its own process (``bench/load.py``), with a warm-up first:

- creates through the gateway (``POST /bookings``) at 16 and 64 clients;
- the same creates straight to booking-core over gRPC (what the gateway costs);
- the same creates against the monolith baseline (``bench/monolith.py``: one
  process doing the JWT check, the gateway's schema and booking-core's SQL), and
  the ratio end-to-end ÷ monolith;
- pgbench replaying booking-core's exact per-booking SQL with 8 clients
  (``bench/pgbench.py``), and the ratio end-to-end ÷ pgbench;
- reads: ``GET /bookings/{id}`` and a ``GET /bookings`` page, and the same reads
  against the monolith baseline (ratios read ÷ monolith);
- contention: 200 creates for one provider's same slot at once;
- with ``--before REV`` (by default the code issue 18 started from), the same
  warm-up, creates and reads against that revision's own system, first.

Each process's CPU per request is counted while the load runs and until the
system is idle again (``Bench.settle``: every booking's confirmation mail drains
for a minute or more after a create run), so no workload runs into the work an
earlier one set going. Then it runs the reminder, notifier and ticketing
benchmarks, and writes everything, with the machine's cores, memory and
versions, to ``bench/RESULTS.md`` (and stdout).

    make bench                                   # about half an hour
    .venv/bin/python bench/system.py --system-only --before ''   # about 15 minutes
    .venv/bin/python bench/system.py --quick     # shorter runs, no other benchmark
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from bookings_common.grpc import create_channel  # noqa: E402
from bookings_proto.bookings import v1 as pb  # noqa: E402
from redis.asyncio import Redis  # noqa: E402

from bench.pgbench import add_providers, capture, pgbench_script, run_pgbench  # noqa: E402
from tests.e2e.conftest import running_system  # noqa: E402
from tests.integration.conftest import fresh_database  # noqa: E402
from tests.integration.harness import (  # noqa: E402
    INTERNAL_TOKEN,
    JWT_SECRET,
    DevSystem,
    cpu_seconds,
    free_port,
    make_token,
)

SERVICE = pb.Actor(service="bench")
RESULTS = ROOT / "bench" / "RESULTS.md"
PGBENCH_CLIENTS = 8
CONTENDERS = 200
# The system as make dev runs it, but quiet (one log line per request would be
# read and re-printed by honcho on the same two cores) and without the
# per-caller rate limit, which would otherwise be what is measured.
SYSTEM_ENV = {"LOG_LEVEL": "WARNING", "RATE_LIMIT_PER_MINUTE": "100000000"}


class Bench:
    def __init__(self, system: DevSystem, database_url: str, workdir: Path, args: Any) -> None:
        self.system = system
        self.database_url = database_url
        self.workdir = workdir
        self.warmup: float = args.warmup
        self.duration: float = args.duration
        self.channel = create_channel(
            f"127.0.0.1:{system.ports['grpc']}", internal_token=INTERNAL_TOKEN
        )
        self.stub = pb.BookingServiceStub(self.channel, timeout=30)
        self.runs = 0
        self.profile_dir: Path | None = args.profile

    async def register(self, count: int, kind: str) -> list[str]:
        gate = asyncio.Semaphore(8)

        async def one(n: int) -> str:
            async with gate:
                if kind == "provider":
                    provider = await self.stub.register_provider(
                        pb.RegisterProviderRequest(actor=SERVICE, name=f"Bench provider {n}")
                    )
                    assert provider.provider is not None
                    return provider.provider.id
                customer = await self.stub.register_customer(
                    pb.RegisterCustomerRequest(
                        actor=SERVICE, name=f"Bench {n}", email=f"{uuid.uuid4().hex}@example.com"
                    )
                )
                assert customer.customer is not None
                return customer.customer.id

        return list(await asyncio.gather(*(one(n) for n in range(count))))

    async def workers(self, count: int) -> list[dict[str, Any]]:
        """``count`` (customer, provider) pairs of their own, with the customer's token."""
        customers = await self.register(count, "customer")
        providers = await self.register(count, "provider")
        return [
            {"customer": c, "provider": p, "token": make_token("customer", c, ttl=7200)}
            for c, p in zip(customers, providers, strict=True)
        ]

    async def load(
        self,
        mode: str,
        workers: list[dict[str, Any]],
        *,
        duration: float | None = None,
        target: str | None = None,
        monolith_pid: int | None = None,
        database_url: str | None = None,
    ) -> dict[str, Any]:
        """Run one workload in a fresh load-generator process; return its figures.
        ``target`` and ``monolith_pid``: against the monolith baseline instead."""
        self.runs += 1
        config_path = self.workdir / f"load-{self.runs}.json"
        results = self.workdir / f"load-{self.runs}-results.json"
        if target is None:
            target = (
                f"127.0.0.1:{self.system.ports['grpc']}"
                if mode == "create-grpc"
                else self.system.url("gateway")
            )
        config = {
            "mode": mode,
            "target": target,
            "workers": workers,
            "warmup": self.warmup,
            "duration": self.duration if duration is None else duration,
            # Every run books its own providers, so runs never conflict.
            "base": (datetime.now(UTC) + timedelta(days=30))
            .replace(minute=0, second=0, microsecond=0)
            .isoformat(),
            "internal_token": INTERNAL_TOKEN,
            "results": str(results),
        }
        config_path.write_text(json.dumps(config))
        before = self.cpu(monolith_pid, database_url)
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "bench" / "load.py"), str(config_path)
        )
        profilers = await self.profile(f"{mode}-{len(workers)}")
        if await process.wait() != 0:
            raise RuntimeError(f"load generator failed ({mode})")
        during = self.cpu(monolith_pid, database_url)
        for profiler in profilers:
            await profiler.wait()
        # What the requests set going (the outbox, mail, reminders) is theirs too, and
        # must not run into the next workload.
        settled = await self.settle()
        after = self.cpu(monolith_pid, database_url)
        result: dict[str, Any] = json.loads(results.read_text())
        requests = max(1, result["total_requests"])
        # CPU milliseconds per request, warm-up included, by process: while the load
        # ran, and until the system was idle again.
        result["cpu_ms"] = {
            name: (during[name] - before[name]) * 1000 / requests for name in before
        }
        result["cpu_ms_settled"] = {
            name: (after[name] - before[name]) * 1000 / requests for name in before
        }
        result["settled_after_s"] = settled
        if monolith_pid is not None:  # the system idles meanwhile: not the monolith's
            result["cpu_ms"]["others"] = result["cpu_ms_settled"]["others"] = -1.0
        print(f"  {mode} x{len(workers)}: {summary(result)}", flush=True)
        return result

    async def settle(
        self, *, idle_share: float = 0.1, quiet_for: float = 2.0, within: float = 300.0
    ) -> float:
        """Wait until the system and PostgreSQL have used less than ``idle_share`` of one
        core in every half second for ``quiet_for`` seconds running (a mail backlog
        has lulls of a second or so between batches), at most ``within`` seconds;
        return how long that took."""
        loop = asyncio.get_running_loop()
        started = loop.time()

        def busy() -> float:
            cpu = self.cpu()
            return cpu["booking-core"] + cpu["gateway"] + cpu["others"] + cpu["PostgreSQL"]

        last, quiet_since = busy(), loop.time()
        while loop.time() - started < within:
            await asyncio.sleep(0.5)
            now = busy()
            if now - last >= 0.5 * idle_share:
                quiet_since = loop.time()
            elif loop.time() - quiet_since >= quiet_for:
                break
            last = now
        return loop.time() - started

    async def profile(self, name: str) -> list[asyncio.subprocess.Process]:
        """With ``--profile DIR``: py-spy samples booking-core and the gateway for the
        whole run into ``DIR/<name>-<process>.txt`` (collapsed stacks, for flame graphs)."""
        if self.profile_dir is None:
            return []
        self.profile_dir.mkdir(parents=True, exist_ok=True)
        py_spy = str(Path(sys.executable).parent / "py-spy")
        profilers = []
        for process in ("core", "gateway"):
            output = self.profile_dir / f"{name}-{process}.txt"
            profilers.append(
                await asyncio.create_subprocess_exec(
                    py_spy,
                    "record",
                    f"--pid={self.system.pid(process)}",
                    f"--duration={int(self.warmup + self.duration)}",
                    "--rate=200",
                    "--format=raw",
                    f"--output={output}",
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL,
                )
            )
        return profilers

    def cpu(
        self, monolith_pid: int | None = None, database_url: str | None = None
    ) -> dict[str, float]:
        """CPU seconds so far of booking-core, the gateway (or, with ``monolith_pid``,
        the monolith baseline in their place), every PostgreSQL process of the
        system's database (or ``database_url``'s), this
        script's finished children (the load generators) and the rest of the system
        (notifiers, workers, the mail sink, Redis)."""
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        core, gateway = (
            cpu_seconds(self.system.pid("core")),
            cpu_seconds(self.system.pid("gateway")),
        )
        whole = tree_cpu_seconds(self.system.process.pid) + redis_cpu_seconds(
            self.system.env["REDIS_URL"]
        )
        if monolith_pid is not None:
            servers = {"booking-core": cpu_seconds(monolith_pid), "gateway": 0.0}
        else:
            servers = {"booking-core": core, "gateway": gateway}
        return {
            **servers,
            "PostgreSQL": postgres_cpu_seconds(
                (database_url or self.database_url).rsplit("/", 1)[1]
            ),
            "load generator": children.ru_utime + children.ru_stime,
            "others": whole - core - gateway,
        }

    async def pgbench(self) -> dict[str, Any]:
        """pgbench replaying booking-core's create SQL on a database of its own (the
        same migrations): on the system's, booking-core would relay and mail every
        booking pgbench writes, on the same two cores."""
        async with fresh_database() as database_url:
            customer, provider = uuid.uuid4(), uuid.uuid4()
            await add_parties(database_url, customers=[customer], providers=[provider])
            captured = await capture(database_url, str(provider), str(customer))
            script, variables = pgbench_script(captured)
            path = self.workdir / "create.pgbench"
            path.write_text(script)
            await add_providers(database_url, PGBENCH_CLIENTS)
            # Warm-up, then the measured run.
            await asyncio.to_thread(
                run_pgbench,
                database_url,
                str(path),
                variables,
                run=1,
                clients=PGBENCH_CLIENTS,
                seconds=max(1, int(self.warmup)),
            )
            result: dict[str, Any] = await asyncio.to_thread(
                run_pgbench,
                database_url,
                str(path),
                variables,
                run=2,
                clients=PGBENCH_CLIENTS,
                seconds=int(self.duration),
            )
        result["statements"] = len(captured.statements)
        result["script"] = script
        print(f"  pgbench x{PGBENCH_CLIENTS}: {result['tps']:.0f} tps", flush=True)
        return result

    async def monolith(self, workers: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Against ``bench/monolith.py`` on a database of its own (the same migrations;
        on the system's, booking-core would relay and mail every booking it writes):
        the same creates as ``create_http_16`` with ``workers``, then the same reads as
        ``get_http_16`` (each worker reads what it booked) and ``list_http_16``."""
        async with fresh_database() as database_url:
            customer, provider = str(uuid.uuid4()), str(uuid.uuid4())
            await add_parties(
                database_url,
                customers=[customer, *(w["customer"] for w in workers)],
                providers=[provider, *(w["provider"] for w in workers)],
            )
            port = free_port()
            config = self.workdir / "monolith.json"
            config.write_text(
                json.dumps(
                    {
                        "port": port,
                        "database_url": database_url,
                        "jwt_secret": JWT_SECRET,
                        "provider": provider,
                        "customer": customer,
                    }
                )
            )
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                str(ROOT / "bench" / "monolith.py"),
                str(config),
                stdout=asyncio.subprocess.PIPE,
            )
            target = f"http://127.0.0.1:{port}"
            try:
                assert process.stdout is not None
                ready = await asyncio.wait_for(process.stdout.readline(), 60)
                if ready.strip() != b"ready":
                    raise RuntimeError("bench/monolith.py did not start")
                figures: dict[str, dict[str, Any]] = {}
                for mode in ("create-http", "get-http", "list-http"):
                    clients = (
                        workers
                        if mode == "create-http"
                        else readers_of(workers, figures["create-http"])
                    )
                    figures[mode] = await self.load(
                        mode,
                        clients,
                        target=target,
                        monolith_pid=process.pid,
                        database_url=database_url,
                    )
                return figures
            finally:
                process.terminate()
                await process.wait()

    async def contention(self) -> dict[str, Any]:
        customers = await self.register(CONTENDERS, "customer")
        provider = (await self.register(1, "provider"))[0]
        workers = [
            {"customer": c, "provider": provider, "token": make_token("customer", c, ttl=7200)}
            for c in customers
        ]
        return await self.load("contention", workers)

    async def close(self) -> None:
        self.channel.close()


def postgres_cpu_seconds(database: str) -> float:
    """CPU seconds of the PostgreSQL backends connected to ``database``."""
    total = 0.0
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            title = cmdline.read_bytes().split(b"\0")[0].decode(errors="replace").split()
            if title[:1] == ["postgres:"] and database in title:
                total += cpu_seconds(int(cmdline.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return total


async def add_parties(
    database_url: str, *, customers: Iterable[str | uuid.UUID], providers: Iterable[str | uuid.UUID]
) -> None:
    """Customers and providers with these ids in a baseline's own database."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.executemany(
            "INSERT INTO customers (id, name, email)"
            " VALUES ($1::uuid, 'Bench', $1 || '@example.com') ON CONFLICT DO NOTHING",
            [(str(c),) for c in customers],
        )
        await conn.executemany(
            "INSERT INTO providers (id, name) VALUES ($1::uuid, 'Bench') ON CONFLICT DO NOTHING",
            [(str(p),) for p in providers],
        )
    finally:
        await conn.close()


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid`` and every live process descended from it."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            total += cpu_seconds(current)
        except OSError:
            continue
        todo.extend(children.get(current, ()))
    return total


def redis_cpu_seconds(redis_url: str) -> float:
    """CPU seconds of the redis-server listening on ``redis_url``'s port (0 if not found)."""
    # redis-server retitles itself "redis-server <host>:<port>".
    port = redis_url.rsplit(":", 1)[1].split("/")[0]
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            title = cmdline.read_bytes().split(b"\0")[0].decode(errors="replace").split()
            if title[:1] == ["redis-server"] and title[-1].endswith(f":{port}"):
                return cpu_seconds(int(cmdline.parent.name))
        except (OSError, ValueError):
            continue
    return 0.0


def summary(result: dict[str, Any]) -> str:
    if "rps" not in result:
        return json.dumps(result["statuses"])
    cpu = ", ".join(f"{name} {ms:.2f}" for name, ms in result["cpu_ms"].items())
    settled = ", ".join(f"{name} {ms:.2f}" for name, ms in result["cpu_ms_settled"].items())
    return (
        f"{result['rps']:.0f} req/s, p50 {result['p50']:.1f} ms, p99 {result['p99']:.1f} ms, "
        f"{result['errors']} errors; CPU ms/request: {cpu}; until idle "
        f"({result['settled_after_s']:.0f} s later): {settled}"
    )


async def versions(database_url: str, redis_url: str) -> dict[str, str]:
    conn = await asyncpg.connect(database_url)
    try:
        postgres = await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
    redis = Redis.from_url(redis_url)
    try:
        redis_version = (await redis.info("server"))["redis_version"]
    finally:
        await redis.aclose()
    packages = ["aiohttp", "grpclib", "betterproto2", "sqlalchemy", "asyncpg", "redis", "dramatiq"]
    return {
        "Python": platform.python_version(),
        "PostgreSQL": str(postgres),
        "Redis": str(redis_version),
        **{name: metadata.version(name) for name in packages},
    }


def machine() -> dict[str, str]:
    meminfo = Path("/proc/meminfo").read_text()
    total_kib = int(
        next(line for line in meminfo.splitlines() if line.startswith("MemTotal")).split()[1]
    )
    model = "unknown"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cores": str(os.cpu_count()),
        "CPU": model,
        "memory": f"{total_kib / 2**20:.1f} GiB",
        "OS": f"{platform.system()} {platform.release()}",
    }


async def measure_system(args: Any, workdir: Path) -> dict[str, Any]:
    """Every workload, each on a quiet system (``Bench.settle``). What a quiet system
    matters most for (reads, pgbench, the monolith, contention) runs right after the
    first creates; the heavier create runs, whose mail takes minutes to drain, last."""
    async with running_system(workdir, **SYSTEM_ENV) as system:
        database_url, redis_url = system.env["DATABASE_URL"], system.env["REDIS_URL"]
        bench = Bench(system, database_url, workdir, args)
        try:
            figures: dict[str, Any] = {"versions": await versions(database_url, redis_url)}
            first = await main_workloads(bench, args, figures)
            print("reads", flush=True)
            readers = readers_of(first, figures["create_http_16"])
            await read_workloads(bench, readers, figures)
            print("pgbench: booking-core's per-booking SQL", flush=True)
            figures["pgbench"] = await bench.pgbench()
            print("the monolith baseline: one process, the same JWT, schema and SQL", flush=True)
            monolith = await bench.monolith(await bench.workers(16))
            figures["monolith_16"] = monolith["create-http"]
            figures["monolith_get_16"] = monolith["get-http"]
            figures["monolith_list_16"] = monolith["list-http"]
            print(f"contention: one slot, {CONTENDERS} creates at once", flush=True)
            figures["contention"] = await bench.contention()
            print("creates through the gateway, 64 clients", flush=True)
            figures["create_http_64"] = await bench.load("create-http", await bench.workers(64))
            print("creates straight to booking-core (gRPC)", flush=True)
            for clients in (16, 64):
                figures[f"create_grpc_{clients}"] = await bench.load(
                    "create-grpc", await bench.workers(clients)
                )
        finally:
            await bench.close()
    return figures


async def main_workloads(bench: Bench, args: Any, figures: dict[str, Any]) -> list[dict[str, Any]]:
    """Warm the system up, then creates through the gateway at 16 clients into
    ``figures["create_http_16"]``; return those 16 clients."""
    # Before anything is measured: new tables past autovacuum's first analyses,
    # pools full, every code path run.
    print("warming the system up", flush=True)
    await bench.load("create-http", await bench.workers(16), duration=args.warmup)
    print("creates through the gateway", flush=True)
    first = await bench.workers(16)
    figures["create_http_16"] = await bench.load("create-http", first)
    return first


def readers_of(clients: list[dict[str, Any]], created: dict[str, Any]) -> list[dict[str, Any]]:
    """The clients of a create run, each to read back what it booked."""
    return [{**c, "ids": created["created"][str(i)]} for i, c in enumerate(clients)]


async def read_workloads(
    bench: Bench, readers: list[dict[str, Any]], figures: dict[str, Any]
) -> None:
    figures["get_http_16"] = await bench.load("get-http", readers)
    figures["list_http_16"] = await bench.load("list-http", readers)


# What "before" means in the before/after table: main as it stood when the
# performance work of issue 18 began (2026-12-02).
BEFORE_DEFAULT = "4f12546"
BEFORE_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bookings-bench"


def checkout(rev: str) -> tuple[str, Path]:
    """``rev`` of this repository as a tree of its own with its own ``.venv``, installed
    by its own ``make install`` from its own lock; kept under ``BEFORE_CACHE`` for the
    next run. Returns (short commit id, tree)."""
    commit = subprocess.run(
        ["git", "rev-parse", "--verify", f"{rev}^{{commit}}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    tree = BEFORE_CACHE / commit
    if not (tree / ".venv" / ".installed").exists():
        shutil.rmtree(tree, ignore_errors=True)
        tree.mkdir(parents=True)
        print(f"checking out {commit[:7]} into {tree} and installing it", flush=True)
        archive = subprocess.run(
            ["git", "archive", commit], cwd=ROOT, capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
        subprocess.run(["make", "--no-print-directory", "install"], cwd=tree, check=True)
    return commit[:7], tree


async def measure_before(args: Any, workdir: Path, tree: Path) -> dict[str, Any]:
    """The same warm-up, creates and reads against an older revision's system."""
    before_dir = workdir / "before"
    before_dir.mkdir()
    async with running_system(before_dir, tree, **SYSTEM_ENV) as system:
        bench = Bench(system, system.env["DATABASE_URL"], before_dir, args)
        try:
            figures: dict[str, Any] = {}
            first = await main_workloads(bench, args, figures)
            print("reads", flush=True)
            await read_workloads(bench, readers_of(first, figures["create_http_16"]), figures)
        finally:
            await bench.close()
    return figures


def other_benchmark(script: str, args: list[str], workdir: Path) -> str:
    """Run ``bench/<script>`` in its own process; return the report it wrote."""
    report = workdir / f"{script}.md"
    print(f"bench/{script} {' '.join(args)}", flush=True)
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args, "--report", str(report)],
        check=True,
    )
    return report.read_text().strip()


def row(name: str, clients: int, figures: dict[str, Any]) -> str:
    cpu = figures["cpu_ms"]
    # A backend that exits during a run takes its CPU time with it: not measurable then.
    postgres = f"{cpu['PostgreSQL']:.2f}" if cpu["PostgreSQL"] >= 0 else "n/a"
    return (
        f"| {name} | {clients} | {figures['rps']:.0f} | {figures['p50']:.1f} "
        f"| {figures['p99']:.1f} | {figures['errors']} | {cpu['booking-core']:.2f} "
        f"| {cpu['gateway']:.2f} | {postgres} | {cpu['load generator']:.2f} "
        f"| {_others(cpu)} |"
    )


def _others(cpu: dict[str, float]) -> str:
    """The rest of the system's CPU per request: n/a for the monolith (not part of it)."""
    return f"{cpu['others']:.2f}" if cpu.get("others", -1.0) >= 0 else "n/a"


def _cpu_total(figures: dict[str, Any], key: str = "cpu_ms") -> float:
    """booking-core + gateway + PostgreSQL, ms per request (``cpu_ms_settled``: until
    the system was idle again)."""
    cpu = figures[key]
    return float(cpu["booking-core"] + cpu["gateway"] + max(0.0, cpu["PostgreSQL"]))


TABLE_HEAD = [
    "| workload | clients | req/s | p50 ms | p99 ms | errors | CPU ms/request: booking-core "
    "| gateway | PostgreSQL | load generator | the rest of the system |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
]


PROFILE_HEADING = "## Profiling: before and after"


def kept_profile_section() -> str:
    """The hand-written profiling section of the previous RESULTS.md, kept as it is."""
    if not RESULTS.exists():
        return ""
    text = RESULTS.read_text()
    start = text.find(PROFILE_HEADING)
    return text[start:].strip() if start >= 0 else ""


def report(figures: dict[str, Any], extra: dict[str, str], args: Any) -> str:
    pgbench = figures["pgbench"]
    monolith = figures["monolith_16"]
    monolith_ratio = figures["create_http_16"]["rps"] / monolith["rps"]
    get_ratio = figures["get_http_16"]["rps"] / figures["monolith_get_16"]["rps"]
    list_ratio = figures["list_http_16"]["rps"] / figures["monolith_list_16"]["rps"]
    ratio16 = figures["create_http_16"]["rps"] / pgbench["tps"]
    ratio64 = figures["create_http_64"]["rps"] / pgbench["tps"]
    contention = figures["contention"]
    statuses = contention["statuses"]
    five_xx = sum(n for code, n in statuses.items() if code.startswith("5"))
    host = machine()
    lines = [
        "# Benchmark results",
        "",
        f"Written by `make bench` ({datetime.now(UTC):%Y-%m-%d}); every figure below comes "
        "from the same run on the same machine. Each workload ran from a load generator in "
        f"its own process (`bench/load.py`, closed loop), {args.warmup:g} s of warm-up then "
        f"{args.duration:g} s measured. The system ran as `make dev` runs it, with "
        + ", ".join(f"`{k}={v}`" for k, v in SYSTEM_ENV.items())
        + ".",
        "",
        "| machine | |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in host.items()),
        *(f"| {k} | {v} |" for k, v in figures["versions"].items()),
        "",
        "## Creates",
        "",
        "Distinct providers and slots, so nothing conflicts: every answer should be a 201 "
        "(gRPC OK).",
        "",
        *TABLE_HEAD,
        row("`POST /bookings` via the gateway", 16, figures["create_http_16"]),
        row("`POST /bookings` via the gateway", 64, figures["create_http_64"]),
        row("`CreateBooking` straight to booking-core (gRPC)", 16, figures["create_grpc_16"]),
        row("`CreateBooking` straight to booking-core (gRPC)", 64, figures["create_grpc_64"]),
        row(
            "baseline: the monolith (`bench/monolith.py`: one process, the same JWT check, "
            "schema and SQL; its CPU in the booking-core column)",
            16,
            monolith,
        ),
        f"| baseline: pgbench, booking-core's per-booking SQL "
        f"({pgbench['statements']} statement(s) a booking) | {PGBENCH_CLIENTS} "
        f"| {pgbench['tps']:.0f} "
        f"| {pgbench['latency_ms']:.1f} (mean) | | 0 | | | | |",
        "",
        f"ratio e2e/monolith: {monolith_ratio:.2f}",
        "",
        f"ratio e2e/pgbench: {ratio16:.2f}",
        "",
        f"- At 16 clients (targets: e2e/monolith ≥ 0.6, e2e/pgbench ≥ 0.35); e2e/pgbench "
        f"{ratio64:.2f} at 64; p99 at 16 clients "
        f"**{figures['create_http_16']['p99']:.1f} ms** (target < 50), "
        f"{figures['create_http_16']['p99'] / figures['create_http_16']['p50']:.1f} × p50 "
        "(target ≤ 2.5).",
        "- CPU per create, all our processes and PostgreSQL: end to end "
        f"{_cpu_total(figures['create_http_16']):.2f} ms, the monolith "
        f"{_cpu_total(monolith):.2f} ms.",
        "- What the gateway costs: "
        f"{figures['create_grpc_16']['rps']:.0f} → {figures['create_http_16']['rps']:.0f} req/s "
        f"at 16 clients, {figures['create_grpc_64']['rps']:.0f} → "
        f"{figures['create_http_64']['rps']:.0f} at 64.",
        "- CPU per request is each process's CPU time over the run (warm-up included) "
        "divided by the requests it served: on two cores, what the figures above cost. "
        "The rest of the system is the notifiers, the reminder, mail and payment workers, "
        "the mail sink and Redis: every booking is announced on Redis and sent to its "
        "customer as an email with an invitation.",
        "- pgbench replays, as prepared statements, exactly what `bench/pgbench.py` recorded "
        "booking-core's own create path sending to PostgreSQL for one booking, with a fresh "
        "booking, slot and provider per transaction:",
        "",
        "<details><summary>the pgbench script</summary>",
        "",
        "```sql",
        pgbench["script"].rstrip(),
        "```",
        "",
        "</details>",
        "",
        *deferred_work(figures["create_http_16"]),
        "## Reads",
        "",
        *TABLE_HEAD,
        row("`GET /bookings/{id}`", 16, figures["get_http_16"]),
        row("`GET /bookings?type=upcoming&limit=20` (a full page)", 16, figures["list_http_16"]),
        row("baseline: the monolith, `GET /bookings/{id}`", 16, figures["monolith_get_16"]),
        row("baseline: the monolith, a full page", 16, figures["monolith_list_16"]),
        "",
        f"ratio get/monolith: {get_ratio:.2f}",
        "",
        f"ratio page/monolith: {list_ratio:.2f}",
        "",
        "- Targets: each ≥ 0.6, p99 ≤ 2.5 × p50 (now "
        f"{figures['get_http_16']['p99'] / figures['get_http_16']['p50']:.1f} × for one booking, "
        f"{figures['list_http_16']['p99'] / figures['list_http_16']['p50']:.1f} × for a page). "
        "The monolith reads the same database with the same JWT check, booking-core's own read "
        "SQL and the gateway's response schemas; its CPU is in the booking-core column.",
        "",
        "## Contention",
        "",
        f"{contention['requests']} customers ask for the same provider's same slot at once, "
        "through the gateway.",
        "",
        "| 201 | 409 | 5xx | other | all answered after |",
        "|---|---|---|---|---|",
        f"| {statuses.get('201', 0)} | {statuses.get('409', 0)} | {five_xx} "
        f"| {contention['requests'] - statuses.get('201', 0) - statuses.get('409', 0) - five_xx}"
        f" | {contention['all_answered_ms']:.0f} ms |",
        "",
    ]
    if "before" in figures:
        lines += before_after(figures["before"], figures)
    for title, text in extra.items():
        lines += [f"## {title}", "", text, ""]
    profile = kept_profile_section()
    if profile:
        lines += [profile, ""]
    return "\n".join(lines)


def deferred_work(create: dict[str, Any]) -> list[str]:
    """What creates set going that runs on after the load stops (outbox, mail), per
    create: the CPU counted until the system was idle again, minus that of the run."""
    during, settled = create["cpu_ms"], create["cpu_ms_settled"]
    names = ("booking-core", "gateway", "PostgreSQL", "others")
    return [
        "### What a create sets going",
        "",
        "Every booking is announced on Redis (outbox), reaches the notifiers, and is mailed "
        "to its customer with an invitation (mail dispatcher, mail worker, SMTP sink), "
        "partly while the load runs and partly after. The CPU per create of "
        "`POST /bookings` at 16 clients, counted until the system was idle again:",
        "",
        "| CPU ms per create | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
        "| while the load ran (the table above) | "
        + " | ".join(f"{during[n]:.2f}" for n in names)
        + " |",
        "| until the system was idle again | "
        + " | ".join(f"{settled[n]:.2f}" for n in names)
        + " |",
        "",
        f"booking-core + gateway + PostgreSQL: {_cpu_total(create):.2f} ms while the load ran, "
        f"{_cpu_total(create, 'cpu_ms_settled'):.2f} ms in all. The system was idle again "
        f"{create['settled_after_s']:.0f} s after the load stopped.",
        "",
    ]


def before_after(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The before/after section: the same workloads against ``before["revision"]``'s
    system and this one's, in this run."""
    revision = before["revision"]

    def cpu(figures: dict[str, Any], name: str) -> str:
        value = figures["cpu_ms"].get(name, -1.0)
        return f"{value:.2f}" if value >= 0 else "n/a"

    def ratio(a: float, b: float) -> str:
        return f"{b / a:.2f}" if a > 0 else "n/a"

    lines = [
        f"## Before (`{revision}`) and after, in this run",
        "",
        f"`--before {revision}`: that revision's own tree and lock, started by its own "
        "`make dev` against a fresh database, driven by the same load generator with the "
        "same warm-up, clients and duration, just before the tables above were measured.",
        "",
        f"| workload | figure | before (`{revision}`) | after | after ÷ before |",
        "|---|---|---|---|---|",
    ]
    for key, name in (
        ("create_http_16", "`POST /bookings`, 16 clients"),
        ("get_http_16", "`GET /bookings/{id}`, 16 clients"),
        ("list_http_16", "a page of 20, 16 clients"),
    ):
        b, a = before[key], after[key]
        lines += [
            f"| {name} | req/s | {b['rps']:.0f} | {a['rps']:.0f} | {ratio(b['rps'], a['rps'])} |",
            f"| | p50 / p99 ms | {b['p50']:.1f} / {b['p99']:.1f} | {a['p50']:.1f} / "
            f"{a['p99']:.1f} | |",
            *(
                f"| | CPU ms/request: {proc} | {cpu(b, proc)} | {cpu(a, proc)} | "
                f"{ratio(b['cpu_ms'][proc], a['cpu_ms'][proc])} |"
                for proc in ("booking-core", "gateway", "PostgreSQL", "others")
            ),
            f"| | CPU ms/request: booking-core + gateway + PostgreSQL | {_cpu_total(b):.2f} "
            f"| {_cpu_total(a):.2f} | {ratio(_cpu_total(b), _cpu_total(a))} |",
            f"| | the same until the system was idle again | "
            f"{_cpu_total(b, 'cpu_ms_settled'):.2f} | {_cpu_total(a, 'cpu_ms_settled'):.2f} | "
            f"{ratio(_cpu_total(b, 'cpu_ms_settled'), _cpu_total(a, 'cpu_ms_settled'))} |",
        ]
    b16, a16 = before["create_http_16"], after["create_http_16"]
    lines += [
        "",
        f"ratio cpu-per-create after/before: {_cpu_total(a16) / _cpu_total(b16):.2f}",
        "",
        "- Target: at most 0.50, booking-core, the gateway and PostgreSQL while the load "
        "runs. Until the system is idle again (the work each create sets going included): "
        f"{_cpu_total(a16, 'cpu_ms_settled') / _cpu_total(b16, 'cpu_ms_settled'):.2f}. "
        "`others` is the rest of the system (notifiers, workers, the mail sink, Redis).",
        "",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds")
    parser.add_argument(
        "--quick", action="store_true", help="short runs, no reminder or notifier benchmark"
    )
    parser.add_argument(
        "--system-only", action="store_true", help="skip the reminder and notifier benchmarks"
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--profile", type=Path, help="py-spy booking-core and the gateway into this directory"
    )
    parser.add_argument(
        "--before",
        metavar="REV",
        default=os.environ.get("BENCH_BEFORE", BEFORE_DEFAULT),
        help="also measure this revision's system in the same run, for the before/after "
        f"table ('' for none; default {BEFORE_DEFAULT}, the code issue 18 started from)",
    )
    args = parser.parse_args()
    if args.quick:
        args.warmup, args.duration = 2.0, 5.0
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        workdir = Path(tmp)
        before: dict[str, Any] | None = None
        if args.before:
            revision, tree = checkout(args.before)
            print(f"before: {revision}", flush=True)
            before = {"revision": revision, **asyncio.run(measure_before(args, workdir, tree))}
            print("after: this checkout", flush=True)
        figures = asyncio.run(measure_system(args, workdir))
        if before is not None:
            figures["before"] = before
        extra: dict[str, str] = {}
        if not (args.quick or args.system_only):
            extra["Reminders (`bench/reminders.py`)"] = other_benchmark("reminders.py", [], workdir)
            extra["Reminders: a burst (`bench/reminders.py --burst 5000`)"] = other_benchmark(
                "reminders.py", ["--burst", "5000"], workdir
            )
            extra["Notifier (`bench/notifier.py`)"] = other_benchmark("notifier.py", [], workdir)
            extra["Ticketing (`bench/tickets.py`)"] = other_benchmark("tickets.py", [], workdir)
    text = report(figures, extra, args)
    args.output.write_text(text)
    print()
    print(text)


if __name__ == "__main__":
    main()
