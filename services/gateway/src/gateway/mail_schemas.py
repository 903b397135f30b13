"""Request and response schemas of the mail routes (invitations, mail failures)."""

from __future__ import annotations

from marshmallow import Schema, fields
from marshmallow.validate import OneOf, Range

from .schemas import EXAMPLE_BOOKING, Rfc3339DateTime, StrictSchema


class FailuresQuery(StrictSchema):
    """``?limit=`` (1..100, default 50)."""

    limit = fields.Integer(strict=False, load_default=50, validate=Range(min=1, max=100))


class MailFailure(Schema):
    """A message the SMTP server refused for good (a 5xx reply) or that could not be
    addressed; it is not retried."""

    delivery_id = fields.String(required=True, data_key="deliveryId")
    booking_id = fields.String(
        required=True, data_key="bookingId", metadata={"example": EXAMPLE_BOOKING}
    )
    kind = fields.String(required=True, validate=OneOf(["created", "cancelled", "reminder"]))
    recipient = fields.String(required=True, metadata={"example": "ada@example.com"})
    error = fields.String(
        required=True, metadata={"example": "550 5.1.1 <ada@example.com>: mailbox unavailable"}
    )
    attempts = fields.Integer(required=True)
    failed_at = Rfc3339DateTime(required=True, data_key="failedAt")


class MailFailurePage(Schema):
    """Newest first."""

    items = fields.List(fields.Nested(MailFailure), required=True)
