"""The audit log: who did what to which booking or setting, and when."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One change. ``actor`` is ``Actor.label`` (``admin:<user id>``, ``provider:<id>``,
    ``service:<name>``); ``action`` is ``<target type>.<verb>`` (``booking.cancelled``,
    ``event_type.updated``, ``team.member_added``, ``user.disabled``)."""

    organisation_id: UUID | None
    actor: str
    action: str
    target_type: str
    target_id: str
    details: dict[str, Any] = field(default_factory=dict)
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class LoggedAuditEntry:
    """An entry as stored: ``id`` increases with time."""

    id: int
    entry: AuditEntry
    created_at: datetime
