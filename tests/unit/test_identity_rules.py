"""Identity rules without I/O: passwords, sign-in against fakes of the ports (a dummy hash
is verified for unknown accounts; throttling counts them too), refresh-token reuse,
the claims of access tokens, and JWK thumbprints (RFC 7638)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self

import jwt
import pytest
from booking_core.adapters.signing import TokenSigner, thumbprint
from booking_core.domain import identity_commands as cmds
from booking_core.domain.errors import (
    InvalidArgument,
    InvalidCredentials,
    PermissionDenied,
    SignInUnavailable,
    TooManyAttempts,
)
from booking_core.domain.identity import (
    Passwords,
    RefreshToken,
    User,
    UserRole,
    token_hash,
    validate_password,
)
from booking_core.domain.model import Actor
from booking_core.service_layer.identity import IdentityService, ThrottlePolicy
from bookings_web.auth import AuthenticationFailed, Role, principal_from_claims

SECRET = "unit-test-signing-secret-0123456789abcdef"
NOW = datetime.now(UTC)
GATEWAY = Actor.trusted_service("gateway")


@pytest.mark.parametrize(
    "password",
    [
        "short",
        "x" * 1025,
        "password1234",
        "PASSWORD1234",
        "qwertyuiop123",
        "aaaaaaaaaaaaaaaa",
        "abcdefghijklmnop",
        "123456789012",
        "987654321098",
        "anna@clinic.example",
    ],
)
def test_weak_passwords_are_refused(password: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_password(password, email="anna@clinic.example")
    assert caught.value.field == "password"


def test_a_good_password_passes() -> None:
    validate_password("correct horse battery staple", email="anna@clinic.example")


class CountingPasswords(Passwords):
    """Argon2id with the cheapest parameters, counting the hashes verified."""

    def __init__(self) -> None:
        from argon2 import PasswordHasher

        super().__init__(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
        self.verified: list[str] = []

    def verify(self, stored_hash: str, password: str) -> bool:
        self.verified.append(stored_hash)
        return super().verify(stored_hash, password)


class State:
    def __init__(self) -> None:
        self.users: dict[uuid.UUID, User] = {}
        self.tokens: dict[bytes, RefreshToken] = {}
        self.throttle: dict[str, tuple[int, datetime | None]] = {}


class FakeUsers:
    def __init__(self, state: State) -> None:
        self._s = state

    async def by_email(self, email: str) -> User | None:
        return next((u for u in self._s.users.values() if u.email.lower() == email.lower()), None)

    async def get(self, user_id: uuid.UUID, *, for_update: bool = False) -> User | None:
        return self._s.users.get(user_id)

    async def save(self, user: User) -> None:
        self._s.users[user.id] = user


class FakeTokens:
    def __init__(self, state: State) -> None:
        self._s = state

    async def add(self, token: RefreshToken) -> None:
        self._s.tokens[token.token_hash] = token

    async def by_hash(self, digest: bytes, *, for_update: bool = False) -> RefreshToken | None:
        return self._s.tokens.get(digest)

    async def mark_used(self, token_id: uuid.UUID, *, now: datetime) -> None:
        for key, token in self._s.tokens.items():
            if token.id == token_id:
                self._s.tokens[key] = replace(token, used_at=now)

    async def revoke_family(self, family_id: uuid.UUID, *, now: datetime) -> None:
        for key, token in self._s.tokens.items():
            if token.family_id == family_id and token.revoked_at is None:
                self._s.tokens[key] = replace(token, revoked_at=now)


class FakeThrottle:
    def __init__(self, state: State) -> None:
        self._s = state

    async def locked_until(self, keys: list[str], *, now: datetime) -> datetime | None:
        locks = [self._s.throttle.get(k, (0, None))[1] for k in keys]
        active = [lock for lock in locks if lock is not None and lock > now]
        return max(active) if active else None

    async def failed(
        self, key: str, *, now: datetime, window_seconds: float, limit: int, lock_seconds: float
    ) -> None:
        count, _ = self._s.throttle.get(key, (0, None))
        count += 1
        lock = now + timedelta(seconds=lock_seconds) if count >= limit else None
        self._s.throttle[key] = (count, lock)

    async def clear(self, key: str) -> None:
        self._s.throttle.pop(key, None)


class FakeUow:
    def __init__(self, state: State) -> None:
        self.users = FakeUsers(state)
        self.refresh_tokens = FakeTokens(state)
        self.throttle = FakeThrottle(state)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    async def commit(self) -> list[Any]:
        return []


def service(
    state: State, passwords: Passwords, signer: TokenSigner | None = None
) -> IdentityService:
    return IdentityService(
        lambda: FakeUow(state),  # type: ignore[arg-type,return-value]
        lambda: NOW,
        passwords,
        signer or TokenSigner(secret=SECRET),
        ThrottlePolicy(per_account=3, per_address=100),
    )


def add_user(state: State, passwords: Passwords, **changes: Any) -> User:
    user = User(
        id=uuid.uuid4(),
        organisation_id=uuid.uuid4(),
        email="anna@clinic.example",
        display_name="Anna",
        password_hash=passwords.hash("correct horse battery"),
        role=UserRole.PROVIDER,
        provider_id=uuid.uuid4(),
        disabled=False,
        created_at=NOW,
        updated_at=NOW,
    )
    user = replace(user, **changes)
    state.users[user.id] = user
    return user


async def test_unknown_emails_verify_a_dummy_hash_and_count_as_failures() -> None:
    state, passwords = State(), CountingPasswords()
    add_user(state, passwords)
    identity = service(state, passwords)
    for email in ("nobody@clinic.example", "anna@clinic.example"):
        with pytest.raises(InvalidCredentials):
            await identity.login(cmds.Login(GATEWAY, email, "wrong password!", "192.0.2.1"))
    assert len(passwords.verified) == 2
    assert passwords.verified[0] == passwords.dummy_hash
    assert "account:nobody@clinic.example" in state.throttle
    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            await identity.login(cmds.Login(GATEWAY, "nobody@clinic.example", "x", "192.0.2.1"))
    with pytest.raises(TooManyAttempts) as caught:
        await identity.login(cmds.Login(GATEWAY, "NOBODY@clinic.example", "x", "192.0.2.1"))
    assert caught.value.retry_after == 15 * 60 + 1


async def test_sign_in_refresh_and_reuse() -> None:
    state, passwords = State(), CountingPasswords()
    user = add_user(state, passwords)
    identity = service(state, passwords)
    pair = await identity.login(
        cmds.Login(GATEWAY, "Anna@Clinic.example", "correct horse battery", "192.0.2.1")
    )
    claims = jwt.decode(pair.access_token, SECRET, algorithms=["HS256"])
    assert claims["sub"] == f"user:{user.id}" and claims["providerId"] == str(user.provider_id)
    assert claims["exp"] - claims["iat"] == 900
    principal = principal_from_claims(claims)
    assert (principal.role, principal.user_id) == (Role.PROVIDER, str(user.id))
    assert principal.organisation_id == str(user.organisation_id)
    assert token_hash(pair.refresh_token) in state.tokens  # stored as a hash only
    second = await identity.refresh(cmds.Refresh(GATEWAY, pair.refresh_token, "192.0.2.1"))
    with pytest.raises(InvalidCredentials):
        await identity.refresh(cmds.Refresh(GATEWAY, pair.refresh_token, "192.0.2.1"))
    with pytest.raises(InvalidCredentials):  # the whole family went with the reuse
        await identity.refresh(cmds.Refresh(GATEWAY, second.refresh_token, "192.0.2.1"))
    with pytest.raises(PermissionDenied):
        await identity.login(cmds.Login(Actor.guest(), user.email, "x", "192.0.2.1"))


async def test_disabled_users_and_no_signing_key() -> None:
    state, passwords = State(), CountingPasswords()
    add_user(state, passwords, disabled=True)
    with pytest.raises(InvalidCredentials):
        await service(state, passwords).login(
            cmds.Login(GATEWAY, "anna@clinic.example", "correct horse battery", "192.0.2.1")
        )
    state = State()
    add_user(state, passwords)
    with pytest.raises(SignInUnavailable):
        await service(state, passwords, TokenSigner()).login(
            cmds.Login(GATEWAY, "anna@clinic.example", "correct horse battery", "192.0.2.1")
        )


def test_admin_claims_need_an_organisation() -> None:
    organisation, user = str(uuid.uuid4()), str(uuid.uuid4())
    base = {"sub": f"user:{user}", "role": "admin", "exp": 2_000_000_000}
    admin = principal_from_claims({**base, "organisationId": organisation})
    assert (admin.role, admin.owner_id, admin.user_id) == (Role.ADMIN, organisation, user)
    with pytest.raises(AuthenticationFailed):
        principal_from_claims(base)
    with pytest.raises(AuthenticationFailed):
        principal_from_claims({**base, "role": "root", "organisationId": organisation})


def test_jwk_thumbprint_follows_rfc_7638() -> None:
    # The example of RFC 7638, section 3.1.
    jwk = {
        "kty": "RSA",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1"
            "L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4"
            "QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbO"
            "pbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csF"
            "Cur-kEgU8awapJzKnqDKgw"
        ),
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
