"""The README's Python example: create, read, list and cancel against `make run-core`."""

import asyncio
from datetime import UTC, datetime, timedelta

from bookings_common.grpc import create_channel
from bookings_proto.bookings import v1 as pb

PROVIDER = "640c9e47-e062-5aaa-ac62-bb6fca852c1a"  # from `make seed`
CUSTOMER = "8133b53f-6451-5af0-b72b-ea0c7a71b115"


async def main() -> None:
    channel = create_channel("127.0.0.1:50051", internal_token="dev-internal-token-change-me")
    stub = pb.BookingServiceStub(channel, timeout=5)  # every call gets a 5 s deadline
    me = pb.Actor(customer_id=CUSTOMER)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    created = await stub.create_booking(
        pb.CreateBookingRequest(
            actor=me,
            provider_id=PROVIDER,
            customer_id=CUSTOMER,
            start_time=start,
            end_time=start + timedelta(minutes=30),
        )
    )
    booking_id = created.booking.id
    print("created", booking_id)
    print(
        "read",
        (
            await stub.get_booking(pb.GetBookingRequest(actor=me, booking_id=booking_id))
        ).booking.status,
    )
    page = await stub.list_bookings(
        pb.ListBookingsRequest(actor=me, type=pb.ListType.UPCOMING, limit=5)
    )
    print("listed", [b.id for b in page.bookings], "next cursor:", page.next_cursor or None)
    cancelled = await stub.cancel_booking(
        pb.CancelBookingRequest(actor=me, booking_id=booking_id, reason="demo")
    )
    print("cancelled", cancelled.booking.status, "version", cancelled.booking.version)
    channel.close()


asyncio.run(main())
