"""Processes and helpers the integration tests start for real.

- ``CoreProcess``: booking-core as a subprocess (``python -m booking_core``) on a free port.
- ``RedisProcess``: a private redis-server that a test may stop and start.
- ``TcpProxy``: a TCP relay a test can cut and restore, to take PostgreSQL or Redis "down".
- ``GatewayProcess``, ``WorkerProcess``, ``NotifierProcess``: the other services, the same way.
- ``dev_system``: the whole system started the way a user starts it, ``make dev``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from grpclib.client import Channel
from grpclib.health.v1.health_grpc import HealthStub
from grpclib.health.v1.health_pb2 import HealthCheckRequest, HealthCheckResponse

INTERNAL_TOKEN = "integration-test-internal-token"
T = TypeVar("T")


def rss_bytes(pid: int, *, with_children: bool = False) -> int:
    """Resident set size of ``pid`` in bytes (plus its direct children's), from /proc (Linux);
    a process that is gone counts 0."""
    pids = [pid]
    if with_children:
        with contextlib.suppress(OSError):
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            pids += [int(child) for child in children]
    total = 0
    for each in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time ``pid`` has used, in seconds, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def eventually(
    probe: Callable[[], Awaitable[T]],
    *,
    timeout: float = 10.0,  # noqa: ASYNC109 - the deadline of the poll itself
    interval: float = 0.05,
) -> T:
    """Poll ``probe`` until it returns a truthy value without raising; return that value."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = await probe()
            if value:
                return value
            error: BaseException | None = None
        except Exception as exc:
            error = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last error: {error!r})")
        await asyncio.sleep(interval)


class ServiceProcess:
    """One of our services as a subprocess (``python -m <module>``), logging to ``log_path``.

    It runs in the log's directory, away from a developer's ``.env``.
    """

    module = ""
    args: tuple[str, ...] = ()
    # In a session (and process group) of its own, for ``kill_group``: dramatiq forks
    # worker processes, and SIGKILL on the main process alone would leave them running.
    new_session = False
    port: int

    def __init__(self, log_path: Path, env: dict[str, str]) -> None:
        self.log_path = log_path
        self.env = {**os.environ, "INTERNAL_TOKEN": INTERNAL_TOKEN, "LOG_LEVEL": "INFO", **env}
        self.process: subprocess.Popen[bytes] | None = None

    def launch(self) -> subprocess.Popen[bytes]:
        """Start the process and return at once."""
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module, *self.args],
            env=self.env,
            cwd=self.log_path.parent,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=self.new_session,
        )
        return self.process

    def kill_group(self) -> int:
        """SIGKILL every process of the group (``new_session``); reap the main one."""
        assert self.process is not None and self.new_session
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        return self.wait_exit(10)

    def stop(self) -> None:
        """SIGTERM if it still runs, then make sure nothing of its group is left."""
        if self.process is not None and self.process.poll() is None:
            self.terminate()
        if self.process is not None and self.new_session:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)

    async def start(self) -> None:
        """Launch and wait until ``is_ready``."""
        self.launch()
        await eventually(self._ready_or_raise, timeout=20)

    async def _ready_or_raise(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.module} exited: {self.log_path.read_text()[-2000:]}")
        return await self.is_ready()

    async def is_ready(self) -> bool:
        raise NotImplementedError

    def terminate(self, timeout: float = 15) -> int:
        """SIGTERM and wait; return the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._log.close()
        return code

    def wait_exit(self, timeout: float = 30) -> int:
        """Wait for a process that exits by itself; return its code."""
        assert self.process is not None
        try:
            return self.process.wait(timeout)
        finally:
            self._log.close()

    def log_lines(self) -> list[str]:
        return self.log_path.read_text().splitlines()


class CoreProcess(ServiceProcess):
    """booking-core in its own process."""

    module = "booking_core"

    def __init__(self, database_url: str, redis_url: str, log_path: Path, **extra_env: str) -> None:
        self.port = free_port()
        super().__init__(
            log_path,
            {
                "DATABASE_URL": database_url,
                "REDIS_URL": redis_url,
                "GRPC_HOST": "127.0.0.1",
                "GRPC_PORT": str(self.port),
                "JWT_SECRET": JWT_SECRET,
                "OUTBOX_RELAY_INTERVAL_SECONDS": "0.2",
                "OUTBOX_RELAY_MIN_AGE_SECONDS": "0.5",
                **extra_env,
            },
        )

    async def is_ready(self) -> bool:
        channel = Channel("127.0.0.1", self.port)
        try:
            reply = await HealthStub(channel).Check(HealthCheckRequest(), timeout=1)
            return bool(reply.status == HealthCheckResponse.SERVING)
        finally:
            channel.close()


class RedisProcess:
    """A private, non-persistent redis-server on a free port."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


class TcpProxy:
    """Relays 127.0.0.1:``port`` to ``target``.

    ``cut()`` drops every connection and refuses new ones; ``restore()`` listens again.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.port = free_port()
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def restore(self) -> None:
        await self.start()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                dst.transport.abort()
                self._writers.discard(dst)

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


def in_future(**delta: Any) -> Any:
    """Now (UTC) plus a timedelta, for booking times."""
    from datetime import UTC, datetime, timedelta

    return datetime.now(UTC) + timedelta(**delta)


JWT_SECRET = "integration-test-jwt-secret-0123456789abcdef"
# Database 15, not 0: booking-core enqueues reminder jobs there, and a worker
# of a development system (on database 0) must never run them.
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def make_token(
    role: str,
    owner_id: str,
    *,
    secret: str = JWT_SECRET,
    algorithm: str = "HS256",
    ttl: float = 600,
    **claims: Any,
) -> str:
    """A signed contract token (``sub``, ``role``, ``customerId``/``providerId``, ``exp``);
    ``claims`` override or add claims (``None`` removes one)."""
    import jwt

    now = time.time()
    payload: dict[str, Any] = {
        "sub": f"{role}:{owner_id}",
        "role": role,
        "customerId" if role == "customer" else "providerId": owner_id,
        "iat": int(now),
        "exp": int(now + ttl),
    }
    payload.update(claims)
    payload = {key: value for key, value in payload.items() if value is not None}
    return jwt.encode(payload, secret, algorithm=algorithm)


class HttpServiceProcess(ServiceProcess):
    """An HTTP service of ours on a free port, talking to booking-core at ``core_port``;
    ready when ``ready_path`` answers 200."""

    ready_path = "/health"

    def __init__(self, core_port: int, log_path: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        super().__init__(
            log_path,
            {
                "CORE_GRPC_TARGET": f"127.0.0.1:{core_port}",
                "JWT_SECRET": JWT_SECRET,
                # Limits shared through Redis: the test database, and keys of this
                # process alone unless a test gives replicas one prefix.
                "REDIS_URL": REDIS_URL,
                "LIMITS_KEY_PREFIX": f"test-limits:{uuid.uuid4().hex[:12]}",
                "HOST": "127.0.0.1",
                "PORT": str(self.port),
                **env,
            },
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def is_ready(self) -> bool:
        import aiohttp

        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{self.url}{self.ready_path}") as response,
        ):
            return response.status == 200


class GatewayProcess(HttpServiceProcess):
    """The gateway in its own process."""

    module = "gateway"

    def __init__(self, core_port: int, log_path: Path, **extra_env: str) -> None:
        super().__init__(core_port, log_path, {"APP_ENV": "development", **extra_env})


class WorkerProcess(ServiceProcess):
    """The reminder worker, started the way users start it: ``dramatiq reminder_worker.broker``."""

    module = "dramatiq"
    args: tuple[str, ...] = (
        *("reminder_worker.broker", "--processes", "1", "--threads", "4", "--skip-logging"),
    )

    def __init__(self, core_port: int, redis_url: str, log_path: Path, **extra_env: str) -> None:
        prometheus_db = log_path.parent / f"prometheus-{log_path.stem}"
        prometheus_db.mkdir(exist_ok=True)
        super().__init__(
            log_path,
            {
                "CORE_GRPC_TARGET": f"127.0.0.1:{core_port}",
                "REDIS_URL": redis_url,
                "dramatiq_worker_timeout": "100",
                "dramatiq_prom_port": str(free_port()),
                "dramatiq_prom_db": str(prometheus_db),
                **extra_env,
            },
        )
        self._ready_lines = 0

    def launch(self) -> subprocess.Popen[bytes]:
        self._ready_lines = self._count_ready()
        return super().launch()

    def _count_ready(self) -> int:
        if not self.log_path.exists():
            return 0
        return self.log_path.read_text().count("ready for action")

    async def is_ready(self) -> bool:
        return self._count_ready() > self._ready_lines


class MailWorkerProcess(WorkerProcess):
    """The mail worker, started the way users start it (``dramatiq mail_worker.broker
    --queues mail``), sending to an SMTP server at 127.0.0.1:``smtp_port``, in a process
    group of its own so ``kill_group`` can kill it mid-send, forks and all."""

    new_session = True
    args: tuple[str, ...] = (
        *("mail_worker.broker", "--processes", "1", "--threads", "2"),
        *("--queues", "mail", "--skip-logging"),
    )

    def __init__(
        self, core_port: int, redis_url: str, log_path: Path, *, smtp_port: int, **extra_env: str
    ) -> None:
        super().__init__(
            core_port,
            redis_url,
            log_path,
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(smtp_port),
            **extra_env,
        )


class PaymentServiceProcess(WorkerProcess):
    """payment-service as users start it (``dramatiq payment_service.broker --queues
    payments``), in a process group of its own so ``kill_group`` kills it mid-payment."""

    new_session = True
    args: tuple[str, ...] = (
        *("payment_service.broker", "--processes", "1", "--threads", "4"),
        *("--queues", "payments", "--skip-logging"),
    )

    def __init__(self, redis_url: str, log_path: Path, **extra_env: str) -> None:
        super().__init__(0, redis_url, log_path, **extra_env)


class NotifierProcess(HttpServiceProcess):
    """A notifier replica in its own process; ready when subscribed to Redis."""

    module = "notifier"
    ready_path = "/ready"

    def __init__(self, core_port: int, redis_url: str, log_path: Path, **extra_env: str) -> None:
        super().__init__(core_port, log_path, {"REDIS_URL": redis_url, **extra_env})

    def rss_bytes(self) -> int:
        """The process's resident set size in bytes."""
        assert self.process is not None
        return rss_bytes(self.process.pid)


class SseStream:
    """A minimal Server-Sent Events reader over an aiohttp response (WHATWG HTML
    "Interpreting an event stream"): yields ``(id, event, data)`` per dispatched event."""

    def __init__(self, response: Any) -> None:
        self.response = response
        self.comments = 0

    async def next_event(self) -> tuple[str | None, str | None, str]:
        """The next event; raises ``EOFError`` when the stream ends."""
        event_id: str | None = None
        event_type: str | None = None
        data: list[str] = []
        while True:
            raw = await self.response.content.readline()
            if not raw:
                raise EOFError("the event stream ended")
            line = raw.decode().rstrip("\r\n")
            if not line:
                if data:
                    return event_id, event_type, "\n".join(data)
                continue
            if line.startswith(":"):
                self.comments += 1
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "id":
                event_id = value
            elif name == "event":
                event_type = value
            elif name == "data":
                data.append(value)


ROOT = Path(__file__).resolve().parents[2]


@dataclass
class DevSystem:
    """``make dev`` running: booking-core, the gateway, notifiers A and B, the reminder and
    mail workers and the mail sink (storing messages under ``mail_dir``)."""

    process: subprocess.Popen[bytes]
    log_path: Path
    ports: dict[str, int]
    exports: dict[str, str] = field(default_factory=dict)
    # The settings it was started with (secrets, URLs, ports).
    env: dict[str, str] = field(default_factory=dict)
    # The workers' metrics ports that answer once they run (the Procfile's workers).
    metrics_ports: tuple[str, ...] = ("worker-metrics", "mail-metrics", "payment-metrics")

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    @property
    def mail_dir(self) -> Path:
        """Where the mail sink stores messages."""
        return Path(self.env["MAIL_SINK_DIR"])

    def lines(self, process: str) -> list[dict[str, Any]]:
        """The JSON log lines honcho prefixed with ``<process>.1 |``."""
        out = []
        for line in self.log_path.read_text().splitlines():
            prefix, sep, rest = line.partition(" | ")
            if sep and prefix.split()[-1] == f"{process}.1" and rest.startswith("{"):
                out.append(json.loads(rest))
        return out

    def pids(self) -> list[int]:
        return [int(pid) for pid in re.findall(r"started \(pid=(\d+)\)", self.log_path.read_text())]

    def pid(self, process: str) -> int:
        """The pid honcho started ``process`` (core, gateway, notifier-a, ...) with."""
        found = re.search(rf"{process}\.1 started \(pid=(\d+)\)", self.log_path.read_text())
        if found is None:
            raise LookupError(process)
        return int(found.group(1))

    async def wait_until_running(self) -> None:
        """Until the gateway and both notifiers are ready and the worker serves metrics."""
        import aiohttp

        async with aiohttp.ClientSession() as session:

            async def ready() -> bool:
                if self.process.poll() is not None:
                    raise RuntimeError(self.log_path.read_text()[-3000:])
                for name in ("gateway", "notifier-a", "notifier-b"):
                    with contextlib.suppress(aiohttp.ClientError):
                        async with session.get(self.url(name) + "/ready") as response:
                            if response.status == 200:
                                continue
                    return False
                # A worker's metrics endpoint answers once a worker process has booted
                # (whatever LOG_LEVEL says).
                for name in self.metrics_ports:
                    with contextlib.suppress(aiohttp.ClientError):
                        async with session.get(self.url(name) + "/metrics") as response:
                            if response.status == 200:
                                continue
                    return False
                return True

            await eventually(ready, timeout=60, interval=0.2)
        self.exports = dict(re.findall(r"export (\w+)=(\S+)", self.log_path.read_text()))


@contextlib.asynccontextmanager
async def dev_system(
    workdir: Path, database_url: str, redis_url: str, root: Path = ROOT, /, **extra_env: str
) -> AsyncIterator[DevSystem]:
    """Run ``make dev`` in ``root`` (this checkout; ``bench/system.py --before`` passes an
    older one) on free ports against ``database_url`` and ``redis_url`` with the test
    secrets, in its own process group; yield once everything is ready; stop it
    (SIGTERM, then SIGKILL after 15 s) on the way out unless the caller did."""
    names = (
        "grpc",
        "gateway",
        "notifier-a",
        "notifier-b",
        "worker-metrics",
        "mail-metrics",
        "payment-metrics",
        "smtp",
    )
    ports = {name: free_port() for name in names}
    prometheus = workdir / "prometheus"
    prometheus.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "INTERNAL_TOKEN": INTERNAL_TOKEN,
        "JWT_SECRET": JWT_SECRET,
        "JWT_ALGORITHM": "HS256",
        "APP_ENV": "development",
        "LOG_LEVEL": "INFO",
        "GRPC_HOST": "127.0.0.1",
        "GRPC_PORT": str(ports["grpc"]),
        "CORE_GRPC_TARGET": f"127.0.0.1:{ports['grpc']}",
        "GATEWAY_PORT": str(ports["gateway"]),
        "NOTIFIER_A_PORT": str(ports["notifier-a"]),
        "NOTIFIER_B_PORT": str(ports["notifier-b"]),
        "HOST": "127.0.0.1",
        "dramatiq_prom_host": "127.0.0.1",
        "dramatiq_prom_port": str(ports["worker-metrics"]),
        "dramatiq_prom_db": str(prometheus),
        "MAIL_WORKER_METRICS_PORT": str(ports["mail-metrics"]),
        "PAYMENT_SERVICE_METRICS_PORT": str(ports["payment-metrics"]),
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(ports["smtp"]),
        "MAIL_SINK_DIR": str(workdir / "mail"),
        **extra_env,
    }
    log_path = workdir / "dev.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: ASYNC220 - returns at once
            ["make", "--no-print-directory", "dev"],
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, like a terminal's job
        )
    procfile = (root / "Procfile").read_text()
    workers = {
        "worker": "worker-metrics",
        "mail-worker": "mail-metrics",
        "payments": "payment-metrics",
    }
    system = DevSystem(
        process,
        log_path,
        ports,
        env={k: v for k, v in env.items() if k not in os.environ or os.environ[k] != v},
        metrics_ports=tuple(
            port for name, port in workers.items() if re.search(rf"^{name}:", procfile, re.M)
        ),
    )
    try:
        await system.wait_until_running()
        yield system
    finally:
        if process.poll() is None:
            # The worker runs in a session of its own: only honcho's SIGTERM reaches it.
            os.killpg(process.pid, signal.SIGTERM)
            try:
                await asyncio.to_thread(process.wait, 15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
