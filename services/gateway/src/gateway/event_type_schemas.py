"""The REST shapes of event types, slots and guest bookings (marshmallow; the source of
their part of the OpenAPI document). Bounds come from ``bookings_common.limits``, the
ones booking-core enforces; booking-core still decides what the schemas cannot
(time zones, phone numbers, overlapping windows, slugs in use)."""

from __future__ import annotations

import re
from typing import Any, Final

from bookings_common import limits
from marshmallow import Schema, ValidationError, fields
from marshmallow.validate import Length, OneOf, Range, Regexp

from .schemas import Guest, Rfc3339DateTime, StrictSchema

WEEKDAYS: Final = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
LOCAL_TIME: Final = r"^([01]\d|2[0-3]):[0-5]\d$"
LOCAL_END_TIME: Final = r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$"
CUSTOM_SLUG: Final = r"^[A-Za-z0-9]+(-[A-Za-z0-9]+)*$"
# An IANA name: Area/Location[/Sub] or a single word such as UTC (the tz database decides).
TIME_ZONE: Final = r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}$"
EXAMPLE_EVENT_TYPE: Final = "3f0f6a2e-1c4b-4f7d-9e3a-5b2c1d0e9f8a"
EXAMPLE_SLUG: Final = "k7m3q9x2w4c8v6b1"
_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")


class StrictInteger(fields.Integer):
    """A JSON integer only: no strings, no booleans, no fractions."""

    def _validated(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        return int(value)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        return self._validated(value)


class StrictBoolean(fields.Boolean):
    """JSON ``true`` or ``false`` only."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class LocalDate(fields.String):
    """A calendar date ``YYYY-MM-DD``."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not _DATE.fullmatch(text):
            raise ValidationError("Not a date YYYY-MM-DD.")
        return text


def _bounded(bounds: tuple[int, int], **kwargs: Any) -> StrictInteger:
    return StrictInteger(validate=Range(min=bounds[0], max=bounds[1]), **kwargs)


class DatedWindow(StrictSchema):
    """A one-off window ``[start, end)`` (at most 31 days)."""

    start = Rfc3339DateTime(required=True)
    end = Rfc3339DateTime(required=True)


class WeeklyHours(StrictSchema):
    """Weekly local hours; ``to`` not after ``from`` ends the next day (crosses midnight)."""

    weekday = fields.String(required=True, validate=OneOf(WEEKDAYS))
    from_time = fields.String(
        required=True,
        data_key="from",
        validate=Regexp(LOCAL_TIME),
        metadata={"description": "Local time HH:MM in the event type's time zone."},
    )
    to_time = fields.String(
        required=True,
        data_key="to",
        validate=Regexp(LOCAL_END_TIME),
        metadata={"description": "Local time HH:MM; 24:00 for midnight."},
    )


def _event_type_fields(*, create: bool) -> dict[str, fields.Field[Any]]:
    """The fields a provider sets: required and defaulted on create, all optional in a
    patch (JSON Merge Patch, RFC 7396: the fields present are changed)."""

    def default(value: Any) -> dict[str, Any]:
        return {"load_default": value} if create else {}

    return {
        "name": fields.String(required=create, validate=Length(min=1, max=limits.NAME_MAX)),
        "description": fields.String(validate=Length(max=limits.DESCRIPTION_MAX), **default("")),
        "location": fields.String(validate=Length(max=limits.LOCATION_MAX), **default("")),
        "time_zone": fields.String(
            required=create,
            data_key="timeZone",
            validate=[Length(min=1, max=64), Regexp(TIME_ZONE)],
            metadata={"description": "IANA time zone name, e.g. Europe/Berlin."},
        ),
        "period_minutes": _bounded(
            limits.PERIOD_MINUTES,
            required=create,
            data_key="periodMinutes",
            metadata={"description": "Slot length in minutes."},
        ),
        "capacity": _bounded(
            limits.CAPACITY, metadata={"description": "Places per slot."}, **default(1)
        ),
        "buffer_before_minutes": _bounded(
            limits.BUFFER_MINUTES, data_key="bufferBeforeMinutes", **default(0)
        ),
        "buffer_after_minutes": _bounded(
            limits.BUFFER_MINUTES, data_key="bufferAfterMinutes", **default(0)
        ),
        "minimum_notice_minutes": _bounded(
            limits.NOTICE_MINUTES,
            data_key="minimumNoticeMinutes",
            metadata={"description": "A slot stops being bookable this long before it starts."},
            **default(0),
        ),
        "booking_horizon_days": _bounded(
            limits.HORIZON_DAYS,
            data_key="bookingHorizonDays",
            metadata={"description": "Slots are offered this many days ahead."},
            **default(60),
        ),
        "dated_windows": fields.List(
            fields.Nested(DatedWindow),
            data_key="datedWindows",
            validate=Length(max=limits.DATED_WINDOWS_MAX),
            **default([]),
        ),
        "weekly_hours": fields.List(
            fields.Nested(WeeklyHours),
            data_key="weeklyHours",
            validate=Length(max=limits.WEEKLY_HOURS_MAX),
            **default([]),
        ),
        "date_exceptions": fields.List(
            LocalDate(),
            data_key="dateExceptions",
            validate=Length(max=limits.DATE_EXCEPTIONS_MAX),
            metadata={"description": "Days off (local dates): no slot starts on them."},
            **default([]),
        ),
        "custom_slug": fields.String(
            data_key="customSlug",
            allow_none=True,
            validate=[
                Length(min=limits.CUSTOM_SLUG_LENGTH[0], max=limits.CUSTOM_SLUG_LENGTH[1]),
                Regexp(CUSTOM_SLUG),
            ],
            metadata={
                "description": "Your own public slug (letters, digits, single hyphens; "
                "case-insensitive, unique); null removes it."
            },
            **default(None),
        ),
        "allow_multiple_places_per_guest": StrictBoolean(
            data_key="allowMultiplePlacesPerGuest",
            metadata={"description": "Whether one email address may hold several places."},
            **default(False),
        ),
        "allow_member_choice": StrictBoolean(
            data_key="allowMemberChoice",
            metadata={"description": "A team's event type: guests may pick the member."},
            **default(False),
        ),
    }


def _owner_fields() -> dict[str, fields.Field[Any]]:
    return {
        "provider_id": fields.UUID(
            data_key="providerId",
            metadata={"description": "Admins: the provider it belongs to (providers: omit)."},
        ),
        "team_id": fields.UUID(
            data_key="teamId",
            metadata={"description": "Admins: the team it belongs to instead of a provider."},
        ),
    }


# Body of POST /event-types.
EventTypeRequest = StrictSchema.from_dict(
    {**_event_type_fields(create=True), **_owner_fields()}, name="EventTypeRequest"
)
# Body of PATCH /event-types/{id} (JSON Merge Patch, RFC 7396).
EventTypePatch = StrictSchema.from_dict(_event_type_fields(create=False), name="EventTypePatch")


class EventTypePath(StrictSchema):
    """Path of ``/event-types/{id}``."""

    id = fields.UUID(required=True)


class EventType(Schema):
    """An event type as its provider sees it."""

    id = fields.UUID(required=True)
    provider_id = fields.UUID(
        required=True,
        allow_none=True,
        data_key="providerId",
        metadata={"description": "Its provider; null for a team's."},
    )
    team_id = fields.UUID(
        required=True,
        allow_none=True,
        data_key="teamId",
        metadata={"description": "Its team (places per member); null for a provider's."},
    )
    organisation_id = fields.UUID(required=True, allow_none=True, data_key="organisationId")
    name = fields.String(required=True)
    description = fields.String(required=True)
    location = fields.String(required=True)
    time_zone = fields.String(required=True, data_key="timeZone")
    period_minutes = fields.Integer(required=True, data_key="periodMinutes")
    capacity = fields.Integer(required=True)
    buffer_before_minutes = fields.Integer(required=True, data_key="bufferBeforeMinutes")
    buffer_after_minutes = fields.Integer(required=True, data_key="bufferAfterMinutes")
    minimum_notice_minutes = fields.Integer(required=True, data_key="minimumNoticeMinutes")
    booking_horizon_days = fields.Integer(required=True, data_key="bookingHorizonDays")
    dated_windows = fields.List(fields.Nested(DatedWindow), required=True, data_key="datedWindows")
    weekly_hours = fields.List(fields.Nested(WeeklyHours), required=True, data_key="weeklyHours")
    date_exceptions = fields.List(fields.String(), required=True, data_key="dateExceptions")
    allow_multiple_places_per_guest = fields.Boolean(
        required=True, data_key="allowMultiplePlacesPerGuest"
    )
    allow_member_choice = fields.Boolean(required=True, data_key="allowMemberChoice")
    slug = fields.String(
        required=True,
        metadata={"description": "The random public slug (80 bits), fixed for life."},
    )
    custom_slug = fields.String(required=True, allow_none=True, data_key="customSlug")
    booking_url = fields.String(
        required=True,
        data_key="bookingUrl",
        metadata={"description": "The public booking page (custom slug if set)."},
    )
    active = fields.Boolean(required=True)
    version = fields.Integer(required=True)
    created_at = Rfc3339DateTime(required=True, data_key="createdAt")
    updated_at = Rfc3339DateTime(required=True, data_key="updatedAt")


class EventTypeEnvelope(Schema):
    """``{"eventType": {...}}``."""

    event_type = fields.Nested(EventType, required=True, data_key="eventType")


class EventTypePage(Schema):
    """One page of ``GET /event-types``, oldest first."""

    items = fields.List(fields.Nested(EventType), required=True)
    next_cursor = fields.String(required=True, allow_none=True, data_key="nextCursor")


class ListEventTypesQuery(StrictSchema):
    """Query of ``GET /event-types``: a provider's own; an admin's organisation's (or one
    provider's or team's of it)."""

    provider_id = fields.UUID(data_key="providerId")
    team_id = fields.UUID(data_key="teamId")

    # Keyset cursors are short; a bound keeps the request line under 8 KiB.
    cursor = fields.String(validate=Length(min=1, max=256))
    limit = fields.Integer(strict=False, load_default=20, validate=Range(min=1, max=100))


class PublicEventType(Schema):
    """An event type as a guest sees it (no internal ids)."""

    slug = fields.String(required=True)
    custom_slug = fields.String(required=True, allow_none=True, data_key="customSlug")
    name = fields.String(required=True)
    description = fields.String(required=True)
    location = fields.String(required=True)
    time_zone = fields.String(required=True, data_key="timeZone")
    period_minutes = fields.Integer(required=True, data_key="periodMinutes")
    capacity = fields.Integer(required=True)
    minimum_notice_minutes = fields.Integer(required=True, data_key="minimumNoticeMinutes")
    booking_horizon_days = fields.Integer(required=True, data_key="bookingHorizonDays")
    provider_name = fields.String(
        required=True,
        data_key="providerName",
        metadata={"description": "The provider's name, or the team's."},
    )
    booking_url = fields.String(required=True, data_key="bookingUrl")
    members = fields.List(
        fields.Nested(lambda: TeamMember()),
        required=True,
        metadata={"description": "A team's members guests may pick (empty otherwise)."},
    )


class TeamMember(Schema):
    id = fields.UUID(required=True, metadata={"description": "Pass as memberId."})
    name = fields.String(required=True)


class PublicEventTypeEnvelope(Schema):
    event_type = fields.Nested(PublicEventType, required=True, data_key="eventType")


class SlugPath(StrictSchema):
    """Path of ``/public/event-types/{slug}``."""

    slug = fields.String(required=True, validate=Length(min=1, max=64))


class SlotsQuery(StrictSchema):
    """Query of ``GET /public/event-types/{slug}/slots``."""

    from_time = Rfc3339DateTime(
        data_key="from", metadata={"description": "Range start (default: now)."}
    )
    to_time = Rfc3339DateTime(
        data_key="to",
        metadata={"description": "Range end, at most 62 days after from (default: from + 7 d)."},
    )
    time_zone = fields.String(
        data_key="timeZone",
        validate=[Length(min=1, max=64), Regexp(TIME_ZONE)],
        metadata={
            "description": "IANA zone to render start and end in (default: the event type's).",
            "example": "UTC",
        },
    )
    member_id = fields.UUID(
        data_key="memberId", metadata={"description": "One team member's slots only."}
    )


class Slot(Schema):
    """One offered slot; ``start`` and ``end`` carry the requested zone's offset."""

    start = fields.String(required=True, metadata={"format": "date-time"})
    end = fields.String(required=True, metadata={"format": "date-time"})
    capacity = fields.Integer(required=True)
    remaining = fields.Integer(required=True, metadata={"description": "Places left (> 0)."})


class SlotList(Schema):
    """The offered slots in the range, ascending (bounded by the range, no paging)."""

    time_zone = fields.String(required=True, data_key="timeZone")
    slots = fields.List(fields.Nested(Slot), required=True)


class PublicBookingRequest(StrictSchema):
    """Body of ``POST /public/event-types/{slug}/bookings``."""

    slot_start = Rfc3339DateTime(required=True, data_key="slotStart")
    first_name = fields.String(
        required=True, data_key="firstName", validate=Length(min=1, max=limits.GUEST_NAME_MAX)
    )
    last_name = fields.String(
        required=True, data_key="lastName", validate=Length(min=1, max=limits.GUEST_NAME_MAX)
    )
    email = fields.String(required=True, validate=Length(min=3, max=limits.EMAIL_MAX))
    phone = fields.String(
        required=True,
        validate=Length(min=3, max=limits.PHONE_INPUT_MAX),
        metadata={"description": "International format, e.g. +49 30 1234567; stored as E.164."},
    )
    address = fields.String(validate=Length(max=limits.ADDRESS_MAX))
    special_requests = fields.String(
        data_key="specialRequests", validate=Length(max=limits.SPECIAL_REQUESTS_MAX)
    )
    idempotency_key = fields.String(
        data_key="idempotencyKey",
        validate=Length(min=1, max=255),
        metadata={"description": "Or send the Idempotency-Key header (not both, unless equal)."},
    )
    member_id = fields.UUID(
        data_key="memberId",
        metadata={"description": "A team's event type that allows it: the member to book."},
    )


class PublicBookingCreated(Schema):
    """``{bookingId, reference, manageUrl}`` of a guest booking."""

    booking_id = fields.UUID(required=True, data_key="bookingId")
    reference = fields.String(
        required=True, metadata={"description": "8 Crockford base32 characters."}
    )
    manage_url = fields.String(
        required=True,
        data_key="manageUrl",
        metadata={"description": "The guest's secret link to view or cancel the booking."},
    )


class ReferencePath(StrictSchema):
    """Path of ``/public/bookings/{reference}``."""

    reference = fields.String(required=True, validate=Length(min=1, max=16))


class ManageQuery(StrictSchema):
    """Query of the manage link."""

    token = fields.String(required=True, validate=Length(min=1, max=128))


class GuestBooking(Schema):
    """A guest booking as its manage link shows it."""

    id = fields.UUID(required=True)
    reference = fields.String(required=True)
    status = fields.String(required=True, validate=OneOf(["confirmed", "cancelled"]))
    start_time = Rfc3339DateTime(required=True, data_key="startTime")
    end_time = Rfc3339DateTime(required=True, data_key="endTime")
    created_at = Rfc3339DateTime(required=True, data_key="createdAt")
    cancelled_at = Rfc3339DateTime(data_key="cancelledAt")
    cancel_reason = fields.String(data_key="cancelReason")
    guest = fields.Nested(Guest, required=True)
    event_type = fields.Nested(PublicEventType, required=True, data_key="eventType")


class GuestBookingEnvelope(Schema):
    booking = fields.Nested(GuestBooking, required=True)
