"""PostgreSQL repositories of the identity context: organisations, users, refresh
tokens, sign-in throttling, teams and the audit log."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping

from booking_core.domain.audit import AuditEntry, LoggedAuditEntry
from booking_core.domain.errors import EmailTaken, NotFound
from booking_core.domain.identity import Organisation, RefreshToken, Team, User, UserRole

from .session import Session, sqlstate_of
from .tables import (
    audit_log,
    event_types,
    login_throttle,
    organisations,
    refresh_tokens,
    team_members,
    teams,
    users,
)


class SqlOrganisations:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def add(self, organisation: Organisation) -> None:
        await self._session.write(
            organisations.insert().values(
                id=organisation.id, name=organisation.name, created_at=organisation.created_at
            )
        )

    async def get(self, organisation_id: UUID) -> Organisation | None:
        row = await self._session.first(
            sa.select(organisations).where(organisations.c.id == organisation_id),
            for_update=False,
        )
        return None if row is None else Organisation(row["id"], row["name"], row["created_at"])


def _user(row: RowMapping) -> User:
    return User(
        id=row["id"],
        organisation_id=row["organisation_id"],
        email=row["email"],
        display_name=row["display_name"],
        password_hash=row["password_hash"],
        role=UserRole(row["role"]),
        provider_id=row["provider_id"],
        disabled=row["disabled"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class SqlUsers:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def add(self, user: User) -> None:
        try:
            await self._session.write(
                users.insert().values(
                    id=user.id,
                    organisation_id=user.organisation_id,
                    email=user.email,
                    display_name=user.display_name,
                    password_hash=user.password_hash,
                    role=user.role.value,
                    provider_id=user.provider_id,
                    disabled=user.disabled,
                    created_at=user.created_at,
                    updated_at=user.updated_at,
                )
            )
        except sa.exc.IntegrityError as exc:
            constraint = sqlstate_of(exc)[1]
            if constraint == "users_email_lower_key":
                raise EmailTaken("a user with this email exists") from None
            if constraint == "users_provider_id_key":
                raise EmailTaken("that provider already has a user") from None
            if constraint == "users_organisation_id_fkey":
                raise NotFound("organisation not found") from None
            raise

    async def get(self, user_id: UUID, *, for_update: bool = False) -> User | None:
        row = await self._session.first(
            sa.select(users).where(users.c.id == user_id), for_update=for_update
        )
        return None if row is None else _user(row)

    async def by_email(self, email: str) -> User | None:
        row = await self._session.first(
            sa.select(users).where(sa.func.lower(users.c.email) == email.lower()),
            for_update=False,
        )
        return None if row is None else _user(row)

    async def save(self, user: User) -> None:
        await self._session.write(
            users.update()
            .where(users.c.id == user.id)
            .values(
                display_name=user.display_name,
                password_hash=user.password_hash,
                role=user.role.value,
                disabled=user.disabled,
                updated_at=user.updated_at,
            )
        )

    async def delete(self, user_id: UUID) -> None:
        await self._session.write(users.delete().where(users.c.id == user_id))

    async def list_page(
        self, organisation_id: UUID, *, after: tuple[datetime, UUID] | None, limit: int
    ) -> list[User]:
        query = (
            sa.select(users)
            .where(users.c.organisation_id == organisation_id)
            .order_by(users.c.created_at, users.c.id)
            .limit(limit)
        )
        if after is not None:
            query = query.where(sa.tuple_(users.c.created_at, users.c.id) > sa.tuple_(*after))
        return [_user(row) for row in (await self._session.read(query)).mappings()]


class SqlRefreshTokens:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def add(self, token: RefreshToken) -> None:
        await self._session.write(
            refresh_tokens.insert().values(
                id=token.id,
                family_id=token.family_id,
                user_id=token.user_id,
                token_hash=token.token_hash,
                created_at=token.created_at,
                expires_at=token.expires_at,
            )
        )

    async def by_hash(self, token_hash: bytes, *, for_update: bool = False) -> RefreshToken | None:
        row = await self._session.first(
            sa.select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash),
            for_update=for_update,
        )
        if row is None:
            return None
        return RefreshToken(
            id=row["id"],
            family_id=row["family_id"],
            user_id=row["user_id"],
            token_hash=bytes(row["token_hash"]),
            created_at=row["created_at"],
            expires_at=row["expires_at"],
            used_at=row["used_at"],
            revoked_at=row["revoked_at"],
        )

    async def mark_used(self, token_id: UUID, *, now: datetime) -> None:
        await self._session.write(
            refresh_tokens.update().where(refresh_tokens.c.id == token_id).values(used_at=now)
        )

    async def revoke_family(self, family_id: UUID, *, now: datetime) -> None:
        await self._session.write(
            refresh_tokens.update()
            .where(refresh_tokens.c.family_id == family_id, refresh_tokens.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )

    async def revoke_user(self, user_id: UUID, *, now: datetime) -> None:
        await self._session.write(
            refresh_tokens.update()
            .where(refresh_tokens.c.user_id == user_id, refresh_tokens.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )


class SqlLoginThrottle:
    """One row per key: failures in the current window, and a lock once past the limit."""

    def __init__(self, session: Session) -> None:
        self._session = session

    async def locked_until(self, keys: list[str], *, now: datetime) -> datetime | None:
        query = sa.select(sa.func.max(login_throttle.c.locked_until)).where(
            login_throttle.c.key.in_(keys), login_throttle.c.locked_until > now
        )
        value: datetime | None = (await self._session.read(query)).scalar()
        return value

    async def failed(
        self, key: str, *, now: datetime, window_seconds: float, limit: int, lock_seconds: float
    ) -> None:
        window_start = now - timedelta(seconds=window_seconds)
        fresh = login_throttle.c.window_start < window_start
        failures = sa.case((fresh, 1), else_=login_throttle.c.failures + 1)
        statement = pg_insert(login_throttle).values(
            key=key,
            failures=1,
            window_start=now,
            locked_until=now + timedelta(seconds=lock_seconds) if limit <= 1 else None,
        )
        statement = statement.on_conflict_do_update(
            index_elements=[login_throttle.c.key],
            set_={
                "failures": failures,
                "window_start": sa.case((fresh, now), else_=login_throttle.c.window_start),
                "locked_until": sa.case(
                    (failures >= limit, now + timedelta(seconds=lock_seconds)),
                    else_=login_throttle.c.locked_until,
                ),
            },
        )
        await self._session.write(statement)

    async def clear(self, key: str) -> None:
        await self._session.write(login_throttle.delete().where(login_throttle.c.key == key))


def _members_of(team_id: Any) -> sa.ScalarSelect[Any]:
    return (
        sa.select(sa.func.coalesce(sa.func.array_agg(team_members.c.provider_id), sa.text("'{}'")))
        .where(team_members.c.team_id == team_id)
        .scalar_subquery()
    )


TEAM_WITH_MEMBERS = sa.select(teams, _members_of(teams.c.id).label("member_ids"))


def _team(row: RowMapping) -> Team:
    return Team(
        id=row["id"],
        organisation_id=row["organisation_id"],
        name=row["name"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        member_ids=tuple(sorted(row["member_ids"] or (), key=str)),
    )


class SqlTeams:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def add(self, team: Team) -> None:
        await self._session.write(
            teams.insert().values(
                id=team.id,
                organisation_id=team.organisation_id,
                name=team.name,
                created_at=team.created_at,
                updated_at=team.updated_at,
            )
        )

    async def get(self, team_id: UUID, *, for_update: bool = False) -> Team | None:
        query = TEAM_WITH_MEMBERS.where(teams.c.id == team_id)
        if for_update:
            row = (await self._session.write(query.with_for_update(of=teams))).mappings().first()
        else:
            row = (await self._session.read(query)).mappings().first()
        return None if row is None else _team(row)

    async def save(self, team: Team) -> None:
        await self._session.write(
            teams.update()
            .where(teams.c.id == team.id)
            .values(name=team.name, updated_at=team.updated_at)
        )

    async def delete(self, team_id: UUID) -> bool:
        used = await self._session.read(
            sa.select(sa.literal(1)).where(event_types.c.team_id == team_id).limit(1)
        )
        if used.first() is not None:
            return False
        await self._session.write(teams.delete().where(teams.c.id == team_id))
        return True

    async def add_member(self, team_id: UUID, provider_id: UUID) -> None:
        await self._session.write(
            pg_insert(team_members)
            .values(team_id=team_id, provider_id=provider_id)
            .on_conflict_do_nothing()
        )

    async def remove_member(self, team_id: UUID, provider_id: UUID) -> None:
        await self._session.write(
            team_members.delete().where(
                team_members.c.team_id == team_id, team_members.c.provider_id == provider_id
            )
        )

    async def list_page(
        self, organisation_id: UUID, *, after: tuple[datetime, UUID] | None, limit: int
    ) -> list[Team]:
        query = (
            TEAM_WITH_MEMBERS.where(teams.c.organisation_id == organisation_id)
            .order_by(teams.c.created_at, teams.c.id)
            .limit(limit)
        )
        if after is not None:
            query = query.where(sa.tuple_(teams.c.created_at, teams.c.id) > sa.tuple_(*after))
        return [_team(row) for row in (await self._session.read(query)).mappings()]


class SqlAuditLog:
    def __init__(self, session: Session) -> None:
        self._session = session

    async def record(self, entry: AuditEntry) -> None:
        await self._session.write(
            audit_log.insert().values(
                organisation_id=entry.organisation_id,
                actor=entry.actor,
                action=entry.action,
                target_type=entry.target_type,
                target_id=entry.target_id,
                details=entry.details,
                request_id=entry.request_id,
            )
        )

    async def list_page(
        self, organisation_id: UUID, *, before_id: int | None, limit: int
    ) -> list[LoggedAuditEntry]:
        query = (
            sa.select(audit_log)
            .where(audit_log.c.organisation_id == organisation_id)
            .order_by(audit_log.c.id.desc())
            .limit(limit)
        )
        if before_id is not None:
            query = query.where(audit_log.c.id < before_id)
        return [
            LoggedAuditEntry(
                row["id"],
                AuditEntry(
                    organisation_id=row["organisation_id"],
                    actor=row["actor"],
                    action=row["action"],
                    target_type=row["target_type"],
                    target_id=row["target_id"],
                    details=row["details"],
                    request_id=row["request_id"],
                ),
                row["created_at"],
            )
            for row in (await self._session.read(query)).mappings()
        ]
