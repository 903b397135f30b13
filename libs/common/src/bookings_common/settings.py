"""Settings loading shared by every service.

Settings come from the process environment first, then a ``.env`` file in the
working directory, then the defaults each service declares. A missing or
invalid setting stops the process with one line naming it, never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from environs import Env, EnvError

from .grpc import DEFAULT_DEADLINE_SECONDS, parse_target

T = TypeVar("T")


def new_env() -> Env:
    """Return an ``Env`` that has read ``./.env`` (if any) without overriding the environment.

    Only the working directory is looked at: environs' default search starts
    at the calling module's directory and walks up, which would find a
    checkout's ``.env`` from anywhere.
    """
    env = Env(expand_vars=False)
    dotenv = Path.cwd() / ".env"
    if dotenv.is_file():
        env.read_env(str(dotenv), recurse=False, override=False)
    return env


def load_or_exit(build: Callable[[Env], T], *, env: Env | None = None) -> T:
    """Build a settings object from the environment, or exit with a one-line message.

    ``build`` reads every setting from the ``Env`` it is given. An
    ``environs.EnvError`` or ``ValueError`` it raises becomes
    ``SystemExit("configuration error: ...")`` so the process prints exactly one
    line naming the setting and exits with status 1.
    """
    try:
        return build(env if env is not None else new_env())
    except (EnvError, ValueError) as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


def asyncpg_url(raw: str) -> str:
    """Adapt a ``postgresql://user@host:port/db`` URL for SQLAlchemy + asyncpg.

    Raises ``ValueError`` when the scheme is not ``postgresql`` or ``postgres``
    (with or without a ``+driver`` suffix) or the host or database is missing.
    """
    parts = urlsplit(raw)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in {"postgresql", "postgres"} or not parts.hostname or len(parts.path) < 2:
        raise ValueError("must look like postgresql://user@host:5432/dbname")
    return "postgresql+asyncpg://" + raw.split("://", 1)[1]


def postgres_url(env: Env, name: str = "DATABASE_URL") -> str:
    """Read a ``postgresql://`` URL from ``name`` and adapt it (see ``asyncpg_url``).

    Raises ``ValueError`` naming the setting when it is malformed.
    """
    raw: str = env.str(name)  # a missing variable raises environs' own message
    try:
        return asyncpg_url(raw)
    except ValueError as exc:
        raise ValueError(f'"{name}" {exc}') from None


def redis_url(env: Env, name: str = "REDIS_URL", default: str = "redis://127.0.0.1:6379/0") -> str:
    """Read a ``redis://host:port/db`` URL; raises ``ValueError`` naming it if malformed."""
    raw: str = env.str(name, default)
    parts = urlsplit(raw)
    if parts.scheme not in {"redis", "rediss", "unix"} or (
        parts.scheme != "unix" and not parts.hostname
    ):
        raise ValueError(f'"{name}" must look like redis://host:6379/0')
    return raw


def secret(env: Env, name: str, *, min_length: int) -> str:
    """Read a required secret of at least ``min_length`` characters; raises ``ValueError``."""
    value: str = env.str(name)
    if len(value) < min_length:
        raise ValueError(f'"{name}" must be at least {min_length} characters long')
    return value


def port(env: Env, name: str, default: int) -> int:
    """Read a TCP port (1..65535); raises ``ValueError`` naming the setting otherwise."""
    value: int = env.int(name, default)
    if not 0 < value < 65536:
        raise ValueError(f'"{name}" must be a TCP port between 1 and 65535')
    return value


def grpc_target(env: Env, name: str = "CORE_GRPC_TARGET", default: str = "127.0.0.1:50051") -> str:
    """Read a gRPC ``host:port`` target; raises ``ValueError`` naming the setting if malformed."""
    target: str = env.str(name, default)
    try:
        parse_target(target)
    except ValueError as exc:
        raise ValueError(f'"{name}" {exc}') from None
    return target


def core_deadline(env: Env, name: str = "CORE_DEADLINE_SECONDS") -> float:
    """Read the deadline of each call to booking-core, in seconds (0 < value <= 300,
    default ``DEFAULT_DEADLINE_SECONDS``); raises ``ValueError`` naming the setting."""
    value: float = env.float(name, DEFAULT_DEADLINE_SECONDS)
    if not 0 < value <= 300:
        raise ValueError(f'"{name}" must be more than 0 and at most 300 seconds')
    return value


DEFAULT_MAIL_FROM = "Bookings <bookings@example.com>"


def mail_from(env: Env, name: str = "MAIL_FROM") -> tuple[str, str]:
    """Read the sender of booking mail as ``(display name, address)`` from an RFC 5322
    mailbox (``Bookings <bookings@example.com>`` or a bare address); raises
    ``ValueError`` naming the setting when it is not one address."""
    from email.headerregistry import Address
    from email.utils import getaddresses

    raw: str = env.str(name, DEFAULT_MAIL_FROM)
    found = getaddresses([raw])
    display, address = found[0] if len(found) == 1 else ("", "")
    try:
        Address(display_name=display, addr_spec=address)
    except (ValueError, IndexError):
        address = ""
    if not address or "@" not in address or any(c in raw for c in "\r\n"):
        raise ValueError(f'"{name}" must be one email address, e.g. "{DEFAULT_MAIL_FROM}"')
    return display, address


def public_base_url(env: Env) -> str:
    """``PUBLIC_BASE_URL``: an absolute http(s) URL, kept without a trailing slash."""
    value: str = env.str("PUBLIC_BASE_URL", "http://localhost:8080").rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(
            '"PUBLIC_BASE_URL" must be an absolute http(s) URL, e.g. https://book.example.com'
        )
    return value
