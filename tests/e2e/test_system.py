"""End to end: the whole system started the way a user starts it (``make dev``:
booking-core, the gateway, two notifier replicas and the reminder worker under
honcho), on real ports, against real PostgreSQL and a private Redis, driven by
real clients only: HTTP like curl, a WebSocket, an SSE stream and a stock grpcio
client."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.e2e.conftest import running_system
from tests.integration.harness import (
    INTERNAL_TOKEN,
    DevSystem,
    SseStream,
    eventually,
    free_port,
)

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
LEAD_SECONDS = 30
# The reminder of a booking starting this far ahead is due DUE_IN seconds from now.
DUE_IN = 6.0


@pytest.fixture(scope="module")
async def system(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DevSystem]:
    async with running_system(
        tmp_path_factory.mktemp("e2e"),
        REMINDER_LEAD_SECONDS=str(LEAD_SECONDS),
        REMINDER_SCHEDULER_INTERVAL_SECONDS="0.5",
        # As the README's ticket walkthrough says to start it.
        HOLD_TTL_SECONDS="20",
    ) as system:
        yield system


class Watcher:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.task: asyncio.Task[None] | None = None

    def of(self, booking_id: str, event_type: str) -> list[dict[str, Any]]:
        return [
            e
            for e in self.events
            if e["type"] == event_type and e["data"]["bookingId"] == booking_id
        ]

    async def wait_for(self, booking_id: str, event_type: str, wait: float = 15) -> dict[str, Any]:
        async def seen() -> list[dict[str, Any]]:
            return self.of(booking_id, event_type)

        return (await eventually(seen, timeout=wait))[0]


async def watch_ws(session: aiohttp.ClientSession, url: str, token: str) -> Watcher:
    watcher = Watcher()
    ws = await session.ws_connect(f"{url}/ws", headers={"Authorization": f"Bearer {token}"})

    async def read() -> None:
        async for message in ws:
            if message.type is aiohttp.WSMsgType.TEXT:
                watcher.events.append(json.loads(message.data))

    watcher.task = asyncio.create_task(read())
    return watcher


async def watch_sse(session: aiohttp.ClientSession, url: str, token: str) -> Watcher:
    watcher = Watcher()
    response = await session.get(f"{url}/events", headers={"Authorization": f"Bearer {token}"})
    assert response.status == 200
    stream = SseStream(response)

    async def read() -> None:
        while True:
            _, _, data = await stream.next_event()
            watcher.events.append(json.loads(data))

    watcher.task = asyncio.create_task(read())
    return watcher


def body(provider: str, customer: str, start: datetime, length: timedelta) -> dict[str, str]:
    return {
        "providerId": provider,
        "customerId": customer,
        "startTime": start.isoformat(),
        "endTime": (start + length).isoformat(),
    }


async def book(
    session: aiohttp.ClientSession,
    system: DevSystem,
    auth: dict[str, str],
    provider: str,
    customer: str,
    start: datetime,
    length: timedelta,
    request_id: str | None = None,
) -> str:
    """POST /bookings as curl would; returns the new booking's id."""
    headers = {**auth, **({"X-Request-ID": request_id} if request_id else {})}
    async with session.post(
        f"{system.url('gateway')}/bookings",
        json=body(provider, customer, start, length),
        headers=headers,
    ) as response:
        assert response.status == 201, await response.text()
        booking: str = (await response.json())["bookingId"]
        assert response.headers["Location"] == f"/bookings/{booking}"
        if request_id:
            assert response.headers["X-Request-ID"] == request_id
        return booking


@pytest.mark.timeout(240)
async def test_a_booking_lives_its_whole_life_through_every_process(
    system: DevSystem, grpcio_stubs: Path
) -> None:
    exports = system.exports
    customer, provider = exports["CUSTOMER"], exports["PROVIDER"]
    customer_token, provider_token = exports["CUSTOMER_TOKEN"], exports["PROVIDER_TOKEN"]
    async with aiohttp.ClientSession() as session:
        customer_ws = await watch_ws(session, system.url("notifier-a"), customer_token)
        provider_sse = await watch_sse(session, system.url("notifier-b"), provider_token)
        await asyncio.sleep(0.5)  # both subscribed before anything happens
        auth = {"Authorization": f"Bearer {customer_token}"}
        request_id = f"e2e-{uuid.uuid4().hex}"

        # 1. Create: 201, and both watchers get booking.created with the same id.
        first_start = datetime.now(UTC) + timedelta(seconds=LEAD_SECONDS + DUE_IN)
        due_at = time.time() + DUE_IN
        slot = timedelta(seconds=5)
        booking = await book(
            session, system, auth, provider, customer, first_start, slot, request_id
        )
        created = await customer_ws.wait_for(booking, "booking.created")
        assert (await provider_sse.wait_for(booking, "booking.created"))["id"] == created["id"]

        # The same slot again is a conflict.
        async with session.post(
            f"{system.url('gateway')}/bookings",
            json=body(provider, customer, first_start, slot),
            headers=auth,
        ) as response:
            assert response.status == 409
            assert (await response.json())["code"] == "BOOKING_OVERLAP"

        # 2. The next slot, whose reminder would be due 5 s after the first's, is cancelled.
        cancelled = await book(session, system, auth, provider, customer, first_start + slot, slot)
        async with session.post(
            f"{system.url('gateway')}/bookings/{cancelled}/cancel", json={}, headers=auth
        ) as response:
            assert response.status == 200
            assert (await response.json())["booking"]["status"] == "cancelled"
        for watcher in (customer_ws, provider_sse):
            await watcher.wait_for(cancelled, "booking.cancelled")

        # 3. The first booking's reminder fires at its due time, once, to both.
        reminder = await customer_ws.wait_for(booking, "booking.reminder.due", wait=DUE_IN + 15)
        arrived = time.time()
        assert arrived >= due_at - 1.0
        assert arrived - due_at < 5.0, f"reminder {arrived - due_at:.1f} s late"
        assert (await provider_sse.wait_for(booking, "booking.reminder.due"))["id"] == reminder[
            "id"
        ]
        # Well past the cancelled booking's due time: still one reminder, none for it.
        await asyncio.sleep(max(0.0, due_at + slot.total_seconds() + 3 - time.time()))
        for watcher in (customer_ws, provider_sse):
            assert len(watcher.of(booking, "booking.reminder.due")) == 1
            assert watcher.of(cancelled, "booking.reminder.due") == []

        for watcher in (customer_ws, provider_sse):
            assert watcher.task is not None
            watcher.task.cancel()

    # 4. A stock grpcio client reads the booking straight from booking-core.
    import grpc

    messages = importlib.import_module("bookings.v1.bookings_pb2")
    services = importlib.import_module("bookings.v1.bookings_pb2_grpc")
    with grpc.insecure_channel(f"127.0.0.1:{system.ports['grpc']}") as channel:
        reply = services.BookingServiceStub(channel).GetBooking(
            messages.GetBookingRequest(
                actor=messages.Actor(customer_id=customer), booking_id=booking
            ),
            metadata=(("x-internal-token", INTERNAL_TOKEN),),
            timeout=10,
        )
    assert reply.booking.id == booking
    assert reply.booking.status == messages.BOOKING_STATUS_CONFIRMED

    # 5. The POST's requestId is on the gateway's line, booking-core's and the event's.
    def logged(process: str, event: str) -> list[dict[str, Any]]:
        return [
            line
            for line in system.lines(process)
            if line.get("event") == event and line.get("requestId") == request_id
        ]

    async def traced() -> bool:
        return bool(
            logged("gateway", "http.request")
            and logged("core", "grpc.call")
            and logged("core", "event.published")
        )

    await eventually(traced)
    assert logged("core", "event.published")[0]["eventId"] == int(created["id"])


def readme_block(name: str, system: DevSystem) -> str:
    """The README's shell block after ``<!-- readme-test: name -->``, with the documented
    ports replaced by the ones this system runs on."""
    text = (ROOT / "README.md").read_text()
    found = re.search(rf"<!-- readme-test: {re.escape(name)} -->\n```sh\n(.*?)```", text, re.S)
    assert found is not None, name
    return (
        found.group(1)
        .replace("localhost:8080", f"127.0.0.1:{system.ports['gateway']}")
        .replace("localhost:8090", f"127.0.0.1:{system.ports['notifier-a']}")
        .replace("var/mail/", f"{system.mail_dir}/")
    )


def run_script(script: str, env: dict[str, str], *, timeout: float) -> str:
    """Run a README shell block with ``bash -euo pipefail``; its stdout (it must succeed)."""
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def json_values(text: str) -> list[Any]:
    """The JSON documents curl printed one after another (not always on lines of their own)."""
    decoder, values, index = json.JSONDecoder(), [], 0
    while index < len(text):
        if text[index].isspace():
            index += 1
            continue
        value, index = decoder.raw_decode(text, index)
        values.append(value)
    return values


@pytest.mark.timeout(120)
async def test_the_readme_event_type_walkthrough_works_as_written(system: DevSystem) -> None:
    env = {**os.environ, **system.env}

    def run(script: str) -> str:
        return run_script(script, env, timeout=60)

    created = json.loads(await asyncio.to_thread(run, readme_block("event-types-create", system)))
    event_type = created["eventType"]
    assert event_type["customSlug"] == "yoga-evenings"
    assert event_type["bookingUrl"].endswith("/book/yoga-evenings")

    watcher = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        readme_block("event-types-watch", system),
        stdout=asyncio.subprocess.PIPE,
        env=env,
        start_new_session=True,  # so that curl goes with it
    )
    try:
        await asyncio.sleep(1.0)  # the stream is open before the guest books
        out = await asyncio.to_thread(run, readme_block("event-types-book", system))
        ics = [line for line in out.splitlines() if re.match(r"(METHOD|UID|SEQUENCE):", line)]
        out = "\n".join(line for line in out.splitlines() if line not in ics)
        listed, booked, *views = json_values(out)
        assert ics == ["METHOD:REQUEST", f"UID:{booked['bookingId']}", "SEQUENCE:1"]
        assert listed["timeZone"] == "America/New_York"
        assert listed["slots"][0]["start"].endswith(("-05:00", "-04:00"))
        assert len(booked["reference"]) == 8
        assert [v["booking"]["status"] for v in views] == ["confirmed", "cancelled"]
        assert views[0]["booking"]["guest"]["phone"] == "+49301234567"
        remaining: list[int] = []
        assert watcher.stdout is not None
        while len(remaining) < 2:
            line = await asyncio.wait_for(watcher.stdout.readline(), timeout=10)
            if line.startswith(b"data: "):
                data = json.loads(line[6:])["data"]
                assert data["slug"] == event_type["slug"]
                remaining.append(data["remaining"])
        assert remaining == [11, 12]
    finally:
        os.killpg(watcher.pid, signal.SIGKILL)
        await watcher.wait()

    # The sink has stored Ada's confirmation and cancellation; the README opens them.
    async def both_stored() -> bool:
        found = [
            path
            for path in system.mail_dir.glob("*.eml")
            if b"To: Ada Lovelace" in path.read_bytes()
        ]
        return len(found) == 2

    await eventually(both_stored, timeout=20)
    opened = await asyncio.to_thread(run, readme_block("mail-open", system))
    subject, parts, *invitation = opened.splitlines()
    assert subject.startswith("Confirmed: Yoga class, ")
    assert parts == str(
        [
            "multipart/mixed",
            "multipart/alternative",
            "text/plain",
            "text/html",
            "text/calendar",
            "application/ics",
        ]
    )
    assert invitation[0] == "METHOD:REQUEST"
    assert invitation[1] == "SUMMARY:Yoga class"
    assert invitation[2].startswith("DTSTART;TZID=Europe/Berlin:")
    assert invitation[3:] == ["SEQUENCE:1", "STATUS:CONFIRMED"]
    logged = [line for line in system.lines("mail-sink") if line.get("event") == "mail.stored"]
    assert any(line["to"] == ["ada@example.com"] for line in logged)


@pytest.mark.timeout(150)
async def test_the_readme_ticket_walkthrough_works_as_written(system: DevSystem) -> None:
    env = {**os.environ, **system.env}

    def run(script: str) -> str:
        return run_script(script, env, timeout=90)

    watcher = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        readme_block("tickets-watch", system),
        stdout=asyncio.subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    try:
        await asyncio.sleep(1.0)
        out = await asyncio.to_thread(run, readme_block("tickets-pay", system))
        event, end = json.JSONDecoder().raw_decode(out)
        assert event["event"]["name"] == "Demo Concert"
        lines = out[end:].strip().splitlines()
        assert lines[0] == "202" and lines[2] == "202"
        confirmed, declined = lines[1].split(), lines[3].split()
        assert confirmed[:3] == ["confirmed", "5000", "EUR"] and len(confirmed[3]) == 8
        assert confirmed[4:] == ["succeeded", "None"]
        assert declined == ["cancelled", "5000", "EUR", "None", "failed", "card_declined"]
        states: list[str] = []
        assert watcher.stdout is not None
        while len(states) < 8:  # held x2, sold x2, held x2, available x2
            line = await asyncio.wait_for(watcher.stdout.readline(), timeout=10)
            if line.startswith(b"data: "):
                states += [seat["state"] for seat in json.loads(line[6:])["data"]["seats"]]
        assert states == ["held"] * 2 + ["sold"] * 2 + ["held"] * 2 + ["available"] * 2
    finally:
        os.killpg(watcher.pid, signal.SIGKILL)
        await watcher.wait()
    expired = await asyncio.to_thread(run, readme_block("tickets-expire", system))
    assert expired.split() == ["expired", "True"]


@pytest.mark.timeout(120)
async def test_the_readme_admin_walkthrough_works_as_written(system: DevSystem) -> None:
    printed = re.search(
        r"demo admin +admin@demo\.example +password (\S+)", system.log_path.read_text()
    )
    assert printed is not None, "make dev prints the new admin's password once"
    done = await asyncio.to_thread(
        subprocess.run,
        ["bash", "-euo", "pipefail", "-c", readme_block("admin-walkthrough", system)],
        cwd=ROOT,
        env={**os.environ, **system.env, "ADMIN_PASSWORD": printed.group(1)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    tokens, bookings = json_values(done.stdout)
    assert tokens["tokenType"] == "Bearer" and tokens["expiresIn"] == 900
    (booking,) = bookings["items"]
    assert booking["guest"]["firstName"] == "Grace" and booking["eventTypeId"]
    async with aiohttp.ClientSession() as session:
        auth = {"Authorization": f"Bearer {tokens['accessToken']}"}
        async with session.get(f"{system.url('gateway')}/admin/users", headers=auth) as response:
            users = (await response.json())["items"]
    members = {u["providerId"] for u in users if u["role"] == "provider"}
    # Anna, Ben and the seed's demo provider.
    assert booking["providerId"] in members and len(members) == 3


async def test_every_process_stops_on_sigterm_within_ten_seconds(system: DevSystem) -> None:
    pids = system.pids()
    assert len(pids) == 8
    started = time.monotonic()
    os.killpg(system.process.pid, signal.SIGTERM)
    code = await asyncio.to_thread(system.process.wait, 15)
    assert time.monotonic() - started < 10
    assert code in (0, 2, 143, -signal.SIGTERM)  # make reports its child's signal

    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"

    await eventually(lambda: asyncio.sleep(0, result=not any(alive(p) for p in pids)), timeout=5)
    text = system.log_path.read_text()
    for process in (
        "core",
        "gateway",
        "notifier-a",
        "notifier-b",
        "worker",
        "mail-worker",
        "mail-sink",
        "payments",
    ):
        assert re.search(rf"(?<![\w-]){process}\.1 stopped \(rc=0\)", text), process


@pytest.mark.parametrize(
    ("setting", "says"),
    [
        ("DATABASE_URL", "PostgreSQL is not reachable"),
        ("REDIS_URL", "Redis is not reachable"),
    ],
)
async def test_make_dev_says_what_is_down_and_how_to_start_it(setting: str, says: str) -> None:
    port = free_port()  # nothing listens there
    url = (
        f"postgresql://postgres@127.0.0.1:{port}/bookings"
        if setting == "DATABASE_URL"
        else f"redis://127.0.0.1:{port}/0"
    )
    done = await asyncio.to_thread(
        subprocess.run,
        ["make", "--no-print-directory", "dev"],
        cwd=ROOT,
        env={**os.environ, setting: url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert says in done.stderr
    assert f"127.0.0.1:{port}" in done.stderr
    assert "Start it" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
