"""An organisation's teams and its audit log (admins of that organisation, or services).

A team's members are providers of the same organisation; a team that still owns
event types cannot be deleted (``TeamInUse``). Every change is written to the
audit log in its own transaction.
"""

from __future__ import annotations

import uuid
from typing import Final

from booking_core.domain import identity_commands as cmds
from booking_core.domain.audit import LoggedAuditEntry
from booking_core.domain.errors import InvalidArgument, NotFound, PermissionDenied, TeamInUse
from booking_core.domain.identity import Team, validate_display_name
from booking_core.domain.model import Actor

from .audit import audit_entry
from .cursors import decode_keyset, encode_keyset
from .identity import organisation_of
from .ports import Clock, UnitOfWorkFactory

MAX_PAGE: Final = 100


class OrganisationService:
    """Teams and the audit log; every public method is one use case."""

    def __init__(self, uow_factory: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow_factory
        self._clock = clock

    @staticmethod
    def _visible(actor: Actor, team: Team | None) -> Team:
        if team is None or not (actor.is_service or actor.administers(team.organisation_id)):
            raise NotFound("team not found")
        return team

    async def create_team(self, cmd: cmds.CreateTeam) -> Team:
        organisation_id = organisation_of(cmd.actor, cmd.organisation_id)
        now = self._clock()
        team = Team(
            uuid.uuid4(), organisation_id, validate_display_name(cmd.name, "name"), now, now
        )
        async with self._uow() as uow:
            await uow.teams.add(team)
            await uow.audit.record(
                audit_entry(cmd.actor, "team.created", team, {"name": team.name})
            )
            await uow.commit()
        return team

    async def get_team(self, cmd: cmds.GetTeam) -> Team:
        async with self._uow() as uow:
            return self._visible(cmd.actor, await uow.teams.get(cmd.team_id))

    async def list_teams(self, cmd: cmds.ListTeams) -> tuple[list[Team], str | None]:
        organisation_id = organisation_of(cmd.actor, None)
        if not 1 <= cmd.limit <= MAX_PAGE:
            raise InvalidArgument("limit", f"must be between 1 and {MAX_PAGE}")
        after = decode_keyset(cmd.cursor) if cmd.cursor else None
        async with self._uow() as uow:
            rows = await uow.teams.list_page(organisation_id, after=after, limit=cmd.limit + 1)
        page = rows[: cmd.limit]
        cursor = encode_keyset(page[-1].created_at, page[-1].id) if len(rows) > cmd.limit else None
        return page, cursor

    async def rename_team(self, cmd: cmds.RenameTeam) -> Team:
        name = validate_display_name(cmd.name, "name")
        async with self._uow() as uow:
            team = self._visible(cmd.actor, await uow.teams.get(cmd.team_id, for_update=True))
            if team.name == name:
                return team
            renamed = Team(
                team.id, team.organisation_id, name, team.created_at, self._clock(), team.member_ids
            )
            await uow.teams.save(renamed)
            await uow.audit.record(
                audit_entry(cmd.actor, "team.renamed", renamed, {"from": team.name, "to": name})
            )
            await uow.commit()
        return renamed

    async def delete_team(self, cmd: cmds.DeleteTeam) -> None:
        async with self._uow() as uow:
            team = self._visible(cmd.actor, await uow.teams.get(cmd.team_id, for_update=True))
            if not await uow.teams.delete(team.id):
                raise TeamInUse("the team still has event types; deactivate or move them first")
            await uow.audit.record(
                audit_entry(cmd.actor, "team.deleted", team, {"name": team.name})
            )
            await uow.commit()

    async def change_member(self, cmd: cmds.ChangeTeamMember) -> Team:
        """Add or remove a member (idempotent); a member is a provider of the team's
        organisation."""
        async with self._uow() as uow:
            team = self._visible(cmd.actor, await uow.teams.get(cmd.team_id, for_update=True))
            if cmd.add:
                provider = await uow.directory.provider(cmd.provider_id)
                if provider is None or provider.organisation_id != team.organisation_id:
                    raise InvalidArgument("provider_id", "is not a provider of this organisation")
                await uow.teams.add_member(team.id, cmd.provider_id)
            else:
                await uow.teams.remove_member(team.id, cmd.provider_id)
            action = "team.member_added" if cmd.add else "team.member_removed"
            await uow.audit.record(
                audit_entry(cmd.actor, action, team, {"providerId": str(cmd.provider_id)})
            )
            await uow.commit()
            changed = await uow.teams.get(team.id)
        assert changed is not None
        return changed

    async def list_audit(self, cmd: cmds.ListAuditLog) -> tuple[list[LoggedAuditEntry], str | None]:
        """The organisation's audit log, newest first (admins only)."""
        if not cmd.actor.is_admin:
            raise PermissionDenied("only an admin reads the audit log")
        assert cmd.actor.organisation_id is not None
        if not 1 <= cmd.limit <= MAX_PAGE:
            raise InvalidArgument("limit", f"must be between 1 and {MAX_PAGE}")
        before = None
        if cmd.cursor:
            if not cmd.cursor.isdigit() or len(cmd.cursor) > 19:
                raise InvalidArgument("cursor", "is not a valid cursor")
            before = int(cmd.cursor)
        async with self._uow() as uow:
            rows = await uow.audit.list_page(
                cmd.actor.organisation_id, before_id=before, limit=cmd.limit + 1
            )
        page = rows[: cmd.limit]
        return page, str(page[-1].id) if len(rows) > cmd.limit else None
