"""gRPC edge of the identity context: ``bookings.v1.IdentityService`` (sign-in, keys,
users) and ``bookings.v1.OrganisationService`` (teams, the audit log)."""

from __future__ import annotations

import json

from bookings_proto.bookings import v1 as pb

from booking_core.domain import identity_commands as cmds
from booking_core.domain.audit import LoggedAuditEntry
from booking_core.domain.errors import InvalidArgument
from booking_core.domain.identity import Team, User, UserRole
from booking_core.service_layer.identity import IdentityService, TokenPair
from booking_core.service_layer.organisations import OrganisationService

from .grpc_server import CallGuard, page_limit, parse_actor, parse_optional_uuid, parse_uuid, rpc

_ROLES = {pb.UserRole.ADMIN: UserRole.ADMIN, pb.UserRole.PROVIDER: UserRole.PROVIDER}
_ROLE_PB = {role: message for message, role in _ROLES.items()}


def _role(value: pb.UserRole, *, required: bool) -> UserRole | None:
    role = _ROLES.get(value)
    if role is None and required:
        raise InvalidArgument("role", "must be USER_ROLE_ADMIN or USER_ROLE_PROVIDER")
    return role


def user_to_pb(user: User) -> pb.User:
    return pb.User(
        id=str(user.id),
        organisation_id=str(user.organisation_id),
        email=user.email,
        display_name=user.display_name,
        role=_ROLE_PB[user.role],
        provider_id=str(user.provider_id) if user.provider_id else "",
        disabled=user.disabled,
        created_at=user.created_at,
        updated_at=user.updated_at,
    )


def team_to_pb(team: Team) -> pb.Team:
    return pb.Team(
        id=str(team.id),
        organisation_id=str(team.organisation_id),
        name=team.name,
        member_ids=[str(m) for m in team.member_ids],
        created_at=team.created_at,
        updated_at=team.updated_at,
    )


def audit_to_pb(logged: LoggedAuditEntry) -> pb.AuditEntry:
    entry = logged.entry
    return pb.AuditEntry(
        id=logged.id,
        actor=entry.actor,
        action=entry.action,
        target_type=entry.target_type,
        target_id=entry.target_id,
        details_json=json.dumps(entry.details, separators=(",", ":")),
        request_id=entry.request_id or "",
        created_at=logged.created_at,
    )


def _pair(pair: TokenPair) -> pb.TokenPair:
    return pb.TokenPair(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in,
        token_type="Bearer",
    )


class IdentityServicer(pb.IdentityServiceBase):
    """``bookings.v1.IdentityService`` over ``IdentityService``."""

    def __init__(self, service: IdentityService, guard: CallGuard) -> None:
        self.service = service
        self.guard = guard

    @rpc
    async def login(self, message: pb.LoginRequest) -> pb.TokenPair:
        return _pair(
            await self.service.login(
                cmds.Login(
                    parse_actor(message.actor), message.email, message.password, message.client_ip
                )
            )
        )

    @rpc
    async def refresh(self, message: pb.RefreshRequest) -> pb.TokenPair:
        return _pair(
            await self.service.refresh(
                cmds.Refresh(parse_actor(message.actor), message.refresh_token, message.client_ip)
            )
        )

    @rpc
    async def logout(self, message: pb.LogoutRequest) -> pb.LogoutResponse:
        await self.service.logout(cmds.Logout(parse_actor(message.actor), message.refresh_token))
        return pb.LogoutResponse()

    @rpc
    async def get_jwks(self, message: pb.GetJwksRequest) -> pb.GetJwksResponse:
        parse_actor(message.actor)
        return pb.GetJwksResponse(jwks_json=json.dumps(self.service.jwks()))

    @rpc
    async def create_organisation(
        self, message: pb.CreateOrganisationRequest
    ) -> pb.CreateOrganisationResponse:
        organisation = await self.service.create_organisation(
            cmds.CreateOrganisation(parse_actor(message.actor), message.name)
        )
        return pb.CreateOrganisationResponse(
            organisation=pb.Organisation(
                id=str(organisation.id),
                name=organisation.name,
                created_at=organisation.created_at,
            )
        )

    @rpc
    async def create_user(self, message: pb.CreateUserRequest) -> pb.UserResponse:
        role = _role(message.role, required=True)
        assert role is not None
        user = await self.service.create_user(
            cmds.CreateUser(
                actor=parse_actor(message.actor),
                email=message.email,
                display_name=message.display_name,
                password=message.password,
                role=role,
                provider_id=parse_optional_uuid(message.provider_id, "provider_id"),
                time_zone=message.time_zone or "UTC",
                organisation_id=parse_optional_uuid(message.organisation_id, "organisation_id"),
            )
        )
        return pb.UserResponse(user=user_to_pb(user))

    @rpc
    async def get_user(self, message: pb.GetUserRequest) -> pb.UserResponse:
        user = await self.service.get_user(
            cmds.GetUser(parse_actor(message.actor), parse_uuid(message.user_id, "user_id"))
        )
        return pb.UserResponse(user=user_to_pb(user))

    @rpc
    async def list_users(self, message: pb.ListUsersRequest) -> pb.ListUsersResponse:
        users, cursor = await self.service.list_users(
            cmds.ListUsers(
                parse_actor(message.actor), page_limit(message.limit, 20), message.cursor or None
            )
        )
        return pb.ListUsersResponse(users=[user_to_pb(u) for u in users], next_cursor=cursor or "")

    @rpc
    async def update_user(self, message: pb.UpdateUserRequest) -> pb.UserResponse:
        paths = tuple(message.update_mask.paths) if message.update_mask else ()
        user = await self.service.update_user(
            cmds.UpdateUser(
                actor=parse_actor(message.actor),
                user_id=parse_uuid(message.user_id, "user_id"),
                paths=paths,
                display_name=message.display_name,
                password=message.password,
                disabled=message.disabled,
                role=_role(message.role, required="role" in paths),
            )
        )
        return pb.UserResponse(user=user_to_pb(user))

    @rpc
    async def delete_user(self, message: pb.DeleteUserRequest) -> pb.DeleteResponse:
        await self.service.delete_user(
            cmds.DeleteUser(parse_actor(message.actor), parse_uuid(message.user_id, "user_id"))
        )
        return pb.DeleteResponse()


class OrganisationServicer(pb.OrganisationServiceBase):
    """``bookings.v1.OrganisationService`` over ``OrganisationService``."""

    def __init__(self, service: OrganisationService, guard: CallGuard) -> None:
        self.service = service
        self.guard = guard

    @rpc
    async def create_team(self, message: pb.CreateTeamRequest) -> pb.TeamResponse:
        team = await self.service.create_team(
            cmds.CreateTeam(
                parse_actor(message.actor),
                message.name,
                parse_optional_uuid(message.organisation_id, "organisation_id"),
            )
        )
        return pb.TeamResponse(team=team_to_pb(team))

    @rpc
    async def get_team(self, message: pb.GetTeamRequest) -> pb.TeamResponse:
        team = await self.service.get_team(
            cmds.GetTeam(parse_actor(message.actor), parse_uuid(message.team_id, "team_id"))
        )
        return pb.TeamResponse(team=team_to_pb(team))

    @rpc
    async def list_teams(self, message: pb.ListTeamsRequest) -> pb.ListTeamsResponse:
        teams, cursor = await self.service.list_teams(
            cmds.ListTeams(
                parse_actor(message.actor), page_limit(message.limit, 20), message.cursor or None
            )
        )
        return pb.ListTeamsResponse(teams=[team_to_pb(t) for t in teams], next_cursor=cursor or "")

    @rpc
    async def update_team(self, message: pb.UpdateTeamRequest) -> pb.TeamResponse:
        team = await self.service.rename_team(
            cmds.RenameTeam(
                parse_actor(message.actor), parse_uuid(message.team_id, "team_id"), message.name
            )
        )
        return pb.TeamResponse(team=team_to_pb(team))

    @rpc
    async def delete_team(self, message: pb.DeleteTeamRequest) -> pb.DeleteResponse:
        await self.service.delete_team(
            cmds.DeleteTeam(parse_actor(message.actor), parse_uuid(message.team_id, "team_id"))
        )
        return pb.DeleteResponse()

    async def _member(self, message: pb.TeamMemberRequest, *, add: bool) -> pb.TeamResponse:
        team = await self.service.change_member(
            cmds.ChangeTeamMember(
                parse_actor(message.actor),
                parse_uuid(message.team_id, "team_id"),
                parse_uuid(message.provider_id, "provider_id"),
                add=add,
            )
        )
        return pb.TeamResponse(team=team_to_pb(team))

    @rpc
    async def add_team_member(self, message: pb.TeamMemberRequest) -> pb.TeamResponse:
        return await self._member(message, add=True)

    @rpc
    async def remove_team_member(self, message: pb.TeamMemberRequest) -> pb.TeamResponse:
        return await self._member(message, add=False)

    @rpc
    async def list_audit_log(self, message: pb.ListAuditLogRequest) -> pb.ListAuditLogResponse:
        entries, cursor = await self.service.list_audit(
            cmds.ListAuditLog(
                parse_actor(message.actor), page_limit(message.limit, 50), message.cursor or None
            )
        )
        return pb.ListAuditLogResponse(
            entries=[audit_to_pb(e) for e in entries], next_cursor=cursor or ""
        )
