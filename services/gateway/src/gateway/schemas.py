"""The REST shapes, once: marshmallow schemas validate requests, shape responses and
generate the OpenAPI document (``openapi.py``).

Request schemas reject unknown fields (no mass assignment). Times are RFC 3339
``date-time`` strings with an offset (RFC 3339, section 5.6); responses give
them in UTC with a ``Z`` suffix.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Final

from bookings_common.events import format_time
from bookings_web.problems import FieldError
from marshmallow import RAISE, Schema, ValidationError, fields
from marshmallow.validate import Length, OneOf, Range

# RFC 3339 section 5.6 date-time; the space separator is the note's allowed variant.
_RFC3339: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})"
)
MAX_LIMIT: Final = 100
DEFAULT_LIMIT: Final = 20
EXAMPLE_PROVIDER: Final = "640c9e47-e062-5aaa-ac62-bb6fca852c1a"
EXAMPLE_CUSTOMER: Final = "8133b53f-6451-5af0-b72b-ea0c7a71b115"
EXAMPLE_BOOKING: Final = "0b6b3c1e-8f5a-4d2e-9a61-3c2f7d9e4a10"


class Rfc3339DateTime(fields.DateTime):
    """An RFC 3339 ``date-time`` that must carry an offset; loads an aware ``datetime``,
    dumps UTC with ``Z``."""

    default_error_messages = {  # noqa: RUF012 - marshmallow's own class attribute
        "invalid": "Not an RFC 3339 date-time with an offset (e.g. 2026-05-01T09:00:00+02:00).",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        if not isinstance(value, str) or not _RFC3339.fullmatch(value):
            raise self.make_error("invalid")
        try:
            return datetime.fromisoformat(value.upper())
        except ValueError:  # out-of-range parts, leap seconds
            raise self.make_error("invalid") from None

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else format_time(value)


class StrictSchema(Schema):
    """Base for request schemas: unknown fields are errors."""

    class Meta:
        unknown = RAISE


class CreateBookingRequest(StrictSchema):
    """Body of ``POST /bookings``."""

    provider_id = fields.UUID(required=True, data_key="providerId")
    customer_id = fields.UUID(required=True, data_key="customerId")
    start_time = Rfc3339DateTime(required=True, data_key="startTime")
    end_time = Rfc3339DateTime(required=True, data_key="endTime")
    idempotency_key = fields.String(
        data_key="idempotencyKey",
        validate=Length(min=1, max=255),
        metadata={"description": "Or send the Idempotency-Key header (not both, unless equal)."},
    )


class CancelBookingRequest(StrictSchema):
    """Body of ``POST /bookings/{id}/cancel`` (optional)."""

    reason = fields.String(validate=Length(max=500))


class ListBookingsQuery(StrictSchema):
    """Query of ``GET /bookings``."""

    type = fields.String(
        load_default="upcoming",
        validate=OneOf(["upcoming", "past"]),
        metadata={"description": "upcoming: ascending by start; past: descending."},
    )
    cursor = fields.String(
        validate=Length(min=1, max=1024),
        metadata={"description": "nextCursor of the previous page."},
    )
    limit = fields.Integer(
        strict=False, load_default=DEFAULT_LIMIT, validate=Range(min=1, max=MAX_LIMIT)
    )


class BookingPath(StrictSchema):
    """Path of ``/bookings/{id}``."""

    id = fields.UUID(required=True)


class Guest(Schema):
    """A guest's details as given on a public booking page (the phone number as E.164)."""

    first_name = fields.String(required=True, data_key="firstName")
    last_name = fields.String(required=True, data_key="lastName")
    email = fields.String(required=True)
    phone = fields.String(required=True, metadata={"example": "+4930123456"})
    address = fields.String()
    special_requests = fields.String(data_key="specialRequests")


class Booking(Schema):
    """A booking as clients see it. A place in an event type's slot also has
    ``eventTypeId`` and, when a guest booked it on a public page, ``reference`` and
    ``guest``."""

    id = fields.UUID(required=True)
    provider_id = fields.UUID(required=True, data_key="providerId")
    customer_id = fields.UUID(required=True, data_key="customerId")
    start_time = Rfc3339DateTime(required=True, data_key="startTime")
    end_time = Rfc3339DateTime(required=True, data_key="endTime")
    status = fields.String(required=True, validate=OneOf(["confirmed", "cancelled"]))
    created_at = Rfc3339DateTime(required=True, data_key="createdAt")
    updated_at = Rfc3339DateTime(required=True, data_key="updatedAt")
    cancelled_at = Rfc3339DateTime(data_key="cancelledAt", metadata={"description": "cancelled"})
    cancel_reason = fields.String(data_key="cancelReason", metadata={"description": "cancelled"})
    event_type_id = fields.UUID(data_key="eventTypeId", metadata={"description": "event type"})
    reference = fields.String(metadata={"description": "guest booking"})
    guest = fields.Nested(Guest, metadata={"description": "guest booking"})


class BookingEnvelope(Schema):
    """``{"booking": {...}}``."""

    booking = fields.Nested(Booking, required=True)


class BookingCreated(Schema):
    """``{"bookingId"}`` of ``POST /bookings``."""

    booking_id = fields.UUID(required=True, data_key="bookingId")


class BookingPage(Schema):
    """One page of ``GET /bookings``."""

    items = fields.List(fields.Nested(Booking), required=True)
    next_cursor = fields.String(
        required=True,
        allow_none=True,
        data_key="nextCursor",
        metadata={"description": "Pass as ?cursor= for the next page; null at the end."},
    )


class ProblemFieldError(Schema):
    """One invalid field."""

    field = fields.String(required=True)
    message = fields.String(required=True)


class Problem(Schema):
    """An RFC 9457 problem detail with the contract's ``code`` and the ``requestId``."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    code = fields.String(required=True)
    request_id = fields.String(required=True, allow_none=True, data_key="requestId")
    errors = fields.List(fields.Nested(ProblemFieldError))
    seat_ids = fields.List(
        fields.String(),
        data_key="seatIds",
        metadata={"description": "SEAT_UNAVAILABLE only: the requested seats already taken."},
    )


class Health(Schema):
    """``GET /health`` and ``GET /ready``."""

    status = fields.String(required=True)


class DevTokenRequest(StrictSchema):
    """Body of ``POST /dev/token`` (development only)."""

    role = fields.String(required=True, validate=OneOf(["customer", "provider"]))
    id = fields.UUID(required=True, metadata={"description": "The customer or provider id."})
    ttl_seconds = fields.Integer(
        data_key="ttlSeconds", load_default=3600, validate=Range(min=60, max=7 * 24 * 3600)
    )


class DevToken(Schema):
    """A signed development token."""

    access_token = fields.String(required=True, data_key="accessToken")
    token_type = fields.String(required=True, data_key="tokenType")
    expires_in = fields.Integer(required=True, data_key="expiresIn")


def field_errors(error: ValidationError, *, location: str = "body") -> list[FieldError]:
    """Flatten marshmallow's messages into ``[FieldError(field, message)]``.

    Nested keys are joined with dots and list items indexed (``weeklyHours[0].from``);
    schema-level errors name ``location``.
    """
    found: list[FieldError] = []

    def walk(messages: Any, prefix: str) -> None:
        if isinstance(messages, dict):
            for key, value in messages.items():
                if isinstance(key, int):
                    walk(value, f"{prefix}[{key}]")
                    continue
                name = location if key == "_schema" else str(key)
                walk(value, f"{prefix}.{name}" if prefix else name)
        elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
            found.extend(FieldError(prefix or location, message) for message in messages)
        elif isinstance(messages, list):
            for item in messages:
                walk(item, prefix)
        else:
            found.append(FieldError(prefix or location, str(messages)))

    walk(error.messages, "")
    return found
