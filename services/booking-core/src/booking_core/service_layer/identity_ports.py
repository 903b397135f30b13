"""The ports of the identity context: organisations, users, refresh tokens, sign-in
throttling and teams."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID

from booking_core.domain.identity import Organisation, RefreshToken, Team, User


class OrganisationRepository(Protocol):
    async def add(self, organisation: Organisation) -> None: ...

    async def get(self, organisation_id: UUID) -> Organisation | None: ...


class UserRepository(Protocol):
    async def add(self, user: User) -> None:
        """Insert; raises ``EmailTaken`` when the email (case-insensitive) is in use."""

    async def get(self, user_id: UUID, *, for_update: bool = False) -> User | None: ...

    async def by_email(self, email: str) -> User | None:
        """The user with this email, compared case-insensitively."""

    async def save(self, user: User) -> None:
        """Write back display name, password hash, role, disabled and ``updated_at``."""

    async def delete(self, user_id: UUID) -> None: ...

    async def list_page(
        self, organisation_id: UUID, *, after: tuple[datetime, UUID] | None, limit: int
    ) -> list[User]:
        """The organisation's users by ``(created_at, id)``, strictly after ``after``."""


class RefreshTokenRepository(Protocol):
    async def add(self, token: RefreshToken) -> None: ...

    async def by_hash(
        self, token_hash: bytes, *, for_update: bool = False
    ) -> RefreshToken | None: ...

    async def mark_used(self, token_id: UUID, *, now: datetime) -> None: ...

    async def revoke_family(self, family_id: UUID, *, now: datetime) -> None:
        """Revoke every token of the family that is not revoked yet."""

    async def revoke_user(self, user_id: UUID, *, now: datetime) -> None:
        """Revoke every family of the user (disabled, deleted, password changed)."""


class LoginThrottle(Protocol):
    async def locked_until(self, keys: list[str], *, now: datetime) -> datetime | None:
        """The latest lock still in force on any of ``keys``, or ``None``."""

    async def failed(
        self, key: str, *, now: datetime, window_seconds: float, limit: int, lock_seconds: float
    ) -> None:
        """Count a failure of ``key``; the ``limit``-th within the window locks it."""

    async def clear(self, key: str) -> None: ...


class TeamRepository(Protocol):
    async def add(self, team: Team) -> None: ...

    async def get(self, team_id: UUID, *, for_update: bool = False) -> Team | None:
        """The team with its member ids."""

    async def save(self, team: Team) -> None:
        """Write back the name and ``updated_at`` (members change with their own calls)."""

    async def delete(self, team_id: UUID) -> bool:
        """Delete the team and its memberships; False when event types still use it."""

    async def add_member(self, team_id: UUID, provider_id: UUID) -> None:
        """Idempotent."""

    async def remove_member(self, team_id: UUID, provider_id: UUID) -> None:
        """Idempotent."""

    async def list_page(
        self, organisation_id: UUID, *, after: tuple[datetime, UUID] | None, limit: int
    ) -> list[Team]: ...
