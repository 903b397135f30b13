"""The event-type part of the OpenAPI document: the provider's ``/event-types`` routes
and the public ``/public/...`` ones (``security: []``)."""

from __future__ import annotations

from typing import Any, Final

from apispec import APISpec

from . import event_type_schemas as schemas
from .openapi_common import json_content, operation
from .schemas import EXAMPLE_BOOKING, EXAMPLE_PROVIDER

SCHEMAS: Final = {
    "EventTypeRequest": schemas.EventTypeRequest,
    "EventTypePatch": schemas.EventTypePatch,
    "EventType": schemas.EventType,
    "EventTypeEnvelope": schemas.EventTypeEnvelope,
    "EventTypePage": schemas.EventTypePage,
    "PublicEventType": schemas.PublicEventType,
    "PublicEventTypeEnvelope": schemas.PublicEventTypeEnvelope,
    "SlotList": schemas.SlotList,
    "PublicBookingRequest": schemas.PublicBookingRequest,
    "PublicBookingCreated": schemas.PublicBookingCreated,
    "GuestBookingEnvelope": schemas.GuestBookingEnvelope,
}
UPSTREAM: Final = ("UPSTREAM_UNAVAILABLE", "UPSTREAM_TIMEOUT")
BODY_ERRORS: Final = ("PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE")
_REQUEST_EXAMPLE: Final = {
    "name": "Yoga class",
    "description": "Bring a mat.",
    "location": "Studio 2, Hauptstr. 1, Berlin",
    "timeZone": "Europe/Berlin",
    "periodMinutes": 60,
    "capacity": 12,
    "bufferAfterMinutes": 15,
    "minimumNoticeMinutes": 120,
    "bookingHorizonDays": 60,
    "weeklyHours": [
        {"weekday": "tuesday", "from": "18:00", "to": "20:00"},
        {"weekday": "thursday", "from": "18:00", "to": "20:00"},
    ],
    "dateExceptions": ["2026-12-24", "2026-12-31"],
    "customSlug": "yoga-tuesdays",
}
_EVENT_TYPE_EXAMPLE: Final = {
    "id": schemas.EXAMPLE_EVENT_TYPE,
    "providerId": EXAMPLE_PROVIDER,
    **_REQUEST_EXAMPLE,
    "bufferBeforeMinutes": 0,
    "datedWindows": [],
    "allowMultiplePlacesPerGuest": False,
    "slug": schemas.EXAMPLE_SLUG,
    "bookingUrl": "http://localhost:8080/book/yoga-tuesdays",
    "active": True,
    "version": 1,
    "createdAt": "2026-12-01T10:00:00Z",
    "updatedAt": "2026-12-01T10:00:00Z",
}
_PUBLIC_EXAMPLE: Final = {
    "slug": schemas.EXAMPLE_SLUG,
    "customSlug": "yoga-tuesdays",
    "name": "Yoga class",
    "description": "Bring a mat.",
    "location": "Studio 2, Hauptstr. 1, Berlin",
    "timeZone": "Europe/Berlin",
    "periodMinutes": 60,
    "capacity": 12,
    "minimumNoticeMinutes": 120,
    "bookingHorizonDays": 60,
    "providerName": "Demo Clinic",
    "bookingUrl": "http://localhost:8080/book/yoga-tuesdays",
}
_GUEST_BOOKING_EXAMPLE: Final = {
    "id": EXAMPLE_BOOKING,
    "reference": "7KQ2M9XD",
    "status": "confirmed",
    "startTime": "2026-12-08T17:00:00Z",
    "endTime": "2026-12-08T18:00:00Z",
    "createdAt": "2026-12-01T10:00:00Z",
    "guest": {
        "firstName": "Ada",
        "lastName": "Lovelace",
        "email": "ada@example.com",
        "phone": "+4930123456",
    },
    "eventType": _PUBLIC_EXAMPLE,
}


# apispec's marshmallow plugin consumes a schema parameter's dict: a new one per use.
def _id_param() -> dict[str, Any]:
    return {"in": "path", "schema": schemas.EventTypePath}


def _slug_param() -> dict[str, Any]:
    return {"in": "path", "schema": schemas.SlugPath}


def _manage_params() -> list[dict[str, Any]]:
    return [
        {"in": "path", "schema": schemas.ReferencePath},
        {"in": "query", "schema": schemas.ManageQuery},
    ]


def _body(schema: str, example: Any, *, required: bool = True, merge_patch: bool = False) -> Any:
    media = {"schema": schema, "example": example}
    content = {"application/json": media}
    if merge_patch:
        content["application/merge-patch+json"] = media
    return {"required": required, "content": content}


def _provider_operation(
    summary: str, success: dict[str, Any], *errors: str, **extra: Any
) -> dict[str, Any]:
    return operation(summary, success, ("FORBIDDEN", *errors, *UPSTREAM), **extra)


def _public_operation(
    summary: str, success: dict[str, Any], *errors: str, **extra: Any
) -> dict[str, Any]:
    return operation(summary, success, (*errors, *UPSTREAM), authenticated=False, **extra)


def add_paths(spec: APISpec) -> None:
    """Add the event-type operations to ``spec`` (schemas registered by the caller)."""
    one = json_content("EventTypeEnvelope", "The event type.", {"eventType": _EVENT_TYPE_EXAMPLE})
    spec.path(
        path="/event-types",
        operations={
            "post": _provider_operation(
                "Create an event type (provider)",
                {
                    "201": json_content(
                        "EventTypeEnvelope",
                        "Created, with a new random slug.",
                        {"eventType": _EVENT_TYPE_EXAMPLE},
                        "Location",
                    )
                },
                "VALIDATION_FAILED",
                "SLUG_TAKEN",
                *BODY_ERRORS,
                requestBody=_body("EventTypeRequest", _REQUEST_EXAMPLE),
            ),
            "get": _provider_operation(
                "List my event types (provider), oldest first",
                {
                    "200": json_content(
                        "EventTypePage",
                        "One page.",
                        {"items": [_EVENT_TYPE_EXAMPLE], "nextCursor": None},
                    )
                },
                "VALIDATION_FAILED",
                parameters=[{"in": "query", "schema": schemas.ListEventTypesQuery}],
            ),
        },
    )
    spec.path(
        path="/event-types/{id}",
        operations={
            "get": _provider_operation(
                "Read one of my event types",
                {"200": one},
                "VALIDATION_FAILED",
                "NOT_FOUND",
                parameters=[_id_param()],
            ),
            "patch": _provider_operation(
                "Change an event type (JSON Merge Patch); bookings are never touched",
                {"200": one},
                "VALIDATION_FAILED",
                "NOT_FOUND",
                "SLUG_TAKEN",
                *BODY_ERRORS,
                parameters=[_id_param()],
                requestBody=_body(
                    "EventTypePatch", {"capacity": 15, "customSlug": None}, merge_patch=True
                ),
            ),
        },
    )
    for action, summary in (
        ("deactivate", "Deactivate: its public link answers 404; its bookings stay"),
        ("activate", "Activate again"),
    ):
        spec.path(
            path=f"/event-types/{{id}}/{action}",
            operations={
                "post": _provider_operation(
                    summary,
                    {"200": one},
                    "VALIDATION_FAILED",
                    "NOT_FOUND",
                    parameters=[_id_param()],
                )
            },
        )
    spec.path(
        path="/public/event-types/{slug}",
        operations={
            "get": _public_operation(
                "An event type as guests see it (random or custom slug)",
                {
                    "200": json_content(
                        "PublicEventTypeEnvelope", "The event type.", {"eventType": _PUBLIC_EXAMPLE}
                    )
                },
                "VALIDATION_FAILED",
                "NOT_FOUND",
                parameters=[_slug_param()],
            )
        },
    )
    spec.path(
        path="/public/event-types/{slug}/slots",
        operations={
            "get": _public_operation(
                "The slots a guest may book in a range (at most 62 days)",
                {
                    "200": json_content(
                        "SlotList",
                        "Offered slots, ascending.",
                        {
                            "timeZone": "Europe/Berlin",
                            "slots": [
                                {
                                    "start": "2026-12-08T18:00:00+01:00",
                                    "end": "2026-12-08T19:00:00+01:00",
                                    "capacity": 12,
                                    "remaining": 7,
                                }
                            ],
                        },
                    )
                },
                "VALIDATION_FAILED",
                "NOT_FOUND",
                parameters=[_slug_param(), {"in": "query", "schema": schemas.SlotsQuery}],
            )
        },
    )
    created = {"bookingId": EXAMPLE_BOOKING, "reference": "7KQ2M9XD", "manageUrl": "..."}
    spec.path(
        path="/public/event-types/{slug}/bookings",
        operations={
            "post": _public_operation(
                "Book a place in a slot as a guest (no account)",
                {
                    "201": json_content("PublicBookingCreated", "Booked.", created, "Location"),
                    "200": json_content(
                        "PublicBookingCreated",
                        "Idempotent replay of an earlier identical request.",
                        created,
                        "Location",
                        "Idempotent-Replayed",
                    ),
                },
                "VALIDATION_FAILED",
                "NOT_FOUND",
                "SLOT_UNAVAILABLE",
                "SLOT_FULL",
                "GUEST_ALREADY_BOOKED",
                "IDEMPOTENCY_KEY_REUSED",
                "IDEMPOTENCY_IN_PROGRESS",
                *BODY_ERRORS,
                parameters=[
                    _slug_param(),
                    {
                        "in": "header",
                        "name": "Idempotency-Key",
                        "required": False,
                        "description": "Retries with the same key and body return the original.",
                        "schema": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": 255,
                            "pattern": "^[\\x21-\\x7e]+$",
                        },
                    },
                ],
                requestBody=_body(
                    "PublicBookingRequest",
                    {
                        "slotStart": "2026-12-08T18:00:00+01:00",
                        "firstName": "Ada",
                        "lastName": "Lovelace",
                        "email": "ada@example.com",
                        "phone": "+49 30 123456",
                        "specialRequests": "First time: is a mat provided?",
                    },
                ),
            )
        },
    )
    guest_booking = json_content(
        "GuestBookingEnvelope", "The booking.", {"booking": _GUEST_BOOKING_EXAMPLE}
    )
    spec.path(
        path="/public/bookings/{reference}",
        operations={
            "get": _public_operation(
                "A guest booking through its manage link",
                {"200": guest_booking},
                "VALIDATION_FAILED",
                "NOT_FOUND",
                parameters=_manage_params(),
            )
        },
    )
    spec.path(
        path="/public/bookings/{reference}/cancel",
        operations={
            "post": _public_operation(
                "Cancel a guest booking through its manage link",
                {"200": guest_booking},
                "VALIDATION_FAILED",
                "NOT_FOUND",
                "BOOKING_NOT_CANCELLABLE",
                *BODY_ERRORS,
                parameters=_manage_params(),
                requestBody=_body(
                    "CancelBookingRequest", {"reason": "cannot make it"}, required=False
                ),
            )
        },
    )
