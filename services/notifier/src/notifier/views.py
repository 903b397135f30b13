"""HTTP handlers: ``GET /ws`` (WebSocket, RFC 6455), ``GET /events`` (Server-Sent
Events, WHATWG HTML "Server-sent events"), ``/health`` and ``/ready``.

A connection's life: authenticate (401 before any upgrade), check ``Origin``
(403), parse the resume id (400), register with the registry (429 over the
per-user limit; live events start queueing now), read the first replay page
from booking-core (503 if it is down), upgrade, send the replay, then the
queued and live events, dropping those the replay already sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from aiohttp import WSCloseCode, WSMsgType, web
from aiohttp_sse import EventSourceResponse
from aiolimiter import AsyncLimiter
from bookings_common.events import EventEnvelope
from bookings_common.logging import current_request_id, get_logger
from bookings_web.auth import principal
from bookings_web.cors import origin_allowed
from bookings_web.observability import REQUEST_ID_HEADER
from bookings_web.problems import FieldError, ProblemError, ValidationFailed

from . import keys
from .connections import PONG_MESSAGE, Connection, Outgoing, TooManyConnections, Transport
from .core import CoreUnavailable

log = get_logger("notifier.views")
routes = web.RouteTableDef()

MAX_EVENT_ID: Final = 2**63 - 1
LAST_EVENT_ID_HEADER: Final = "Last-Event-ID"
Send = Callable[[Outgoing], Awaitable[None]]
Pages = AsyncGenerator[list[EventEnvelope], None]


class PolicyWebSocketResponse(web.WebSocketResponse):
    """A WebSocket that closes an oversized message with 1008 (policy violation), the
    contract's code for abuse, where aiohttp would use 1009."""

    async def close(
        self, *, code: int = WSCloseCode.OK, message: bytes = b"", drain: bool = True
    ) -> bool:
        if code == WSCloseCode.MESSAGE_TOO_BIG:
            code, message = WSCloseCode.POLICY_VIOLATION, b"message too big"
        return await super().close(code=code, message=message, drain=drain)


def parse_event_id(raw: str | None, field: str) -> int | None:
    """A resume id: decimal digits, 0..2**63-1; raises ``ValidationFailed``."""
    if raw is None:
        return None
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_EVENT_ID:
        raise ValidationFailed([FieldError(field, "must be an event id (a non-negative integer)")])
    return int(raw)


@dataclass(slots=True)
class Replay:
    """The replay a connection asked for: the page read before the upgrade, then the rest."""

    after_id: int
    first: list[EventEnvelope]
    rest: Pages

    async def pages(self) -> AsyncIterator[list[EventEnvelope]]:
        if self.first:
            yield self.first
            async for page in self.rest:
                yield page


@contextlib.asynccontextmanager
async def registered(
    request: web.Request, transport: Transport, after_id: int | None
) -> AsyncIterator[tuple[Connection, Replay | None]]:
    """Check the caller and register its connection (see the module docstring);
    the connection is removed from the registry on exit."""
    app = request.app
    settings, metrics, registry = app[keys.SETTINGS], app[keys.METRICS], app[keys.REGISTRY]
    caller = principal(request)
    if not origin_allowed(request, settings.cors_allowed_origins):
        metrics.rejected.labels("origin").inc()
        raise ProblemError("FORBIDDEN", "connections from this Origin are not allowed")
    connection = Connection(caller, transport, settings.send_queue_size)
    try:
        registry.add(connection)
    except TooManyConnections as exc:
        metrics.rejected.labels("too_many_connections").inc()
        raise ProblemError("TOO_MANY_CONNECTIONS", str(exc)) from None
    replay: Replay | None = None
    try:
        if after_id is not None:
            connection.floor = after_id
            rest = app[keys.CORE].owner_events(caller, after_id)
            try:
                first: list[EventEnvelope] = await anext(rest, [])
            except CoreUnavailable as exc:
                metrics.rejected.labels("replay_unavailable").inc()
                log.warning("notifier.replay.unavailable", error=str(exc))
                raise ProblemError(
                    "UPSTREAM_UNAVAILABLE",
                    "booking-core is unavailable, so events cannot be replayed; retry",
                    headers={"Retry-After": "1"},
                ) from None
            replay = Replay(after_id, first, rest)
            metrics.replays.inc()
        yield connection, replay
    finally:
        registry.remove(connection)
        if replay is not None:
            await replay.rest.aclose()


async def pump(
    request: web.Request, connection: Connection, replay: Replay | None, send: Send
) -> None:
    """Send the replay, then queued and live events, until cancelled.

    Raises ``CoreUnavailable`` if a later replay page fails and ``TimeoutError``
    if one write takes longer than ``SEND_TIMEOUT_SECONDS``.
    """
    metrics, timeout = request.app[keys.METRICS], request.app[keys.SETTINGS].send_timeout_seconds
    delivered = metrics.delivered.labels(connection.transport)
    if replay is not None:
        async for page in replay.pages():
            for envelope in page:
                if envelope.id > connection.floor:
                    async with asyncio.timeout(timeout):
                        await send(Outgoing.event(envelope))
                    connection.floor = envelope.id
                    delivered.inc()
                    metrics.replayed_events.inc()
    queue = connection.queue
    while True:
        item = await queue.get()
        if connection.accepts(item):
            async with asyncio.timeout(timeout):
                await send(item)
            if item.id is not None:
                delivered.inc()


def _pump_failure(task: asyncio.Task[None]) -> str | None:
    """Why a pump stopped, as a disconnect reason, or None if it was cancelled."""
    if task.cancelled():
        return None
    exc = task.exception()
    if isinstance(exc, CoreUnavailable):
        return "replay_failed"
    if isinstance(exc, TimeoutError):
        return "send_timeout"
    if exc is not None and not isinstance(exc, ConnectionError):
        log.error("notifier.pump.failed", error=repr(exc))
    return "connection_lost"


def _abort(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.abort()


@routes.get("/ws")
async def websocket(request: web.Request) -> web.StreamResponse:
    """``GET /ws``: events as text frames; ``{"type":"ping"}`` gets ``{"type":"pong"}``;
    ``?lastEventId=N`` replays events after N first."""
    settings, metrics = request.app[keys.SETTINGS], request.app[keys.METRICS]
    ws = PolicyWebSocketResponse(
        heartbeat=settings.heartbeat_seconds,
        max_msg_size=settings.ws_max_message_bytes,
        compress=False,  # a deflate context per connection costs far more than it saves
    )
    if not ws.can_prepare(request).ok:
        raise ValidationFailed(
            [FieldError("Upgrade", "GET /ws needs a WebSocket upgrade request (RFC 6455)")]
        )
    after_id = parse_event_id(request.query.get("lastEventId"), "lastEventId")
    async with registered(request, Transport.WEBSOCKET, after_id) as (connection, replay):
        ws.headers[REQUEST_ID_HEADER] = current_request_id() or ""
        await ws.prepare(request)

        async def close(reason: str) -> None:
            metrics.disconnected.labels(reason).inc()
            if reason == "shutdown":
                await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")
            elif reason == "replay_failed":
                await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"replay failed")
            else:  # a client that does not read cannot take a close frame either
                _abort(request)

        connection.on_close(close)

        async def send(item: Outgoing) -> None:
            await ws.send_str(item.text)

        sender = asyncio.create_task(pump(request, connection, replay, send))

        def stopped(task: asyncio.Task[None]) -> None:
            reason = _pump_failure(task)
            if reason is not None and reason != "connection_lost":
                asyncio.create_task(connection.close(reason))  # noqa: RUF006 - closes itself

        sender.add_done_callback(stopped)
        try:
            await _read(ws, connection, request)
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender
    return ws


async def _read(ws: web.WebSocketResponse, connection: Connection, request: web.Request) -> None:
    """Answer pings; close 1008 on a burst beyond the rate limit, 1003 on binary frames."""
    settings, metrics = request.app[keys.SETTINGS], request.app[keys.METRICS]
    limiter: AsyncLimiter | None = None
    async for message in ws:
        if message.type is WSMsgType.TEXT:
            if limiter is None:
                burst = settings.ws_message_burst
                limiter = AsyncLimiter(burst, burst / settings.ws_messages_per_second)
            if not limiter.has_capacity():
                metrics.disconnected.labels("policy").inc()
                await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"too many messages")
                return
            await limiter.acquire()
            if _is_ping(message.data):
                with contextlib.suppress(asyncio.QueueFull):
                    connection.queue.put_nowait(PONG_MESSAGE)
        elif message.type is WSMsgType.BINARY:
            metrics.disconnected.labels("policy").inc()
            await ws.close(code=WSCloseCode.UNSUPPORTED_DATA, message=b"text frames only")
            return
    if ws.close_code == WSCloseCode.MESSAGE_TOO_BIG or (
        ws.close_code == WSCloseCode.POLICY_VIOLATION and ws.exception() is not None
    ):
        metrics.disconnected.labels("policy").inc()


def _is_ping(text: str) -> bool:
    try:
        value = json.loads(text)
    except ValueError:
        return False
    return isinstance(value, dict) and value.get("type") == "ping"


@routes.get("/events")
async def events(request: web.Request) -> web.StreamResponse:
    """``GET /events``: Server-Sent Events with ``id:`` the event id, ``event:`` the type,
    ``data:`` the envelope; ``Last-Event-ID`` (or ``?lastEventId=``) replays first."""
    settings = request.app[keys.SETTINGS]
    header = request.headers.get(LAST_EVENT_ID_HEADER)
    after_id = (
        parse_event_id(header, LAST_EVENT_ID_HEADER)
        if header is not None
        else parse_event_id(request.query.get("lastEventId"), "lastEventId")
    )
    async with registered(request, Transport.SSE, after_id) as (connection, replay):
        stream = EventSourceResponse(
            headers={REQUEST_ID_HEADER: current_request_id() or ""},
            ping_interval=settings.heartbeat_seconds,
            send_timeout=settings.send_timeout_seconds,
        )
        await stream.prepare(request)
        metrics = request.app[keys.METRICS]

        async def send(item: Outgoing) -> None:
            await stream.send(item.text, id=str(item.id), event=item.type)

        async def close(reason: str) -> None:
            metrics.disconnected.labels(reason).inc()
            if reason in ("shutdown", "replay_failed"):
                stream.stop_streaming()  # the browser reconnects with Last-Event-ID
            else:
                _abort(request)

        connection.on_close(close)
        sender = asyncio.create_task(pump(request, connection, replay, send))
        try:
            async with stream:  # until the client goes, the server stops it, or the pump fails
                waiter = asyncio.ensure_future(stream.wait())
                await asyncio.wait({sender, waiter}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                if sender.done():
                    reason = _pump_failure(sender)
                    if reason is not None and reason != "connection_lost":
                        await connection.close(reason)
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender
    return stream


@routes.get("/health")
async def health(_request: web.Request) -> web.Response:
    """Liveness: the process answers."""
    return web.json_response({"status": "ok"})


@routes.get("/ready")
async def ready(request: web.Request) -> web.Response:
    """Readiness: subscribed to Redis and booking-core serving; 503 with the failing part."""
    subscribed = request.app[keys.LISTENER].subscribed.is_set()
    core = await request.app[keys.CORE].is_serving()
    body = {"redis": "ok" if subscribed else "unavailable", "core": "ok" if core else "unavailable"}
    if subscribed and core:
        return web.json_response({"status": "ready", **body})
    raise ProblemError(
        "UPSTREAM_UNAVAILABLE",
        f"not ready: redis {body['redis']}, booking-core {body['core']}",
        headers={"Retry-After": "1"},
    )
