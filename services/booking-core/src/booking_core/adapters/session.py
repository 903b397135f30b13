"""A unit of work's connection, shared by every context's repositories."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from .prepared import Prepared


def sqlstate_of(exc: BaseException) -> tuple[str | None, str | None]:
    """Return ``(sqlstate, constraint_name)`` of an asyncpg error, SQLAlchemy-wrapped
    or not."""
    if isinstance(exc, asyncpg.PostgresError):
        return getattr(exc, "sqlstate", None), getattr(exc, "constraint_name", None)
    orig = getattr(exc, "orig", None)
    sqlstate = getattr(orig, "sqlstate", None)
    cause = getattr(orig, "__cause__", None)
    return sqlstate, getattr(cause, "constraint_name", None)


class Session:
    """A unit of work's connection: autocommit until the first write or locking
    read, which begins a transaction (READ COMMITTED)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.in_transaction = False
        self._driver: asyncpg.Connection | None = None

    async def fetch(
        self, prepared: Prepared, parameters: Mapping[str, Any]
    ) -> Sequence[Mapping[str, Any]]:
        """The rows of ``prepared`` for ``parameters``: straight on asyncpg outside a
        transaction (see ``prepared``), through SQLAlchemy inside one. Outside one,
        errors are asyncpg's."""
        if self.in_transaction:
            result = await self.conn.execute(prepared.statement, dict(parameters))
            return [dict(row) for row in result.mappings()]
        if self._driver is None:
            raw = await self.conn.get_raw_connection()
            self._driver = raw.driver_connection
        assert self._driver is not None
        return await prepared.fetch(self._driver, self.conn.dialect, parameters)

    async def read(self, statement: sa.Executable) -> sa.CursorResult[Any]:
        """Run a plain read: inside the transaction if one began, else on its own."""
        return await self.conn.execute(statement)

    async def write(
        self, statement: sa.Executable, parameters: dict[str, Any] | None = None
    ) -> sa.CursorResult[Any]:
        """Run a write or locking read inside the transaction (begun if needed)."""
        await self.begin()
        return await self.conn.execute(statement, parameters)

    async def first(
        self, query: sa.Select[Any], *, for_update: bool, of: sa.Table | None = None
    ) -> RowMapping | None:
        """The first row of ``query``, locked ``FOR UPDATE`` (in the transaction) if asked;
        with ``of``, only that table's row is locked."""
        if for_update:
            result = await self.write(query.with_for_update(of=of))
        else:
            result = await self.read(query)
        return result.mappings().first()

    async def begin(self) -> None:
        if self.in_transaction:
            return
        # SQLAlchemy's own bookkeeping of earlier autocommit reads; no round trip.
        if self.conn.in_transaction():
            await self.conn.commit()
        await self.conn.execution_options(isolation_level="READ COMMITTED")
        await self.conn.begin()
        self.in_transaction = True
