"""SQLAlchemy Core statements compiled once and run straight on asyncpg.

Every request runs a few statements that never change shape (a booking by id, a
page of bookings, a new booking with its reminder and event, a mail job).
Building such a statement per call costs about 150 µs of CPU, and running a
built one through SQLAlchemy's execution (cache key, execution context, the
greenlet bridge, result wrapping) about 100 µs more than asyncpg's own ~55 µs
(``bench/RESULTS.md``). ``Prepared`` keeps the statement SQLAlchemy's (built from
``tables.py``, compiled by its asyncpg dialect with its own bind processors) and
skips only the per-call machinery: the SQL text is compiled on first use and
run with ``asyncpg.Connection.fetch`` on the connection SQLAlchemy's pool lent
the unit of work.

Only outside a transaction: inside one, SQLAlchemy's asyncpg adapter must see
every statement (it begins its transaction lazily, on the first), so
``Session.fetch`` falls back to ``conn.execute`` there. Errors are asyncpg's own
(``asyncpg.PostgresError`` and connection errors); ``is_unavailable`` and the
constraint translation in ``postgres.py`` understand both kinds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import asyncpg
import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler


class Prepared:
    """``statement`` (bind parameters by name) compiled once per dialect; rows come
    back as dicts keyed like SQLAlchemy's ``RowMapping`` (labels, column keys)."""

    __slots__ = (
        "_binds",
        "_compiled_for",
        "_defaults",
        "_keys",
        "_names",
        "_results",
        "sql",
        "statement",
    )

    def __init__(self, statement: sa.Executable) -> None:
        self.statement = statement
        self.sql = ""
        self._compiled_for: Dialect | None = None
        self._names: list[str] = []
        self._binds: list[Callable[[Any], Any] | None] = []
        self._defaults: dict[str, Any] = {}
        self._keys: list[str] = []
        self._results: list[Any] | None = None

    def _compile(self, dialect: Dialect) -> None:
        compiled = cast(
            SQLCompiler, cast(sa.ClauseElement, self.statement).compile(dialect=dialect)
        )
        if compiled.positiontup is None:  # pragma: no cover - asyncpg is positional
            raise TypeError(f"{dialect.name} does not compile to positional parameters")
        processors = compiled._bind_processors
        self._names = list(compiled.positiontup)
        self._binds = []
        for name in self._names:
            process = processors.get(name)
            if isinstance(process, Sequence):  # a tuple's processors (unused here)
                raise TypeError(f"parameter {name!r}: tuple parameters are not supported")
            self._binds.append(process)
        # The values the statement carries (literals); a bind without one is required.
        self._defaults = {
            name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required
        }
        columns = compiled._result_columns or []
        self._keys = [column[0] for column in columns]
        results = [column[3]._cached_result_processor(dialect, None) for column in columns]
        self._results = results if any(results) else None
        self.sql = compiled.string
        self._compiled_for = dialect

    def arguments(self, dialect: Dialect, parameters: Mapping[str, Any]) -> list[Any]:
        """The positional arguments for ``parameters`` (by bind name), processed as
        SQLAlchemy processes them (JSON serialized, booleans checked); ``KeyError`` for
        a required one that is missing."""
        if self._compiled_for is not dialect:
            self._compile(dialect)
        arguments = []
        for name, process in zip(self._names, self._binds, strict=True):
            value = parameters[name] if name in parameters else self._defaults[name]
            arguments.append(value if process is None or value is None else process(value))
        return arguments

    async def fetch(
        self, connection: asyncpg.Connection, dialect: Dialect, parameters: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """Run it on ``connection`` (asyncpg, outside a transaction SQLAlchemy began);
        raises asyncpg's errors."""
        arguments = self.arguments(dialect, parameters)
        records = await connection.fetch(self.sql, *arguments)
        keys, results = self._keys, self._results
        if results is None:
            return [dict(zip(keys, record.values(), strict=True)) for record in records]
        return [
            {
                key: value if process is None or value is None else process(value)
                for key, value, process in zip(keys, record.values(), results, strict=True)
            }
            for record in records
        ]
