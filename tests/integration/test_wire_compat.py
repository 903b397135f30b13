"""A stock grpcio client, with stubs generated from the same .proto, talks to booking-core."""

from __future__ import annotations

import importlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2, status_pb2
from grpclib.health.v1 import health_pb2
from grpclib.reflection.v1alpha import reflection_pb2

from .harness import INTERNAL_TOKEN, CoreProcess, in_future

pytestmark = pytest.mark.integration
TOKEN = (("x-internal-token", INTERNAL_TOKEN),)


@pytest.fixture
def grpcio_channel(core: CoreProcess) -> Any:
    with grpc.insecure_channel(f"127.0.0.1:{core.port}") as channel:
        yield channel


@pytest.fixture
def modules(grpcio_stubs: Path) -> tuple[Any, Any]:
    return (
        importlib.import_module("bookings.v1.bookings_pb2"),
        importlib.import_module("bookings.v1.bookings_pb2_grpc"),
    )


def reflection_info(channel: Any, request: Any) -> list[Any]:
    """grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo over a stock grpcio channel.

    The message classes come from grpclib's copy of the reflection proto (one
    process cannot load two copies into protobuf's default pool); the call
    itself is plain grpcio.
    """
    call = channel.stream_stream(
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    return list(call(iter([request]), metadata=TOKEN, timeout=5))


def health_check(channel: Any, service: str = "") -> Any:
    call = channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString,
    )
    return call(health_pb2.HealthCheckRequest(service=service), timeout=5)


def timestamp(value: Any) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def test_reflection_lists_the_services(grpcio_channel: Any) -> None:
    replies = reflection_info(
        grpcio_channel, reflection_pb2.ServerReflectionRequest(list_services="")
    )
    names = {s.name for s in replies[0].list_services_response.service}
    assert {"bookings.v1.BookingService", "grpc.health.v1.Health"} <= names
    for symbol in ("bookings.v1.BookingService", "grpc.health.v1.Health"):
        described = reflection_info(
            grpcio_channel, reflection_pb2.ServerReflectionRequest(file_containing_symbol=symbol)
        )
        assert described[0].file_descriptor_response.file_descriptor_proto, symbol


def test_health_check_needs_no_token(grpcio_channel: Any) -> None:
    assert health_check(grpcio_channel).status == health_pb2.HealthCheckResponse.SERVING
    reply = health_check(grpcio_channel, "bookings.v1.BookingService")
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_stock_client_creates_reads_lists_and_cancels(
    grpcio_channel: Any, modules: tuple[Any, Any]
) -> None:
    pb2, pb2_grpc = modules
    stub = pb2_grpc.BookingServiceStub(grpcio_channel)
    service = pb2.Actor(service="grpcio-test")
    provider = stub.RegisterProvider(
        pb2.RegisterProviderRequest(actor=service, name="Wire", time_zone="UTC"),
        metadata=TOKEN,
        timeout=5,
    ).provider
    customer = stub.RegisterCustomer(
        pb2.RegisterCustomerRequest(
            actor=service, name="Wire", email=f"wire-{provider.id}@example.com"
        ),
        metadata=TOKEN,
        timeout=5,
    ).customer
    start = in_future(days=2)
    created = stub.CreateBooking(
        pb2.CreateBookingRequest(
            actor=pb2.Actor(customer_id=customer.id),
            provider_id=provider.id,
            customer_id=customer.id,
            start_time=timestamp(start),
            end_time=timestamp(start + timedelta(hours=1)),
        ),
        metadata=TOKEN,
        timeout=5,
    ).booking
    assert created.status == pb2.BOOKING_STATUS_CONFIRMED
    assert created.start_time.ToDatetime().replace(microsecond=0) == start.replace(
        tzinfo=None, microsecond=0
    )

    got = stub.GetBooking(
        pb2.GetBookingRequest(actor=service, booking_id=created.id), metadata=TOKEN, timeout=5
    )
    assert got.booking == created
    listed = stub.ListBookings(
        pb2.ListBookingsRequest(
            actor=pb2.Actor(provider_id=provider.id), type=pb2.LIST_TYPE_UPCOMING
        ),
        metadata=TOKEN,
        timeout=5,
    )
    assert [b.id for b in listed.bookings] == [created.id]
    cancelled = stub.CancelBooking(
        pb2.CancelBookingRequest(actor=service, booking_id=created.id, reason="wire"),
        metadata=TOKEN,
        timeout=5,
    ).booking
    assert cancelled.status == pb2.BOOKING_STATUS_CANCELLED and cancelled.cancel_reason == "wire"

    # Errors carry google.rpc.Status details with an ErrorInfo reason.
    with pytest.raises(grpc.RpcError) as info:
        stub.CreateBooking(
            pb2.CreateBookingRequest(actor=service, provider_id="x", customer_id=customer.id),
            metadata=TOKEN,
            timeout=5,
        )
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    details = dict(info.value.trailing_metadata())["grpc-status-details-bin"]
    status = status_pb2.Status.FromString(details)
    error_info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(error_info)
    assert (error_info.reason, error_info.domain) == ("VALIDATION_FAILED", "bookings.v1")


def test_stock_client_without_token_is_unauthenticated(
    grpcio_channel: Any, modules: tuple[Any, Any]
) -> None:
    pb2, pb2_grpc = modules
    with pytest.raises(grpc.RpcError) as info:
        pb2_grpc.BookingServiceStub(grpcio_channel).GetBooking(
            pb2.GetBookingRequest(actor=pb2.Actor(service="x"), booking_id="y"), timeout=5
        )
    assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED
