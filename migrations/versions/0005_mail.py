"""Mail: which events have been handed to the mail worker, and one delivery record per
(booking, version, kind, recipient), claimed before sending and marked after.

- ``mail_cursor``: the highest event id the mail dispatcher has looked at (event ids
  follow commit order, so nothing below it can still appear). It starts at the
  log's head: events from before this migration are not mailed.
- ``mail_jobs``: one per mail-worthy event, enqueued to dramatiq, then done.
- ``mail_deliveries``: the exactly-once record; ``message_id`` is fixed at the first
  claim, so a duplicate after a crash carries the same Message-ID.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "mail_cursor",
        sa.Column("id", sa.SmallInteger(), primary_key=True),
        sa.Column("last_event_id", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name="mail_cursor_single_row_check"),
    )
    op.execute(
        "INSERT INTO mail_cursor (id, last_event_id) SELECT 1, COALESCE(max(id), 0) FROM events"
    )
    op.create_table(
        "mail_jobs",
        sa.Column("event_id", sa.BigInteger(), primary_key=True),
        sa.Column("state", sa.Text(), nullable=False, server_default="enqueued"),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], name="mail_jobs_event_id_fkey"),
        sa.CheckConstraint("state IN ('enqueued', 'done')", name="mail_jobs_state_check"),
    )
    op.create_index(
        "ix_mail_jobs_enqueued",
        "mail_jobs",
        ["enqueued_at"],
        postgresql_where=sa.text("state = 'enqueued'"),
    )
    op.create_table(
        "mail_deliveries",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("booking_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("message_id", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], name="mail_deliveries_event_id_fkey"),
        sa.ForeignKeyConstraint(
            ["booking_id"], ["bookings.id"], name="mail_deliveries_booking_id_fkey"
        ),
        sa.CheckConstraint(
            "state IN ('claimed', 'sent', 'failed')", name="mail_deliveries_state_check"
        ),
        sa.CheckConstraint(
            "kind IN ('created', 'cancelled', 'reminder')", name="mail_deliveries_kind_check"
        ),
        sa.UniqueConstraint(
            "booking_id", "version", "kind", "recipient", name="mail_deliveries_once_key"
        ),
    )
    op.create_index(
        "ix_mail_deliveries_failed",
        "mail_deliveries",
        ["failed_at"],
        postgresql_where=sa.text("state = 'failed'"),
    )


def downgrade() -> None:
    op.drop_table("mail_deliveries")
    op.drop_table("mail_jobs")
    op.drop_table("mail_cursor")
