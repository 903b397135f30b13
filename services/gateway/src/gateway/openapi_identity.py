"""The identity part of the OpenAPI document: sign-in (``/auth/...``, the JWK Set) and
the admin API (``/admin/...``, role ``admin``)."""

from __future__ import annotations

from typing import Any, Final

from apispec import APISpec

from . import identity_schemas as schemas
from .openapi_common import json_content, operation, response_headers
from .schemas import EXAMPLE_BOOKING, EXAMPLE_PROVIDER

SCHEMAS: Final = {
    "LoginRequest": schemas.LoginRequest,
    "RefreshRequest": schemas.RefreshRequest,
    "TokenPair": schemas.TokenPair,
    "Jwks": schemas.Jwks,
    "UserCreateRequest": schemas.UserCreateRequest,
    "UserPatch": schemas.UserPatch,
    "User": schemas.User,
    "UserEnvelope": schemas.UserEnvelope,
    "UserPage": schemas.UserPage,
    "TeamRequest": schemas.TeamRequest,
    "TeamMemberRequest": schemas.TeamMemberRequest,
    "Team": schemas.Team,
    "TeamEnvelope": schemas.TeamEnvelope,
    "TeamPage": schemas.TeamPage,
    "AdminBookingPage": schemas.AdminBookingPage,
    "AdminCancelRequest": schemas.AdminCancelRequest,
    "AuditEntry": schemas.AuditEntry,
    "AuditPage": schemas.AuditPage,
}
UPSTREAM: Final = ("UPSTREAM_UNAVAILABLE", "UPSTREAM_TIMEOUT")
BODY: Final = ("VALIDATION_FAILED", "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE")
_PAIR: Final = {
    "accessToken": "eyJhbGciOiJFZERTQSIsImtpZCI6Ii4uLiJ9...",
    "refreshToken": "Jc3q...43 characters",
    "expiresIn": 900,
    "tokenType": "Bearer",
}
_USER: Final = {
    "id": schemas.EXAMPLE_USER,
    "organisationId": "0d6c1b7e-2f3a-4b5c-8d9e-0f1a2b3c4d5e",
    "email": "anna@clinic.example",
    "displayName": "Dr. Anna Berg",
    "role": "provider",
    "providerId": EXAMPLE_PROVIDER,
    "disabled": False,
    "createdAt": "2026-12-01T10:00:00Z",
    "updatedAt": "2026-12-01T10:00:00Z",
}
_TEAM: Final = {
    "id": schemas.EXAMPLE_TEAM,
    "organisationId": "0d6c1b7e-2f3a-4b5c-8d9e-0f1a2b3c4d5e",
    "name": "Front desk",
    "memberIds": [EXAMPLE_PROVIDER],
    "createdAt": "2026-12-01T10:00:00Z",
    "updatedAt": "2026-12-01T10:00:00Z",
}
_AUDIT: Final = {
    "id": "42",
    "actor": f"admin:{schemas.EXAMPLE_USER}",
    "action": "booking.cancelled",
    "targetType": "booking",
    "targetId": EXAMPLE_BOOKING,
    "details": {"reason": "provider ill"},
    "requestId": "5f0c6a52-7d1b-4a8e-9d4e-2f7f3b8c1a90",
    "createdAt": "2026-12-01T10:00:00Z",
}


def _id() -> dict[str, Any]:
    # apispec's marshmallow plugin consumes a schema parameter's dict: a new one per use.
    return {"in": "path", "schema": schemas.IdPath}


def _body(schema: str, example: Any) -> dict[str, Any]:
    return {
        "required": True,
        "content": {"application/json": {"schema": schema, "example": example}},
    }


def _admin(summary: str, success: dict[str, Any], *errors: str, **extra: Any) -> dict[str, Any]:
    return operation(summary, success, ("FORBIDDEN", *errors, *UPSTREAM), **extra)


def _no_content(description: str) -> dict[str, Any]:
    return {"204": {"description": description, "headers": response_headers()}}


def add_paths(spec: APISpec) -> None:
    """Add the sign-in and admin operations to ``spec`` (schemas registered by the caller)."""
    pair = json_content("TokenPair", "Signed in.", _PAIR)
    spec.path(
        path="/auth/login",
        operations={
            "post": operation(
                "Sign in (staff): one answer for an unknown email and a wrong password",
                {"200": pair},
                (*BODY, "UNAUTHENTICATED", *UPSTREAM),
                authenticated=False,
                requestBody=_body(
                    "LoginRequest", {"email": "admin@demo.example", "password": "..."}
                ),
            )
        },
    )
    spec.path(
        path="/auth/refresh",
        operations={
            "post": operation(
                "Rotate a refresh token (a reused one revokes its whole family)",
                {"200": pair},
                (*BODY, "UNAUTHENTICATED", *UPSTREAM),
                authenticated=False,
                requestBody=_body("RefreshRequest", {"refreshToken": "..."}),
            )
        },
    )
    spec.path(
        path="/auth/logout",
        operations={
            "post": operation(
                "Sign out: revoke the refresh token's family",
                _no_content("Signed out."),
                (*BODY, *UPSTREAM),
                authenticated=False,
                requestBody=_body("RefreshRequest", {"refreshToken": "..."}),
            )
        },
    )
    spec.path(
        path="/.well-known/jwks.json",
        operations={
            "get": operation(
                "The public keys access tokens are signed with (RFC 7517)",
                {"200": json_content("Jwks", "A JWK Set.", {"keys": []})},
                UPSTREAM,
                authenticated=False,
            )
        },
    )
    user = json_content("UserEnvelope", "The user.", {"user": _USER})
    spec.path(
        path="/admin/users",
        operations={
            "post": _admin(
                "Create a staff user",
                {"201": json_content("UserEnvelope", "Created.", {"user": _USER}, "Location")},
                *BODY,
                "NOT_FOUND",
                "EMAIL_TAKEN",
                requestBody=_body(
                    "UserCreateRequest",
                    {
                        "email": "anna@clinic.example",
                        "displayName": "Dr. Anna Berg",
                        "password": "a long unusual passphrase",
                        "role": "provider",
                        "timeZone": "Europe/Berlin",
                    },
                ),
            ),
            "get": _admin(
                "List the organisation's users, oldest first",
                {
                    "200": json_content(
                        "UserPage", "One page.", {"items": [_USER], "nextCursor": None}
                    )
                },
                "VALIDATION_FAILED",
                parameters=[{"in": "query", "schema": schemas.PageQuery}],
            ),
        },
    )
    spec.path(
        path="/admin/users/{id}",
        operations={
            "get": _admin(
                "Read a user", {"200": user}, "VALIDATION_FAILED", "NOT_FOUND", parameters=[_id()]
            ),
            "patch": _admin(
                "Change a user (a new password or disabling ends their sessions)",
                {"200": user},
                *BODY,
                "NOT_FOUND",
                parameters=[_id()],
                requestBody=_body("UserPatch", {"disabled": True}),
            ),
            "delete": _admin(
                "Delete a user (their provider record and bookings stay)",
                _no_content("Deleted."),
                "VALIDATION_FAILED",
                "NOT_FOUND",
                parameters=[_id()],
            ),
        },
    )
    team = json_content("TeamEnvelope", "The team.", {"team": _TEAM})
    spec.path(
        path="/admin/teams",
        operations={
            "post": _admin(
                "Create a team",
                {"201": json_content("TeamEnvelope", "Created.", {"team": _TEAM}, "Location")},
                *BODY,
                requestBody=_body("TeamRequest", {"name": "Front desk"}),
            ),
            "get": _admin(
                "List the organisation's teams",
                {
                    "200": json_content(
                        "TeamPage", "One page.", {"items": [_TEAM], "nextCursor": None}
                    )
                },
                "VALIDATION_FAILED",
                parameters=[{"in": "query", "schema": schemas.PageQuery}],
            ),
        },
    )
    spec.path(
        path="/admin/teams/{id}",
        operations={
            "get": _admin(
                "Read a team", {"200": team}, "VALIDATION_FAILED", "NOT_FOUND", parameters=[_id()]
            ),
            "patch": _admin(
                "Rename a team",
                {"200": team},
                *BODY,
                "NOT_FOUND",
                parameters=[_id()],
                requestBody=_body("TeamRequest", {"name": "Physiotherapy"}),
            ),
            "delete": _admin(
                "Delete a team (not while event types belong to it)",
                _no_content("Deleted."),
                "VALIDATION_FAILED",
                "NOT_FOUND",
                "TEAM_IN_USE",
                parameters=[_id()],
            ),
        },
    )
    spec.path(
        path="/admin/teams/{id}/members",
        operations={
            "post": _admin(
                "Add a provider of the organisation to a team (idempotent)",
                {"200": team},
                *BODY,
                "NOT_FOUND",
                parameters=[_id()],
                requestBody=_body("TeamMemberRequest", {"providerId": EXAMPLE_PROVIDER}),
            )
        },
    )
    spec.path(
        path="/admin/teams/{id}/members/{providerId}",
        operations={
            "delete": _admin(
                "Remove a member (idempotent)",
                {"200": team},
                "VALIDATION_FAILED",
                "NOT_FOUND",
                parameters=[{"in": "path", "schema": schemas.MemberPath}],
            )
        },
    )
    query = [{"in": "query", "schema": schemas.AdminBookingsQuery}]
    spec.path(
        path="/admin/bookings",
        operations={
            "get": _admin(
                "The organisation's bookings, with filters, ascending by start",
                {
                    "200": json_content(
                        "AdminBookingPage", "One page.", {"items": [], "nextCursor": None}
                    )
                },
                "VALIDATION_FAILED",
                parameters=query,
            )
        },
    )
    spec.path(
        path="/admin/bookings.csv",
        operations={
            "get": _admin(
                "The same as CSV, streamed (formula-looking cells defused)",
                {
                    "200": {
                        "description": "RFC 4180 CSV with a header row.",
                        "headers": response_headers(),
                        "content": {"text/csv": {"schema": {"type": "string"}}},
                    }
                },
                "VALIDATION_FAILED",
                parameters=[{"in": "query", "schema": schemas.AdminBookingsQuery}],
            )
        },
    )
    spec.path(
        path="/admin/bookings/{id}/cancel",
        operations={
            "post": _admin(
                "Cancel a booking on behalf of its customer, with a reason",
                {
                    "200": json_content(
                        "BookingEnvelope", "Cancelled (or already was).", {"booking": {}}
                    )
                },
                *BODY,
                "NOT_FOUND",
                "BOOKING_NOT_CANCELLABLE",
                parameters=[_id()],
                requestBody=_body("AdminCancelRequest", {"reason": "the provider is ill"}),
            )
        },
    )
    spec.path(
        path="/admin/audit",
        operations={
            "get": _admin(
                "Who did what to which booking or setting, newest first",
                {
                    "200": json_content(
                        "AuditPage", "One page.", {"items": [_AUDIT], "nextCursor": None}
                    )
                },
                "VALIDATION_FAILED",
                parameters=[{"in": "query", "schema": schemas.PageQuery}],
            )
        },
    )
