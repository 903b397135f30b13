"""The event envelope, the same on Redis, WebSocket and SSE.

``{"id": "<event id>", "type": "...", "occurredAt": "<RFC 3339 UTC>", "data": {...}}``
where ``id`` is the decimal string of the event log's id, which increases in
commit order (see ARCHITECTURE.md, Events).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

CHANNEL: Final = "bookings.events"

BOOKING_CREATED: Final = "booking.created"
BOOKING_CANCELLED: Final = "booking.cancelled"
BOOKING_REMINDER_DUE: Final = "booking.reminder.due"
# Public: an event type slot's places left, ``data`` = {slug, slotStart, slotEnd,
# capacity, remaining}, on the channel ``event-type:<slug>``.
SLOT_AVAILABILITY: Final = "slot.availability"
# A ticket booking's life, to its customer: ``data`` = {bookingId, customerId,
# eventId, status, seatIds, ...}; booking.cancelled is shared with appointments.
BOOKING_HELD: Final = "booking.held"
BOOKING_CONFIRMED: Final = "booking.confirmed"
BOOKING_EXPIRED: Final = "booking.expired"
# Public: seats of a ticketed event changing state, ``data`` = {eventId, seats:
# [{seatId, state}]}, on the channel ``ticketed-event:<event id>``.
SEAT_AVAILABILITY: Final = "seat.availability"
EVENT_TYPES: Final = frozenset(
    {
        BOOKING_CREATED,
        BOOKING_CANCELLED,
        BOOKING_REMINDER_DUE,
        SLOT_AVAILABILITY,
        BOOKING_HELD,
        BOOKING_CONFIRMED,
        BOOKING_EXPIRED,
        SEAT_AVAILABILITY,
    }
)


def event_type_channel(slug: str) -> str:
    """The public channel of an event type's live availability: ``event-type:<slug>``
    (its random slug, which never changes)."""
    return f"event-type:{slug}"


def ticketed_event_channel(event_id: str) -> str:
    """The public channel of a ticketed event's live seat map: ``ticketed-event:<id>``."""
    return f"ticketed-event:{event_id}"


def is_public_channel(channel: str) -> bool:
    """True for a well-formed public channel name (``event-type:<slug>`` or
    ``ticketed-event:<event id>``)."""
    kind, sep, name = channel.partition(":")
    return (
        kind in ("event-type", "ticketed-event")
        and bool(sep)
        and 0 < len(name) <= 64
        and name.isascii()
    )


def public_channel(event_type: str, data: dict[str, Any]) -> str | None:
    """The public channel an event of this type and data goes to, or ``None`` for an
    owner event (which goes to its customer and provider only)."""
    if event_type == SLOT_AVAILABILITY and isinstance(data.get("slug"), str):
        return event_type_channel(data["slug"])
    if event_type == SEAT_AVAILABILITY and isinstance(data.get("eventId"), str):
        return ticketed_event_channel(data["eventId"])
    return None


def format_time(value: datetime) -> str:
    """Format an aware datetime as RFC 3339 UTC with a ``Z`` suffix (RFC 3339, section 5.6)."""
    text = value.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


# version-traceid-parentid-flags is 55 characters; later versions may append fields.
TRACEPARENT_MAX: Final = 512


@dataclass(frozen=True, slots=True)
class EventEnvelope:
    """One event as clients see it. ``id`` is the event log id (an integer >= 1).

    ``traceparent`` (W3C Trace Context) is the trace of the call that wrote the
    event, when tracing is on: it travels in the Redis message (``to_message``)
    and never to clients (``to_dict``, ``to_json``)."""

    id: int
    type: str
    occurred_at: datetime
    data: dict[str, Any]
    traceparent: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the wire shape (``id`` as a string, ``occurredAt`` in RFC 3339)."""
        return {
            "id": str(self.id),
            "type": self.type,
            "occurredAt": format_time(self.occurred_at),
            "data": self.data,
        }

    def to_json(self) -> str:
        """Return the wire shape as compact JSON text."""
        return json.dumps(self.to_dict(), separators=(",", ":"))

    def to_message(self) -> str:
        """The Redis pub/sub message: the wire shape plus ``traceparent`` when set."""
        body = self.to_dict()
        if self.traceparent is not None:
            body["traceparent"] = self.traceparent
        return json.dumps(body, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> EventEnvelope:
        """Parse the wire shape; raises ``ValueError`` on anything else."""
        try:
            raw = json.loads(text)
            event_id, event_type, occurred_at, data = (
                raw["id"],
                raw["type"],
                raw["occurredAt"],
                raw["data"],
            )
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not an event envelope: {exc}") from exc
        if not (isinstance(event_id, str) and event_id.isascii() and event_id.isdigit()):
            raise ValueError("not an event envelope: id must be a string of digits")
        if not isinstance(event_type, str) or not isinstance(data, dict):
            raise ValueError("not an event envelope: type must be a string, data an object")
        if not isinstance(occurred_at, str):
            raise ValueError("not an event envelope: occurredAt must be an RFC 3339 string")
        when = datetime.fromisoformat(occurred_at)
        if int(event_id) < 1 or when.tzinfo is None:
            raise ValueError("not an event envelope: bad id or naive occurredAt")
        traceparent = raw.get("traceparent")
        if not isinstance(traceparent, str) or len(traceparent) > TRACEPARENT_MAX:
            traceparent = None
        return cls(int(event_id), event_type, when, data, traceparent)
