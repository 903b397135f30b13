"""Initial schema: providers, customers, bookings, events (outbox and log), reminders.

Revision ID: 0001
Revises:
Create Date: 2026-11-20
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("now()")


def upgrade() -> None:
    # btree_gist lets one GiST exclusion constraint combine uuid equality with
    # range overlap.
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")

    op.create_table(
        "providers",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("time_zone", sa.Text(), nullable=False, server_default="UTC"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.create_table(
        "customers",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.create_index(
        "customers_email_lower_key", "customers", [sa.text("lower(email)")], unique=True
    )

    op.create_table(
        "bookings",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("provider_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("customer_id", pg.UUID(as_uuid=True), nullable=False),
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
        sa.ForeignKeyConstraint(
            ["provider_id"], ["providers.id"], name="bookings_provider_id_fkey"
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name="bookings_customer_id_fkey"
        ),
        sa.CheckConstraint("end_time > start_time", name="bookings_time_range_check"),
        sa.CheckConstraint(
            "status IN ('pending', 'held', 'confirmed', 'cancelled')",
            name="bookings_status_check",
        ),
    )
    # Half-open [start, end) ranges: back-to-back bookings do not overlap.
    op.execute(
        """
        ALTER TABLE bookings ADD CONSTRAINT bookings_no_overlap
        EXCLUDE USING gist (
            provider_id WITH =,
            tstzrange(start_time, end_time, '[)') WITH &&
        ) WHERE (status IN ('pending', 'held', 'confirmed'))
        """
    )
    op.create_index(
        "bookings_provider_idempotency_key",
        "bookings",
        ["provider_id", "idempotency_key"],
        unique=True,
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )
    op.create_index("ix_bookings_provider_start", "bookings", ["provider_id", "start_time", "id"])
    op.create_index("ix_bookings_customer_start", "bookings", ["customer_id", "start_time", "id"])

    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), primary_key=True),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("booking_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("provider_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("customer_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("payload", pg.JSONB(), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["booking_id"], ["bookings.id"], name="events_booking_id_fkey"),
    )
    # Replay reads "after id N" per customer and per provider; the relay reads
    # the unpublished tail.
    op.create_index("ix_events_customer_id", "events", ["customer_id", "id"])
    op.create_index("ix_events_provider_id", "events", ["provider_id", "id"])
    op.create_index(
        "ix_events_unpublished",
        "events",
        ["id"],
        postgresql_where=sa.text("published_at IS NULL"),
    )

    op.create_table(
        "reminders",
        sa.Column("booking_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.Text(), nullable=False, server_default="scheduled"),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.ForeignKeyConstraint(["booking_id"], ["bookings.id"], name="reminders_booking_id_fkey"),
        sa.CheckConstraint(
            "state IN ('scheduled', 'enqueued', 'sent', 'cancelled')",
            name="reminders_state_check",
        ),
    )
    op.create_index(
        "ix_reminders_pending_due",
        "reminders",
        ["due_at"],
        postgresql_where=sa.text("state IN ('scheduled', 'enqueued')"),
    )


def downgrade() -> None:
    op.drop_table("reminders")
    op.drop_table("events")
    op.drop_table("bookings")
    op.drop_table("customers")
    op.drop_table("providers")
    op.execute("DROP EXTENSION IF EXISTS btree_gist")
