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
| ALREADY_EXISTS | 409 BOOKING_OVERLAP |
| FAILED_PRECONDITION | 409 BOOKING_NOT_CANCELLABLE or 422 IDEMPOTENCY_KEY_REUSED, by reason |
| UNAVAILABLE, connection errors | 503 UPSTREAM_UNAVAILABLE |
| DEADLINE_EXCEEDED, our deadline | 504 UPSTREAM_TIMEOUT |
| anything else | 500, logged |
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime
from typing import Any, Final, TypeVar

from bookings_common.grpc import error_reason, is_serving
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
_PRECONDITION_REASONS: Final = frozenset({"IDEMPOTENCY_KEY_REUSED", "BOOKING_NOT_CANCELLABLE"})


def camel_case(name: str) -> str:
    """``start_time`` -> ``startTime``; dotted paths are converted part by part."""
    parts = []
    for segment in name.split("."):
        head, *rest = segment.split("_")
        parts.append(head + "".join(word.capitalize() for word in rest))
    return ".".join(parts)


def problem_from_grpc(exc: GRPCError) -> ProblemError:
    """Map a booking-core error to the contract's problem (see the module table)."""
    message = exc.message or ""
    if exc.status is Status.INVALID_ARGUMENT:
        field, sep, text = message.partition(": ")
        if sep and field.replace("_", "").replace(".", "").isalnum():
            return ValidationFailed([FieldError(camel_case(field), text)])
        return ValidationFailed([FieldError("body", message or "invalid request")])
    if exc.status in _STATUS_CODES:
        return ProblemError(_STATUS_CODES[exc.status], message or exc.status.name)
    if exc.status is Status.FAILED_PRECONDITION:
        reason = error_reason(exc)
        if reason in _PRECONDITION_REASONS:
            return ProblemError(reason, message)
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
        try:
            return await call
        except GRPCError as exc:
            raise problem_from_grpc(exc) from None
        except TimeoutError:
            raise ProblemError("UPSTREAM_TIMEOUT", "booking-core did not answer in time") from None
        except (OSError, StreamTerminatedError, ProtocolError) as exc:
            log.warning("upstream.unreachable", error=repr(exc))
            raise ProblemError(
                "UPSTREAM_UNAVAILABLE", "booking-core is unavailable", headers=_UNAVAILABLE_HEADERS
            ) from None
