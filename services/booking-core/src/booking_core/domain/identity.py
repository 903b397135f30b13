"""Identity: organisations, staff users (admins and providers), teams, and the rules on
passwords and refresh tokens. No I/O; hashing is CPU only.

Passwords are hashed with Argon2id (argon2-cffi, its RFC 9106 low-memory profile:
t=3, m=64 MiB, p=4) and rehashed at sign-in when the parameters change. A new
password has at least 12 characters and is not one of the most common ones
(NIST SP 800-63B, section 5.1.1.2: check against a list of compromised values).

Refresh tokens are 256-bit random secrets stored as SHA-256 hashes. Each
sign-in starts a family; a refresh uses the token once and issues the next in
the family; presenting a used token again revokes the whole family (reuse
detection, OAuth 2.0 Security BCP, RFC 9700 section 4.14.2).
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from importlib import resources
from typing import Final
from uuid import UUID

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.profiles import RFC_9106_LOW_MEMORY

from .errors import InvalidArgument

MIN_PASSWORD_LENGTH: Final = 12
MAX_PASSWORD_LENGTH: Final = 1024
MAX_DISPLAY_NAME_LENGTH: Final = 200
MAX_TEAM_NAME_LENGTH: Final = 200
ACCESS_TOKEN_TTL: Final = timedelta(minutes=15)
REFRESH_TOKEN_TTL: Final = timedelta(days=7)


class UserRole(StrEnum):
    """A staff user's role in their organisation."""

    ADMIN = "admin"
    PROVIDER = "provider"


@dataclass(frozen=True, slots=True)
class Organisation:
    id: UUID
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class User:
    """A staff user. A provider user acts as its ``provider_id``."""

    id: UUID
    organisation_id: UUID
    email: str
    display_name: str
    password_hash: str
    role: UserRole
    provider_id: UUID | None
    disabled: bool
    created_at: datetime
    updated_at: datetime

    def with_changes(self, *, now: datetime, **changes: object) -> User:
        return replace(self, updated_at=now, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Team:
    """Providers of one organisation who share event types."""

    id: UUID
    organisation_id: UUID
    name: str
    created_at: datetime
    updated_at: datetime
    member_ids: tuple[UUID, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class RefreshToken:
    """A stored refresh token (its hash), one of a family started by a sign-in."""

    id: UUID
    family_id: UUID
    user_id: UUID
    token_hash: bytes
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    revoked_at: datetime | None = None


def _common_passwords() -> frozenset[str]:
    text = resources.files(__package__).joinpath("common_passwords.txt").read_text()
    return frozenset(
        line.strip().lower()
        for line in text.splitlines()
        if line.strip() and not line.startswith("#")
    )


COMMON_PASSWORDS: Final = _common_passwords()


def _is_run(text: str) -> bool:
    """One character repeated, or a run of consecutive characters ("abcdefghijkl"), digits
    wrapping around ("123456789012", "987654321098")."""
    if text.isdigit():
        steps = {(int(b) - int(a)) % 10 for a, b in itertools.pairwise(text)}
        return len(steps) == 1 and steps <= {0, 1, 9}
    steps = {ord(b) - ord(a) for a, b in itertools.pairwise(text)}
    return len(steps) == 1 and steps <= {-1, 0, 1}


def validate_password(password: str, *, email: str = "") -> None:
    """A new password: 12..1024 characters, not a common one, not a run of one character
    or of consecutive ones, not the email address. Raises ``InvalidArgument``."""
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InvalidArgument(
            "password",
            f"must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters",
        )
    lowered = password.lower()
    if (
        lowered in COMMON_PASSWORDS
        or _is_run(lowered)
        or (email and lowered in (email.lower(), email.lower().split("@", 1)[0]))
    ):
        raise InvalidArgument("password", "is too common; choose another")


class Passwords:
    """Argon2id hashing with the RFC 9106 low-memory profile (CPU-bound: call from a
    worker thread)."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher.from_parameters(RFC_9106_LOW_MEMORY)
        # Verified against when the email is unknown, so both answers take as long.
        self.dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return True


def generate_password() -> str:
    """A strong random password for a new account: 24 URL-safe characters (144 bits)."""
    return secrets.token_urlsafe(18)


def new_refresh_token() -> str:
    """43 URL-safe characters of 256 random bits."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    """What is stored of a refresh token: its SHA-256."""
    return hashlib.sha256(token.encode()).digest()


def validate_display_name(name: str, field_name: str = "display_name") -> str:
    name = name.strip()
    if not 1 <= len(name) <= MAX_DISPLAY_NAME_LENGTH or not name.isprintable():
        raise InvalidArgument(
            field_name, f"must be 1 to {MAX_DISPLAY_NAME_LENGTH} printable characters"
        )
    return name
