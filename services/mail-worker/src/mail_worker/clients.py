"""The worker's long-lived clients (one grpclib channel to booking-core), opened lazily
on the worker's event loop and closed when the worker shuts down."""

from __future__ import annotations

from bookings_common.grpc import create_channel
from bookings_proto.bookings import v1 as pb
from dramatiq.middleware import Middleware
from grpclib.client import Channel
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from .delivery import WORKER_ACTOR
from .settings import Settings


class CoreClient:
    """``delivery.Core`` over booking-core's ``MailService``."""

    def __init__(self, channel: Channel, deadline_seconds: float) -> None:
        self._stub = pb.MailServiceStub(channel, timeout=deadline_seconds)

    async def start(
        self, event_id: int
    ) -> tuple[pb.MailJob, list[pb.ClaimMailDeliveryResponse]] | None:
        try:
            reply = await self._stub.get_mail_job(
                pb.GetMailJobRequest(actor=WORKER_ACTOR, event_id=event_id, claim=True)
            )
        except GRPCError as exc:
            if exc.status is Status.NOT_FOUND:
                return None
            raise
        if reply.job is None:
            return None
        return reply.job, list(reply.claims)

    async def claim(self, event_id: int, recipient: str) -> pb.ClaimMailDeliveryResponse:
        return await self._stub.claim_mail_delivery(
            pb.ClaimMailDeliveryRequest(actor=WORKER_ACTOR, event_id=event_id, recipient=recipient)
        )

    async def finish(
        self,
        delivery_id: str,
        result: pb.MailDeliveryResult,
        error: str,
        *,
        complete_job: bool = False,
    ) -> None:
        await self._stub.finish_mail_delivery(
            pb.FinishMailDeliveryRequest(
                actor=WORKER_ACTOR,
                delivery_id=delivery_id,
                result=result,
                error=error,
                complete_job=complete_job,
            )
        )

    async def complete(self, event_id: int) -> None:
        await self._stub.complete_mail_job(
            pb.CompleteMailJobRequest(actor=WORKER_ACTOR, event_id=event_id)
        )


class Clients(Middleware):
    """Dramatiq middleware owning the gRPC channel: created on first use in the worker's
    event loop thread, closed before the worker shuts down."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._channel: Channel | None = None
        self.core: CoreClient | None = None

    def open(self) -> CoreClient:
        """The client, opening it on first use (call from the event loop thread)."""
        if self.core is None:
            self._channel = create_channel(
                self._settings.core_grpc_target, internal_token=self._settings.internal_token
            )
            self.core = CoreClient(self._channel, self._settings.core_deadline_seconds)
        return self.core

    def before_worker_shutdown(self, broker: object, worker: object) -> None:
        if self._channel is not None:
            self._channel.close()
