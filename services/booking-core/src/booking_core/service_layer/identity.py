"""Staff sign-in and user management.

Sign-in answers one way for an unknown email, a wrong password and a disabled
user (``InvalidCredentials``), after verifying a password hash in every case
(a dummy one for unknown emails), so neither the answer nor its timing tells
which. Failures are counted per account (the email as typed) and per client
address; past the limit, sign-in is refused for a while (``TooManyAttempts``),
for existing and unknown accounts alike.

Access tokens (15 minutes) are JWTs signed by booking-core only; refresh tokens
(7 days, usable once) rotate on every refresh, and a reused one revokes its
whole family (OAuth 2.0 Security BCP, RFC 9700, section 4.14.2).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol

from bookings_common.logging import get_logger

from booking_core.domain import identity_commands as cmds
from booking_core.domain.errors import (
    InvalidArgument,
    InvalidCredentials,
    NotFound,
    PermissionDenied,
    TooManyAttempts,
)
from booking_core.domain.event_types import validate_time_zone
from booking_core.domain.guests import parse_email
from booking_core.domain.identity import (
    ACCESS_TOKEN_TTL,
    REFRESH_TOKEN_TTL,
    Organisation,
    Passwords,
    RefreshToken,
    User,
    UserRole,
    new_refresh_token,
    token_hash,
    validate_display_name,
    validate_password,
)
from booking_core.domain.model import Actor, Provider

from .audit import audit_entry
from .cursors import decode_keyset, encode_keyset
from .identity_ports import (
    LoginThrottle,
    OrganisationRepository,
    RefreshTokenRepository,
    UserRepository,
)
from .ports import Clock, UnitOfWork

log = get_logger("booking_core.identity")
MAX_USERS_PAGE: Final = 100
USER_FIELDS: Final = frozenset({"display_name", "password", "disabled", "role"})


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """Failed sign-ins allowed per window before a lock, per account and per address."""

    window_seconds: float = 15 * 60
    lock_seconds: float = 15 * 60
    per_account: int = 5
    per_address: int = 50


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


class TokenSigner(Protocol):
    """Signs access tokens; only booking-core holds the key."""

    def sign(self, claims: dict[str, Any]) -> str:
        """A compact JWS of ``claims`` (``iss``/``aud`` added when configured); raises
        ``SignInUnavailable`` when no key is configured."""

    def jwks(self) -> dict[str, Any]:
        """The public keys as a JWK Set (RFC 7517, section 5)."""


class IdentityUnitOfWork(UnitOfWork, Protocol):
    @property
    def organisations(self) -> OrganisationRepository: ...

    @property
    def users(self) -> UserRepository: ...

    @property
    def refresh_tokens(self) -> RefreshTokenRepository: ...

    @property
    def throttle(self) -> LoginThrottle: ...


class IdentityUnitOfWorkFactory(Protocol):
    def __call__(self) -> IdentityUnitOfWork: ...


def _throttle_keys(email: str, client_ip: str) -> tuple[str, str]:
    return f"account:{email.strip().lower()[:320]}", f"address:{client_ip[:64] or 'unknown'}"


def organisation_of(actor: Actor, organisation_id: uuid.UUID | None) -> uuid.UUID:
    """The organisation an admin (its own) or a service (the one it names) acts in;
    raises ``PermissionDenied`` for anyone else, ``NotFound`` for another organisation."""
    if actor.is_admin:
        assert actor.organisation_id is not None
        if organisation_id not in (None, actor.organisation_id):
            raise NotFound("organisation not found")
        return actor.organisation_id
    if actor.is_service:
        if organisation_id is None:
            raise InvalidArgument("organisation_id", "a service must name the organisation")
        return organisation_id
    raise PermissionDenied("only an admin manages users and teams")


class IdentityService:
    """booking-core's identity use cases; every public method is one use case."""

    def __init__(
        self,
        uow_factory: IdentityUnitOfWorkFactory,
        clock: Clock,
        passwords: Passwords,
        signer: TokenSigner,
        throttle: ThrottlePolicy | None = None,
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._passwords = passwords
        self._signer = signer
        self._throttle = throttle or ThrottlePolicy()

    # --- sign-in ----------------------------------------------------------------------

    def _access_token(self, user: User, now: datetime) -> str:
        claims: dict[str, Any] = {
            "sub": f"user:{user.id}",
            "role": str(user.role),
            "organisationId": str(user.organisation_id),
            "iat": int(now.timestamp()),
            "exp": int((now + ACCESS_TOKEN_TTL).timestamp()),
            "jti": uuid.uuid4().hex,
        }
        if user.provider_id is not None:
            claims["providerId"] = str(user.provider_id)
        return self._signer.sign(claims)

    async def _issue(
        self, uow: IdentityUnitOfWork, user: User, family_id: uuid.UUID, now: datetime
    ) -> TokenPair:
        refresh = new_refresh_token()
        await uow.refresh_tokens.add(
            RefreshToken(
                id=uuid.uuid4(),
                family_id=family_id,
                user_id=user.id,
                token_hash=token_hash(refresh),
                created_at=now,
                expires_at=now + REFRESH_TOKEN_TTL,
            )
        )
        return TokenPair(
            self._access_token(user, now), refresh, int(ACCESS_TOKEN_TTL.total_seconds())
        )

    async def login(self, cmd: cmds.Login) -> TokenPair:
        """Sign in with email and password. Raises ``InvalidCredentials`` (any reason) or
        ``TooManyAttempts``; ``PermissionDenied`` unless a service calls."""
        if not cmd.actor.is_service:
            raise PermissionDenied("sign-in goes through a trusted service")
        now = self._clock()
        account, address = _throttle_keys(cmd.email, cmd.client_ip)
        async with self._uow() as uow:
            locked = await uow.throttle.locked_until([account, address], now=now)
            user = await uow.users.by_email(cmd.email.strip())
        if locked is not None:
            raise TooManyAttempts(
                "too many failed sign-ins; try again later",
                retry_after=max(1, int((locked - now).total_seconds()) + 1),
            )
        stored = user.password_hash if user is not None else self._passwords.dummy_hash
        password = cmd.password[:2048]  # longer ones cannot match; bound the hashing work
        matched = await asyncio.to_thread(self._passwords.verify, stored, password)
        if not matched or user is None or user.disabled:
            policy = self._throttle
            async with self._uow() as uow:
                for key, limit in ((account, policy.per_account), (address, policy.per_address)):
                    await uow.throttle.failed(
                        key,
                        now=now,
                        window_seconds=policy.window_seconds,
                        limit=limit,
                        lock_seconds=policy.lock_seconds,
                    )
                await uow.commit()
            log.info("auth.login_failed", account=account, address=address)
            raise InvalidCredentials("invalid email or password")
        rehash = None
        if self._passwords.needs_rehash(user.password_hash):
            rehash = await asyncio.to_thread(self._passwords.hash, password)
        async with self._uow() as uow:
            if rehash is not None:
                await uow.users.save(user.with_changes(now=now, password_hash=rehash))
            await uow.throttle.clear(account)
            pair = await self._issue(uow, user, uuid.uuid4(), now)
            await uow.commit()
        log.info("auth.login", userId=str(user.id))
        return pair

    async def refresh(self, cmd: cmds.Refresh) -> TokenPair:
        """Rotate a refresh token. A used one revokes its family; unknown, expired,
        revoked and disabled users all raise ``InvalidCredentials``."""
        if not cmd.actor.is_service:
            raise PermissionDenied("refresh goes through a trusted service")
        now = self._clock()
        async with self._uow() as uow:
            stored = await uow.refresh_tokens.by_hash(
                token_hash(cmd.refresh_token), for_update=True
            )
            if stored is None or stored.revoked_at is not None or stored.expires_at <= now:
                raise InvalidCredentials("invalid refresh token")
            if stored.used_at is not None:
                await uow.refresh_tokens.revoke_family(stored.family_id, now=now)
                await uow.commit()
                log.warning(
                    "auth.refresh_token_reused",
                    familyId=str(stored.family_id),
                    userId=str(stored.user_id),
                )
                raise InvalidCredentials("invalid refresh token")
            user = await uow.users.get(stored.user_id)
            if user is None or user.disabled:
                await uow.refresh_tokens.revoke_family(stored.family_id, now=now)
                await uow.commit()
                raise InvalidCredentials("invalid refresh token")
            await uow.refresh_tokens.mark_used(stored.id, now=now)
            pair = await self._issue(uow, user, stored.family_id, now)
            await uow.commit()
        return pair

    async def logout(self, cmd: cmds.Logout) -> None:
        """Revoke the token's family (an unknown token is no error)."""
        if not cmd.actor.is_service:
            raise PermissionDenied("sign-out goes through a trusted service")
        now = self._clock()
        async with self._uow() as uow:
            stored = await uow.refresh_tokens.by_hash(token_hash(cmd.refresh_token))
            if stored is not None:
                await uow.refresh_tokens.revoke_family(stored.family_id, now=now)
                await uow.commit()

    def jwks(self) -> dict[str, Any]:
        """The public signing keys (an empty set in HS256 development mode)."""
        return self._signer.jwks()

    # --- organisations and users ---------------------------------------------------------

    async def create_organisation(self, cmd: cmds.CreateOrganisation) -> Organisation:
        """A new organisation (services only: seeding and operators' tools)."""
        if not cmd.actor.is_service:
            raise PermissionDenied("only a trusted service creates organisations")
        organisation = Organisation(
            uuid.uuid4(), validate_display_name(cmd.name, "name"), self._clock()
        )
        async with self._uow() as uow:
            await uow.organisations.add(organisation)
            await uow.commit()
        return organisation

    @staticmethod
    def _visible(actor: Actor, user: User | None) -> User:
        if user is None or not (actor.is_service or actor.administers(user.organisation_id)):
            raise NotFound("user not found")
        return user

    async def create_user(self, cmd: cmds.CreateUser) -> User:
        """A staff user of the actor's organisation; a provider user is linked to the
        organisation's ``provider_id`` or to a new provider named after it.

        Raises ``PermissionDenied``, ``InvalidArgument``, ``NotFound`` (provider,
        organisation), ``EmailTaken``.
        """
        organisation_id = organisation_of(cmd.actor, cmd.organisation_id)
        email = parse_email(cmd.email)
        name = validate_display_name(cmd.display_name)
        validate_password(cmd.password, email=email)
        if cmd.role not in (UserRole.ADMIN, UserRole.PROVIDER):
            raise InvalidArgument("role", "must be admin or provider")
        time_zone = validate_time_zone(cmd.time_zone or "UTC")
        password_hash = await asyncio.to_thread(self._passwords.hash, cmd.password)
        now = self._clock()
        async with self._uow() as uow:
            if await uow.organisations.get(organisation_id) is None:
                raise NotFound("organisation not found")
            provider_id = None
            if cmd.role is UserRole.PROVIDER:
                if cmd.provider_id is not None:
                    provider = await uow.directory.provider(cmd.provider_id)
                    if provider is None or provider.organisation_id != organisation_id:
                        raise NotFound("provider not found")
                    provider_id = provider.id
                else:
                    provider_id = uuid.uuid4()
                    await uow.directory.add_provider(
                        Provider(provider_id, name, time_zone, now, organisation_id)
                    )
            elif cmd.provider_id is not None:
                raise InvalidArgument("provider_id", "only a provider user has a provider")
            user = User(
                id=uuid.uuid4(),
                organisation_id=organisation_id,
                email=email,
                display_name=name,
                password_hash=password_hash,
                role=cmd.role,
                provider_id=provider_id,
                disabled=False,
                created_at=now,
                updated_at=now,
            )
            await uow.users.add(user)
            await uow.audit.record(
                audit_entry(cmd.actor, "user.created", user, {"role": str(user.role)})
            )
            await uow.commit()
        return user

    async def get_user(self, cmd: cmds.GetUser) -> User:
        async with self._uow() as uow:
            return self._visible(cmd.actor, await uow.users.get(cmd.user_id))

    async def list_users(self, cmd: cmds.ListUsers) -> tuple[list[User], str | None]:
        """One page of the actor's organisation's users, oldest first."""
        organisation_id = organisation_of(cmd.actor, None)
        if not 1 <= cmd.limit <= MAX_USERS_PAGE:
            raise InvalidArgument("limit", f"must be between 1 and {MAX_USERS_PAGE}")
        after = decode_keyset(cmd.cursor) if cmd.cursor else None
        async with self._uow() as uow:
            rows = await uow.users.list_page(organisation_id, after=after, limit=cmd.limit + 1)
        page = rows[: cmd.limit]
        cursor = encode_keyset(page[-1].created_at, page[-1].id) if len(rows) > cmd.limit else None
        return page, cursor

    async def update_user(self, cmd: cmds.UpdateUser) -> User:
        """Change the fields named in ``paths`` (display_name, password, disabled, role).
        A new password or disabling ends the user's sessions (every refresh family)."""
        unknown = set(cmd.paths) - USER_FIELDS
        if unknown:
            raise InvalidArgument("update_mask", f"unknown field {sorted(unknown)[0]!r}")
        changes: dict[str, Any] = {}
        if "display_name" in cmd.paths:
            changes["display_name"] = validate_display_name(cmd.display_name)
        new_hash = None
        async with self._uow() as uow:
            user = self._visible(cmd.actor, await uow.users.get(cmd.user_id))
        if "password" in cmd.paths:
            validate_password(cmd.password, email=user.email)
            new_hash = await asyncio.to_thread(self._passwords.hash, cmd.password)
            changes["password_hash"] = new_hash
        if "disabled" in cmd.paths:
            if cmd.disabled and cmd.actor.user_id == user.id:
                raise InvalidArgument("disabled", "you cannot disable yourself")
            changes["disabled"] = cmd.disabled
        if "role" in cmd.paths and cmd.role is not None and cmd.role is not user.role:
            if cmd.role is UserRole.PROVIDER and user.provider_id is None:
                raise InvalidArgument("role", "an admin without a provider cannot become one")
            if cmd.actor.user_id == user.id:
                raise InvalidArgument("role", "you cannot change your own role")
            changes["role"] = cmd.role
        if not changes:
            return user
        now = self._clock()
        async with self._uow() as uow:
            current = self._visible(cmd.actor, await uow.users.get(cmd.user_id, for_update=True))
            updated = current.with_changes(now=now, **changes)
            await uow.users.save(updated)
            if new_hash is not None or updated.disabled:
                await uow.refresh_tokens.revoke_user(updated.id, now=now)
            fields = sorted(k if k != "password_hash" else "password" for k in changes)
            action = "user.disabled" if changes.get("disabled") else "user.updated"
            await uow.audit.record(audit_entry(cmd.actor, action, updated, {"fields": fields}))
            await uow.commit()
        return updated

    async def delete_user(self, cmd: cmds.DeleteUser) -> None:
        """Delete a user (their sessions go with them; a provider record stays)."""
        async with self._uow() as uow:
            user = self._visible(cmd.actor, await uow.users.get(cmd.user_id, for_update=True))
            if cmd.actor.user_id == user.id:
                raise InvalidArgument("user_id", "you cannot delete yourself")
            await uow.users.delete(user.id)
            await uow.audit.record(audit_entry(cmd.actor, "user.deleted", user, {}))
            await uow.commit()
