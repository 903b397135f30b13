"""booking-core's ``MailService`` as the REST API uses it: invitations and mail failures."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

from bookings_proto.bookings import v1 as pb
from bookings_web.auth import Principal
from bookings_web.grpc import actor
from grpclib.client import Channel

from .upstream import call_core

T = TypeVar("T")
GUEST = pb.Actor(guest=True)


def failure_data(failure: pb.MailFailure) -> dict[str, Any]:
    """A protobuf mail failure as the ``MailFailure`` schema's input."""
    return {
        "delivery_id": failure.delivery_id,
        "booking_id": failure.booking_id,
        "kind": failure.kind.name.lower(),
        "recipient": failure.recipient,
        "error": failure.error,
        "attempts": failure.attempts,
        "failed_at": failure.failed_at,
    }


class MailClient:
    """The mail calls the REST API makes; each raises ``ProblemError`` on failure."""

    def __init__(self, channel: Channel, *, deadline_seconds: float) -> None:
        self._stub = pb.MailServiceStub(channel, timeout=deadline_seconds)

    @staticmethod
    async def _call(call: Awaitable[T]) -> T:
        return await call_core(call)

    async def invitation(self, principal: Principal, booking_id: str) -> pb.GetInvitationResponse:
        """The booking's current invitation (404 when it is not the caller's)."""
        return await self._call(
            self._stub.get_invitation(
                pb.GetInvitationRequest(actor=actor(principal), booking_id=booking_id)
            )
        )

    async def guest_invitation(self, reference: str, token: str) -> pb.GetInvitationResponse:
        """A guest booking's invitation through its manage link (404 otherwise)."""
        return await self._call(
            self._stub.get_invitation(
                pb.GetInvitationRequest(actor=GUEST, reference=reference, manage_token=token)
            )
        )

    async def failures(self, principal: Principal, limit: int) -> list[pb.MailFailure]:
        reply = await self._call(
            self._stub.list_mail_failures(
                pb.ListMailFailuresRequest(actor=actor(principal), limit=limit)
            )
        )
        return reply.failures
