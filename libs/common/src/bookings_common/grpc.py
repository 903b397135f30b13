"""gRPC helpers shared by the services that call or serve booking-core.

- ``create_channel``: one long-lived grpclib channel that stamps every call with
  ``x-internal-token`` and the current ``x-request-id``.
- ``is_serving``: the standard gRPC health check, for ``/ready``.
- ``error`` / ``error_reason``: errors carry a ``google.rpc.ErrorInfo`` detail
  (AIP-193) whose ``reason`` is the stable error code, so callers map statuses
  that share a gRPC code (``FAILED_PRECONDITION``) to distinct REST answers.
"""

from __future__ import annotations

from typing import Final

from google.rpc.error_details_pb2 import ErrorInfo
from grpclib.client import Channel
from grpclib.const import Status
from grpclib.events import SendRequest, listen
from grpclib.exceptions import GRPCError, ProtocolError, StreamTerminatedError
from grpclib.health.v1.health_grpc import HealthStub
from grpclib.health.v1.health_pb2 import HealthCheckRequest, HealthCheckResponse

from .logging import current_request_id

INTERNAL_TOKEN_HEADER: Final = "x-internal-token"
REQUEST_ID_HEADER: Final = "x-request-id"
ERROR_DOMAIN: Final = "bookings.v1"
DEFAULT_DEADLINE_SECONDS: Final = 5.0


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
    ``x-request-id``. Deadlines are set per stub (``timeout=`` seconds on the
    generated stub) or per call. Close the channel with ``channel.close()``.
    """
    host, port = parse_target(target)
    channel = Channel(host, port)

    async def add_metadata(event: SendRequest) -> None:
        event.metadata[INTERNAL_TOKEN_HEADER] = internal_token
        request_id = current_request_id()
        if request_id is not None:
            event.metadata[REQUEST_ID_HEADER] = request_id

    listen(channel, SendRequest, add_metadata)
    return channel


def error(status: Status, reason: str, message: str) -> GRPCError:
    """Build a ``GRPCError`` whose details hold ``ErrorInfo(reason, domain="bookings.v1")``."""
    return GRPCError(status, message, [ErrorInfo(reason=reason, domain=ERROR_DOMAIN)])


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
