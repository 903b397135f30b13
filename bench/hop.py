"""What one gRPC hop costs: the message codec and the call, with the alternatives.

- Coding a page of 20 bookings (``ListBookingsResponse``): betterproto2's own
  pure-Python codec, next to protobuf's C codec behind the same messages
  (``bookings_common.wire``, what booking-core and the gateway use for it).
- One unary call with betterproto2 messages (``CreateBooking``'s request and
  answer), 16 callers at once on uvloop, server and client in processes of
  their own: grpclib (pure-Python HTTP/2, what the services use) next to
  ``grpc.aio`` (grpcio's C core), with each side's CPU per call.

    .venv/bin/python bench/hop.py
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import betterproto2  # noqa: E402
import uvloop  # noqa: E402
from bookings_common import wire  # noqa: E402
from bookings_common.runtime import speed_up_betterproto  # noqa: E402
from bookings_proto.bookings import v1 as pb  # noqa: E402

from tests.integration.harness import cpu_seconds, free_port  # noqa: E402

NOW = datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
ROUTE = "/bookings.v1.BookingService/CreateBooking"
CALLS = 10_000
CALLERS = 16


def booking() -> pb.Booking:
    return pb.Booking(
        id=str(uuid.uuid4()),
        provider_id=str(uuid.uuid4()),
        customer_id=str(uuid.uuid4()),
        start_time=NOW,
        end_time=NOW + timedelta(minutes=30),
        status=pb.BookingStatus.CONFIRMED,
        version=1,
        created_at=NOW,
        updated_at=NOW,
    )


REPLY = pb.CreateBookingResponse(booking=booking())
REQUEST = pb.CreateBookingRequest(
    actor=pb.Actor(customer_id=str(uuid.uuid4())),
    provider_id=str(uuid.uuid4()),
    customer_id=str(uuid.uuid4()),
    start_time=NOW,
    end_time=NOW + timedelta(minutes=30),
)


def per_call_us(run: Callable[[], Any], n: int = 500) -> float:
    for _ in range(n // 10):
        run()
    started = time.process_time()
    for _ in range(n):
        run()
    return (time.process_time() - started) / n * 1e6


def codec_rows() -> list[str]:
    page = pb.ListBookingsResponse(bookings=[booking() for _ in range(20)], next_cursor="c")
    data = betterproto2.Message.__bytes__(page)

    def betterproto2_decode() -> Any:
        with BytesIO(data) as stream:
            return pb.ListBookingsResponse().load(stream)

    assert wire.encode(page) == data
    return [
        f"| encode a page of 20 | {per_call_us(lambda: betterproto2.Message.__bytes__(page)):.0f}"
        f" | {per_call_us(lambda: wire.encode(page)):.0f} |",
        f"| decode a page of 20 | {per_call_us(betterproto2_decode):.0f}"
        f" | {per_call_us(lambda: wire.decode(pb.ListBookingsResponse, data)):.0f} |",
    ]


async def serve(kind: str, port: int) -> None:
    async def answer(_request: pb.CreateBookingRequest, *_: Any) -> pb.CreateBookingResponse:
        return REPLY

    if kind == "grpclib":
        from grpclib.server import Server

        class Servicer(pb.BookingServiceBase):
            async def create_booking(
                self, message: pb.CreateBookingRequest
            ) -> pb.CreateBookingResponse:
                return await answer(message)

        server = Server([Servicer()])
        await server.start("127.0.0.1", port)
        print("ready", flush=True)
        await server.wait_closed()
    else:
        import grpc

        aio_server = grpc.aio.server()
        handler = grpc.unary_unary_rpc_method_handler(
            answer,
            request_deserializer=pb.CreateBookingRequest.FromString,
            response_serializer=bytes,
        )
        aio_server.add_generic_rpc_handlers(
            [
                grpc.method_handlers_generic_handler(
                    "bookings.v1.BookingService", {"CreateBooking": handler}
                )
            ]
        )
        aio_server.add_insecure_port(f"127.0.0.1:{port}")
        await aio_server.start()
        print("ready", flush=True)
        await aio_server.wait_for_termination()


async def call(kind: str, port: int) -> None:
    """``CALLS`` calls from ``CALLERS`` callers; prints calls/s and CPU µs per call."""
    if kind == "grpclib":
        from grpclib.client import Channel

        channel = Channel("127.0.0.1", port)
        stub = pb.BookingServiceStub(channel, timeout=10)

        async def one() -> Any:
            return await stub.create_booking(REQUEST)
    else:
        import grpc

        aio_channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        method = aio_channel.unary_unary(
            ROUTE,
            request_serializer=bytes,
            response_deserializer=pb.CreateBookingResponse.FromString,
        )

        async def one() -> Any:
            return await method(REQUEST, timeout=10)

    for _ in range(500):
        await one()
    left = CALLS

    async def caller() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await one()

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(caller() for _ in range(CALLERS)))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"{CALLS / elapsed:.0f} {cpu / CALLS * 1e6:.0f}", flush=True)
    if kind == "grpclib":
        channel.close()
    else:
        await aio_channel.close()


def call_row(kind: str) -> str:
    port = free_port()
    here = [sys.executable, __file__]
    server = subprocess.Popen([*here, "serve", kind, str(port)], stdout=subprocess.PIPE)
    try:
        assert server.stdout is not None
        if server.stdout.readline().strip() != b"ready":
            raise RuntimeError(f"the {kind} server did not start")
        before = cpu_seconds(server.pid)
        done = subprocess.run([*here, "call", kind, str(port)], capture_output=True, check=True)
        server_us = (cpu_seconds(server.pid) - before) / (CALLS + 500) * 1e6
        rate, client_us = done.stdout.split()
        return f"| {kind} | {int(rate):,} | {int(client_us)} | {server_us:.0f} |"
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    speed_up_betterproto()
    if len(sys.argv) == 4:
        role, kind, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
        uvloop.run(serve(kind, port) if role == "serve" else call(kind, port))
        return
    print("| a page of 20 bookings | betterproto2 (µs) | protobuf's C codec, `wire` (µs) |")
    print("|---|---|---|")
    print("\n".join(codec_rows()))
    print()
    print(f"| unary call, {CALLERS} callers | calls/s | client CPU µs/call | server CPU µs/call |")
    print("|---|---|---|---|")
    for kind in ("grpclib", "grpc.aio"):
        print(call_row(kind), flush=True)


if __name__ == "__main__":
    main()
