"""gRPC edge of the mail context: ``bookings.v1.MailService`` over ``MailService``.
Errors are mapped by ``rpc`` exactly as for ``BookingService``."""

from __future__ import annotations

from typing import Final

from bookings_proto.bookings import v1 as pb

from booking_core.domain.errors import InvalidArgument
from booking_core.domain.mail import MailKind
from booking_core.service_layer.mail import MailJob, MailService
from booking_core.service_layer.mail_ports import ClaimResult, DeliveryClaim, DeliveryResult

from .grpc_server import CallGuard, booking_to_pb, page_limit, parse_actor, parse_uuid, rpc

KIND_TO_PB: Final = {
    MailKind.CREATED: pb.MailKind.CREATED,
    MailKind.CANCELLED: pb.MailKind.CANCELLED,
    MailKind.REMINDER: pb.MailKind.REMINDER,
}
_CLAIM_TO_PB: Final = {
    ClaimResult.CLAIMED: pb.ClaimMailOutcome.CLAIMED,
    ClaimResult.DONE: pb.ClaimMailOutcome.DONE,
    ClaimResult.BUSY: pb.ClaimMailOutcome.BUSY,
}
_RESULT_FROM_PB: Final = {
    pb.MailDeliveryResult.SENT: DeliveryResult.SENT,
    pb.MailDeliveryResult.FAILED: DeliveryResult.FAILED,
    pb.MailDeliveryResult.RETRY: DeliveryResult.RETRY,
}
DEFAULT_FAILURES_PAGE: Final = 50


def mail_job_to_pb(job: MailJob) -> pb.MailJob:
    details = job.details
    return pb.MailJob(
        event_id=job.event_id,
        kind=KIND_TO_PB[job.kind],
        booking=booking_to_pb(job.booking),
        version=job.version,
        summary=details.summary,
        location=details.location,
        description=details.description,
        time_zone=details.time_zone,
        provider_name=details.provider_name,
        recipients=[
            pb.MailRecipient(role=r.role.value, email=r.party.email, name=r.party.name)
            for r in job.recipients
        ],
        reference=job.booking.reference or "",
        manage_token=job.manage_token,
        invitation_ics=job.invitation_ics,
        invitation_method=job.invitation.method.value,
    )


def claim_to_pb(claim: DeliveryClaim) -> pb.ClaimMailDeliveryResponse:
    return pb.ClaimMailDeliveryResponse(
        outcome=_CLAIM_TO_PB[claim.result],
        delivery_id=str(claim.delivery_id) if claim.delivery_id else "",
        message_id=claim.message_id,
    )


class MailServicer(pb.MailServiceBase):
    """``bookings.v1.MailService`` over ``MailService``."""

    def __init__(self, service: MailService, guard: CallGuard) -> None:
        self.service = service
        self.guard = guard

    @rpc
    async def get_mail_job(self, message: pb.GetMailJobRequest) -> pb.GetMailJobResponse:
        job = await self.service.get_mail_job(
            parse_actor(message.actor), message.event_id, claim=message.claim
        )
        return pb.GetMailJobResponse(
            job=mail_job_to_pb(job), claims=[claim_to_pb(claim) for claim in job.claims]
        )

    @rpc
    async def claim_mail_delivery(
        self, message: pb.ClaimMailDeliveryRequest
    ) -> pb.ClaimMailDeliveryResponse:
        claim = await self.service.claim_delivery(
            parse_actor(message.actor), message.event_id, message.recipient
        )
        return claim_to_pb(claim)

    @rpc
    async def finish_mail_delivery(
        self, message: pb.FinishMailDeliveryRequest
    ) -> pb.FinishMailDeliveryResponse:
        result = _RESULT_FROM_PB.get(message.result)
        if result is None:
            raise InvalidArgument("result", "must be SENT, FAILED or RETRY")
        await self.service.finish_delivery(
            parse_actor(message.actor),
            parse_uuid(message.delivery_id, "delivery_id"),
            result,
            message.error,
            complete_job=message.complete_job,
        )
        return pb.FinishMailDeliveryResponse()

    @rpc
    async def complete_mail_job(
        self, message: pb.CompleteMailJobRequest
    ) -> pb.CompleteMailJobResponse:
        await self.service.complete_job(parse_actor(message.actor), message.event_id)
        return pb.CompleteMailJobResponse()

    @rpc
    async def get_invitation(self, message: pb.GetInvitationRequest) -> pb.GetInvitationResponse:
        invitation = await self.service.get_invitation(
            parse_actor(message.actor),
            booking_id=parse_uuid(message.booking_id, "booking_id") if message.booking_id else None,
            reference=message.reference,
            manage_token=message.manage_token,
        )
        return pb.GetInvitationResponse(
            ics=self.service.render(invitation), method=invitation.method.value
        )

    @rpc
    async def list_mail_failures(
        self, message: pb.ListMailFailuresRequest
    ) -> pb.ListMailFailuresResponse:
        failures = await self.service.list_failures(
            parse_actor(message.actor), page_limit(message.limit, DEFAULT_FAILURES_PAGE)
        )
        return pb.ListMailFailuresResponse(
            failures=[
                pb.MailFailure(
                    delivery_id=str(f.delivery_id),
                    booking_id=str(f.booking_id),
                    kind=KIND_TO_PB[f.kind],
                    recipient=f.recipient,
                    error=f.error,
                    attempts=f.attempts,
                    failed_at=f.failed_at,
                )
                for f in failures
            ]
        )
