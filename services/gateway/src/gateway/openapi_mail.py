"""The mail part of the OpenAPI document: calendar invitations and mail failures."""

from __future__ import annotations

from typing import Any, Final

from apispec import APISpec

from . import event_type_schemas, mail_schemas, schemas
from .openapi_common import json_content, operation, response_headers

SCHEMAS: Final = {
    "MailFailure": mail_schemas.MailFailure,
    "MailFailurePage": mail_schemas.MailFailurePage,
}
UPSTREAM: Final = ("UPSTREAM_UNAVAILABLE", "UPSTREAM_TIMEOUT")
_ICS_EXAMPLE: Final = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Bookings//Booking Core//EN\r\n"
    "METHOD:REQUEST\r\nBEGIN:VTIMEZONE\r\n...\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT\r\n"
    f"UID:{schemas.EXAMPLE_BOOKING}\r\nSEQUENCE:1\r\nSTATUS:CONFIRMED\r\n...\r\n"
    "END:VEVENT\r\nEND:VCALENDAR\r\n"
)


def _ics(description: str) -> dict[str, Any]:
    return {
        "200": {
            "description": description,
            "headers": {
                **response_headers(),
                "Content-Disposition": {
                    "schema": {"type": "string"},
                    "example": 'attachment; filename="invite.ics"',
                },
            },
            "content": {
                "text/calendar": {
                    "schema": {"type": "string"},
                    "example": _ICS_EXAMPLE,
                }
            },
        }
    }


def add_paths(spec: APISpec) -> None:
    """Add the mail operations to ``spec`` (schemas registered by the caller)."""
    invitation = (
        "RFC 5545 iCalendar with METHOD:REQUEST, or METHOD:CANCEL and STATUS:CANCELLED once "
        "the booking is cancelled. UID is the booking id for the booking's whole life and "
        "SEQUENCE its version, so calendars update one entry in place; times carry the event "
        "type's (else the provider's) time zone with a VTIMEZONE, or are UTC. The "
        "Content-Type names the method (text/calendar; method=REQUEST)."
    )
    spec.path(
        path="/bookings/{id}.ics",
        operations={
            "get": operation(
                "A booking's calendar invitation (customer, provider or admin)",
                _ics(invitation),
                ("VALIDATION_FAILED", "NOT_FOUND", *UPSTREAM),
                parameters=[{"in": "path", "schema": schemas.BookingPath}],
            )
        },
    )
    spec.path(
        path="/public/bookings/{reference}.ics",
        operations={
            "get": operation(
                "A guest booking's calendar invitation through its manage link",
                _ics(invitation),
                ("VALIDATION_FAILED", "NOT_FOUND", *UPSTREAM),
                authenticated=False,
                parameters=[
                    {"in": "path", "schema": event_type_schemas.ReferencePath},
                    {"in": "query", "schema": event_type_schemas.ManageQuery},
                ],
            )
        },
    )
    spec.path(
        path="/admin/mail-failures",
        operations={
            "get": operation(
                "Mail that could not be delivered, newest first (admin)",
                {
                    "200": json_content(
                        "MailFailurePage",
                        "Permanent failures (SMTP 5xx replies, unusable addresses); "
                        "transient ones are retried and never listed.",
                        {
                            "items": [
                                {
                                    "deliveryId": "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f",
                                    "bookingId": schemas.EXAMPLE_BOOKING,
                                    "kind": "created",
                                    "recipient": "ada@example.com",
                                    "error": "550 5.1.1 mailbox unavailable",
                                    "attempts": 1,
                                    "failedAt": "2026-12-02T10:00:00Z",
                                }
                            ]
                        },
                    )
                },
                ("FORBIDDEN", "VALIDATION_FAILED", *UPSTREAM),
                parameters=[{"in": "query", "schema": mail_schemas.FailuresQuery}],
            )
        },
    )
