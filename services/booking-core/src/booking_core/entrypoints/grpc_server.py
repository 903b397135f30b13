"""gRPC edge of booking-core: parse protos into commands, call the service, map errors.

``CallGuard`` hooks grpclib's server events: it checks ``x-internal-token`` on
every call except the standard health service (so orchestrators can probe it),
binds ``requestId`` for the call, refuses new calls while draining, and logs
one JSON line per call with method, status, duration and request id.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import json
import time
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar
from uuid import UUID

import betterproto2
import structlog
from bookings_common import tracing
from bookings_common.grpc import INTERNAL_TOKEN_HEADER, REQUEST_ID_HEADER, error
from bookings_common.logging import bind_request_id, get_logger, sane_request_id
from bookings_proto.bookings import v1 as pb
from grpclib.const import Status
from grpclib.events import RecvRequest, SendTrailingMetadata
from grpclib.exceptions import GRPCError
from opentelemetry.trace import Span, SpanKind

from booking_core.domain import commands
from booking_core.domain.errors import (
    BookingError,
    BookingNotCancellable,
    BookingNotPayable,
    BookingNotRefundable,
    BookingOverlap,
    EmailTaken,
    GuestAlreadyBooked,
    IdempotencyInProgress,
    IdempotencyKeyReused,
    InvalidArgument,
    InvalidCredentials,
    NotFound,
    PermissionDenied,
    SalesClosed,
    SeatUnavailable,
    SignInUnavailable,
    SlotFull,
    SlotUnavailable,
    SlugTaken,
    TeamInUse,
    TooManyAttempts,
    Unavailable,
)
from booking_core.domain.guests import Guest
from booking_core.domain.model import (
    Actor,
    Booking,
    BookingStatus,
    ClaimOutcome,
    ListType,
    LoggedEvent,
    TimeSlot,
)
from booking_core.service_layer.handlers import BookingService

log = get_logger("booking_core.grpc")

_STATUS_OF: dict[type[BookingError], Status] = {
    InvalidArgument: Status.INVALID_ARGUMENT,
    PermissionDenied: Status.PERMISSION_DENIED,
    NotFound: Status.NOT_FOUND,
    BookingOverlap: Status.ALREADY_EXISTS,
    IdempotencyKeyReused: Status.FAILED_PRECONDITION,
    # AIP-193: ABORTED is a concurrency conflict the client retries.
    IdempotencyInProgress: Status.ABORTED,
    BookingNotCancellable: Status.FAILED_PRECONDITION,
    SlotUnavailable: Status.FAILED_PRECONDITION,
    SlotFull: Status.FAILED_PRECONDITION,
    GuestAlreadyBooked: Status.ALREADY_EXISTS,
    SlugTaken: Status.ALREADY_EXISTS,
    EmailTaken: Status.ALREADY_EXISTS,
    TeamInUse: Status.FAILED_PRECONDITION,
    InvalidCredentials: Status.UNAUTHENTICATED,
    TooManyAttempts: Status.RESOURCE_EXHAUSTED,
    SignInUnavailable: Status.UNAVAILABLE,
    Unavailable: Status.UNAVAILABLE,
    SeatUnavailable: Status.ALREADY_EXISTS,
    SalesClosed: Status.FAILED_PRECONDITION,
    BookingNotPayable: Status.FAILED_PRECONDITION,
    BookingNotRefundable: Status.FAILED_PRECONDITION,
}
_call_method: ContextVar[str] = ContextVar("call_method", default="?")
_call_started: ContextVar[float] = ContextVar("call_started", default=0.0)
_call_span: ContextVar[tuple[Span, object] | None] = ContextVar("call_span", default=None)
HEALTH_PREFIX = "/grpc.health.v1.Health/"


class CallGuard:
    """Authentication, request ids, call logging and drain bookkeeping for one server."""

    def __init__(self, internal_token: str) -> None:
        self._token = internal_token.encode()
        self.draining = False
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def on_recv_request(self, event: RecvRequest) -> None:
        structlog.contextvars.clear_contextvars()
        _call_started.set(time.perf_counter())
        _call_method.set(event.method_name)
        raw_id = event.metadata.get(REQUEST_ID_HEADER)
        request_id = sane_request_id(raw_id if isinstance(raw_id, str) else None)
        bind_request_id(request_id)
        if event.method_name.startswith(HEALTH_PREFIX):
            return
        token = event.metadata.get(INTERNAL_TOKEN_HEADER)
        if not isinstance(token, str) or not hmac.compare_digest(token.encode(), self._token):
            raise GRPCError(Status.UNAUTHENTICATED, "missing or invalid x-internal-token")
        if self.draining:
            raise GRPCError(Status.UNAVAILABLE, "booking-core is shutting down")
        if tracing.enabled():
            # A SERVER span under the caller's traceparent, current for the handler
            # (so the events it writes record it), ended with the call's status.
            _call_span.set(
                tracing.start_span(
                    event.method_name,
                    event.metadata,
                    kind=SpanKind.SERVER,
                    attributes={
                        "rpc.system": "grpc",
                        "rpc.method": event.method_name,
                        "request.id": request_id,
                    },
                )
            )

    async def on_send_trailing_metadata(self, event: SendTrailingMetadata) -> None:
        started = _call_span.get()
        if started is not None:
            _call_span.set(None)
            started[0].set_attribute("rpc.grpc.status_code", event.status.value)
            failed = None if event.status is Status.OK else event.status.name
            tracing.end_span(started, error=failed)
        log.info(
            "grpc.call",
            method=_call_method.get(),
            status=event.status.name,
            durationMs=round((time.perf_counter() - _call_started.get()) * 1000, 2),
        )

    def call_started(self) -> None:
        self.in_flight += 1
        self._idle.clear()

    def call_finished(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self._idle.set()

    async def wait_idle(self) -> None:
        """Return once no call is in flight (bound it with ``asyncio.timeout``)."""
        await self._idle.wait()


class Guarded(Protocol):
    """A servicer whose calls ``rpc`` counts: it holds the server's ``CallGuard``."""

    guard: CallGuard


S = TypeVar("S", bound=Guarded)
M = TypeVar("M")
R = TypeVar("R")


def rpc(
    method: Callable[[S, M], Coroutine[Any, Any, R]],
) -> Callable[[S, M], Coroutine[Any, Any, R]]:
    """Count the call as in flight and map domain errors to gRPC statuses with ErrorInfo."""

    @functools.wraps(method)
    async def wrapper(self: S, message: M) -> R:
        self.guard.call_started()
        try:
            return await method(self, message)
        except BookingError as exc:
            metadata = None
            if isinstance(exc, TooManyAttempts):
                metadata = {"retryAfter": str(exc.retry_after)}
            elif isinstance(exc, IdempotencyInProgress):
                metadata = {"retryAfter": "1"}
            elif isinstance(exc, SeatUnavailable):
                metadata = {"seatIds": ",".join(exc.seat_ids)}
            status = _STATUS_OF.get(type(exc), Status.INTERNAL)
            raise error(status, exc.code, exc.message, metadata) from None
        except GRPCError:
            raise
        except Exception:
            log.exception("grpc.unhandled_error")
            raise GRPCError(Status.INTERNAL, "internal error") from None
        finally:
            self.guard.call_finished()

    return wrapper


def parse_uuid(value: str, field: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise InvalidArgument(field, "must be a UUID") from None


def parse_optional_uuid(value: str, field: str) -> UUID | None:
    return parse_uuid(value, field) if value else None


def parse_time(value: datetime | None, field: str) -> datetime:
    if value is None:
        raise InvalidArgument(field, "is required")
    return value.astimezone(UTC)


def parse_actor(message: pb.Actor | None) -> Actor:
    if message is None:
        raise InvalidArgument("actor", "is required")
    kind, value = betterproto2.which_one_of(message, "identity")
    user_id = parse_optional_uuid(message.user_id, "actor.user_id")
    if kind == "customer_id":
        return Actor.customer(parse_uuid(str(value), "actor.customer_id"))
    if kind == "provider_id":
        return Actor.provider(parse_uuid(str(value), "actor.provider_id"), user_id=user_id)
    if kind == "admin_organisation_id":
        organisation = parse_uuid(str(value), "actor.admin_organisation_id")
        return Actor.admin(organisation, user_id=user_id)
    if kind == "service" and value:
        return Actor.trusted_service(str(value))
    if kind == "guest" and value is True:
        return Actor.guest()
    raise InvalidArgument("actor", "must set one of customer_id, provider_id, service or guest")


def page_limit(value: int, default: int) -> int:
    return default if value == 0 else value


def booking_to_pb(booking: Booking) -> pb.Booking:
    """Map a domain booking to its protobuf message."""
    return pb.Booking(
        id=str(booking.id),
        provider_id=str(booking.provider_id),
        customer_id=str(booking.customer_id),
        start_time=booking.start_time,
        end_time=booking.end_time,
        status=pb.BookingStatus.CONFIRMED
        if booking.status is BookingStatus.CONFIRMED
        else pb.BookingStatus.CANCELLED,
        version=booking.version,
        created_at=booking.created_at,
        updated_at=booking.updated_at,
        cancelled_at=booking.cancelled_at,
        cancel_reason=booking.cancel_reason,
        event_type_id=str(booking.event_type_id) if booking.event_type_id else "",
        reference=booking.reference,
        guest=guest_to_pb(booking.guest) if booking.guest is not None else None,
    )


def guest_to_pb(guest: Guest) -> pb.Guest:
    return pb.Guest(
        first_name=guest.first_name,
        last_name=guest.last_name,
        email=guest.email,
        phone=guest.phone,
        address=guest.address or "",
        special_requests=guest.special_requests or "",
    )


def event_to_pb(event: LoggedEvent) -> pb.Event:
    """Map a logged event to its protobuf message (``data_json`` is the envelope's data).
    A public channel's event names no booking: anyone may read those."""
    return pb.Event(
        id=event.id,
        type=event.type,
        occurred_at=event.occurred_at,
        booking_id="" if event.channel else str(event.booking_id),
        provider_id=str(event.provider_id) if event.provider_id else "",
        customer_id=str(event.customer_id) if event.customer_id else "",
        data_json=json.dumps(event.data, separators=(",", ":")),
        channel=event.channel or "",
    )


class BookingServicer(pb.BookingServiceBase):
    """``bookings.v1.BookingService`` over ``BookingService``."""

    def __init__(self, service: BookingService, guard: CallGuard) -> None:
        self.service = service
        self.guard = guard

    @rpc
    async def create_booking(self, message: pb.CreateBookingRequest) -> pb.CreateBookingResponse:
        result = await self.service.create_booking(
            commands.CreateBooking(
                actor=parse_actor(message.actor),
                provider_id=parse_uuid(message.provider_id, "provider_id"),
                customer_id=parse_uuid(message.customer_id, "customer_id"),
                slot=TimeSlot(
                    parse_time(message.start_time, "start_time"),
                    parse_time(message.end_time, "end_time"),
                ),
                idempotency_key=message.idempotency_key or None,
            )
        )
        return pb.CreateBookingResponse(
            booking=booking_to_pb(result.booking), replayed=result.replayed
        )

    @rpc
    async def get_booking(self, message: pb.GetBookingRequest) -> pb.GetBookingResponse:
        booking = await self.service.get_booking(
            commands.GetBooking(
                parse_actor(message.actor), parse_uuid(message.booking_id, "booking_id")
            )
        )
        return pb.GetBookingResponse(booking=booking_to_pb(booking))

    @rpc
    async def list_bookings(self, message: pb.ListBookingsRequest) -> pb.ListBookingsResponse:
        list_types = {pb.ListType.UPCOMING: ListType.UPCOMING, pb.ListType.PAST: ListType.PAST}
        if message.type not in list_types:
            raise InvalidArgument("type", "must be UPCOMING or PAST")
        page = await self.service.list_bookings(
            commands.ListBookings(
                actor=parse_actor(message.actor),
                list_type=list_types[message.type],
                limit=page_limit(message.limit, 20),
                cursor=message.cursor or None,
                customer_id=parse_optional_uuid(message.customer_id, "customer_id"),
                provider_id=parse_optional_uuid(message.provider_id, "provider_id"),
            )
        )
        return pb.ListBookingsResponse(
            bookings=[booking_to_pb(b) for b in page.bookings], next_cursor=page.next_cursor or ""
        )

    @rpc
    async def cancel_booking(self, message: pb.CancelBookingRequest) -> pb.CancelBookingResponse:
        booking = await self.service.cancel_booking(
            commands.CancelBooking(
                parse_actor(message.actor),
                parse_uuid(message.booking_id, "booking_id"),
                message.reason or None,
            )
        )
        return pb.CancelBookingResponse(booking=booking_to_pb(booking))

    @rpc
    async def register_provider(
        self, message: pb.RegisterProviderRequest
    ) -> pb.RegisterProviderResponse:
        provider = await self.service.register_provider(
            commands.RegisterProvider(
                parse_actor(message.actor),
                message.name,
                message.time_zone,
                parse_optional_uuid(message.organisation_id, "organisation_id"),
            )
        )
        return pb.RegisterProviderResponse(
            provider=pb.Provider(
                id=str(provider.id),
                name=provider.name,
                time_zone=provider.time_zone,
                created_at=provider.created_at,
                organisation_id=str(provider.organisation_id) if provider.organisation_id else "",
            )
        )

    @rpc
    async def register_customer(
        self, message: pb.RegisterCustomerRequest
    ) -> pb.RegisterCustomerResponse:
        customer, created = await self.service.register_customer(
            commands.RegisterCustomer(parse_actor(message.actor), message.name, message.email)
        )
        return pb.RegisterCustomerResponse(
            customer=pb.Customer(
                id=str(customer.id),
                name=customer.name,
                email=customer.email,
                created_at=customer.created_at,
            ),
            created=created,
        )

    @rpc
    async def list_events(self, message: pb.ListEventsRequest) -> pb.ListEventsResponse:
        page = await self.service.list_events(
            commands.ListEvents(
                actor=parse_actor(message.actor),
                after_id=message.after_id,
                limit=page_limit(message.limit, 100),
                customer_id=parse_optional_uuid(message.customer_id, "customer_id"),
                provider_id=parse_optional_uuid(message.provider_id, "provider_id"),
                all_owners=message.all_owners,
                channel=message.channel or None,
            )
        )
        return pb.ListEventsResponse(
            events=[event_to_pb(e) for e in page.events], head_id=page.head_id
        )

    @rpc
    async def claim_reminder(self, message: pb.ClaimReminderRequest) -> pb.ClaimReminderResponse:
        result = await self.service.claim_reminder(
            commands.ClaimReminder(
                parse_actor(message.actor), parse_uuid(message.booking_id, "booking_id")
            )
        )
        return pb.ClaimReminderResponse(
            outcome=_CLAIM_OUTCOMES[result.outcome],
            event=event_to_pb(result.event) if result.event is not None else None,
            published=result.published,
            due_at=result.due_at,
        )

    @rpc
    async def claim_reminders(self, message: pb.ClaimRemindersRequest) -> pb.ClaimRemindersResponse:
        ids = tuple(parse_uuid(booking_id, "booking_ids") for booking_id in message.booking_ids)
        results = await self.service.claim_reminders(
            commands.ClaimReminders(parse_actor(message.actor), ids)
        )
        return pb.ClaimRemindersResponse(
            reminders=[
                pb.ClaimedReminder(booking_id=booking_id, outcome=pb.ClaimOutcome.NOT_FOUND)
                if result is None
                else pb.ClaimedReminder(
                    booking_id=booking_id,
                    outcome=_CLAIM_OUTCOMES[result.outcome],
                    event=event_to_pb(result.event) if result.event is not None else None,
                    published=result.published,
                    due_at=result.due_at,
                )
                for booking_id, result in zip(message.booking_ids, results, strict=True)
            ]
        )

    @rpc
    async def mark_event_published(
        self, message: pb.MarkEventPublishedRequest
    ) -> pb.MarkEventPublishedResponse:
        await self.service.mark_event_published(
            commands.MarkEventPublished(
                parse_actor(message.actor), message.event_id, tuple(message.event_ids)
            )
        )
        return pb.MarkEventPublishedResponse()

    @rpc
    async def search_bookings(self, message: pb.SearchBookingsRequest) -> pb.SearchBookingsResponse:
        statuses = {
            pb.BookingStatus.CONFIRMED: BookingStatus.CONFIRMED,
            pb.BookingStatus.CANCELLED: BookingStatus.CANCELLED,
        }
        page = await self.service.search_bookings(
            commands.SearchBookings(
                actor=parse_actor(message.actor),
                filters=commands.BookingFilters(
                    provider_id=parse_optional_uuid(message.provider_id, "provider_id"),
                    team_id=parse_optional_uuid(message.team_id, "team_id"),
                    event_type_id=parse_optional_uuid(message.event_type_id, "event_type_id"),
                    status=statuses.get(message.status),
                    start_from=message.from_time.astimezone(UTC) if message.from_time else None,
                    start_to=message.to_time.astimezone(UTC) if message.to_time else None,
                    guest_email=message.guest_email or None,
                ),
                limit=page_limit(message.limit, 50),
                cursor=message.cursor or None,
            )
        )
        return pb.SearchBookingsResponse(
            bookings=[booking_to_pb(b) for b in page.bookings], next_cursor=page.next_cursor or ""
        )


_CLAIM_OUTCOMES = {
    ClaimOutcome.CLAIMED: pb.ClaimOutcome.CLAIMED,
    ClaimOutcome.ALREADY_SENT: pb.ClaimOutcome.ALREADY_SENT,
    ClaimOutcome.CANCELLED: pb.ClaimOutcome.CANCELLED,
    ClaimOutcome.NOT_DUE: pb.ClaimOutcome.NOT_DUE,
}
