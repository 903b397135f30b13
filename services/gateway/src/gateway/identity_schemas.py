"""The REST shapes of sign-in, users, teams, an organisation's bookings and its audit log
(marshmallow; the source of their part of the OpenAPI document)."""

from __future__ import annotations

from typing import Final

from bookings_common import limits
from marshmallow import Schema, fields
from marshmallow.validate import Length, OneOf, Range

from .event_type_schemas import StrictBoolean
from .schemas import Booking, Rfc3339DateTime, StrictSchema

ROLES: Final = ("admin", "provider")
PASSWORD: Final = Length(min=1, max=1024)
EXAMPLE_USER: Final = "2b1f7c3e-9d4a-4e8b-8f6a-1c2d3e4f5a6b"
EXAMPLE_TEAM: Final = "7e6d5c4b-3a29-4180-9f8e-7d6c5b4a3928"


class LoginRequest(StrictSchema):
    """Body of ``POST /auth/login``."""

    email = fields.String(required=True, validate=Length(min=1, max=limits.EMAIL_MAX))
    password = fields.String(required=True, validate=PASSWORD)


class RefreshRequest(StrictSchema):
    """Body of ``POST /auth/refresh`` and ``POST /auth/logout``."""

    refresh_token = fields.String(
        required=True, data_key="refreshToken", validate=Length(min=1, max=512)
    )


class TokenPair(Schema):
    """An access token (15 minutes) and a refresh token (7 days, usable once)."""

    access_token = fields.String(required=True, data_key="accessToken")
    refresh_token = fields.String(required=True, data_key="refreshToken")
    expires_in = fields.Integer(
        required=True, data_key="expiresIn", metadata={"description": "Seconds."}
    )
    token_type = fields.String(required=True, data_key="tokenType")


class Jwks(Schema):
    """A JWK Set (RFC 7517, section 5)."""

    keys = fields.List(fields.Dict(), required=True)


class UserCreateRequest(StrictSchema):
    """Body of ``POST /admin/users``."""

    email = fields.String(required=True, validate=Length(min=3, max=limits.EMAIL_MAX))
    display_name = fields.String(
        required=True, data_key="displayName", validate=Length(min=1, max=limits.NAME_MAX)
    )
    password = fields.String(
        required=True,
        validate=PASSWORD,
        metadata={"description": "At least 12 characters, not a common password."},
    )
    role = fields.String(required=True, validate=OneOf(ROLES))
    provider_id = fields.UUID(
        data_key="providerId",
        metadata={"description": "A provider user: the organisation's provider to act as."},
    )
    time_zone = fields.String(
        data_key="timeZone",
        validate=Length(min=1, max=64),
        metadata={"description": "A new provider's IANA time zone (default UTC)."},
    )


class UserPatch(StrictSchema):
    """Body of ``PATCH /admin/users/{id}``: the fields present change."""

    display_name = fields.String(
        data_key="displayName", validate=Length(min=1, max=limits.NAME_MAX)
    )
    password = fields.String(validate=PASSWORD)
    disabled = StrictBoolean()
    role = fields.String(validate=OneOf(ROLES))


class User(Schema):
    id = fields.UUID(required=True)
    organisation_id = fields.UUID(required=True, data_key="organisationId")
    email = fields.String(required=True)
    display_name = fields.String(required=True, data_key="displayName")
    role = fields.String(required=True, validate=OneOf(ROLES))
    provider_id = fields.UUID(required=True, allow_none=True, data_key="providerId")
    disabled = fields.Boolean(required=True)
    created_at = Rfc3339DateTime(required=True, data_key="createdAt")
    updated_at = Rfc3339DateTime(required=True, data_key="updatedAt")


class UserEnvelope(Schema):
    user = fields.Nested(User, required=True)


class UserPage(Schema):
    items = fields.List(fields.Nested(User), required=True)
    next_cursor = fields.String(required=True, allow_none=True, data_key="nextCursor")


class PageQuery(StrictSchema):
    """``?cursor=&limit=`` (1..100, default 20)."""

    # Keyset cursors are short; a bound keeps the request line under 8 KiB.
    cursor = fields.String(validate=Length(min=1, max=256))
    limit = fields.Integer(strict=False, load_default=20, validate=Range(min=1, max=100))


class IdPath(StrictSchema):
    id = fields.UUID(required=True)


class TeamRequest(StrictSchema):
    """Body of ``POST /admin/teams`` and ``PATCH /admin/teams/{id}``."""

    name = fields.String(required=True, validate=Length(min=1, max=limits.NAME_MAX))


class TeamMemberRequest(StrictSchema):
    """Body of ``POST /admin/teams/{id}/members``."""

    provider_id = fields.UUID(required=True, data_key="providerId")


class MemberPath(StrictSchema):
    id = fields.UUID(required=True)
    provider_id = fields.UUID(required=True, data_key="providerId")


class Team(Schema):
    id = fields.UUID(required=True)
    organisation_id = fields.UUID(required=True, data_key="organisationId")
    name = fields.String(required=True)
    member_ids = fields.List(
        fields.UUID(), required=True, data_key="memberIds", metadata={"description": "Providers."}
    )
    created_at = Rfc3339DateTime(required=True, data_key="createdAt")
    updated_at = Rfc3339DateTime(required=True, data_key="updatedAt")


class TeamEnvelope(Schema):
    team = fields.Nested(Team, required=True)


class TeamPage(Schema):
    items = fields.List(fields.Nested(Team), required=True)
    next_cursor = fields.String(required=True, allow_none=True, data_key="nextCursor")


class AdminBookingsQuery(StrictSchema):
    """Query of ``GET /admin/bookings`` and ``/admin/bookings.csv``: every filter optional."""

    provider_id = fields.UUID(data_key="providerId")
    team_id = fields.UUID(data_key="teamId")
    event_type_id = fields.UUID(data_key="eventTypeId")
    status = fields.String(validate=OneOf(["confirmed", "cancelled"]))
    from_time = Rfc3339DateTime(data_key="from", metadata={"description": "Starts at or after."})
    to_time = Rfc3339DateTime(data_key="to", metadata={"description": "Starts before."})
    guest_email = fields.String(data_key="guestEmail", validate=Length(min=3, max=limits.EMAIL_MAX))
    # Keyset cursors are short; a bound keeps the request line under 8 KiB.
    cursor = fields.String(validate=Length(min=1, max=256))
    limit = fields.Integer(strict=False, load_default=50, validate=Range(min=1, max=500))


class AdminBookingPage(Schema):
    items = fields.List(fields.Nested(Booking), required=True)
    next_cursor = fields.String(required=True, allow_none=True, data_key="nextCursor")


class AdminCancelRequest(StrictSchema):
    """Body of ``POST /admin/bookings/{id}/cancel``: the reason is required."""

    reason = fields.String(required=True, validate=Length(min=1, max=limits.CANCEL_REASON_MAX))


class AuditEntry(Schema):
    id = fields.String(required=True, metadata={"description": "Increases with time."})
    actor = fields.String(required=True, metadata={"example": "admin:" + EXAMPLE_USER})
    action = fields.String(required=True, metadata={"example": "booking.cancelled"})
    target_type = fields.String(required=True, data_key="targetType")
    target_id = fields.String(required=True, data_key="targetId")
    details = fields.Dict(required=True)
    request_id = fields.String(required=True, allow_none=True, data_key="requestId")
    created_at = Rfc3339DateTime(required=True, data_key="createdAt")


class AuditPage(Schema):
    """Newest first."""

    items = fields.List(fields.Nested(AuditEntry), required=True)
    next_cursor = fields.String(required=True, allow_none=True, data_key="nextCursor")
