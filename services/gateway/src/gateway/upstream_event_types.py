"""booking-core's event-type service as the gateway sees it, and the mapping between
its protobuf messages and the REST shapes (``event_type_schemas``).

Errors map as in ``upstream`` (by ``ErrorInfo.reason`` first); proto field names
in validation errors are given their REST names (``to_time`` -> ``to``, the
``guest.`` prefix dropped, the rest camelCased).
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from datetime import datetime
from typing import Any, Final, TypeVar
from urllib.parse import quote

from bookings_proto.bookings import v1 as pb
from bookings_proto.google.protobuf import FieldMask
from bookings_web.auth import Principal
from bookings_web.grpc import actor
from bookings_web.problems import ProblemError
from grpclib.client import Channel

from .event_type_schemas import WEEKDAYS
from .upstream import call_core

T = TypeVar("T")
GUEST: Final = pb.Actor(guest=True)
FIELD_RENAMES: Final = {"from_time": "from", "to_time": "to", "guest.": ""}


def spec_to_pb(body: Mapping[str, Any]) -> pb.EventTypeSpec:
    """A loaded ``EventTypeRequest``/``EventTypePatch`` as a protobuf spec (absent fields
    keep their zero values; the update mask says which count)."""
    return pb.EventTypeSpec(
        name=body.get("name", ""),
        description=body.get("description", ""),
        location=body.get("location", ""),
        time_zone=body.get("time_zone", ""),
        period_minutes=body.get("period_minutes", 0),
        capacity=body.get("capacity", 0),
        buffer_before_minutes=body.get("buffer_before_minutes", 0),
        buffer_after_minutes=body.get("buffer_after_minutes", 0),
        minimum_notice_minutes=body.get("minimum_notice_minutes", 0),
        booking_horizon_days=body.get("booking_horizon_days", 0),
        dated_windows=[
            pb.DatedWindow(start=w["start"], end=w["end"]) for w in body.get("dated_windows", [])
        ],
        weekly_hours=[
            pb.WeeklyHours(
                weekday=pb.Weekday(WEEKDAYS.index(h["weekday"]) + 1),
                from_time=h["from_time"],
                to_time=h["to_time"],
            )
            for h in body.get("weekly_hours", [])
        ],
        date_exceptions=list(body.get("date_exceptions", [])),
        custom_slug=body.get("custom_slug") or "",
        allow_multiple_places_per_guest=body.get("allow_multiple_places_per_guest", False),
        allow_member_choice=body.get("allow_member_choice", False),
    )


def booking_url(base_url: str, slug: str) -> str:
    """The public booking page of a slug: ``{PUBLIC_BASE_URL}/book/{slug}``."""
    return f"{base_url}/book/{quote(slug, safe='')}"


def manage_url(base_url: str, reference: str, token: str) -> str:
    """A guest's manage page: ``{PUBLIC_BASE_URL}/manage/{reference}?token=...``."""
    return f"{base_url}/manage/{quote(reference, safe='')}?token={quote(token, safe='')}"


def _required(value: T | None) -> T:
    if value is None:  # booking-core always sets it; guard the contract anyway
        raise ProblemError("INTERNAL", "Internal server error")
    return value


def event_type_data(event_type: pb.EventType | None, base_url: str) -> dict[str, Any]:
    """A protobuf event type as the ``EventType`` schema's input."""
    event_type = _required(event_type)
    spec = _required(event_type.spec)
    public_slug = spec.custom_slug or event_type.slug
    return {
        "id": event_type.id,
        "provider_id": event_type.provider_id or None,
        "team_id": event_type.team_id or None,
        "organisation_id": event_type.organisation_id or None,
        "name": spec.name,
        "description": spec.description,
        "location": spec.location,
        "time_zone": spec.time_zone,
        "period_minutes": spec.period_minutes,
        "capacity": spec.capacity,
        "buffer_before_minutes": spec.buffer_before_minutes,
        "buffer_after_minutes": spec.buffer_after_minutes,
        "minimum_notice_minutes": spec.minimum_notice_minutes,
        "booking_horizon_days": spec.booking_horizon_days,
        "dated_windows": [{"start": w.start, "end": w.end} for w in spec.dated_windows],
        "weekly_hours": [
            {
                "weekday": WEEKDAYS[int(h.weekday) - 1],
                "from_time": h.from_time,
                "to_time": h.to_time,
            }
            for h in spec.weekly_hours
        ],
        "date_exceptions": list(spec.date_exceptions),
        "allow_multiple_places_per_guest": spec.allow_multiple_places_per_guest,
        "allow_member_choice": spec.allow_member_choice,
        "slug": event_type.slug,
        "custom_slug": spec.custom_slug or None,
        "booking_url": booking_url(base_url, public_slug),
        "active": event_type.active,
        "version": event_type.version,
        "created_at": event_type.created_at,
        "updated_at": event_type.updated_at,
    }


def public_event_type_data(event_type: pb.PublicEventType | None, base_url: str) -> dict[str, Any]:
    """A protobuf public event type as the ``PublicEventType`` schema's input."""
    event_type = _required(event_type)
    return {
        "slug": event_type.slug,
        "custom_slug": event_type.custom_slug or None,
        "name": event_type.name,
        "description": event_type.description,
        "location": event_type.location,
        "time_zone": event_type.time_zone,
        "period_minutes": event_type.period_minutes,
        "capacity": event_type.capacity,
        "minimum_notice_minutes": event_type.minimum_notice_minutes,
        "booking_horizon_days": event_type.booking_horizon_days,
        "provider_name": event_type.provider_name,
        "booking_url": booking_url(base_url, event_type.custom_slug or event_type.slug),
        "members": [{"id": m.provider_id, "name": m.name} for m in event_type.members],
    }


class EventTypesClient:
    """The event-type calls the REST API makes; each raises ``ProblemError`` on failure."""

    def __init__(self, channel: Channel, *, deadline_seconds: float) -> None:
        self._stub = pb.EventTypeServiceStub(channel, timeout=deadline_seconds)

    @staticmethod
    async def _call(call: Awaitable[T]) -> T:
        return await call_core(call, FIELD_RENAMES)

    async def create(
        self,
        principal: Principal,
        spec: pb.EventTypeSpec,
        *,
        provider_id: str = "",
        team_id: str = "",
    ) -> pb.EventType | None:
        reply = await self._call(
            self._stub.create_event_type(
                pb.CreateEventTypeRequest(
                    actor=actor(principal), spec=spec, provider_id=provider_id, team_id=team_id
                )
            )
        )
        return reply.event_type

    async def get(self, principal: Principal, event_type_id: str) -> pb.EventType | None:
        reply = await self._call(
            self._stub.get_event_type(
                pb.GetEventTypeRequest(actor=actor(principal), event_type_id=event_type_id)
            )
        )
        return reply.event_type

    async def list_page(
        self,
        principal: Principal,
        *,
        cursor: str | None,
        limit: int,
        provider_id: str = "",
        team_id: str = "",
    ) -> pb.ListEventTypesResponse:
        return await self._call(
            self._stub.list_event_types(
                pb.ListEventTypesRequest(
                    actor=actor(principal),
                    cursor=cursor or "",
                    limit=limit,
                    provider_id=provider_id,
                    team_id=team_id,
                )
            )
        )

    async def update(
        self,
        principal: Principal,
        event_type_id: str,
        spec: pb.EventTypeSpec,
        paths: list[str],
    ) -> pb.EventType | None:
        reply = await self._call(
            self._stub.update_event_type(
                pb.UpdateEventTypeRequest(
                    actor=actor(principal),
                    event_type_id=event_type_id,
                    spec=spec,
                    update_mask=FieldMask(paths=paths),
                )
            )
        )
        return reply.event_type

    async def set_active(
        self, principal: Principal, event_type_id: str, *, active: bool
    ) -> pb.EventType | None:
        reply = await self._call(
            self._stub.set_event_type_active(
                pb.SetEventTypeActiveRequest(
                    actor=actor(principal), event_type_id=event_type_id, active=active
                )
            )
        )
        return reply.event_type

    async def public(self, slug: str) -> pb.PublicEventType | None:
        reply = await self._call(
            self._stub.get_public_event_type(pb.GetPublicEventTypeRequest(actor=GUEST, slug=slug))
        )
        return reply.event_type

    async def slots(
        self, slug: str, start: datetime, end: datetime, member_id: str = ""
    ) -> pb.ListSlotsResponse:
        return await self._call(
            self._stub.list_slots(
                pb.ListSlotsRequest(
                    actor=GUEST, slug=slug, from_time=start, to_time=end, member_id=member_id
                )
            )
        )

    async def book(
        self,
        slug: str,
        slot_start: datetime,
        guest: pb.Guest,
        idempotency_key: str | None,
        member_id: str = "",
    ) -> pb.BookSlotResponse:
        return await self._call(
            self._stub.book_slot(
                pb.BookSlotRequest(
                    actor=GUEST,
                    slug=slug,
                    slot_start=slot_start,
                    guest=guest,
                    idempotency_key=idempotency_key or "",
                    member_id=member_id,
                )
            )
        )

    async def guest_booking(self, reference: str, token: str) -> pb.GuestBookingResponse:
        return await self._call(
            self._stub.get_guest_booking(
                pb.GetGuestBookingRequest(actor=GUEST, reference=reference, manage_token=token)
            )
        )

    async def cancel_guest_booking(
        self, reference: str, token: str, reason: str | None
    ) -> pb.GuestBookingResponse:
        return await self._call(
            self._stub.cancel_guest_booking(
                pb.CancelGuestBookingRequest(
                    actor=GUEST, reference=reference, manage_token=token, reason=reason or ""
                )
            )
        )
