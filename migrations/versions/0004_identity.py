"""Identity: organisations, users (Argon2id hashes), refresh token families, sign-in
throttling, teams and their members, team event types, and the audit log.

- ``providers.organisation_id``: an organisation owns providers (existing ones
  join the first organisation when one is created by ``make seed``).
- ``users``: email unique case-insensitively, role ``admin`` or ``provider``
  (a provider user is linked to its provider record), a disabled flag.
- ``refresh_tokens``: stored as SHA-256 hashes, one family per sign-in; a token
  is used once (``used_at``), and a family is revoked as a whole.
- ``login_throttle``: failed sign-ins per account and per client address.
- ``teams`` / ``team_members``; an event type belongs to a provider or a team.
- ``slot_occupancy`` counts per (event type, provider, slot): a team's slot has
  places per member.
- ``audit_log``: who did what to which booking or setting, when.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "organisations",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.add_column("providers", sa.Column("organisation_id", pg.UUID(as_uuid=True), nullable=True))
    op.create_foreign_key(
        "providers_organisation_id_fkey", "providers", "organisations", ["organisation_id"], ["id"]
    )
    op.create_index("ix_providers_organisation", "providers", ["organisation_id"])

    op.create_table(
        "users",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("organisation_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("provider_id", pg.UUID(as_uuid=True), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name="users_organisation_id_fkey"
        ),
        sa.ForeignKeyConstraint(["provider_id"], ["providers.id"], name="users_provider_id_fkey"),
        sa.CheckConstraint("role IN ('admin', 'provider')", name="users_role_check"),
        sa.CheckConstraint(
            "role <> 'provider' OR provider_id IS NOT NULL", name="users_provider_check"
        ),
        sa.UniqueConstraint("provider_id", name="users_provider_id_key"),
    )
    op.create_index("users_email_lower_key", "users", [sa.text("lower(email)")], unique=True)
    op.create_index("ix_users_organisation", "users", ["organisation_id", "created_at", "id"])

    op.create_table(
        "refresh_tokens",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("family_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="refresh_tokens_user_id_fkey", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("token_hash", name="refresh_tokens_token_hash_key"),
    )
    op.create_index("ix_refresh_tokens_family", "refresh_tokens", ["family_id"])
    op.create_index("ix_refresh_tokens_user", "refresh_tokens", ["user_id"])

    op.create_table(
        "login_throttle",
        sa.Column("key", sa.Text(), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
    )

    op.create_table(
        "teams",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("organisation_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name="teams_organisation_id_fkey"
        ),
    )
    op.create_index("ix_teams_organisation", "teams", ["organisation_id", "created_at", "id"])
    op.create_table(
        "team_members",
        sa.Column("team_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("provider_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.PrimaryKeyConstraint("team_id", "provider_id", name="team_members_pkey"),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name="team_members_team_id_fkey", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["providers.id"], name="team_members_provider_id_fkey"
        ),
    )
    op.create_index("ix_team_members_provider", "team_members", ["provider_id"])

    op.alter_column("event_types", "provider_id", nullable=True)
    op.add_column("event_types", sa.Column("team_id", pg.UUID(as_uuid=True), nullable=True))
    op.add_column(
        "event_types",
        sa.Column("allow_member_choice", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_foreign_key("event_types_team_id_fkey", "event_types", "teams", ["team_id"], ["id"])
    op.create_check_constraint(
        "event_types_owner_check",
        "event_types",
        "(provider_id IS NULL) <> (team_id IS NULL)",
    )
    op.create_index("ix_event_types_team_created", "event_types", ["team_id", "created_at", "id"])

    # Places per (event type, provider, slot): a team's members each host their own.
    op.add_column("slot_occupancy", sa.Column("provider_id", pg.UUID(as_uuid=True), nullable=True))
    op.execute(
        "UPDATE slot_occupancy o SET provider_id = e.provider_id "
        "FROM event_types e WHERE e.id = o.event_type_id"
    )
    op.alter_column("slot_occupancy", "provider_id", nullable=False)
    op.drop_constraint("slot_occupancy_pkey", "slot_occupancy", type_="primary")
    op.create_primary_key(
        "slot_occupancy_pkey", "slot_occupancy", ["event_type_id", "start_time", "provider_id"]
    )
    op.create_foreign_key(
        "slot_occupancy_provider_id_fkey", "slot_occupancy", "providers", ["provider_id"], ["id"]
    )

    # Guests' idempotency keys are scoped to the event type (a team's places go to
    # several providers, so the per-provider index cannot decide them alone).
    op.create_index(
        "bookings_event_type_idempotency_key",
        "bookings",
        ["event_type_id", "idempotency_key"],
        unique=True,
        postgresql_where=sa.text("event_type_id IS NOT NULL AND idempotency_key IS NOT NULL"),
    )

    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), primary_key=True),
        sa.Column("organisation_id", pg.UUID(as_uuid=True), nullable=True),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("target_type", sa.Text(), nullable=False),
        sa.Column("target_id", sa.Text(), nullable=False),
        sa.Column("details", pg.JSONB(), nullable=False, server_default="{}"),
        sa.Column("request_id", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.create_index("ix_audit_log_organisation", "audit_log", ["organisation_id", "id"])


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_index("bookings_event_type_idempotency_key", table_name="bookings")
    op.drop_constraint("slot_occupancy_provider_id_fkey", "slot_occupancy", type_="foreignkey")
    op.drop_constraint("slot_occupancy_pkey", "slot_occupancy", type_="primary")
    op.execute(
        "DELETE FROM slot_occupancy o USING event_types e "
        "WHERE e.id = o.event_type_id AND e.team_id IS NOT NULL"
    )
    op.create_primary_key("slot_occupancy_pkey", "slot_occupancy", ["event_type_id", "start_time"])
    op.drop_column("slot_occupancy", "provider_id")
    op.drop_index("ix_event_types_team_created", table_name="event_types")
    op.drop_constraint("event_types_owner_check", "event_types", type_="check")
    op.drop_constraint("event_types_team_id_fkey", "event_types", type_="foreignkey")
    op.execute("DELETE FROM event_types WHERE team_id IS NOT NULL")
    op.drop_column("event_types", "allow_member_choice")
    op.drop_column("event_types", "team_id")
    op.alter_column("event_types", "provider_id", nullable=False)
    op.drop_table("team_members")
    op.drop_table("teams")
    op.drop_table("login_throttle")
    op.drop_table("refresh_tokens")
    op.drop_table("users")
    op.drop_index("ix_providers_organisation", table_name="providers")
    op.drop_constraint("providers_organisation_id_fkey", "providers", type_="foreignkey")
    op.drop_column("providers", "organisation_id")
    op.drop_table("organisations")
