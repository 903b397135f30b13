"""``Prepared`` statements against the real PostgreSQL: the same rows as SQLAlchemy's
own execution, SQLAlchemy's bind processing, asyncpg's errors where the
constraint translation reads them, and SQLAlchemy's path inside a transaction."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
import sqlalchemy as sa
from booking_core.adapters.bookings_read import BOOKING_WITH_GUEST
from booking_core.adapters.prepared import Prepared
from booking_core.adapters.session import Session, sqlstate_of
from booking_core.adapters.tables import bookings, customers, providers
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

pytestmark = pytest.mark.integration

BY_ID = Prepared(BOOKING_WITH_GUEST.where(bookings.c.id == sa.bindparam("booking_id")))
PROVIDER_BY_ID = Prepared(sa.select(providers).where(providers.c.id == sa.bindparam("pid")))
NEW_CUSTOMER = Prepared(
    customers.insert()
    .values(id=sa.bindparam("id"), name=sa.bindparam("name"), email=sa.bindparam("email"))
    .returning(customers.c.id)
)


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[Session]:
    conn = await engine.connect()
    await conn.execution_options(isolation_level="AUTOCOMMIT")
    try:
        yield Session(conn)
    finally:
        await conn.close()


async def a_booking(conn: AsyncConnection) -> uuid.UUID:
    provider, customer, booking = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC).replace(microsecond=0)
    await conn.execute(sa.insert(providers).values(id=provider, name="P", time_zone="Asia/Tokyo"))
    await conn.execute(
        sa.insert(customers).values(id=customer, name="C", email=f"{customer}@example.com")
    )
    await conn.execute(
        sa.insert(bookings).values(
            id=booking,
            provider_id=provider,
            customer_id=customer,
            start_time=now + timedelta(days=9),
            end_time=now + timedelta(days=9, minutes=30),
            status="confirmed",
            request_fingerprint="f",
            version=1,
            created_at=now,
            updated_at=now,
        )
    )
    return booking


async def test_a_prepared_read_returns_what_sqlalchemy_returns(session: Session) -> None:
    booking_id = await a_booking(session.conn)
    by_sqlalchemy = (
        (await session.conn.execute(BOOKING_WITH_GUEST.where(bookings.c.id == booking_id)))
        .mappings()
        .one()
    )

    rows = await session.fetch(BY_ID, {"booking_id": booking_id})

    assert rows == [dict(by_sqlalchemy)]
    assert rows[0]["guest_reference"] is None and rows[0]["status"] == "confirmed"
    assert await session.fetch(BY_ID, {"booking_id": uuid.uuid4()}) == []


async def test_parameters_are_processed_as_sqlalchemy_processes_them(session: Session) -> None:
    document = {"a": [1, 2.5, "ü"], "b": None}
    echo = Prepared(
        sa.select(
            sa.bindparam("doc", type_=JSONB).label("doc"),
            sa.bindparam("flag", type_=sa.Boolean).label("flag"),
            sa.literal(7, sa.Integer).label("seven"),  # a default the statement carries
        )
    )

    [row] = await session.fetch(echo, {"doc": document, "flag": True})

    assert row == {"doc": document, "flag": True, "seven": 7}
    with pytest.raises(KeyError):  # a parameter left out is an error, not a NULL
        await session.fetch(echo, {"doc": document})


async def test_a_broken_constraint_is_asyncpgs_error_with_its_name(session: Session) -> None:
    email = f"{uuid.uuid4()}@example.com"
    await session.fetch(NEW_CUSTOMER, {"id": uuid.uuid4(), "name": "A", "email": email})

    with pytest.raises(asyncpg.UniqueViolationError) as duplicate:
        await session.fetch(NEW_CUSTOMER, {"id": uuid.uuid4(), "name": "B", "email": email})

    sqlstate, constraint = sqlstate_of(duplicate.value)
    assert sqlstate == "23505"
    assert constraint is not None and "email" in constraint


async def test_inside_a_transaction_it_goes_through_sqlalchemy_and_sees_its_writes(
    session: Session, engine: AsyncEngine
) -> None:
    provider = uuid.uuid4()
    await session.write(sa.insert(providers).values(id=provider, name="Uncommitted"))
    assert session.in_transaction

    rows = await session.fetch(PROVIDER_BY_ID, {"pid": provider})

    assert [row["name"] for row in rows] == ["Uncommitted"]
    async with engine.connect() as other:  # not visible outside the transaction
        assert (
            await other.scalar(sa.select(providers.c.id).where(providers.c.id == provider))
        ) is None
    await session.conn.rollback()
