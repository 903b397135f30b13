"""Fault-injection fixtures: each test builds its own stack (fresh database, private Redis,
sometimes a private PostgreSQL) and breaks a piece of it for real: SIGKILL, a stopped
server, a killed process group.

- ``PostgresProcess``: a private PostgreSQL cluster (initdb + pg_ctl) a test may stop,
  start and restart without touching the shared server.
- ``GroupWorker``: the reminder worker in a session of its own, so SIGKILL reaches the
  processes dramatiq forks too.
- ``EventTap``: every envelope published on ``bookings.events``, surviving Redis restarts.
- ``Directory``: providers and customers registered over gRPC.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import asyncpg
import pytest
from bookings_common.events import CHANNEL
from bookings_proto.bookings import v1 as pb
from redis.asyncio import Redis
from redis.exceptions import RedisError

from tests.integration.conftest import SERVICE, fresh_database
from tests.integration.harness import RedisProcess, WorkerProcess, free_port


def postgres_bin() -> Path:
    """The newest installed PostgreSQL server's programs (Debian's layout), or the
    directory ``initdb`` is found in on PATH."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: int(path.parts[-3]) if path.parts[-3].isdigit() else 0,
    )
    if found:
        return found[-1].parent
    on_path = shutil.which("initdb")
    if on_path is None:
        raise RuntimeError("no PostgreSQL server programs (initdb) found")
    return Path(on_path).parent


PG_BIN: Final = postgres_bin()


def tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a log, for assertion messages."""
    if not path.exists():
        return f"({path} does not exist)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


async def fetch(database_url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    """Run one query on a connection of its own (the services' pools are not ours)."""
    conn = await asyncpg.connect(database_url, timeout=5)
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


async def fetchval(database_url: str, query: str, *args: Any) -> Any:
    """The first column of the first row of ``query``."""
    rows = await fetch(database_url, query, *args)
    return rows[0][0] if rows else None


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    """A database of this test's own on the shared server, migrated to head."""
    async with fresh_database() as url:
        yield url


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisProcess]:
    """A private, non-persistent redis-server this test may stop and start."""
    workdir = tmp_path / "redis"
    workdir.mkdir()
    process = RedisProcess(workdir)
    process.start()
    yield process
    process.stop()


# --- PostgreSQL -------------------------------------------------------------------------


class PostgresProcess:
    """A private PostgreSQL cluster on 127.0.0.1:``port`` (trust auth, user postgres).

    Its data, log and unix socket live in a ``mkdtemp`` directory owned by the postgres
    user, since initdb and postgres refuse to run as root (as root the binaries run via
    ``runuser -u postgres --``). ``fsync=off``: durability is not under test here.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="faults-pg-"))
        self.data = self.root / "data"
        self.log_path = self.root / "postgres.log"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            account = pwd.getpwnam("postgres")
            os.chown(self.root, account.pw_uid, account.pw_gid)

    def url(self, database: str = "postgres") -> str:
        """A plain postgresql:// URL of ``database`` on this cluster."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, program: str, *args: str, timeout: float = 60) -> None:
        command = [str(PG_BIN / program), *args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False, cwd=self.root
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{program} {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout}{result.stderr}\n{tail(self.log_path)}"
            )

    def init(self) -> None:
        """initdb the cluster (once)."""
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        )

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log_path), "-o", options, "-w", "start"
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: roll back open transactions, close every session)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    @property
    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def destroy(self) -> None:
        """Stop the server if it runs and delete the cluster."""
        if self.running:
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
async def postgres() -> AsyncIterator[PostgresProcess]:
    """A private PostgreSQL cluster, started; destroyed after the test."""
    cluster = PostgresProcess()
    try:
        await asyncio.to_thread(cluster.init)
        await asyncio.to_thread(cluster.start)
        yield cluster
    finally:
        await asyncio.to_thread(cluster.destroy)


# --- the reminder worker, killable as a whole ------------------------------------------


class GroupWorker(WorkerProcess):
    """``dramatiq reminder_worker.broker`` in a session (and process group) of its own, so
    ``kill_group`` kills it with its forks."""

    new_session = True

    def __init__(
        self, core_port: int, redis_url: str, log_path: Path, *, threads: int, **env: str
    ) -> None:
        super().__init__(core_port, redis_url, log_path, **env)
        self.args = (
            *("reminder_worker.broker", "--processes", "1", "--threads", str(threads)),
            "--skip-logging",
        )


# --- Redis pub/sub ----------------------------------------------------------------------


@dataclass
class EventTap:
    """Every envelope on ``bookings.events``, in arrival order; resubscribes after Redis
    goes away (messages published while it is not subscribed are, by design, lost)."""

    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> EventTap:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self.subscribed.wait(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        while True:
            client = Redis.from_url(self.url, socket_connect_timeout=1.0)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    self.subscribed.set()
                    async for message in pubsub.listen():
                        if message["type"] == "message":
                            self.received.append(json.loads(message["data"]))
            except (RedisError, OSError):
                self.subscribed.clear()
                await asyncio.sleep(0.1)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await client.aclose()

    def ids(self, event_type: str | None = None) -> list[int]:
        """Event ids received (duplicates included), optionally of one type only."""
        return [
            int(envelope["id"])
            for envelope in self.received
            if event_type is None or envelope["type"] == event_type
        ]


# --- providers and customers ------------------------------------------------------------


@dataclass
class Directory:
    """Registers providers and customers through booking-core as a trusted service."""

    stub: pb.BookingServiceStub

    async def provider(self, name: str = "Fault Provider") -> str:
        reply = await self.stub.register_provider(
            pb.RegisterProviderRequest(actor=SERVICE, name=name, time_zone="UTC")
        )
        assert reply.provider is not None
        return reply.provider.id

    async def customer(self, name: str = "Fault Customer") -> str:
        reply = await self.stub.register_customer(
            pb.RegisterCustomerRequest(
                actor=SERVICE, name=name, email=f"{uuid.uuid4().hex}@example.com"
            )
        )
        assert reply.customer is not None
        return reply.customer.id
