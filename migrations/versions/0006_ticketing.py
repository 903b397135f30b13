"""Ticketing: venues and their seats, ticketed events with a price per seat category,
ticket bookings (holds) with one item per seat, payment requests (the outbox of the
payments queue) and the payment outcome messages already processed.

- ``ticket_booking_items_active_seat_key``: a partial unique index on
  (event, seat) over the items of pending and confirmed bookings, so no seat is
  ever in two active bookings; releasing a seat clears ``active``.
- ``events.booking_id`` loses its foreign key: a ticket booking's events name
  the ticket booking. Its audience is its customer (no provider).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("now()")


def upgrade() -> None:
    op.drop_constraint("events_booking_id_fkey", "events", type_="foreignkey")
    op.drop_constraint("events_audience_check", "events", type_="check")
    op.create_check_constraint(
        "events_audience_check", "events", "channel IS NOT NULL OR customer_id IS NOT NULL"
    )
    op.create_table(
        "venues",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("organisation_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("address", sa.Text(), nullable=False, server_default=""),
        sa.Column("time_zone", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name="venues_organisation_id_fkey"
        ),
    )
    op.create_index("ix_venues_organisation", "venues", ["organisation_id", "created_at", "id"])
    op.create_table(
        "seats",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("venue_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("section", sa.Text(), nullable=False),
        sa.Column("row", sa.Text(), nullable=False),
        sa.Column("number", sa.Text(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["venue_id"], ["venues.id"], name="seats_venue_id_fkey"),
        sa.UniqueConstraint("venue_id", "section", "row", "number", name="seats_position_key"),
    )
    op.create_table(
        "ticketed_events",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("organisation_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("venue_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sales_open_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sales_close_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name="ticketed_events_organisation_id_fkey"
        ),
        sa.ForeignKeyConstraint(["venue_id"], ["venues.id"], name="ticketed_events_venue_id_fkey"),
        sa.CheckConstraint("ends_at > starts_at", name="ticketed_events_times_check"),
        sa.CheckConstraint("sales_close_at > sales_open_at", name="ticketed_events_sales_check"),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name="ticketed_events_currency_check"),
    )
    op.create_index(
        "ix_ticketed_events_organisation",
        "ticketed_events",
        ["organisation_id", "created_at", "id"],
    )
    op.create_table(
        "ticket_prices",
        sa.Column("event_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("category", sa.Text(), primary_key=True),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["ticketed_events.id"], name="ticket_prices_event_id_fkey"
        ),
        sa.CheckConstraint("amount_minor >= 0", name="ticket_prices_amount_check"),
    )
    op.create_table(
        "ticket_bookings",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("event_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("customer_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("buyer_name", sa.Text(), nullable=False),
        sa.Column("buyer_email", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("ticket_reference", sa.Text(), nullable=True),
        sa.Column("manage_token_hash", sa.LargeBinary(), nullable=True),
        sa.Column("idempotency_key", sa.Text(), nullable=True),
        sa.Column("request_fingerprint", sa.Text(), nullable=True),
        sa.Column("payment_state", sa.Text(), nullable=False, server_default="none"),
        sa.Column("payment_failure_code", sa.Text(), nullable=True),
        sa.Column("payment_failure_message", sa.Text(), nullable=True),
        sa.Column("charge_id", sa.Text(), nullable=True),
        sa.Column("late_payment", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expired_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"], ["ticketed_events.id"], name="ticket_bookings_event_id_fkey"
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name="ticket_bookings_customer_id_fkey"
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'confirmed', 'cancelled', 'expired')",
            name="ticket_bookings_status_check",
        ),
        sa.CheckConstraint(
            "payment_state IN ('none', 'requested', 'succeeded', 'failed', 'refund_requested', "
            "'refunded')",
            name="ticket_bookings_payment_state_check",
        ),
        sa.UniqueConstraint("ticket_reference", name="ticket_bookings_ticket_reference_key"),
        sa.UniqueConstraint(
            "customer_id", "idempotency_key", name="ticket_bookings_idempotency_key_key"
        ),
    )
    op.create_index(
        "ix_ticket_bookings_expiring",
        "ticket_bookings",
        ["expires_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index("ix_ticket_bookings_event", "ticket_bookings", ["event_id", "created_at", "id"])
    op.create_table(
        "ticket_booking_items",
        sa.Column("booking_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("seat_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("event_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("price_minor", sa.BigInteger(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["booking_id"], ["ticket_bookings.id"], name="ticket_booking_items_booking_id_fkey"
        ),
        sa.ForeignKeyConstraint(
            ["seat_id"], ["seats.id"], name="ticket_booking_items_seat_id_fkey"
        ),
    )
    op.create_index(
        "ticket_booking_items_active_seat_key",
        "ticket_booking_items",
        ["event_id", "seat_id"],
        unique=True,
        postgresql_where=sa.text("active"),
    )
    op.create_table(
        "payment_requests",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("booking_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("idempotency_key", sa.Text(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("payment_method", sa.Text(), nullable=True),
        sa.Column("charge_id", sa.Text(), nullable=True),
        sa.Column("state", sa.Text(), nullable=False, server_default="queued"),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["booking_id"], ["ticket_bookings.id"], name="payment_requests_booking_id_fkey"
        ),
        sa.CheckConstraint("kind IN ('charge', 'refund')", name="payment_requests_kind_check"),
        sa.CheckConstraint(
            "state IN ('queued', 'enqueued', 'resolved')", name="payment_requests_state_check"
        ),
        sa.UniqueConstraint("idempotency_key", name="payment_requests_idempotency_key_key"),
    )
    op.create_index(
        "ix_payment_requests_open",
        "payment_requests",
        ["state", "enqueued_at"],
        postgresql_where=sa.text("state <> 'resolved'"),
    )
    op.create_table(
        "processed_messages",
        sa.Column("message_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("queue", sa.Text(), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )


def downgrade() -> None:
    op.drop_table("processed_messages")
    op.drop_table("payment_requests")
    op.drop_table("ticket_booking_items")
    op.drop_table("ticket_bookings")
    op.drop_table("ticket_prices")
    op.drop_table("ticketed_events")
    op.drop_table("seats")
    op.drop_table("venues")
    # Events of ticket bookings name no booking row: they go with them.
    op.execute("DELETE FROM events WHERE booking_id NOT IN (SELECT id FROM bookings)")
    op.drop_constraint("events_audience_check", "events", type_="check")
    op.create_check_constraint(
        "events_audience_check",
        "events",
        "channel IS NOT NULL OR (provider_id IS NOT NULL AND customer_id IS NOT NULL)",
    )
    op.create_foreign_key("events_booking_id_fkey", "events", "bookings", ["booking_id"], ["id"])
