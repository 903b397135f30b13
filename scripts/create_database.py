"""Create the database named in DATABASE_URL if it does not exist (``make migrate`` runs it).

Connects to the server's ``postgres`` maintenance database with the same
credentials. Prints one line either way.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from bookings_common.settings import load_or_exit, new_env


async def ensure(url: str) -> str:
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    conn = await asyncpg.connect(admin, timeout=5)
    try:
        if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return f"database {name} exists"
        # Identifiers cannot be bound as parameters; quote it safely.
        quoted = await conn.fetchval("SELECT quote_ident($1)", name)
        await conn.execute(f"CREATE DATABASE {quoted}")
        return f"database {name} created"
    finally:
        await conn.close()


def main() -> None:
    url = load_or_exit(lambda env: env.str("DATABASE_URL"), env=new_env())
    try:
        print(asyncio.run(ensure(url.replace("postgresql+asyncpg://", "postgresql://"))))
    except (OSError, asyncpg.PostgresError) as exc:
        raise SystemExit(
            f"cannot reach PostgreSQL for {urlsplit(url).hostname}: {exc}"
            " (is it running? see README, 'Running it')"
        ) from None


if __name__ == "__main__":
    main()
