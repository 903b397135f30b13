"""Mail use cases: what the mail worker sends for an event, the exactly-once delivery
records, the invitations behind the ``.ics`` routes and the failures admins see.

No mail is sent here or from any request: the dispatcher
(``adapters.mail_dispatcher``) hands each mail-worthy event to the mail worker,
which asks for its job (``get_mail_job``), claims each recipient's delivery
before sending (``claim_delivery``), records the SMTP outcome
(``finish_delivery``) and finally completes the job (``complete_job``).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final
from uuid import UUID

from booking_core.domain import event_type_commands as et_cmds
from booking_core.domain.errors import InvalidArgument, NotFound, PermissionDenied
from booking_core.domain.mail import (
    MAIL_KIND_OF,
    BookingDetails,
    Invitation,
    MailKind,
    Party,
    Recipient,
    invitation_for,
    recipients_of,
)
from booking_core.domain.model import Actor, Booking, BookingStatus

from .mail_ports import (
    DeliveryClaim,
    DeliveryKey,
    DeliveryResult,
    MailFailure,
    MailSource,
    MailStore,
)
from .ports import Clock

MAX_FAILURES_PAGE: Final = 100
MAX_ERROR_LENGTH: Final = 1000


@dataclass(frozen=True, slots=True)
class MailJob:
    """Everything one event's messages need. ``version`` is the invitation's SEQUENCE;
    ``recipients`` is empty when nothing is to be sent any more (a reminder of a
    booking cancelled since). ``manage_token`` is set for a guest booking whose
    manage link can be derived."""

    event_id: int
    kind: MailKind
    booking: Booking
    version: int
    details: BookingDetails
    recipients: list[Recipient]
    manage_token: str
    invitation: Invitation
    invitation_ics: str
    # With ``claim``: each recipient's claim, in the order of ``recipients``.
    claims: list[DeliveryClaim] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class MailRules:
    """``sender`` is ``MAIL_FROM``; a claim older than ``claim_lease`` may be taken over
    (a worker died between claim and finish)."""

    sender: Party
    claim_lease: timedelta


class MailService:
    def __init__(
        self,
        *,
        store: MailStore,
        clock: Clock,
        rules: MailRules,
        render: Callable[[Invitation], str],
        get_booking: Callable[[Actor, UUID], Awaitable[Booking]],
        get_guest_booking: Callable[[str, str], Awaitable[Booking]],
        get_manage_token: Callable[[et_cmds.GetManageToken], Awaitable[tuple[str, str]]],
    ) -> None:
        self._store = store
        self._clock = clock
        self._rules = rules
        self._render = render
        self._get_booking = get_booking
        self._get_guest_booking = get_guest_booking
        self._get_manage_token = get_manage_token

    async def get_mail_job(self, actor: Actor, event_id: int, *, claim: bool = False) -> MailJob:
        """The job of event ``event_id`` (services only: ``PermissionDenied``), with
        ``claim`` each recipient's delivery claimed as ``claim_delivery`` claims one.

        ``NotFound`` when the event is unknown or sends no mail.
        """
        kind, source, version, recipients = await self._job_basis(actor, event_id)
        booking, details = source.booking, source.details
        token = ""
        if booking.reference is not None:
            try:
                _, token = await self._get_manage_token(et_cmds.GetManageToken(actor, booking.id))
            except NotFound:
                token = ""  # MANAGE_TOKEN_SECRET changed: send no dead link
        invitation = invitation_for(booking, details, sender=self._rules.sender, version=version)
        claims = []
        if claim:
            for recipient in recipients:
                key = DeliveryKey(event_id, booking.id, version, kind, recipient.party.email)
                claims.append(await self._claim(key))
        return MailJob(
            event_id=event_id,
            kind=kind,
            booking=booking,
            version=version,
            details=details,
            recipients=recipients,
            manage_token=token,
            invitation=invitation,
            invitation_ics=self._render(invitation),
            claims=claims,
        )

    async def _job_basis(
        self, actor: Actor, event_id: int
    ) -> tuple[MailKind, MailSource, int, list[Recipient]]:
        """The kind, source, invitation version and recipients of the event's mail (one
        query); ``PermissionDenied`` for non-services, ``NotFound`` when it sends none."""
        _require_service(actor)
        source = await self._store.source(event_id)
        kind = MAIL_KIND_OF.get(source.event_type) if source is not None else None
        if source is None or kind is None:
            raise NotFound("no mail is sent for this event")
        booking = source.booking
        # Bookings change only by being cancelled: what was made was version 1.
        version = 1 if kind is MailKind.CREATED else booking.version
        recipients = recipients_of(booking, source.details)
        if kind is MailKind.REMINDER and booking.status is BookingStatus.CANCELLED:
            recipients = []
        return kind, source, version, recipients

    async def claim_delivery(self, actor: Actor, event_id: int, recipient: str) -> DeliveryClaim:
        """Claim the event's message to ``recipient`` (an address of the job's
        recipients, else ``InvalidArgument``); see ``MailStore.claim``."""
        kind, source, version, recipients = await self._job_basis(actor, event_id)
        wanted = recipient.casefold()
        match = next((r for r in recipients if r.party.email.casefold() == wanted), None)
        if match is None:
            raise InvalidArgument("recipient", "is not a recipient of this event's mail")
        return await self._claim(
            DeliveryKey(event_id, source.booking.id, version, kind, match.party.email)
        )

    async def _claim(self, key: DeliveryKey) -> DeliveryClaim:
        return await self._store.claim(
            key,
            message_id=self.new_message_id(),
            now=self._clock(),
            lease=self._rules.claim_lease,
        )

    def new_message_id(self) -> str:
        """A fresh ``Message-ID`` (RFC 5322, section 3.6.4) on ``MAIL_FROM``'s domain."""
        domain = self._rules.sender.email.rpartition("@")[2] or "localhost"
        return f"<{uuid.uuid4()}@{domain}>"

    async def finish_delivery(
        self,
        actor: Actor,
        delivery_id: UUID,
        result: DeliveryResult,
        error: str,
        *,
        complete_job: bool = False,
    ) -> None:
        """Record what the SMTP server said, and with ``complete_job`` complete the
        delivery's job too (``complete_job``); ``NotFound`` if it is not a live claim."""
        _require_service(actor)
        now = self._clock()
        event_id = await self._store.finish(delivery_id, result, error[:MAX_ERROR_LENGTH], now=now)
        if event_id is None:
            raise NotFound("no claimed delivery has this id")
        if complete_job:
            await self._store.complete_job(event_id, now=now)

    async def complete_job(self, actor: Actor, event_id: int) -> None:
        """Every recipient is handled: the dispatcher stops handing the event out."""
        _require_service(actor)
        await self._store.complete_job(event_id, now=self._clock())

    async def get_invitation(
        self,
        actor: Actor,
        *,
        booking_id: UUID | None = None,
        reference: str = "",
        manage_token: str = "",
    ) -> Invitation:
        """The booking's current invitation, for whoever may see the booking (by id), or
        for the holder of a guest booking's reference and manage token; ``NotFound``
        otherwise (the same for "not yours" and "no such booking")."""
        if booking_id is not None:
            booking = await self._get_booking(actor, booking_id)
        elif reference:
            booking = await self._get_guest_booking(reference, manage_token)
        else:
            raise InvalidArgument("booking_id", "or a reference and manage token is required")
        details = await self._store.details(booking)
        return invitation_for(booking, details, sender=self._rules.sender)

    def render(self, invitation: Invitation) -> str:
        """The invitation as RFC 5545 text."""
        return self._render(invitation)

    async def list_failures(self, actor: Actor, limit: int) -> list[MailFailure]:
        """Permanent failures in the admin's organisation (admins only), newest first."""
        if not actor.is_admin or actor.organisation_id is None:
            raise PermissionDenied("only an organisation's admin may list mail failures")
        if not 1 <= limit <= MAX_FAILURES_PAGE:
            raise InvalidArgument("limit", f"must be between 1 and {MAX_FAILURES_PAGE}")
        return await self._store.failures(actor.organisation_id, limit)


def _require_service(actor: Actor) -> None:
    if not actor.is_service:
        raise PermissionDenied("only a trusted service may send mail")
