"""Building audit entries for the changes the use cases make (written in the change's
own transaction through ``UnitOfWork.audit``)."""

from __future__ import annotations

from typing import Any

from bookings_common.logging import current_request_id

from booking_core.domain.audit import AuditEntry
from booking_core.domain.event_types import EventType
from booking_core.domain.identity import Team, User
from booking_core.domain.model import Actor, Booking

Target = EventType | Team | User | Booking


def _kind(target: Target) -> str:
    if isinstance(target, EventType):
        return "event_type"
    if isinstance(target, Team):
        return "team"
    if isinstance(target, User):
        return "user"
    return "booking"


def audit_entry(actor: Actor, action: str, target: Target, details: dict[str, Any]) -> AuditEntry:
    """What ``actor`` did (``action``) to ``target``, in the target's organisation, with
    the current request id."""
    return AuditEntry(
        organisation_id=target.organisation_id,
        actor=actor.label,
        action=action,
        target_type=_kind(target),
        target_id=str(target.id),
        details=details,
        request_id=current_request_id(),
    )
