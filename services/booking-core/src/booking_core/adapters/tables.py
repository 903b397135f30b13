"""SQLAlchemy Core tables on one MetaData, mirroring migrations/ (the source of truth).

A test checks that alembic's autogenerate finds no difference between these
tables and the migrated database.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

metadata = sa.MetaData()
NOW = sa.text("now()")

providers = sa.Table(
    "providers",
    metadata,
    sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("name", sa.Text(), nullable=False),
    sa.Column("time_zone", sa.Text(), nullable=False, server_default="UTC"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
)

customers = sa.Table(
    "customers",
    metadata,
    sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("name", sa.Text(), nullable=False),
    sa.Column("email", sa.Text(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
)
sa.Index("customers_email_lower_key", sa.func.lower(customers.c.email), unique=True)

bookings = sa.Table(
    "bookings",
    metadata,
    sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column(
        "provider_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey("providers.id", name="bookings_provider_id_fkey"),
        nullable=False,
    ),
    sa.Column(
        "customer_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey("customers.id", name="bookings_customer_id_fkey"),
        nullable=False,
    ),
    sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("end_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("status", sa.Text(), nullable=False, server_default="confirmed"),
    sa.Column("idempotency_key", sa.Text(), nullable=True),
    sa.Column("request_fingerprint", sa.Text(), nullable=True),
    sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
    sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("cancel_reason", sa.Text(), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    sa.CheckConstraint("end_time > start_time", name="bookings_time_range_check"),
    sa.CheckConstraint(
        "status IN ('pending', 'held', 'confirmed', 'cancelled')", name="bookings_status_check"
    ),
)
# The exclusion constraint bookings_no_overlap lives in the migration (raw DDL).
sa.Index(
    "bookings_provider_idempotency_key",
    bookings.c.provider_id,
    bookings.c.idempotency_key,
    unique=True,
    postgresql_where=bookings.c.idempotency_key.isnot(None),
)
sa.Index("ix_bookings_provider_start", bookings.c.provider_id, bookings.c.start_time, bookings.c.id)
sa.Index("ix_bookings_customer_start", bookings.c.customer_id, bookings.c.start_time, bookings.c.id)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.BigInteger(), sa.Identity(always=True), primary_key=True),
    sa.Column("type", sa.Text(), nullable=False),
    sa.Column(
        "booking_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey("bookings.id", name="events_booking_id_fkey"),
        nullable=False,
    ),
    sa.Column("provider_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("customer_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("payload", pg.JSONB(), nullable=False),
    sa.Column("request_id", sa.Text(), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
)
sa.Index("ix_events_customer_id", events.c.customer_id, events.c.id)
sa.Index("ix_events_provider_id", events.c.provider_id, events.c.id)
sa.Index("ix_events_booking_id", events.c.booking_id, events.c.id)
sa.Index("ix_events_unpublished", events.c.id, postgresql_where=events.c.published_at.is_(None))

reminders = sa.Table(
    "reminders",
    metadata,
    sa.Column(
        "booking_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey("bookings.id", name="reminders_booking_id_fkey"),
        primary_key=True,
    ),
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("state", sa.Text(), nullable=False, server_default="scheduled"),
    sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.CheckConstraint(
        "state IN ('scheduled', 'enqueued', 'sent', 'cancelled')", name="reminders_state_check"
    ),
)
sa.Index(
    "ix_reminders_pending_due",
    reminders.c.due_at,
    postgresql_where=reminders.c.state.in_(["scheduled", "enqueued"]),
)
