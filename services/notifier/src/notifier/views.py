"""HTTP handlers: ``GET /ws`` (WebSocket, RFC 6455), ``GET /events`` (Server-Sent
Events, WHATWG HTML "Server-sent events"), the public availability channels
``GET /public/event-types/{slug}/availability`` (SSE) and ``GET /ws?eventType={slug}``,
``/health`` and ``/ready``.

A connection's life: authenticate (401 before any upgrade; public channels need
no token, their slug is resolved instead: 404 for an unknown one), check
``Origin`` (403), parse the resume id (400), register with the registry (429
over the per-user or per-address limit; live events start queueing now), read
the first replay page from booking-core (503 if it is down), upgrade, send the
replay, then the queued and live events, dropping those the replay already sent;
a customer's or provider's connection is closed when its token expires (``exp`` plus
``JWT_LEEWAY_SECONDS``): WebSocket close 4401, SSE a final ``event: error``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Final

from aiohttp import WSCloseCode, WSMsgType, web
from aiohttp_sse import EventSourceResponse
from aiolimiter import AsyncLimiter
from bookings_common.events import EventEnvelope
from bookings_common.logging import current_request_id, get_logger
from bookings_web.auth import Principal
from bookings_web.client_ip import client_ip
from bookings_web.cors import origin_allowed
from bookings_web.observability import REQUEST_ID_HEADER
from bookings_web.problems import FieldError, ProblemError, ValidationFailed

from . import keys
from .connections import PONG_MESSAGE, Connection, Outgoing, TooManyConnections, Transport
from .core import CoreUnavailable, UnknownChannel

log = get_logger("notifier.views")
routes = web.RouteTableDef()

MAX_EVENT_ID: Final = 2**63 - 1
LAST_EVENT_ID_HEADER: Final = "Last-Event-ID"
EVENT_TYPE_PARAM: Final = "eventType"
TICKETED_EVENT_PARAM: Final = "event"
MAX_SLUG_LENGTH: Final = 64
# A connection whose token expired: WebSocket close code 4401 (the 4000-4999 range is
# the application's, RFC 6455 section 7.4.2); SSE ends with this final error event.
TOKEN_EXPIRED_CLOSE_CODE: Final = 4401
TOKEN_EXPIRED_EVENT: Final = json.dumps(
    {"code": "TOKEN_EXPIRED", "detail": "the token expired: reconnect with a new one"},
    separators=(",", ":"),
)
# What a public connection watches: ("event-type", slug) or ("ticketed-event", event id).
PublicTarget = tuple[str, str]


def _ws_target(request: web.Request) -> PublicTarget | None:
    if EVENT_TYPE_PARAM in request.query:
        return ("event-type", request.query[EVENT_TYPE_PARAM])
    if TICKETED_EVENT_PARAM in request.query:
        return ("ticketed-event", request.query[TICKETED_EVENT_PARAM])
    return None


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


async def _replay_pages(
    first: list[EventEnvelope], rest: AsyncGenerator[list[EventEnvelope], None]
) -> AsyncIterator[list[EventEnvelope]]:
    try:
        if first:
            yield first
            async for page in rest:
                yield page
    finally:
        await rest.aclose()


async def _public_channel(request: web.Request, target: PublicTarget) -> str:
    """The channel of an active event type's slug or of a ticketed event: 404 when there
    is none, 503 when booking-core cannot say."""
    kind, key = target
    what = "event type" if kind == "event-type" else "event"
    if not key or len(key) > MAX_SLUG_LENGTH or not key.isascii():
        raise ProblemError("NOT_FOUND", f"no such {what}")
    try:
        return await request.app[keys.CORE].public_channel(kind, key)
    except UnknownChannel:
        request.app[keys.METRICS].rejected.labels("unknown_channel").inc()
        raise ProblemError("NOT_FOUND", f"no such {what}") from None
    except CoreUnavailable as exc:
        log.warning("notifier.channel.unavailable", error=str(exc))
        raise ProblemError(
            "UPSTREAM_UNAVAILABLE",
            "booking-core is unavailable; retry",
            headers={"Retry-After": "1"},
        ) from None


async def caller_of(request: web.Request, target: PublicTarget | None) -> Principal | None:
    """The verified principal of a connection to its owner's events (401 without a good
    token, 429 past the failed-authentication limit); None for a public channel's."""
    if target is not None:
        return None
    return await request.app[keys.AUTHENTICATOR].authenticate(request)


async def admit(
    request: web.Request,
    transport: Transport,
    after_id: int | None,
    caller: Principal | None,
    *,
    target: PublicTarget | None = None,
) -> tuple[Connection, AsyncIterator[list[EventEnvelope]] | None]:
    """Register a connection (see the module docstring): ``caller``'s events, or with
    ``target`` that public channel. The caller must ``request.app[keys.REGISTRY].remove``
    it and give its lease back (``keys.LEASES``) when done."""
    app = request.app
    settings, metrics, registry = app[keys.SETTINGS], app[keys.METRICS], app[keys.REGISTRY]
    if not origin_allowed(request, settings.cors_allowed_origins):
        metrics.rejected.labels("origin").inc()
        raise ProblemError("FORBIDDEN", "connections from this Origin are not allowed")
    channel = await _public_channel(request, target) if target is not None else None
    connection = Connection(
        caller,
        transport,
        metrics,
        queue_size=settings.send_queue_size,
        send_timeout=settings.send_timeout_seconds,
        channel=channel,
        ip=client_ip(request, settings.trusted_proxies) if channel is not None else None,
    )
    try:
        registry.add(connection)
    except TooManyConnections as exc:
        metrics.rejected.labels("too_many_connections").inc()
        raise ProblemError("TOO_MANY_CONNECTIONS", str(exc)) from None
    try:
        await app[keys.LEASES].acquire(connection)  # the limit across replicas
    except TooManyConnections as exc:
        registry.remove(connection)
        metrics.rejected.labels("too_many_connections").inc()
        raise ProblemError("TOO_MANY_CONNECTIONS", str(exc)) from None
    if after_id is None:
        return connection, None
    connection.floor = after_id
    core = app[keys.CORE]
    rest = (
        core.owner_events(caller, after_id)
        if caller is not None
        else core.channel_events(connection.key[1], after_id)
    )
    try:
        first: list[EventEnvelope] = await anext(rest, [])
    except CoreUnavailable as exc:
        registry.remove(connection)
        app[keys.LEASES].release(connection)
        metrics.rejected.labels("replay_unavailable").inc()
        log.warning("notifier.replay.unavailable", error=str(exc))
        raise ProblemError(
            "UPSTREAM_UNAVAILABLE",
            "booking-core is unavailable, so events cannot be replayed; retry",
            headers={"Retry-After": "1"},
        ) from None
    return connection, _replay_pages(first, rest)


def _abort(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.abort()


class WebSocketPeer:
    """``Peer`` over an aiohttp WebSocket: events and pongs as text frames. The
    registry's heartbeat pings the client; anything the client sends (``heard``),
    its pong included, answers the ping."""

    __slots__ = ("_request", "_ws", "awaiting_pong")

    def __init__(self, ws: web.WebSocketResponse, request: web.Request) -> None:
        self._ws = ws
        self._request = request
        self.awaiting_pong = False

    def heard(self) -> None:
        """The client sent something: it is there."""
        self.awaiting_pong = False

    async def send(self, item: Outgoing) -> None:
        await self._ws.send_str(item.text)

    async def heartbeat(self) -> bool:
        if self.awaiting_pong:
            return False
        self.awaiting_pong = True
        await self._ws.ping()
        return True

    async def close(self, reason: str) -> None:
        if reason == "shutdown":
            await self._ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")
        elif reason == "token_expired":
            await self._ws.close(code=TOKEN_EXPIRED_CLOSE_CODE, message=b"token expired")
        elif reason == "replay_failed":
            await self._ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"replay failed")
        else:  # a client that does not read cannot take a close frame either
            _abort(self._request)


@routes.get("/ws")
async def websocket(request: web.Request) -> web.StreamResponse:
    """``GET /ws``: events as text frames; ``{"type":"ping"}`` gets ``{"type":"pong"}``
    and a ping frame a pong frame; ``?lastEventId=N`` replays events after N first;
    ``?eventType=<slug>`` watches that event type's public availability channel
    instead, ``?event=<id>`` a ticketed event's seat map (no token). Closes 1008 on a
    burst beyond the message rate limit, 1003 on binary frames.

    The reading loop is here rather than in a function of its own, and the opening in
    one that has returned by then: every frame alive while a connection idles costs
    every connection its size."""
    ws, connection, peer = await _open_websocket(request)
    app = request.app
    settings, metrics = app[keys.SETTINGS], app[keys.METRICS]
    limiter: AsyncLimiter | None = None
    try:
        async for message in ws:
            peer.heard()
            if message.type is WSMsgType.PING:
                await ws.pong(message.data)
            elif message.type is WSMsgType.TEXT:
                if limiter is None:
                    burst = settings.ws_message_burst
                    limiter = AsyncLimiter(burst, burst / settings.ws_messages_per_second)
                if not limiter.has_capacity():
                    metrics.disconnected.labels("policy").inc()
                    await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"too many messages")
                    break
                await limiter.acquire()
                if _is_ping(message.data):
                    connection.offer(PONG_MESSAGE)
            elif message.type is WSMsgType.BINARY:
                metrics.disconnected.labels("policy").inc()
                await ws.close(code=WSCloseCode.UNSUPPORTED_DATA, message=b"text frames only")
                break
        else:
            if ws.close_code == WSCloseCode.POLICY_VIOLATION and ws.exception() is not None:
                # oversized (see PolicyWebSocketResponse)
                metrics.disconnected.labels("policy").inc()
    finally:
        app[keys.REGISTRY].remove(connection)
        app[keys.LEASES].release(connection)
        await connection.stop()
    return ws


async def _open_websocket(
    request: web.Request,
) -> tuple[web.WebSocketResponse, Connection, WebSocketPeer]:
    """Authenticate, check and register the connection, upgrade and start writing to
    it; the connection is unregistered again if any of that fails."""
    settings = request.app[keys.SETTINGS]
    target = _ws_target(request)
    caller = await caller_of(request, target)
    ws = PolicyWebSocketResponse(
        # Pings come from the registry's heartbeat (one task for all connections, not
        # aiohttp's timer per connection); the reading loop answers the client's.
        autoping=False,
        max_msg_size=settings.ws_max_message_bytes,
        compress=False,  # a deflate context per connection costs far more than it saves
    )
    if not ws.can_prepare(request).ok:
        raise ValidationFailed(
            [FieldError("Upgrade", "GET /ws needs a WebSocket upgrade request (RFC 6455)")]
        )
    after_id = parse_event_id(request.query.get("lastEventId"), "lastEventId")
    connection, replay = await admit(request, Transport.WEBSOCKET, after_id, caller, target=target)
    try:
        ws.headers[REQUEST_ID_HEADER] = current_request_id() or ""
        await ws.prepare(request)
        peer = WebSocketPeer(ws, request)
        connection.start(peer, replay)
        request.app[keys.REGISTRY].close_at_expiry(connection, settings.jwt.leeway_seconds)
    except BaseException:
        request.app[keys.REGISTRY].remove(connection)
        request.app[keys.LEASES].release(connection)
        await connection.stop()
        raise
    return ws, connection, peer


def _is_ping(text: str) -> bool:
    try:
        value = json.loads(text)
    except ValueError:
        return False
    return isinstance(value, dict) and value.get("type") == "ping"


class SsePeer:
    """``Peer`` over an aiohttp-sse stream."""

    __slots__ = ("_request", "_stream")

    def __init__(self, stream: EventSourceResponse, request: web.Request) -> None:
        self._stream = stream
        self._request = request

    async def send(self, item: Outgoing) -> None:
        await self._stream.send(item.text, id=str(item.id), event=item.type)

    async def heartbeat(self) -> bool:
        return True  # aiohttp-sse writes its ``: ping`` comments itself

    async def close(self, reason: str) -> None:
        if reason == "token_expired":
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self._stream.send(TOKEN_EXPIRED_EVENT, event="error")
        self._stream.stop_streaming()  # the browser reconnects with Last-Event-ID
        if reason not in ("shutdown", "replay_failed", "token_expired"):
            _abort(self._request)


@routes.get("/events")
async def events(request: web.Request) -> web.StreamResponse:
    """``GET /events``: Server-Sent Events with ``id:`` the event id, ``event:`` the type,
    ``data:`` the envelope; ``Last-Event-ID`` (or ``?lastEventId=``) replays first."""
    return await _event_stream(request, target=None)


@routes.get("/public/event-types/{slug}/availability")
async def availability(request: web.Request) -> web.StreamResponse:
    """``GET /public/event-types/{slug}/availability``: the event type's slot.availability
    events as Server-Sent Events, for anyone (no token, no personal data), resumable
    with ``Last-Event-ID``."""
    return await _event_stream(request, target=("event-type", request.match_info["slug"]))


@routes.get("/public/events/{id}/availability")
async def seat_availability(request: web.Request) -> web.StreamResponse:
    """``GET /public/events/{id}/availability``: the ticketed event's seat.availability
    events as Server-Sent Events, for anyone, resumable with ``Last-Event-ID``."""
    return await _event_stream(request, target=("ticketed-event", request.match_info["id"]))


async def _event_stream(request: web.Request, *, target: PublicTarget | None) -> web.StreamResponse:
    settings = request.app[keys.SETTINGS]
    caller = await caller_of(request, target)
    header = request.headers.get(LAST_EVENT_ID_HEADER)
    after_id = (
        parse_event_id(header, LAST_EVENT_ID_HEADER)
        if header is not None
        else parse_event_id(request.query.get("lastEventId"), "lastEventId")
    )
    connection, replay = await admit(request, Transport.SSE, after_id, caller, target=target)
    registry = request.app[keys.REGISTRY]
    try:
        stream = EventSourceResponse(
            headers={REQUEST_ID_HEADER: current_request_id() or ""},
            ping_interval=settings.heartbeat_seconds,
            send_timeout=settings.send_timeout_seconds,
        )
        await stream.prepare(request)
        connection.start(SsePeer(stream, request), replay)
        registry.close_at_expiry(connection, settings.jwt.leeway_seconds)
        async with stream:  # until the client goes or the server stops the stream
            await stream.wait()
    finally:
        registry.remove(connection)
        request.app[keys.LEASES].release(connection)
        await connection.stop()
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
