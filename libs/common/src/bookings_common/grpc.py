"""gRPC helpers shared by the services that call or serve booking-core.

- ``create_channel``: one long-lived grpclib channel that stamps every call with
  ``x-internal-token`` and the current ``x-request-id``, and never has more
  calls in flight than the server accepts streams.
- ``is_serving``: the standard gRPC health check, for ``/ready``.
- ``error`` / ``error_reason``: errors carry a ``google.rpc.ErrorInfo`` detail
  (AIP-193) whose ``reason`` is the stable error code, so callers map statuses
  that share a gRPC code (``FAILED_PRECONDITION``) to distinct REST answers.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any, Final

from google.rpc.error_details_pb2 import ErrorInfo
from grpclib.client import Channel, Stream
from grpclib.const import Status
from grpclib.events import SendRequest, listen
from grpclib.exceptions import GRPCError, ProtocolError, StreamTerminatedError
from grpclib.health.v1.health_grpc import HealthStub
from grpclib.health.v1.health_pb2 import HealthCheckRequest, HealthCheckResponse
from grpclib.metadata import Deadline

from . import tracing
from .logging import current_request_id

INTERNAL_TOKEN_HEADER: Final = "x-internal-token"
REQUEST_ID_HEADER: Final = "x-request-id"
ERROR_DOMAIN: Final = "bookings.v1"
DEFAULT_DEADLINE_SECONDS: Final = 5.0
# The most concurrent streams a grpclib server accepts on one HTTP/2 connection
# (h2's default SETTINGS_MAX_CONCURRENT_STREAMS). A client that opens more
# before it has read the server's SETTINGS makes the server drop the whole
# connection, and grpclib makes calls beyond a known limit wait for a slot
# with no wake-up if the connection is lost (RFC 9113 section 5.1.2).
MAX_CONCURRENT_CALLS: Final = 100


def parse_target(target: str) -> tuple[str, int]:
    """Split ``host:port`` (``[v6]:port`` for IPv6); raises ``ValueError`` if malformed."""
    host, sep, port_text = target.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:  # an IPv6 address must be bracketed
        host = ""
    if (
        not sep
        or not host
        or not (port_text.isascii() and port_text.isdigit())
        or not 0 < int(port_text) < 65536
    ):
        raise ValueError(f"gRPC target must be host:port, got {target!r}")
    return host, int(port_text)


def create_channel(target: str, *, internal_token: str) -> Channel:
    """Open a grpclib channel to ``host:port`` that adds our metadata to every call.

    Each request carries ``x-internal-token`` and, when a request id is bound in
    the current context (``bookings_common.logging.bind_request_id``),
    ``x-request-id``, and with tracing on the current ``traceparent``. Deadlines
    are set per stub (``timeout=`` seconds on the generated stub) or per call,
    and count the wait for one of the ``MAX_CONCURRENT_CALLS`` slots. Close the
    channel with ``channel.close()``.
    """
    host, port = parse_target(target)
    channel = LimitedChannel(host, port, max_calls=MAX_CONCURRENT_CALLS)

    async def add_metadata(event: SendRequest) -> None:
        event.metadata[INTERNAL_TOKEN_HEADER] = internal_token
        request_id = current_request_id()
        if request_id is not None:
            event.metadata[REQUEST_ID_HEADER] = request_id
        tracing.inject(event.metadata)  # type: ignore[arg-type]  # a MultiDict of str

    listen(channel, SendRequest, add_metadata)
    return channel


class LimitedChannel(Channel):
    """A grpclib ``Channel`` with at most ``max_calls`` calls in flight.

    A call beyond that waits for a slot; the wait counts against its deadline,
    and a call whose deadline passes while waiting fails ``DEADLINE_EXCEEDED``
    without having been sent.
    """

    def __init__(self, host: str, port: int, *, max_calls: int) -> None:
        super().__init__(host, port)
        self._slots = asyncio.Semaphore(max_calls)

    def request(  # type: ignore[override]
        self,
        name: str,
        cardinality: Any,
        request_type: Any,
        reply_type: Any,
        *,
        timeout: float | None = None,
        deadline: Deadline | None = None,
        metadata: Any = None,
    ) -> _CallSlot:
        if timeout is not None:
            by_timeout = Deadline.from_timeout(timeout)
            deadline = by_timeout if deadline is None else min(by_timeout, deadline)
        stream = super().request(
            name, cardinality, request_type, reply_type, deadline=deadline, metadata=metadata
        )
        return _CallSlot(stream, self._slots, deadline)


class _CallSlot:
    """``async with`` a grpclib ``Stream`` while holding one of the channel's slots."""

    def __init__(
        self, stream: Stream[Any, Any], slots: asyncio.Semaphore, deadline: Deadline | None
    ) -> None:
        self._stream = stream
        self._slots = slots
        self._deadline = deadline

    async def __aenter__(self) -> Stream[Any, Any]:
        try:
            async with asyncio.timeout(
                None if self._deadline is None else self._deadline.time_remaining()
            ):
                await self._slots.acquire()
        except TimeoutError:
            raise GRPCError(Status.DEADLINE_EXCEEDED, "deadline exceeded") from None
        try:
            return await self._stream.__aenter__()
        except BaseException:
            self._slots.release()
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self._stream.__aexit__(exc_type, exc, tb)
        finally:
            self._slots.release()


def error(
    status: Status, reason: str, message: str, metadata: dict[str, str] | None = None
) -> GRPCError:
    """Build a ``GRPCError`` whose details hold ``ErrorInfo(reason, domain="bookings.v1",
    metadata)`` (AIP-193: ``metadata`` carries machine-readable facts, ``retryAfter``)."""
    info = ErrorInfo(reason=reason, domain=ERROR_DOMAIN, metadata=metadata or {})
    return GRPCError(status, message, [info])


def error_metadata(exc: GRPCError) -> dict[str, str]:
    """The ``ErrorInfo.metadata`` of a received error (empty when it has none)."""
    for detail in exc.details or ():
        if isinstance(detail, ErrorInfo) and detail.domain == ERROR_DOMAIN:
            return dict(detail.metadata)
    return {}


def error_reason(exc: GRPCError) -> str | None:
    """Return the ``ErrorInfo.reason`` of a received error, or ``None`` when it has none."""
    for detail in exc.details or ():
        if isinstance(detail, ErrorInfo) and detail.domain == ERROR_DOMAIN:
            return str(detail.reason)
    return None


async def is_serving(channel: Channel, *, within_seconds: float = 1.0) -> bool:
    """True when the server's ``grpc.health.v1.Health/Check`` says SERVING within
    ``within_seconds``; False on any error or timeout."""
    try:
        reply = await HealthStub(channel).Check(HealthCheckRequest(), timeout=within_seconds)
    except (GRPCError, OSError, TimeoutError, StreamTerminatedError, ProtocolError):
        return False
    return bool(reply.status == HealthCheckResponse.SERVING)
