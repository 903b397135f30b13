"""booking-core's event log as the notifier reads it: per-owner and per-channel replay,
the all-owners catch-up after a Redis outage, the log's head, and which public
channel a slug names.

Each call has the ``CORE_DEADLINE_SECONDS`` deadline; failures raise
``CoreUnavailable``.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Final

from bookings_common.events import EventEnvelope, event_type_channel, ticketed_event_channel
from bookings_common.grpc import is_serving
from bookings_proto.bookings import v1 as pb
from bookings_web.auth import Principal
from bookings_web.grpc import actor
from grpclib.client import Channel
from grpclib.const import Status
from grpclib.exceptions import GRPCError, ProtocolError, StreamTerminatedError

PAGE_SIZE: Final = 1000  # booking-core's largest ListEvents page
CHANNEL_CACHE_SECONDS: Final = 30.0
CHANNEL_CACHE_SIZE: Final = 10_000
NOTIFIER_ACTOR: Final = pb.Actor(service="notifier")


class CoreUnavailable(Exception):
    """booking-core did not answer (down, too slow, or refused the call)."""


class UnknownChannel(Exception):
    """No active event type has that slug."""


def envelope(event: pb.Event) -> EventEnvelope:
    """The wire envelope of a logged event."""
    if event.occurred_at is None:  # booking-core always sets it
        raise CoreUnavailable(f"event {event.id} has no occurred_at")
    return EventEnvelope(event.id, event.type, event.occurred_at, json.loads(event.data_json))


class CoreEvents:
    """Reads booking-core's event log over one grpclib channel."""

    def __init__(self, channel: Channel, *, deadline_seconds: float) -> None:
        self._channel = channel
        self._stub = pb.BookingServiceStub(channel, timeout=deadline_seconds)
        self._event_types = pb.EventTypeServiceStub(channel, timeout=deadline_seconds)
        self._ticketing = pb.TicketingServiceStub(channel, timeout=deadline_seconds)
        self._channels: OrderedDict[str, tuple[str | None, float]] = OrderedDict()

    async def head_id(self) -> int:
        """The highest committed event id (0 for an empty log)."""
        reply = await self._list(
            pb.ListEventsRequest(actor=NOTIFIER_ACTOR, all_owners=True, limit=1)
        )
        return reply.head_id

    async def owner_events(
        self, principal: Principal, after_id: int
    ) -> AsyncGenerator[list[EventEnvelope], None]:
        """Pages of the principal's events with ``id > after_id``, ascending, until the
        end of the log; read as the principal, so booking-core checks ownership."""
        async for page in self._pages(pb.ListEventsRequest(actor=actor(principal)), after_id):
            yield page

    async def channel_events(
        self, channel: str, after_id: int
    ) -> AsyncGenerator[list[EventEnvelope], None]:
        """Pages of a public channel's events with ``id > after_id``, ascending."""
        request = pb.ListEventsRequest(actor=NOTIFIER_ACTOR, channel=channel)
        async for page in self._pages(request, after_id):
            yield page

    async def public_channel(self, kind: str, name: str) -> str:
        """The public channel of the active event type with this (random or custom) slug
        (``kind`` "event-type") or of the ticketed event with this id ("ticketed-event");
        raises ``UnknownChannel`` or ``CoreUnavailable``. Answers (unknown names too) are
        kept for ``CHANNEL_CACHE_SECONDS``, so reconnecting guests and floods of made-up
        names cost booking-core one call per name and period."""
        key = f"{kind}:{name.lower()}"
        now = time.monotonic()
        cached = self._channels.get(key)
        if cached is not None and now - cached[1] < CHANNEL_CACHE_SECONDS:
            if cached[0] is None:
                raise UnknownChannel(name)
            return cached[0]
        try:
            channel = await (
                self._resolve(name) if kind == "event-type" else self._resolve_event(name)
            )
        except UnknownChannel:
            self._remember(key, None, now)
            raise
        self._remember(key, channel, now)
        return channel

    async def event_type_channel(self, slug: str) -> str:
        """``public_channel("event-type", slug)``."""
        return await self.public_channel("event-type", slug)

    def _remember(self, key: str, channel: str | None, now: float) -> None:
        self._channels[key] = (channel, now)
        self._channels.move_to_end(key)
        while len(self._channels) > CHANNEL_CACHE_SIZE:
            self._channels.popitem(last=False)

    async def _resolve(self, slug: str) -> str:
        try:
            reply = await self._event_types.get_public_event_type(
                pb.GetPublicEventTypeRequest(actor=NOTIFIER_ACTOR, slug=slug)
            )
        except GRPCError as exc:
            if exc.status in (Status.NOT_FOUND, Status.INVALID_ARGUMENT):
                raise UnknownChannel(slug) from None
            raise CoreUnavailable(f"booking-core GetPublicEventType failed: {exc!r}") from exc
        except (OSError, TimeoutError, StreamTerminatedError, ProtocolError) as exc:
            raise CoreUnavailable(f"booking-core GetPublicEventType failed: {exc!r}") from exc
        if reply.event_type is None:
            raise UnknownChannel(slug)
        return event_type_channel(reply.event_type.slug)

    async def _resolve_event(self, event_id: str) -> str:
        try:
            reply = await self._ticketing.get_public_event(
                pb.GetPublicEventRequest(actor=NOTIFIER_ACTOR, event_id=event_id)
            )
        except GRPCError as exc:
            if exc.status in (Status.NOT_FOUND, Status.INVALID_ARGUMENT):
                raise UnknownChannel(event_id) from None
            raise CoreUnavailable(f"booking-core GetPublicEvent failed: {exc!r}") from exc
        except (OSError, TimeoutError, StreamTerminatedError, ProtocolError) as exc:
            raise CoreUnavailable(f"booking-core GetPublicEvent failed: {exc!r}") from exc
        if reply.event is None:
            raise UnknownChannel(event_id)
        return ticketed_event_channel(reply.event.id)

    async def all_events(self, after_id: int) -> AsyncIterator[list[EventEnvelope]]:
        """Pages of every owner's events with ``id > after_id``, ascending."""
        request = pb.ListEventsRequest(actor=NOTIFIER_ACTOR, all_owners=True)
        async for page in self._pages(request, after_id):
            yield page

    async def is_serving(self) -> bool:
        """True when booking-core's gRPC health says SERVING within one second."""
        return await is_serving(self._channel)

    async def _pages(
        self, request: pb.ListEventsRequest, after_id: int
    ) -> AsyncIterator[list[EventEnvelope]]:
        request.limit = PAGE_SIZE
        while True:
            request.after_id = after_id
            reply = await self._list(request)
            page = [envelope(event) for event in reply.events]
            if page:
                yield page
                after_id = page[-1].id
            if len(page) < PAGE_SIZE:
                return

    async def _list(self, request: pb.ListEventsRequest) -> pb.ListEventsResponse:
        try:
            return await self._stub.list_events(request)
        except (GRPCError, OSError, TimeoutError, StreamTerminatedError, ProtocolError) as exc:
            raise CoreUnavailable(f"booking-core ListEvents failed: {exc!r}") from exc
