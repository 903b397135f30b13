"""booking-core's identity and organisation services as the gateway sees them, and the
mapping of their messages to the REST shapes (``identity_schemas``).

Sign-in calls act as the trusted service ``gateway`` on behalf of the person
signing in (with their client address, for throttling); everything else acts as
the caller's principal. Errors map as in ``upstream`` (a throttled sign-in is 429
with the ``Retry-After`` booking-core gives).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable
from datetime import datetime
from typing import Any, Final, TypeVar

from bookings_proto.bookings import v1 as pb
from bookings_proto.google.protobuf import FieldMask
from bookings_web.auth import Principal
from bookings_web.grpc import actor
from bookings_web.problems import ProblemError
from grpclib.client import Channel

from .upstream import call_core

T = TypeVar("T")
GATEWAY: Final = pb.Actor(service="gateway")
ROLES: Final = {"admin": pb.UserRole.ADMIN, "provider": pb.UserRole.PROVIDER}
ROLE_NAMES: Final = {value: name for name, value in ROLES.items()}


def user_data(user: pb.User | None) -> dict[str, Any]:
    if user is None:
        raise ProblemError("INTERNAL", "Internal server error")
    return {
        "id": user.id,
        "organisation_id": user.organisation_id,
        "email": user.email,
        "display_name": user.display_name,
        "role": ROLE_NAMES.get(user.role, "provider"),
        "provider_id": user.provider_id or None,
        "disabled": user.disabled,
        "created_at": user.created_at,
        "updated_at": user.updated_at,
    }


def team_data(team: pb.Team | None) -> dict[str, Any]:
    if team is None:
        raise ProblemError("INTERNAL", "Internal server error")
    return {
        "id": team.id,
        "organisation_id": team.organisation_id,
        "name": team.name,
        "member_ids": list(team.member_ids),
        "created_at": team.created_at,
        "updated_at": team.updated_at,
    }


def audit_data(entry: pb.AuditEntry) -> dict[str, Any]:
    return {
        "id": str(entry.id),
        "actor": entry.actor,
        "action": entry.action,
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "details": json.loads(entry.details_json or "{}"),
        "request_id": entry.request_id or None,
        "created_at": entry.created_at,
    }


def token_data(pair: pb.TokenPair) -> dict[str, Any]:
    return {
        "access_token": pair.access_token,
        "refresh_token": pair.refresh_token,
        "expires_in": pair.expires_in,
        "token_type": pair.token_type or "Bearer",
    }


class IdentityClient:
    """The identity, organisation and organisation-booking calls of the REST API."""

    def __init__(self, channel: Channel, *, deadline_seconds: float) -> None:
        self._identity = pb.IdentityServiceStub(channel, timeout=deadline_seconds)
        self._organisations = pb.OrganisationServiceStub(channel, timeout=deadline_seconds)
        self._bookings = pb.BookingServiceStub(channel, timeout=deadline_seconds)

    @staticmethod
    async def _call(call: Awaitable[T]) -> T:
        return await call_core(call)

    async def login(self, email: str, password: str, client_ip: str) -> pb.TokenPair:
        return await self._call(
            self._identity.login(
                pb.LoginRequest(actor=GATEWAY, email=email, password=password, client_ip=client_ip)
            )
        )

    async def refresh(self, token: str, client_ip: str) -> pb.TokenPair:
        return await self._call(
            self._identity.refresh(
                pb.RefreshRequest(actor=GATEWAY, refresh_token=token, client_ip=client_ip)
            )
        )

    async def logout(self, token: str) -> None:
        await self._call(
            self._identity.logout(pb.LogoutRequest(actor=GATEWAY, refresh_token=token))
        )

    async def jwks(self) -> dict[str, Any]:
        reply = await self._call(self._identity.get_jwks(pb.GetJwksRequest(actor=GATEWAY)))
        document: dict[str, Any] = json.loads(reply.jwks_json or '{"keys": []}')
        return document

    # --- users ------------------------------------------------------------------

    async def create_user(self, principal: Principal, body: dict[str, Any]) -> pb.User | None:
        reply = await self._call(
            self._identity.create_user(
                pb.CreateUserRequest(
                    actor=actor(principal),
                    email=body["email"],
                    display_name=body["display_name"],
                    password=body["password"],
                    role=ROLES[body["role"]],
                    provider_id=str(body["provider_id"]) if body.get("provider_id") else "",
                    time_zone=body.get("time_zone", ""),
                )
            )
        )
        return reply.user

    async def get_user(self, principal: Principal, user_id: str) -> pb.User | None:
        reply = await self._call(
            self._identity.get_user(pb.GetUserRequest(actor=actor(principal), user_id=user_id))
        )
        return reply.user

    async def list_users(
        self, principal: Principal, cursor: str | None, limit: int
    ) -> pb.ListUsersResponse:
        return await self._call(
            self._identity.list_users(
                pb.ListUsersRequest(actor=actor(principal), cursor=cursor or "", limit=limit)
            )
        )

    async def update_user(
        self, principal: Principal, user_id: str, body: dict[str, Any]
    ) -> pb.User | None:
        reply = await self._call(
            self._identity.update_user(
                pb.UpdateUserRequest(
                    actor=actor(principal),
                    user_id=user_id,
                    update_mask=FieldMask(paths=sorted(body)),
                    display_name=body.get("display_name", ""),
                    password=body.get("password", ""),
                    disabled=body.get("disabled", False),
                    role=ROLES.get(body.get("role", ""), pb.UserRole.UNSPECIFIED),
                )
            )
        )
        return reply.user

    async def delete_user(self, principal: Principal, user_id: str) -> None:
        await self._call(
            self._identity.delete_user(
                pb.DeleteUserRequest(actor=actor(principal), user_id=user_id)
            )
        )

    # --- teams -------------------------------------------------------------------

    async def create_team(self, principal: Principal, name: str) -> pb.Team | None:
        reply = await self._call(
            self._organisations.create_team(pb.CreateTeamRequest(actor=actor(principal), name=name))
        )
        return reply.team

    async def get_team(self, principal: Principal, team_id: str) -> pb.Team | None:
        reply = await self._call(
            self._organisations.get_team(pb.GetTeamRequest(actor=actor(principal), team_id=team_id))
        )
        return reply.team

    async def list_teams(
        self, principal: Principal, cursor: str | None, limit: int
    ) -> pb.ListTeamsResponse:
        return await self._call(
            self._organisations.list_teams(
                pb.ListTeamsRequest(actor=actor(principal), cursor=cursor or "", limit=limit)
            )
        )

    async def rename_team(self, principal: Principal, team_id: str, name: str) -> pb.Team | None:
        reply = await self._call(
            self._organisations.update_team(
                pb.UpdateTeamRequest(actor=actor(principal), team_id=team_id, name=name)
            )
        )
        return reply.team

    async def delete_team(self, principal: Principal, team_id: str) -> None:
        await self._call(
            self._organisations.delete_team(
                pb.DeleteTeamRequest(actor=actor(principal), team_id=team_id)
            )
        )

    async def change_member(
        self, principal: Principal, team_id: str, provider_id: str, *, add: bool
    ) -> pb.Team | None:
        request = pb.TeamMemberRequest(
            actor=actor(principal), team_id=team_id, provider_id=provider_id
        )
        call = (
            self._organisations.add_team_member(request)
            if add
            else self._organisations.remove_team_member(request)
        )
        reply = await self._call(call)
        return reply.team

    # --- the organisation's bookings and audit log -----------------------------------

    async def search_bookings(
        self, principal: Principal, query: dict[str, Any], cursor: str | None, limit: int
    ) -> pb.SearchBookingsResponse:
        statuses = {
            "confirmed": pb.BookingStatus.CONFIRMED,
            "cancelled": pb.BookingStatus.CANCELLED,
        }
        from_time: datetime | None = query.get("from_time")
        to_time: datetime | None = query.get("to_time")
        return await self._call(
            self._bookings.search_bookings(
                pb.SearchBookingsRequest(
                    actor=actor(principal),
                    provider_id=str(query.get("provider_id") or ""),
                    team_id=str(query.get("team_id") or ""),
                    event_type_id=str(query.get("event_type_id") or ""),
                    status=statuses.get(query.get("status", ""), pb.BookingStatus.UNSPECIFIED),
                    from_time=from_time,
                    to_time=to_time,
                    guest_email=query.get("guest_email", ""),
                    cursor=cursor or "",
                    limit=limit,
                )
            )
        )

    async def audit(
        self, principal: Principal, cursor: str | None, limit: int
    ) -> pb.ListAuditLogResponse:
        return await self._call(
            self._organisations.list_audit_log(
                pb.ListAuditLogRequest(actor=actor(principal), cursor=cursor or "", limit=limit)
            )
        )
