"""Pieces of the OpenAPI document every part uses: response headers, problem responses
per status (with an example of each code), JSON responses and operations."""

from __future__ import annotations

from typing import Any, Final

from bookings_web.problems import CODES, problem_type
from bookings_web.ratelimit import RATE_LIMIT_HEADERS

PROBLEM_JSON: Final = "application/problem+json"

_HEADER = {"schema": {"type": "string"}}
_INT_HEADER = {"schema": {"type": "integer", "minimum": 0}}
HEADERS: Final = {
    "X-Request-ID": {
        "description": "The client's X-Request-ID if sane, else a new one.",
        **_HEADER,
    },
    "Location": {"description": "Path of the booking.", **_HEADER},
    "Idempotent-Replayed": {
        "description": "true when an idempotency key matched an earlier request.",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "Retry-After": {"description": "Seconds to wait before retrying.", **_INT_HEADER},
    "RateLimit-Limit": {"description": "Requests allowed per minute.", **_INT_HEADER},
    "RateLimit-Remaining": {"description": "Requests left now.", **_INT_HEADER},
    "RateLimit-Reset": {"description": "Seconds until the allowance is full.", **_INT_HEADER},
}
# Which problems each kind of operation can answer, beyond its own.
_COMMON_ERRORS: Final = ("UNAUTHENTICATED", "RATE_LIMITED", "INTERNAL")


def ref(kind: str, name: str) -> dict[str, str]:
    """A ``$ref`` to ``#/components/{kind}/{name}``."""
    return {"$ref": f"#/components/{kind}/{name}"}


def response_headers(*names: str) -> dict[str, Any]:
    """``X-Request-ID`` (on every response) and ``names``, as component references."""
    return {name: ref("headers", name) for name in ("X-Request-ID", *names)}


def problem_responses(*codes: str) -> dict[str, Any]:
    """Problem responses keyed by HTTP status; codes sharing a status share one entry."""
    by_status: dict[int, list[str]] = {}
    for code in codes:
        by_status.setdefault(CODES[code][0], []).append(code)
    responses: dict[str, Any] = {}
    for status, grouped in sorted(by_status.items()):
        extra: tuple[str, ...] = ()
        if status == 429:
            extra = (*RATE_LIMIT_HEADERS, "Retry-After")
        elif status == 503:
            extra = ("Retry-After",)
        responses[str(status)] = {
            "description": " or ".join(f"{code}: {CODES[code][1]}" for code in grouped),
            "headers": response_headers(*extra),
            "content": {
                PROBLEM_JSON: {
                    "schema": "Problem",
                    "examples": {
                        code: {
                            "value": {
                                "type": problem_type(code),
                                "title": CODES[code][1],
                                "status": status,
                                "detail": CODES[code][1],
                                "code": code,
                                "requestId": "5f0c6a52-7d1b-4a8e-9d4e-2f7f3b8c1a90",
                                **(
                                    {"errors": [{"field": "startTime", "message": "Not valid."}]}
                                    if code == "VALIDATION_FAILED"
                                    else {}
                                ),
                            }
                        }
                        for code in grouped
                    },
                }
            },
        }
    return responses


def json_content(schema: str, description: str, example: Any, *headers: str) -> dict[str, Any]:
    """A JSON response of ``schema`` with an example and the named headers."""
    return {
        "description": description,
        "headers": response_headers(*headers),
        "content": {"application/json": {"schema": schema, "example": example}},
    }


def operation(
    summary: str,
    success: dict[str, Any],
    errors: tuple[str, ...],
    *,
    authenticated: bool = True,
    **extra: Any,
) -> dict[str, Any]:
    """An operation: its success responses, its own problems and the common ones
    (authenticated: 401, 429, 500; public: 429, 500 and ``security: []``)."""
    codes = (*errors, *_COMMON_ERRORS) if authenticated else ("RATE_LIMITED", *errors, "INTERNAL")
    built: dict[str, Any] = {
        "summary": summary,
        "responses": {**success, **problem_responses(*codes)},
        **extra,
    }
    if not authenticated:
        built["security"] = []
    return built
