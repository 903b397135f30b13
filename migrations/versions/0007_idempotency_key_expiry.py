"""Idempotency keys expire: partial indexes on ``created_at`` over the rows that
still hold a key, so booking-core's hourly cleanup (``IDEMPOTENCY_KEY_RETENTION_HOURS``)
finds the expired ones without scanning every booking.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("ix_bookings_idempotency_key_created", "bookings"),
    ("ix_ticket_bookings_idempotency_key_created", "ticket_bookings"),
)


def upgrade() -> None:
    for name, table in INDEXES:
        op.create_index(
            name, table, ["created_at"], postgresql_where=sa.text("idempotency_key IS NOT NULL")
        )


def downgrade() -> None:
    for name, table in INDEXES:
        op.drop_index(name, table_name=table)
