"""Errors as ``application/problem+json`` (RFC 9457), with the contract's stable codes.

A handler or middleware raises ``ProblemError`` (or one of its subclasses);
``problem_middleware`` renders it, turns aiohttp's own HTTP errors (404, 405,
413, ...) into the same shape, and answers anything unexpected with a generic
500 after logging it with the request id. No stack trace, SQL or exception
text ever reaches a client.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from bookings_common.logging import current_request_id, get_logger

PROBLEM_CONTENT_TYPE: Final = "application/problem+json"
log = get_logger("bookings_web.problems")

# code -> (HTTP status, title). The contract's codes first, then the ones the
# HTTP layer itself needs (unknown route, wrong method, body too large, ...).
CODES: Final[Mapping[str, tuple[int, str]]] = {
    "VALIDATION_FAILED": (400, "Validation failed"),
    "UNAUTHENTICATED": (401, "Authentication required"),
    "FORBIDDEN": (403, "Forbidden"),
    "NOT_FOUND": (404, "Not found"),
    "BOOKING_OVERLAP": (409, "Booking overlaps another booking"),
    "BOOKING_NOT_CANCELLABLE": (409, "Booking cannot be cancelled"),
    "SLOT_UNAVAILABLE": (409, "Slot not available"),
    "SLOT_FULL": (409, "Slot full"),
    "GUEST_ALREADY_BOOKED": (409, "Guest already booked this slot"),
    "SLUG_TAKEN": (409, "Slug taken"),
    "EMAIL_TAKEN": (409, "Email address taken"),
    "TEAM_IN_USE": (409, "Team in use"),
    "SEAT_UNAVAILABLE": (409, "Seats not available"),
    "SALES_CLOSED": (409, "Sales closed"),
    "BOOKING_NOT_PAYABLE": (409, "Booking cannot be paid"),
    "BOOKING_NOT_REFUNDABLE": (409, "Booking cannot be refunded"),
    "IDEMPOTENCY_KEY_REUSED": (422, "Idempotency key reused"),
    "IDEMPOTENCY_IN_PROGRESS": (409, "Idempotency key in use"),
    "RATE_LIMITED": (429, "Too many requests"),
    "TOO_MANY_CONNECTIONS": (429, "Too many connections"),
    "UPSTREAM_UNAVAILABLE": (503, "Upstream unavailable"),
    "UPSTREAM_TIMEOUT": (504, "Upstream timeout"),
    "METHOD_NOT_ALLOWED": (405, "Method not allowed"),
    "PAYLOAD_TOO_LARGE": (413, "Payload too large"),
    "UNSUPPORTED_MEDIA_TYPE": (415, "Unsupported media type"),
    "INTERNAL": (500, "Internal server error"),
}
_HTTP_STATUS_CODES: Final[Mapping[int, str]] = {
    400: "VALIDATION_FAILED",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMITED",
}
# Headers of aiohttp's own HTTP errors that must survive the conversion.
_KEPT_HEADERS: Final = ("Allow", "Retry-After", "WWW-Authenticate")


@dataclass(frozen=True, slots=True)
class FieldError:
    """One invalid input: ``field`` is the JSON name (``startTime``) or a location (``body``)."""

    field: str
    message: str


class ProblemError(Exception):
    """An error a client should see: ``code`` is a key of ``CODES``, ``detail`` is safe to show.

    ``errors`` lists invalid fields (validation only); ``headers`` are added to
    the response (``Retry-After``, ``WWW-Authenticate``, rate-limit headers);
    ``extensions`` are extra members of the problem (RFC 9457, section 3.2), such as
    ``seatIds`` of ``SEAT_UNAVAILABLE``.
    """

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
        extensions: Mapping[str, Any] | None = None,
    ) -> None:
        if code not in CODES:
            raise ValueError(f"unknown problem code {code!r}")
        super().__init__(detail)
        self.code = code
        self.status, self.title = CODES[code]
        self.detail = detail
        self.errors = tuple(errors)
        self.headers = dict(headers or {})
        self.extensions = dict(extensions or {})


class ValidationFailed(ProblemError):
    """400 ``VALIDATION_FAILED`` listing each bad field."""

    def __init__(self, errors: Sequence[FieldError], detail: str = "") -> None:
        super().__init__(
            "VALIDATION_FAILED",
            detail or "invalid " + ", ".join(dict.fromkeys(e.field for e in errors)) or "invalid",
            errors=errors,
        )


class AuthenticationFailed(ProblemError):
    """401 ``UNAUTHENTICATED``; ``reason`` is logged, the client sees a short detail.

    Carries ``WWW-Authenticate: Bearer error="invalid_token"`` (RFC 6750, section 3).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(
            "UNAUTHENTICATED",
            reason,
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
        self.reason = reason


def problem_type(code: str) -> str:
    """The problem ``type`` URI (RFC 9457) of a code.

    ``BOOKING_OVERLAP`` -> ``urn:bookings:problem:booking-overlap``.
    """
    return f"urn:bookings:problem:{code.lower().replace('_', '-')}"


def problem_response(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    errors: Sequence[FieldError] = (),
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> web.Response:
    """Render ``{type, title, status, detail, code, requestId[, errors][, extensions]}`` as
    problem+json."""
    body: dict[str, Any] = {**(extensions or {})}
    body |= {
        "type": problem_type(code),
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "requestId": current_request_id(),
    }
    if errors:
        body["errors"] = [{"field": e.field, "message": e.message} for e in errors]
    return web.Response(
        status=status,
        text=json.dumps(body),
        content_type=PROBLEM_CONTENT_TYPE,
        headers=dict(headers or {}),
    )


def render(problem: ProblemError) -> web.Response:
    """The response for a raised ``ProblemError``."""
    return problem_response(
        problem.status,
        problem.code,
        problem.title,
        problem.detail,
        errors=problem.errors,
        headers=problem.headers,
        extensions=problem.extensions,
    )


def _from_http_exception(exc: web.HTTPException) -> web.Response:
    code = _HTTP_STATUS_CODES.get(exc.status)
    if code is None:  # a status the contract has no code for (rare: 406, 408, 5xx)
        code = "INTERNAL" if exc.status >= 500 else "VALIDATION_FAILED"
    status = exc.status if exc.status in _HTTP_STATUS_CODES or exc.status >= 500 else 400
    title = CODES[code][1]
    headers = {name: exc.headers[name] for name in _KEPT_HEADERS if name in exc.headers}
    detail = exc.reason if status < 500 else title
    return problem_response(status, code, title, detail, headers=headers)


def problem_for(request: web.Request, exc: Exception) -> web.Response:
    """The problem+json answer to an exception a handler raised, logging unexpected ones
    once with the request id; an ``HTTPException`` below 400 (a redirect) is raised
    again, to pass through."""
    if isinstance(exc, AuthenticationFailed):
        log.info("auth.rejected", reason=exc.reason, path=request.path)
        return render(exc)
    if isinstance(exc, ProblemError):
        return render(exc)
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            raise exc
        return _from_http_exception(exc)
    if isinstance(exc, ConnectionResetError | HttpProcessingError):
        # The body was cut off (the client went away) or badly framed: the client's
        # fault, worth one compact line, not a traceback.
        log.info("http.body_aborted", method=request.method, path=request.path, error=str(exc))
        return problem_response(
            400, "VALIDATION_FAILED", CODES["VALIDATION_FAILED"][1], "the request body ended early"
        )
    log.error("request.failed", method=request.method, path=request.path, exc_info=exc)
    return problem_response(500, "INTERNAL", CODES["INTERNAL"][1], "Internal server error")


@web.middleware
async def problem_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Render every error as problem+json (``problem_for``). ``HttpMetrics(problems=True)``
    does the same in the outermost middleware, a frame fewer per open stream."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except Exception as exc:
        return problem_for(request, exc)
