"""Event types: slot rules, public slugs, slot occupancy, guest bookings, public events.

- ``event_types``: a provider's bookable event type and its rules (jsonb value
  objects: dated windows, weekly hours, date exceptions).
- ``event_type_slugs``: one namespace for random and custom slugs (stored
  lowercase), so a custom slug can never take another type's random one.
- ``slot_occupancy``: places taken per (event type, slot start); a booking
  increments it in its own transaction and only while places are left, which
  makes capacity race-free.
- ``bookings`` gains ``event_type_id``, ``slot_id`` (all places of one slot
  share it), ``busy_start``/``busy_end`` (the slot widened by its buffers) and
  ``single_place_per_guest``. ``bookings_no_overlap`` becomes: no two active
  bookings of a provider overlap on their busy ranges unless they are places
  of the same slot (btree_gist's ``<>``), so a 1:1 booking and a booked slot
  exclude each other and places of one slot do not.
- ``booking_guests``: a guest booking's reference, hashed manage token and
  details.
- ``events``: public events (``slot.availability``) have a ``channel`` and no
  owners.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("now()")
ACTIVE = "status IN ('pending', 'held', 'confirmed')"


def upgrade() -> None:
    op.create_table(
        "event_types",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("provider_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("location", sa.Text(), nullable=False, server_default=""),
        sa.Column("time_zone", sa.Text(), nullable=False),
        sa.Column("period_minutes", sa.Integer(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("buffer_before_minutes", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("buffer_after_minutes", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("minimum_notice_minutes", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("booking_horizon_days", sa.Integer(), nullable=False, server_default="60"),
        sa.Column(
            "allow_multiple_places_per_guest",
            sa.Boolean(),
            nullable=False,
            server_default=sa.false(),
        ),
        sa.Column("dated_windows", pg.JSONB(), nullable=False, server_default="[]"),
        sa.Column("weekly_hours", pg.JSONB(), nullable=False, server_default="[]"),
        sa.Column("date_exceptions", pg.JSONB(), nullable=False, server_default="[]"),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["providers.id"], name="event_types_provider_id_fkey"
        ),
        sa.CheckConstraint("period_minutes BETWEEN 5 AND 480", name="event_types_period_check"),
        sa.CheckConstraint("capacity BETWEEN 1 AND 1000", name="event_types_capacity_check"),
    )
    op.create_index(
        "ix_event_types_provider_created", "event_types", ["provider_id", "created_at", "id"]
    )

    op.create_table(
        "event_type_slugs",
        sa.Column("slug", sa.Text(), primary_key=True),
        sa.Column("event_type_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("custom", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_type_id"],
            ["event_types.id"],
            name="event_type_slugs_event_type_id_fkey",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint("slug = lower(slug)", name="event_type_slugs_lowercase_check"),
    )
    # One random slug and at most one custom slug per event type.
    op.create_index(
        "event_type_slugs_one_per_kind",
        "event_type_slugs",
        ["event_type_id", "custom"],
        unique=True,
    )

    op.create_table(
        "slot_occupancy",
        sa.Column("event_type_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("booked", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("event_type_id", "start_time", name="slot_occupancy_pkey"),
        sa.ForeignKeyConstraint(
            ["event_type_id"], ["event_types.id"], name="slot_occupancy_event_type_id_fkey"
        ),
        sa.CheckConstraint("booked >= 0", name="slot_occupancy_booked_check"),
    )

    op.add_column("bookings", sa.Column("event_type_id", pg.UUID(as_uuid=True), nullable=True))
    op.add_column("bookings", sa.Column("slot_id", pg.UUID(as_uuid=True), nullable=True))
    op.add_column("bookings", sa.Column("busy_start", sa.DateTime(timezone=True), nullable=True))
    op.add_column("bookings", sa.Column("busy_end", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "bookings",
        sa.Column(
            "single_place_per_guest", sa.Boolean(), nullable=False, server_default=sa.false()
        ),
    )
    op.create_foreign_key(
        "bookings_event_type_id_fkey", "bookings", "event_types", ["event_type_id"], ["id"]
    )
    op.create_check_constraint(
        "bookings_slot_check", "bookings", "(event_type_id IS NULL) = (slot_id IS NULL)"
    )
    op.execute("ALTER TABLE bookings DROP CONSTRAINT bookings_no_overlap")
    op.execute(
        f"""
        ALTER TABLE bookings ADD CONSTRAINT bookings_no_overlap
        EXCLUDE USING gist (
            provider_id WITH =,
            tstzrange(COALESCE(busy_start, start_time), COALESCE(busy_end, end_time), '[)')
                WITH &&,
            (COALESCE(slot_id, id)) WITH <>
        ) WHERE ({ACTIVE})
        """
    )
    op.create_index(
        "bookings_one_place_per_guest",
        "bookings",
        ["slot_id", "customer_id"],
        unique=True,
        postgresql_where=sa.text(f"single_place_per_guest AND {ACTIVE}"),
    )
    op.create_index(
        "ix_bookings_event_type_start",
        "bookings",
        ["event_type_id", "start_time"],
        postgresql_where=sa.text("event_type_id IS NOT NULL"),
    )

    op.create_table(
        "booking_guests",
        sa.Column("booking_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("manage_token_hash", sa.LargeBinary(), nullable=False),
        sa.Column("first_name", sa.Text(), nullable=False),
        sa.Column("last_name", sa.Text(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("phone", sa.Text(), nullable=False),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("special_requests", sa.Text(), nullable=True),
        # The guest row is written before its booking in the same transaction.
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["bookings.id"],
            name="booking_guests_booking_id_fkey",
            deferrable=True,
            initially="DEFERRED",
        ),
        sa.UniqueConstraint("reference", name="booking_guests_reference_key"),
    )

    op.alter_column("events", "provider_id", nullable=True)
    op.alter_column("events", "customer_id", nullable=True)
    op.add_column("events", sa.Column("channel", sa.Text(), nullable=True))
    op.create_check_constraint(
        "events_audience_check",
        "events",
        "channel IS NOT NULL OR (provider_id IS NOT NULL AND customer_id IS NOT NULL)",
    )
    op.create_index(
        "ix_events_channel",
        "events",
        ["channel", "id"],
        postgresql_where=sa.text("channel IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_events_channel", table_name="events")
    op.drop_constraint("events_audience_check", "events", type_="check")
    op.execute("DELETE FROM events WHERE channel IS NOT NULL")
    op.drop_column("events", "channel")
    op.alter_column("events", "customer_id", nullable=False)
    op.alter_column("events", "provider_id", nullable=False)
    op.drop_table("booking_guests")
    op.execute(
        "DELETE FROM events WHERE booking_id IN "
        "(SELECT id FROM bookings WHERE event_type_id IS NOT NULL)"
    )
    op.execute(
        "DELETE FROM reminders WHERE booking_id IN "
        "(SELECT id FROM bookings WHERE event_type_id IS NOT NULL)"
    )
    op.execute("DELETE FROM bookings WHERE event_type_id IS NOT NULL")
    op.drop_index("ix_bookings_event_type_start", table_name="bookings")
    op.drop_index("bookings_one_place_per_guest", table_name="bookings")
    op.execute("ALTER TABLE bookings DROP CONSTRAINT bookings_no_overlap")
    op.execute(
        f"""
        ALTER TABLE bookings ADD CONSTRAINT bookings_no_overlap
        EXCLUDE USING gist (
            provider_id WITH =,
            tstzrange(start_time, end_time, '[)') WITH &&
        ) WHERE ({ACTIVE})
        """
    )
    op.drop_constraint("bookings_slot_check", "bookings", type_="check")
    op.drop_constraint("bookings_event_type_id_fkey", "bookings", type_="foreignkey")
    for column in ("single_place_per_guest", "busy_end", "busy_start", "slot_id", "event_type_id"):
        op.drop_column("bookings", column)
    op.drop_table("slot_occupancy")
    op.drop_table("event_type_slugs")
    op.drop_table("event_types")
