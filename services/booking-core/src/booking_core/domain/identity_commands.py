"""Commands of the identity context (users, sign-in, teams, the audit log)."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from .identity import UserRole
from .model import Actor


@dataclass(frozen=True, slots=True)
class Login:
    actor: Actor
    email: str
    password: str
    client_ip: str


@dataclass(frozen=True, slots=True)
class Refresh:
    actor: Actor
    refresh_token: str
    client_ip: str


@dataclass(frozen=True, slots=True)
class Logout:
    actor: Actor
    refresh_token: str


@dataclass(frozen=True, slots=True)
class CreateOrganisation:
    actor: Actor
    name: str


@dataclass(frozen=True, slots=True)
class CreateUser:
    actor: Actor
    email: str
    display_name: str
    password: str
    role: UserRole
    provider_id: UUID | None = None
    time_zone: str = "UTC"
    organisation_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class GetUser:
    actor: Actor
    user_id: UUID


@dataclass(frozen=True, slots=True)
class ListUsers:
    actor: Actor
    limit: int
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class UpdateUser:
    actor: Actor
    user_id: UUID
    paths: tuple[str, ...]
    display_name: str = ""
    password: str = ""
    disabled: bool = False
    role: UserRole | None = None


@dataclass(frozen=True, slots=True)
class DeleteUser:
    actor: Actor
    user_id: UUID


@dataclass(frozen=True, slots=True)
class CreateTeam:
    actor: Actor
    name: str
    organisation_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class GetTeam:
    actor: Actor
    team_id: UUID


@dataclass(frozen=True, slots=True)
class ListTeams:
    actor: Actor
    limit: int
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class RenameTeam:
    actor: Actor
    team_id: UUID
    name: str


@dataclass(frozen=True, slots=True)
class DeleteTeam:
    actor: Actor
    team_id: UUID


@dataclass(frozen=True, slots=True)
class ChangeTeamMember:
    actor: Actor
    team_id: UUID
    provider_id: UUID
    add: bool


@dataclass(frozen=True, slots=True)
class ListAuditLog:
    actor: Actor
    limit: int
    cursor: str | None = None
