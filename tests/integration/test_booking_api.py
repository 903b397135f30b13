"""booking-core's calls and their error paths, over a real socket to a real process."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from bookings_common.grpc import create_channel, error_reason
from bookings_common.logging import bind_request_id
from bookings_proto.bookings import v1 as pb
from grpclib.const import Status
from grpclib.exceptions import GRPCError
from sqlalchemy.ext.asyncio import AsyncEngine

from .conftest import SERVICE, new_customer
from .harness import CoreProcess, eventually, in_future

pytestmark = pytest.mark.integration


def as_customer(customer: pb.Customer) -> pb.Actor:
    return pb.Actor(customer_id=customer.id)


def create_request(
    provider: pb.Provider,
    customer: pb.Customer,
    *,
    start_in: timedelta,
    minutes: int = 30,
    **kw: object,
) -> pb.CreateBookingRequest:
    start = in_future(seconds=start_in.total_seconds())
    return pb.CreateBookingRequest(
        actor=kw.pop("actor", as_customer(customer)),  # type: ignore[arg-type]
        provider_id=provider.id,
        customer_id=customer.id,
        start_time=start,
        end_time=start + timedelta(minutes=minutes),
        **kw,  # type: ignore[arg-type]
    )


async def expect_error(call: object, status: Status, reason: str | None = None) -> GRPCError:
    with pytest.raises(GRPCError) as info:
        await call  # type: ignore[misc]
    assert info.value.status is status, info.value.message
    if reason is not None:
        assert error_reason(info.value) == reason
    return info.value


async def test_create_get_list_cancel_round_trip(
    stub: pb.BookingServiceStub, provider: pb.Provider, customer: pb.Customer, engine: AsyncEngine
) -> None:
    created = await stub.create_booking(
        create_request(provider, customer, start_in=timedelta(hours=2))
    )
    booking = created.booking
    assert booking is not None and not created.replayed
    assert booking.status is pb.BookingStatus.CONFIRMED and booking.version == 1

    for actor in (as_customer(customer), pb.Actor(provider_id=provider.id), SERVICE):
        got = await stub.get_booking(pb.GetBookingRequest(actor=actor, booking_id=booking.id))
        assert got.booking == booking

    listed = await stub.list_bookings(
        pb.ListBookingsRequest(actor=as_customer(customer), type=pb.ListType.UPCOMING)
    )
    assert [b.id for b in listed.bookings] == [booking.id] and listed.next_cursor == ""

    cancelled = (
        await stub.cancel_booking(
            pb.CancelBookingRequest(
                actor=pb.Actor(provider_id=provider.id), booking_id=booking.id, reason="ill"
            )
        )
    ).booking
    assert cancelled is not None
    assert cancelled.status is pb.BookingStatus.CANCELLED and cancelled.version == 2
    assert cancelled.cancel_reason == "ill" and cancelled.cancelled_at is not None

    again = (
        await stub.cancel_booking(
            pb.CancelBookingRequest(actor=as_customer(customer), booking_id=booking.id)
        )
    ).booking
    assert again == cancelled  # a second cancel is a no-op

    async with engine.connect() as conn:
        reminder = (
            await conn.execute(
                sa.text("SELECT state, due_at FROM reminders WHERE booking_id = :id"),
                {"id": booking.id},
            )
        ).one()
        types = (
            (
                await conn.execute(
                    sa.text("SELECT type FROM events WHERE booking_id = :id ORDER BY id"),
                    {"id": booking.id},
                )
            )
            .scalars()
            .all()
        )
    assert reminder.state == "cancelled"
    assert reminder.due_at == booking.start_time - timedelta(seconds=600)
    assert types == ["booking.created", "booking.cancelled"]

    events = (
        await stub.list_events(pb.ListEventsRequest(actor=SERVICE, provider_id=provider.id))
    ).events
    assert [e.type for e in events] == ["booking.created", "booking.cancelled"]
    assert events[0].id < events[1].id
    data = json.loads(events[1].data_json)
    assert data == {
        "bookingId": booking.id,
        "providerId": provider.id,
        "customerId": customer.id,
        "startTime": data["startTime"],
        "endTime": data["endTime"],
        "status": "cancelled",
    }
    assert data["startTime"].endswith("Z")


async def test_reminder_due_at_once_inside_the_lead_time(
    stub: pb.BookingServiceStub, provider: pb.Provider, customer: pb.Customer, engine: AsyncEngine
) -> None:
    booking = (
        await stub.create_booking(create_request(provider, customer, start_in=timedelta(minutes=5)))
    ).booking
    assert booking is not None and booking.created_at is not None
    async with engine.connect() as conn:
        due_at = await conn.scalar(
            sa.text("SELECT due_at FROM reminders WHERE booking_id = :id"), {"id": booking.id}
        )
    assert (
        booking.created_at - timedelta(seconds=1)
        <= due_at
        <= booking.created_at + timedelta(seconds=1)
    )


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda r: setattr(r, "provider_id", "not-a-uuid"), "provider_id"),
        (lambda r: setattr(r, "customer_id", ""), "customer_id"),
        (lambda r: setattr(r, "start_time", None), "start_time"),
        (lambda r: setattr(r, "end_time", r.start_time), "end_time"),
        (lambda r: setattr(r, "end_time", r.start_time - timedelta(minutes=1)), "end_time"),
        (
            lambda r: setattr(r, "end_time", r.start_time + timedelta(hours=8, seconds=1)),
            "end_time",
        ),
        (lambda r: setattr(r, "idempotency_key", "k" * 256), "idempotency_key"),
        (lambda r: setattr(r, "idempotency_key", "bad\nkey"), "idempotency_key"),
        (lambda r: setattr(r, "actor", None), "actor"),
        (lambda r: setattr(r, "actor", pb.Actor(customer_id="nope")), "actor.customer_id"),
    ],
)
async def test_malformed_create_is_invalid_argument_naming_the_field(
    stub: pb.BookingServiceStub,
    provider: pb.Provider,
    customer: pb.Customer,
    mutate: object,
    field: str,
) -> None:
    request = create_request(provider, customer, start_in=timedelta(hours=3))
    mutate(request)  # type: ignore[operator]
    exc = await expect_error(
        stub.create_booking(request), Status.INVALID_ARGUMENT, "VALIDATION_FAILED"
    )
    assert exc.message is not None and exc.message.startswith(f"{field}:")


async def test_start_in_the_past_is_rejected(
    stub: pb.BookingServiceStub, provider: pb.Provider, customer: pb.Customer
) -> None:
    request = create_request(provider, customer, start_in=timedelta(minutes=-5))
    exc = await expect_error(stub.create_booking(request), Status.INVALID_ARGUMENT)
    assert exc.message == "start_time: must be in the future"


async def test_ownership_rules_on_create_and_read(
    stub: pb.BookingServiceStub, provider: pb.Provider, customer: pb.Customer, engine: AsyncEngine
) -> None:
    stranger = await new_customer(stub)
    other_provider = (
        await stub.register_provider(pb.RegisterProviderRequest(actor=SERVICE, name="Other"))
    ).provider
    assert other_provider is not None

    request = create_request(
        provider, customer, start_in=timedelta(hours=4), actor=as_customer(stranger)
    )
    await expect_error(stub.create_booking(request), Status.PERMISSION_DENIED, "FORBIDDEN")
    request = create_request(
        provider,
        customer,
        start_in=timedelta(hours=4),
        actor=pb.Actor(provider_id=other_provider.id),
    )
    await expect_error(stub.create_booking(request), Status.PERMISSION_DENIED)

    # A provider may book for itself, a service for anyone.
    for actor, hours in ((pb.Actor(provider_id=provider.id), 5), (SERVICE, 6)):
        ok = await stub.create_booking(
            create_request(provider, customer, start_in=timedelta(hours=hours), actor=actor)
        )
        assert ok.booking is not None
    booking_id = ok.booking.id

    for actor in (as_customer(stranger), pb.Actor(provider_id=other_provider.id)):
        await expect_error(
            stub.get_booking(pb.GetBookingRequest(actor=actor, booking_id=booking_id)),
            Status.NOT_FOUND,
        )
        await expect_error(
            stub.cancel_booking(pb.CancelBookingRequest(actor=actor, booking_id=booking_id)),
            Status.NOT_FOUND,
        )
    await expect_error(
        stub.get_booking(pb.GetBookingRequest(actor=SERVICE, booking_id=str(uuid.uuid4()))),
        Status.NOT_FOUND,
    )
    await expect_error(
        stub.list_bookings(
            pb.ListBookingsRequest(
                actor=as_customer(stranger), type=pb.ListType.UPCOMING, customer_id=customer.id
            )
        ),
        Status.PERMISSION_DENIED,
    )
    await expect_error(
        stub.list_events(
            pb.ListEventsRequest(actor=as_customer(stranger), customer_id=customer.id)
        ),
        Status.PERMISSION_DENIED,
    )
    async with engine.connect() as conn:
        count = await conn.scalar(
            sa.text("SELECT count(*) FROM bookings WHERE provider_id = :p"), {"p": provider.id}
        )
    assert count == 2  # the refused requests left nothing behind


async def test_unknown_provider_or_customer_is_not_found_and_writes_nothing(
    stub: pb.BookingServiceStub, provider: pb.Provider, customer: pb.Customer, engine: AsyncEngine
) -> None:
    request = create_request(provider, customer, start_in=timedelta(hours=2), actor=SERVICE)
    request.provider_id = str(uuid.uuid4())
    exc = await expect_error(stub.create_booking(request), Status.NOT_FOUND)
    assert exc.message == "provider not found"
    request = create_request(provider, customer, start_in=timedelta(hours=2), actor=SERVICE)
    request.customer_id = str(uuid.uuid4())
    exc = await expect_error(stub.create_booking(request), Status.NOT_FOUND)
    assert exc.message == "customer not found"
    async with engine.connect() as conn:
        leftovers = await conn.scalar(
            sa.text("SELECT count(*) FROM events WHERE booking_id NOT IN (SELECT id FROM bookings)")
        )
        bookings = await conn.scalar(
            sa.text("SELECT count(*) FROM bookings WHERE provider_id = :p"), {"p": provider.id}
        )
    assert leftovers == 0 and bookings == 0


async def test_cancel_after_start_is_failed_precondition(
    stub: pb.BookingServiceStub, provider: pb.Provider, customer: pb.Customer, engine: AsyncEngine
) -> None:
    booking = (
        await stub.create_booking(create_request(provider, customer, start_in=timedelta(hours=1)))
    ).booking
    assert booking is not None
    async with engine.begin() as conn:  # let time pass: move the booking into the past
        await conn.execute(
            sa.text(
                "UPDATE bookings SET start_time = now() - interval '10 minutes',"
                " end_time = now() + interval '20 minutes' WHERE id = :id"
            ),
            {"id": booking.id},
        )
    await expect_error(
        stub.cancel_booking(
            pb.CancelBookingRequest(actor=as_customer(customer), booking_id=booking.id)
        ),
        Status.FAILED_PRECONDITION,
        "BOOKING_NOT_CANCELLABLE",
    )
    got = (
        await stub.get_booking(pb.GetBookingRequest(actor=SERVICE, booking_id=booking.id))
    ).booking
    assert got is not None and got.status is pb.BookingStatus.CONFIRMED and got.version == 1


async def test_cancel_validation(stub: pb.BookingServiceStub, customer: pb.Customer) -> None:
    await expect_error(
        stub.cancel_booking(pb.CancelBookingRequest(actor=as_customer(customer), booking_id="x")),
        Status.INVALID_ARGUMENT,
    )
    exc = await expect_error(
        stub.cancel_booking(
            pb.CancelBookingRequest(
                actor=as_customer(customer), booking_id=str(uuid.uuid4()), reason="r" * 501
            )
        ),
        Status.INVALID_ARGUMENT,
    )
    assert exc.message is not None and exc.message.startswith("reason:")


async def test_registration_rules(stub: pb.BookingServiceStub, customer: pb.Customer) -> None:
    again = await stub.register_customer(
        pb.RegisterCustomerRequest(actor=SERVICE, name="Someone Else", email=customer.email.upper())
    )
    assert again.customer == customer and again.created is False
    await expect_error(
        stub.register_customer(
            pb.RegisterCustomerRequest(actor=as_customer(customer), name="x", email="x@y.z")
        ),
        Status.PERMISSION_DENIED,
    )
    for request in (
        pb.RegisterCustomerRequest(actor=SERVICE, name="x", email="not-an-email"),
        pb.RegisterCustomerRequest(actor=SERVICE, name=" ", email="a@b.co"),
    ):
        await expect_error(stub.register_customer(request), Status.INVALID_ARGUMENT)
    exc = await expect_error(
        stub.register_provider(
            pb.RegisterProviderRequest(actor=SERVICE, name="P", time_zone="Mars/Olympus")
        ),
        Status.INVALID_ARGUMENT,
    )
    assert exc.message is not None and exc.message.startswith("time_zone:")
    provider = (
        await stub.register_provider(pb.RegisterProviderRequest(actor=SERVICE, name="P"))
    ).provider
    assert provider is not None and provider.time_zone == "UTC"


async def test_list_validation(stub: pb.BookingServiceStub, customer: pb.Customer) -> None:
    actor = as_customer(customer)
    for request in (
        pb.ListBookingsRequest(actor=actor),  # type unspecified
        pb.ListBookingsRequest(actor=actor, type=pb.ListType.PAST, limit=101),
        pb.ListBookingsRequest(actor=actor, type=pb.ListType.PAST, limit=-1),
        pb.ListBookingsRequest(actor=SERVICE, type=pb.ListType.PAST),  # a service names one owner
        pb.ListBookingsRequest(actor=actor, type=pb.ListType.PAST, cursor="garbage"),
    ):
        await expect_error(stub.list_bookings(request), Status.INVALID_ARGUMENT)
    for request_events in (
        pb.ListEventsRequest(actor=SERVICE),
        pb.ListEventsRequest(actor=actor, after_id=-1),
        pb.ListEventsRequest(actor=actor, limit=1001),
    ):
        await expect_error(stub.list_events(request_events), Status.INVALID_ARGUMENT)
    await expect_error(
        stub.list_events(
            pb.ListEventsRequest(actor=SERVICE, all_owners=True, customer_id=actor.customer_id)
        ),
        Status.INVALID_ARGUMENT,
    )
    await expect_error(
        stub.list_events(pb.ListEventsRequest(actor=actor, all_owners=True)),
        Status.PERMISSION_DENIED,
    )


async def test_a_service_reads_every_owners_events_and_the_log_head(
    stub: pb.BookingServiceStub, provider: pb.Provider, customer: pb.Customer
) -> None:
    before = await stub.list_events(pb.ListEventsRequest(actor=SERVICE, all_owners=True, limit=1))
    other = await new_customer(stub)
    mine = await stub.create_booking(
        create_request(provider, customer, start_in=timedelta(days=40))
    )
    theirs = await stub.create_booking(create_request(provider, other, start_in=timedelta(days=41)))

    page = await stub.list_events(
        pb.ListEventsRequest(actor=SERVICE, all_owners=True, after_id=before.head_id)
    )
    ours = [e for e in page.events if e.booking_id in {mine.booking.id, theirs.booking.id}]
    assert [e.booking_id for e in ours] == [mine.booking.id, theirs.booking.id]
    assert [e.id for e in page.events] == sorted(e.id for e in page.events)
    assert page.head_id >= ours[-1].id > before.head_id
    # An owner's page reports the same head, over all owners.
    own = await stub.list_events(
        pb.ListEventsRequest(actor=as_customer(customer), after_id=page.head_id)
    )
    assert own.events == []
    assert own.head_id >= page.head_id


@pytest.mark.parametrize("token", [None, "wrong-token-wrong-token"])
async def test_calls_without_the_internal_token_are_unauthenticated(
    core: CoreProcess, token: str | None
) -> None:
    from grpclib.client import Channel

    if token is None:
        channel = Channel("127.0.0.1", core.port)
    else:
        channel = create_channel(f"127.0.0.1:{core.port}", internal_token=token)
    try:
        stub = pb.BookingServiceStub(channel, timeout=5)
        await expect_error(
            stub.get_booking(pb.GetBookingRequest(actor=SERVICE, booking_id=str(uuid.uuid4()))),
            Status.UNAUTHENTICATED,
        )
    finally:
        channel.close()


async def test_each_call_is_logged_once_with_its_request_id(
    stub: pb.BookingServiceStub, core: CoreProcess, provider: pb.Provider
) -> None:
    request_id = f"it-{uuid.uuid4().hex}"
    bind_request_id(request_id)
    await expect_error(
        stub.get_booking(pb.GetBookingRequest(actor=SERVICE, booking_id=str(uuid.uuid4()))),
        Status.NOT_FOUND,
    )

    def matching() -> list[dict[str, object]]:
        lines = [json.loads(line) for line in core.log_lines() if request_id in line]
        return [line for line in lines if line.get("event") == "grpc.call"]

    async def logged() -> list[dict[str, object]]:
        return matching()

    (line,) = await eventually(logged)
    assert line["method"] == "/bookings.v1.BookingService/GetBooking"
    assert line["status"] == "NOT_FOUND"
    assert isinstance(line["durationMs"], float)
    assert line["requestId"] == request_id
