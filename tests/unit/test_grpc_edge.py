"""The gRPC edge: parsing protos into commands, mapping results and errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import cast
from uuid import UUID, uuid4

import pytest
from booking_core.domain import commands
from booking_core.domain.errors import (
    BookingError,
    BookingNotCancellable,
    BookingOverlap,
    IdempotencyKeyReused,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from booking_core.domain.model import (
    Actor,
    ActorKind,
    Booking,
    BookingStatus,
    LoggedEvent,
)
from booking_core.entrypoints.grpc_server import (
    BookingServicer,
    CallGuard,
    booking_to_pb,
    event_to_pb,
    parse_actor,
    parse_uuid,
)
from booking_core.service_layer.handlers import BookingService
from bookings_common.grpc import error_reason
from bookings_proto.bookings import v1 as pb
from fakes import Harness
from grpclib.const import Status
from grpclib.exceptions import GRPCError

TOKEN = "unit-test-internal-token"


class RaisingService:
    """A BookingService stand-in whose get_booking raises a given exception."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
        self.calls: list[commands.GetBooking] = []

    async def get_booking(self, cmd: commands.GetBooking) -> Booking:
        self.calls.append(cmd)
        raise self.exc


def servicer_for(service: object) -> BookingServicer:
    return BookingServicer(cast(BookingService, service), CallGuard(TOKEN))


def get_request(
    actor: pb.Actor | None = None, booking_id: UUID | None = None
) -> pb.GetBookingRequest:
    return pb.GetBookingRequest(
        actor=actor or pb.Actor(service="api-gateway"), booking_id=str(booking_id or uuid4())
    )


# --- _actor / _uuid -------------------------------------------------------------------


def test_actor_is_required() -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_actor(None)
    assert info.value.field == "actor"


@pytest.mark.parametrize(
    "message",
    [pytest.param(pb.Actor(), id="no-identity"), pytest.param(pb.Actor(service=""), id="blank")],
)
def test_actor_needs_an_identity(message: pb.Actor) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_actor(message)
    assert info.value.field == "actor"


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (pb.Actor(customer_id="not-a-uuid"), "actor.customer_id"),
        (pb.Actor(customer_id=""), "actor.customer_id"),
        (pb.Actor(provider_id="1234"), "actor.provider_id"),
    ],
)
def test_actor_ids_must_be_uuids(message: pb.Actor, field: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_actor(message)
    assert info.value.field == field


def test_actor_parses_each_kind() -> None:
    customer_id, provider_id = uuid4(), uuid4()
    assert parse_actor(pb.Actor(customer_id=str(customer_id))) == Actor.customer(customer_id)
    assert parse_actor(pb.Actor(provider_id=str(provider_id))) == Actor.provider(provider_id)
    service = parse_actor(pb.Actor(service="notification-worker"))
    assert (service.kind, service.service, service.id) == (
        ActorKind.SERVICE,
        "notification-worker",
        None,
    )


def test_a_guest_actor_is_true_or_nothing() -> None:
    assert parse_actor(pb.Actor(guest=True)) == Actor.guest()
    guest = Actor.guest()
    assert not guest.may_act_for(customer_id=uuid4(), provider_id=uuid4())
    assert not guest.is_service


def test_uuid_names_the_field() -> None:
    booking_id = uuid4()
    assert parse_uuid(str(booking_id), "booking_id") == booking_id
    with pytest.raises(InvalidArgument) as info:
        parse_uuid("nope", "booking_id")
    assert info.value.field == "booking_id"


# --- mapping --------------------------------------------------------------------------


def _booking(**changes: object) -> Booking:
    now = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
    booking = Booking(
        id=uuid4(),
        provider_id=uuid4(),
        customer_id=uuid4(),
        start_time=now + timedelta(days=1),
        end_time=now + timedelta(days=1, hours=1),
        status=BookingStatus.CONFIRMED,
        version=1,
        created_at=now,
        updated_at=now,
    )
    for name, value in changes.items():
        setattr(booking, name, value)
    return booking


def test_booking_to_pb_maps_a_confirmed_booking() -> None:
    booking = _booking()
    message = booking_to_pb(booking)
    assert (message.id, message.provider_id, message.customer_id) == (
        str(booking.id),
        str(booking.provider_id),
        str(booking.customer_id),
    )
    assert (message.start_time, message.end_time) == (booking.start_time, booking.end_time)
    assert (message.created_at, message.updated_at) == (booking.created_at, booking.updated_at)
    assert message.status == pb.BookingStatus.CONFIRMED
    assert message.version == 1
    assert message.cancelled_at is None
    assert message.cancel_reason is None


def test_booking_to_pb_maps_a_cancelled_booking_and_survives_the_wire() -> None:
    cancelled_at = datetime(2030, 1, 7, 10, 0, 0, 250000, tzinfo=UTC)
    booking = _booking(
        status=BookingStatus.CANCELLED,
        version=2,
        cancelled_at=cancelled_at,
        updated_at=cancelled_at,
        cancel_reason="sick",
    )
    message = pb.Booking.parse(bytes(booking_to_pb(booking)))
    assert message.status == pb.BookingStatus.CANCELLED
    assert message.version == 2
    assert message.cancelled_at == cancelled_at
    assert message.cancel_reason == "sick"


def test_event_to_pb_carries_the_data_as_compact_json() -> None:
    event = LoggedEvent(
        id=7,
        type="booking.created",
        booking_id=uuid4(),
        provider_id=uuid4(),
        customer_id=uuid4(),
        data={"bookingId": "b", "status": "confirmed"},
        occurred_at=datetime(2030, 1, 7, tzinfo=UTC),
    )
    message = event_to_pb(event)
    assert (message.id, message.type, message.occurred_at) == (7, event.type, event.occurred_at)
    assert message.booking_id == str(event.booking_id)
    assert json.loads(message.data_json) == event.data
    assert " " not in message.data_json


# --- the _rpc error mapping -----------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (InvalidArgument("booking_id", "must be a UUID"), Status.INVALID_ARGUMENT),
        (PermissionDenied("no"), Status.PERMISSION_DENIED),
        (NotFound("booking not found"), Status.NOT_FOUND),
        (BookingOverlap("taken"), Status.ALREADY_EXISTS),
        (IdempotencyKeyReused("reused"), Status.FAILED_PRECONDITION),
        (BookingNotCancellable("started"), Status.FAILED_PRECONDITION),
        (Unavailable("db down"), Status.UNAVAILABLE),
        (BookingError("unclassified"), Status.INTERNAL),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else None,
)
async def test_domain_errors_map_to_statuses_with_their_reason(
    exc: BookingError, status: Status
) -> None:
    service = RaisingService(exc)
    servicer = servicer_for(service)

    with pytest.raises(GRPCError) as info:
        await servicer.get_booking(get_request())

    assert info.value.status is status
    assert error_reason(info.value) == exc.code
    assert info.value.message == exc.message
    assert len(service.calls) == 1
    assert servicer.guard.in_flight == 0


async def test_shared_statuses_are_told_apart_by_reason() -> None:
    reasons = set()
    for exc in (IdempotencyKeyReused("a"), BookingNotCancellable("b")):
        with pytest.raises(GRPCError) as info:
            await servicer_for(RaisingService(exc)).get_booking(get_request())
        assert info.value.status is Status.FAILED_PRECONDITION
        reasons.add(error_reason(info.value))
    assert reasons == {"IDEMPOTENCY_KEY_REUSED", "BOOKING_NOT_CANCELLABLE"}


async def test_an_unexpected_exception_is_an_opaque_internal_error() -> None:
    servicer = servicer_for(RaisingService(RuntimeError("secret detail: password=hunter2")))

    with pytest.raises(GRPCError) as info:
        await servicer.get_booking(get_request())

    assert info.value.status is Status.INTERNAL
    assert info.value.message == "internal error"
    assert error_reason(info.value) is None
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__ is True
    assert servicer.guard.in_flight == 0


async def test_a_grpc_error_passes_through_unchanged() -> None:
    original = GRPCError(Status.DEADLINE_EXCEEDED, "too slow")
    servicer = servicer_for(RaisingService(original))
    with pytest.raises(GRPCError) as info:
        await servicer.get_booking(get_request())
    assert info.value is original
    assert servicer.guard.in_flight == 0


async def test_parse_errors_in_the_request_are_invalid_argument() -> None:
    service = RaisingService(AssertionError("the service must not be called"))
    servicer = servicer_for(service)

    with pytest.raises(GRPCError) as info:
        await servicer.get_booking(pb.GetBookingRequest(actor=pb.Actor(customer_id="x")))

    assert info.value.status is Status.INVALID_ARGUMENT
    assert error_reason(info.value) == "VALIDATION_FAILED"
    assert info.value.message is not None
    assert info.value.message.startswith("actor.customer_id:")
    assert service.calls == []


# --- through the real service on the fakes --------------------------------------------


def _create_request(
    provider_id: UUID,
    customer_id: UUID,
    start: datetime | None,
    end: datetime | None,
    key: str = "",
) -> pb.CreateBookingRequest:
    return pb.CreateBookingRequest(
        actor=pb.Actor(customer_id=str(customer_id)),
        provider_id=str(provider_id),
        customer_id=str(customer_id),
        start_time=start,
        end_time=end,
        idempotency_key=key,
    )


async def test_create_through_the_servicer_and_replay(h: Harness) -> None:
    servicer = BookingServicer(h.service, CallGuard(TOKEN))
    provider_id, customer_id = h.provider(), h.customer()
    start = h.clock.now + timedelta(days=1)
    request = _create_request(provider_id, customer_id, start, start + timedelta(hours=1), "k")

    first = await servicer.create_booking(request)
    again = await servicer.create_booking(request)

    assert first.booking is not None
    assert first.replayed is False
    assert again.replayed is True
    assert again.booking == first.booking
    assert UUID(first.booking.id) in h.db.bookings
    assert first.booking.start_time == start
    assert len(h.publisher.events) == 1


async def test_create_through_the_servicer_maps_overlap_and_missing_times(h: Harness) -> None:
    servicer = BookingServicer(h.service, CallGuard(TOKEN))
    provider_id, customer_id = h.provider(), h.customer()
    start = h.clock.now + timedelta(days=1)
    await servicer.create_booking(
        _create_request(provider_id, customer_id, start, start + timedelta(hours=1))
    )

    with pytest.raises(GRPCError) as overlap:
        await servicer.create_booking(
            _create_request(provider_id, customer_id, start, start + timedelta(minutes=30))
        )
    with pytest.raises(GRPCError) as missing:
        await servicer.create_booking(_create_request(provider_id, customer_id, start, None))

    assert (overlap.value.status, error_reason(overlap.value)) == (
        Status.ALREADY_EXISTS,
        "BOOKING_OVERLAP",
    )
    assert missing.value.status is Status.INVALID_ARGUMENT
    assert missing.value.message is not None
    assert missing.value.message.startswith("end_time:")
    assert len(h.db.bookings) == 1


async def test_list_bookings_needs_a_list_type(h: Harness) -> None:
    servicer = BookingServicer(h.service, CallGuard(TOKEN))
    with pytest.raises(GRPCError) as info:
        await servicer.list_bookings(
            pb.ListBookingsRequest(actor=pb.Actor(customer_id=str(uuid4())))
        )
    assert info.value.status is Status.INVALID_ARGUMENT
    assert info.value.message is not None
    assert info.value.message.startswith("type:")
