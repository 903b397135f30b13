"""Delivering one event's mail: fetch its job from booking-core with every
recipient's delivery claimed, send each, record each outcome; the last outcome
completes the job.
Kept free of dramatiq so it can be tested against fakes of its ports.

Exactly once per (booking, version, kind, recipient) in normal operation, at
least once always:

- booking-core's claim is atomic: of two jobs for one event (a redelivery, a
  retry) only one gets ``CLAIMED``; the other sees ``BUSY`` (and retries later)
  or ``DONE``.
- a delivery is marked sent right after the SMTP server accepts it. A worker
  that dies in between leaves a claim that another job takes over once the
  claim's lease ends, and sends again with the same Message-ID, so a mail
  client (or a test) sees the duplicate for what it is.
- a transient SMTP failure releases the claim and fails the job, which
  dramatiq retries with backoff; a permanent one (5yz) is recorded and shown
  by the admin API's mail failures, and never retried.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Protocol

from bookings_common.logging import get_logger
from bookings_proto.bookings import v1 as pb

from .compose import InvalidRecipient
from .smtp import SmtpFailure

log = get_logger("mail_worker")
WORKER_ACTOR = pb.Actor(service="mail-worker")
FINISH_ATTEMPTS = 5


class Core(Protocol):
    """The booking-core calls a delivery needs."""

    async def start(
        self, event_id: int
    ) -> tuple[pb.MailJob, list[pb.ClaimMailDeliveryResponse]] | None:
        """The event's job and its recipients' claims (``GetMailJob`` with ``claim``), in
        one call; ``None`` when booking-core sends no mail for it. The claims are empty
        when booking-core predates claiming with the job."""

    async def claim(self, event_id: int, recipient: str) -> pb.ClaimMailDeliveryResponse: ...

    async def finish(
        self,
        delivery_id: str,
        result: pb.MailDeliveryResult,
        error: str,
        *,
        complete_job: bool = False,
    ) -> None: ...

    async def complete(self, event_id: int) -> None: ...


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> None:
        """Hand the message to the SMTP server; raises ``SmtpFailure``."""


Composer = Callable[[pb.MailJob, pb.MailRecipient, str], EmailMessage]


class RetryLater(Exception):
    """Some of the event's deliveries could not be done now; the job is retried."""


@dataclass(slots=True)
class Report:
    """What one run of a job did, per recipient address."""

    sent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    already_done: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)


async def _finish(
    core: Core,
    delivery_id: str,
    result: pb.MailDeliveryResult,
    error: str = "",
    *,
    complete_job: bool = False,
) -> None:
    """Record the outcome (and with ``complete_job`` complete the job), retrying
    briefly: after a send, losing this call is what would cause a duplicate."""
    for attempt in range(FINISH_ATTEMPTS):
        try:
            await core.finish(delivery_id, result, error, complete_job=complete_job)
            return
        except Exception:
            if attempt == FINISH_ATTEMPTS - 1:
                raise
            await asyncio.sleep(0.2 * 2**attempt)


async def deliver(core: Core, mailer: Mailer, compose: Composer, event_id: int) -> Report:
    """Send the event's messages that are not sent yet: two calls to booking-core for a
    job of one recipient (the job with its claim, then the result with the job's
    completion), one more for each further recipient.

    Raises ``RetryLater`` when a delivery is busy elsewhere or failed transiently
    (after doing every other one), and whatever booking-core calls raise.
    """
    report = Report()
    started = await core.start(event_id)
    if started is None:  # booking-core sends nothing for it: never hand it out again
        log.warning("mail.no_job", eventId=event_id)
        await core.complete(event_id)
        return report
    job, claims = started
    errors: list[str] = []
    completed = False
    for index, recipient in enumerate(job.recipients):
        claim = (
            claims[index]
            if len(claims) == len(job.recipients)
            else await core.claim(event_id, recipient.email)
        )
        if claim.outcome == pb.ClaimMailOutcome.DONE:
            report.already_done.append(recipient.email)
            continue
        if claim.outcome != pb.ClaimMailOutcome.CLAIMED:
            report.pending.append(recipient.email)
            errors.append(f"{recipient.email}: claimed by another worker")
            continue
        # The last recipient's result completes the job when every other one is done.
        last = index == len(job.recipients) - 1 and not report.pending
        fields = {
            "eventId": event_id,
            "kind": job.kind.name.lower(),
            "role": recipient.role,
            "messageId": claim.message_id,
        }
        try:
            message = compose(job, recipient, claim.message_id)
            await mailer.send(message)
        except InvalidRecipient as exc:
            await _finish(
                core, claim.delivery_id, pb.MailDeliveryResult.FAILED, str(exc), complete_job=last
            )
            completed = last
            report.failed.append(recipient.email)
            log.warning("mail.failed", error=str(exc), **fields)
            continue
        except SmtpFailure as exc:
            if exc.permanent:
                await _finish(
                    core,
                    claim.delivery_id,
                    pb.MailDeliveryResult.FAILED,
                    str(exc),
                    complete_job=last,
                )
                completed = last
                report.failed.append(recipient.email)
                log.warning("mail.failed", error=str(exc), **fields)
                continue
            try:
                await core.finish(claim.delivery_id, pb.MailDeliveryResult.RETRY, str(exc))
            except Exception as finish_error:  # the lease releases it anyway
                log.warning("mail.release_failed", error=str(finish_error), **fields)
            report.pending.append(recipient.email)
            errors.append(f"{recipient.email}: {exc}")
            log.warning("mail.deferred", error=str(exc), **fields)
            continue
        await _finish(core, claim.delivery_id, pb.MailDeliveryResult.SENT, complete_job=last)
        completed = last
        report.sent.append(recipient.email)
        log.info("mail.sent", **fields)
    if report.pending:
        raise RetryLater("; ".join(errors))
    if not completed:
        await core.complete(event_id)
    return report
