"""booking-core as the gateway sees it: one betterproto2 stub over one grpclib channel.

Every call has a deadline (``CORE_DEADLINE_SECONDS``) and acts as the caller's
principal, so booking-core enforces ownership. gRPC failures become
``ProblemError``s here, at the edge (AIP-193 ``ErrorInfo.reason`` first, then
the status code):

| gRPC | HTTP |
|---|---|
| INVALID_ARGUMENT | 400 VALIDATION_FAILED (the field, camelCased) |
| PERMISSION_DENIED | 403 FORBIDDEN |
| NOT_FOUND | 404 NOT_FOUND |
| ALREADY_EXISTS | 409 BOOKING_OVERLAP; by reason 409 GUEST_ALREADY_BOOKED, SLUG_TAKEN |
| FAILED_PRECONDITION | by reason: 409 BOOKING_NOT_CANCELLABLE, SLOT_UNAVAILABLE, SLOT_FULL, |
| | 422 IDEMPOTENCY_KEY_REUSED |
| ABORTED | by reason: 409 IDEMPOTENCY_IN_PROGRESS (with Retry-After) |
| UNAVAILABLE, connection errors | 503 UPSTREAM_UNAVAILABLE |
| DEADLINE_EXCEEDED, our deadline | 504 UPSTREAM_TIMEOUT |
| anything else | 500, logged |
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Mapping
from datetime import datetime
from typing import Any, Final, TypeVar

from bookings_common.grpc import error_metadata, error_reason, is_serving
from bookings_common.logging import get_logger
from bookings_proto.bookings import v1 as pb
from bookings_web.auth import Principal
from bookings_web.grpc import actor
from bookings_web.problems import FieldError, ProblemError, ValidationFailed
from grpclib.client import Channel
from grpclib.const import Status
from grpclib.exceptions import GRPCError, ProtocolError, StreamTerminatedError

T = TypeVar("T")
log = get_logger("gateway.upstream")

READY_TIMEOUT_SECONDS: Final = 1.0
_UNAVAILABLE_HEADERS: Final = {"Retry-After": "1"}
_STATUS_CODES: Final = {
    Status.PERMISSION_DENIED: "FORBIDDEN",
    Status.NOT_FOUND: "NOT_FOUND",
    Status.ALREADY_EXISTS: "BOOKING_OVERLAP",
}
# booking-core's ErrorInfo reasons that are REST problem codes as they are.
_DOMAIN_REASONS: Final = frozenset(
    {
        "BOOKING_OVERLAP",
        "BOOKING_NOT_CANCELLABLE",
        "IDEMPOTENCY_KEY_REUSED",
        "IDEMPOTENCY_IN_PROGRESS",
        "SLOT_UNAVAILABLE",
        "SLOT_FULL",
        "GUEST_ALREADY_BOOKED",
        "SLUG_TAKEN",
        "EMAIL_TAKEN",
        "TEAM_IN_USE",
        "SALES_CLOSED",
        "BOOKING_NOT_PAYABLE",
        "BOOKING_NOT_REFUNDABLE",
        "UNAUTHENTICATED",
        "RATE_LIMITED",
    }
)
# A proto field path: snake_case names, an optional [index] each, joined by dots.
_FIELD_PATH: Final = re.compile(r"[a-z][a-z0-9_]*(\[\d+\])?(\.[a-z][a-z0-9_]*(\[\d+\])?)*")


def camel_case(name: str) -> str:
    """``start_time`` -> ``startTime``; dotted paths are converted part by part."""
    parts = []
    for segment in name.split("."):
        head, *rest = segment.split("_")
        parts.append(head + "".join(word.capitalize() for word in rest))
    return ".".join(parts)


def rest_field(proto_path: str, renames: Mapping[str, str]) -> str:
    """The REST name of a proto field path: ``renames`` maps a leading part of the path
    (``guest.``) or a whole segment (``to_time``) to its REST name, then the rest is
    camelCased (``weekly_hours[2].to_time`` -> ``weeklyHours[2].to``)."""
    for prefix, replacement in renames.items():
        if prefix.endswith(".") and proto_path.startswith(prefix):
            proto_path = replacement + proto_path.removeprefix(prefix)
    segments = []
    for segment in proto_path.split("."):
        name, bracket, index = segment.partition("[")
        segments.append(renames.get(name, name) + bracket + index)
    return camel_case(".".join(segments))


def problem_from_grpc(exc: GRPCError, renames: Mapping[str, str] | None = None) -> ProblemError:
    """Map a booking-core error to the contract's problem (see the module table);
    ``renames`` gives the REST names of proto fields that differ (see ``rest_field``)."""
    message = exc.message or ""
    if exc.status is Status.INVALID_ARGUMENT:
        field, sep, text = message.partition(": ")
        if sep and _FIELD_PATH.fullmatch(field):
            return ValidationFailed([FieldError(rest_field(field, renames or {}), text)])
        return ValidationFailed([FieldError("body", message or "invalid request")])
    reason = error_reason(exc)
    if reason == "SEAT_UNAVAILABLE":
        taken = [s for s in error_metadata(exc).get("seatIds", "").split(",") if s]
        return ProblemError(reason, message, extensions={"seatIds": taken})
    if reason in _DOMAIN_REASONS:
        retry = error_metadata(exc).get("retryAfter", "")
        headers = {"Retry-After": retry} if retry.isdigit() else None
        return ProblemError(reason, message, headers=headers)
    if exc.status in _STATUS_CODES:
        return ProblemError(_STATUS_CODES[exc.status], message or exc.status.name)
    if exc.status in (Status.UNAVAILABLE, Status.CANCELLED, Status.RESOURCE_EXHAUSTED):
        return ProblemError(
            "UPSTREAM_UNAVAILABLE", "booking-core is unavailable", headers=_UNAVAILABLE_HEADERS
        )
    if exc.status is Status.DEADLINE_EXCEEDED:
        return ProblemError("UPSTREAM_TIMEOUT", "booking-core did not answer in time")
    log.error("upstream.unexpected_status", status=exc.status.name, reason=error_reason(exc))
    return ProblemError("INTERNAL", "Internal server error")


def booking_data(booking: pb.Booking | None) -> dict[str, Any]:
    """A protobuf booking as the ``Booking`` schema's input (snake_case, aware datetimes)."""
    if booking is None:  # booking-core always sets it; guard the contract anyway
        raise ProblemError("INTERNAL", "Internal server error")
    data: dict[str, Any] = {
        "id": booking.id,
        "provider_id": booking.provider_id,
        "customer_id": booking.customer_id,
        "start_time": booking.start_time,
        "end_time": booking.end_time,
        "status": "cancelled" if booking.status == pb.BookingStatus.CANCELLED else "confirmed",
        "created_at": booking.created_at,
        "updated_at": booking.updated_at,
    }
    if booking.status == pb.BookingStatus.CANCELLED:
        data["cancelled_at"] = booking.cancelled_at
        if booking.cancel_reason:
            data["cancel_reason"] = booking.cancel_reason
    if booking.event_type_id:
        data["event_type_id"] = booking.event_type_id
    if booking.reference:
        data["reference"] = booking.reference
    if booking.guest is not None:
        data["guest"] = guest_data(booking.guest)
    return data


def guest_data(guest: pb.Guest) -> dict[str, Any]:
    """A protobuf guest as the ``Guest`` schema's input (empty optional fields left out)."""
    data = {
        "first_name": guest.first_name,
        "last_name": guest.last_name,
        "email": guest.email,
        "phone": guest.phone,
    }
    if guest.address:
        data["address"] = guest.address
    if guest.special_requests:
        data["special_requests"] = guest.special_requests
    return data


class CoreClient:
    """The calls the REST API makes; each raises ``ProblemError`` on failure."""

    def __init__(self, channel: Channel, *, deadline_seconds: float) -> None:
        self._stub = pb.BookingServiceStub(channel, timeout=deadline_seconds)
        self._channel = channel

    async def create_booking(
        self,
        principal: Principal,
        *,
        provider_id: str,
        customer_id: str,
        start_time: datetime,
        end_time: datetime,
        idempotency_key: str | None,
    ) -> pb.CreateBookingResponse:
        """``CreateBooking``; ``replayed`` tells an idempotent replay from a new booking."""
        return await self._call(
            self._stub.create_booking(
                pb.CreateBookingRequest(
                    actor=actor(principal),
                    provider_id=provider_id,
                    customer_id=customer_id,
                    start_time=start_time,
                    end_time=end_time,
                    idempotency_key=idempotency_key or "",
                )
            )
        )

    async def get_booking(self, principal: Principal, booking_id: str) -> pb.Booking | None:
        """``GetBooking`` (404 when it is not the caller's)."""
        reply = await self._call(
            self._stub.get_booking(
                pb.GetBookingRequest(actor=actor(principal), booking_id=booking_id)
            )
        )
        return reply.booking

    async def list_bookings(
        self, principal: Principal, *, upcoming: bool, cursor: str | None, limit: int
    ) -> pb.ListBookingsResponse:
        """``ListBookings`` of the caller's own bookings."""
        return await self._call(
            self._stub.list_bookings(
                pb.ListBookingsRequest(
                    actor=actor(principal),
                    type=pb.ListType.UPCOMING if upcoming else pb.ListType.PAST,
                    cursor=cursor or "",
                    limit=limit,
                )
            )
        )

    async def cancel_booking(
        self, principal: Principal, booking_id: str, reason: str | None
    ) -> pb.Booking | None:
        """``CancelBooking``; cancelling a cancelled booking returns it unchanged."""
        reply = await self._call(
            self._stub.cancel_booking(
                pb.CancelBookingRequest(
                    actor=actor(principal), booking_id=booking_id, reason=reason or ""
                )
            )
        )
        return reply.booking

    async def is_serving(self) -> bool:
        """True when booking-core's gRPC health says SERVING within one second."""
        return await is_serving(self._channel, within_seconds=READY_TIMEOUT_SECONDS)

    async def _call(self, call: Awaitable[T]) -> T:
        return await call_core(call)


async def call_core(call: Awaitable[T], renames: Mapping[str, str] | None = None) -> T:
    """Await a booking-core call; its failures raise ``ProblemError`` (the module table)."""
    try:
        return await call
    except GRPCError as exc:
        raise problem_from_grpc(exc, renames) from None
    except TimeoutError:
        raise ProblemError("UPSTREAM_TIMEOUT", "booking-core did not answer in time") from None
    except (OSError, StreamTerminatedError, ProtocolError) as exc:
        log.warning("upstream.unreachable", error=repr(exc))
        raise ProblemError(
            "UPSTREAM_UNAVAILABLE", "booking-core is unavailable", headers=_UNAVAILABLE_HEADERS
        ) from None
