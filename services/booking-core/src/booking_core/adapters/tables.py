"""SQLAlchemy Core tables on one MetaData, mirroring migrations/ (the source of truth).

A test checks that alembic's autogenerate finds no difference between these
tables and the migrated database.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

metadata = sa.MetaData()
NOW = sa.text("now()")

organisations = sa.Table(
    "organisations",
    metadata,
    sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("name", sa.Text(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
)

providers = sa.Table(
    "providers",
    metadata,
    sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("name", sa.Text(), nullable=False),
    sa.Column("time_zone", sa.Text(), nullable=False, server_default="UTC"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    sa.Column(
        "organisation_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey("organisations.id", name="providers_organisation_id_fkey"),
        nullable=True,
    ),
)
sa.Index("ix_providers_organisation", providers.c.organisation_id)

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
    # Places of an event type's slot: every place of one slot shares slot_id,
    # and busy_start/busy_end are the slot widened by the type's buffers.
    sa.Column(
        "event_type_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey("event_types.id", name="bookings_event_type_id_fkey"),
        nullable=True,
    ),
    sa.Column("slot_id", pg.UUID(as_uuid=True), nullable=True),
    sa.Column("busy_start", sa.DateTime(timezone=True), nullable=True),
    sa.Column("busy_end", sa.DateTime(timezone=True), nullable=True),
    sa.Column("single_place_per_guest", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.CheckConstraint("end_time > start_time", name="bookings_time_range_check"),
    sa.CheckConstraint(
        "status IN ('pending', 'held', 'confirmed', 'cancelled')", name="bookings_status_check"
    ),
    sa.CheckConstraint("(event_type_id IS NULL) = (slot_id IS NULL)", name="bookings_slot_check"),
)
ACTIVE_STATUSES = ("pending", "held", "confirmed")
# The exclusion constraint bookings_no_overlap lives in the migration (raw DDL):
# no two active bookings of a provider overlap on their busy ranges unless they
# are places of one slot.
sa.Index(
    "bookings_provider_idempotency_key",
    bookings.c.provider_id,
    bookings.c.idempotency_key,
    unique=True,
    postgresql_where=bookings.c.idempotency_key.isnot(None),
)
sa.Index("ix_bookings_provider_start", bookings.c.provider_id, bookings.c.start_time, bookings.c.id)
sa.Index("ix_bookings_customer_start", bookings.c.customer_id, bookings.c.start_time, bookings.c.id)
sa.Index(
    "bookings_one_place_per_guest",
    bookings.c.slot_id,
    bookings.c.customer_id,
    unique=True,
    postgresql_where=sa.and_(
        bookings.c.single_place_per_guest, bookings.c.status.in_(ACTIVE_STATUSES)
    ),
)
sa.Index(
    "ix_bookings_event_type_start",
    bookings.c.event_type_id,
    bookings.c.start_time,
    postgresql_where=bookings.c.event_type_id.isnot(None),
)
# The idempotency key cleanup's scan (migration 0007).
sa.Index(
    "ix_bookings_idempotency_key_created",
    bookings.c.created_at,
    postgresql_where=bookings.c.idempotency_key.isnot(None),
)
sa.Index(
    "bookings_event_type_idempotency_key",
    bookings.c.event_type_id,
    bookings.c.idempotency_key,
    unique=True,
    postgresql_where=sa.and_(
        bookings.c.event_type_id.isnot(None), bookings.c.idempotency_key.isnot(None)
    ),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.BigInteger(), sa.Identity(always=True), primary_key=True),
    sa.Column("type", sa.Text(), nullable=False),
    # The booking (an appointment or a place: bookings.id) or ticket booking
    # (ticket_bookings.id) the event is about; no foreign key, as it is either.
    sa.Column("booking_id", pg.UUID(as_uuid=True), nullable=False),
    # The owners an event goes to; both NULL for a public channel's event, only the
    # customer for a ticket booking's.
    sa.Column("provider_id", pg.UUID(as_uuid=True), nullable=True),
    sa.Column("customer_id", pg.UUID(as_uuid=True), nullable=True),
    sa.Column("payload", pg.JSONB(), nullable=False),
    sa.Column("request_id", sa.Text(), nullable=True),
    # The W3C traceparent of the call that wrote the event (tracing on), so the
    # publish and what it causes join that call's trace.
    sa.Column("trace_context", sa.Text(), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("channel", sa.Text(), nullable=True),
    sa.CheckConstraint(
        "channel IS NOT NULL OR customer_id IS NOT NULL",
        name="events_audience_check",
    ),
)
sa.Index("ix_events_customer_id", events.c.customer_id, events.c.id)
sa.Index("ix_events_provider_id", events.c.provider_id, events.c.id)
sa.Index("ix_events_booking_id", events.c.booking_id, events.c.id)
sa.Index("ix_events_unpublished", events.c.id, postgresql_where=events.c.published_at.is_(None))
sa.Index(
    "ix_events_channel",
    events.c.channel,
    events.c.id,
    postgresql_where=events.c.channel.isnot(None),
)

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

event_types = sa.Table(
    "event_types",
    metadata,
    sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column(
        "provider_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey("providers.id", name="event_types_provider_id_fkey"),
        nullable=True,
    ),
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
        "allow_multiple_places_per_guest", sa.Boolean(), nullable=False, server_default=sa.false()
    ),
    sa.Column("dated_windows", pg.JSONB(), nullable=False, server_default="[]"),
    sa.Column("weekly_hours", pg.JSONB(), nullable=False, server_default="[]"),
    sa.Column("date_exceptions", pg.JSONB(), nullable=False, server_default="[]"),
    sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
    sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    sa.Column(
        "team_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey("teams.id", name="event_types_team_id_fkey"),
        nullable=True,
    ),
    sa.Column("allow_member_choice", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.CheckConstraint("period_minutes BETWEEN 5 AND 480", name="event_types_period_check"),
    sa.CheckConstraint("capacity BETWEEN 1 AND 1000", name="event_types_capacity_check"),
    sa.CheckConstraint(
        "(provider_id IS NULL) <> (team_id IS NULL)", name="event_types_owner_check"
    ),
)
sa.Index(
    "ix_event_types_provider_created",
    event_types.c.provider_id,
    event_types.c.created_at,
    event_types.c.id,
)
sa.Index(
    "ix_event_types_team_created",
    event_types.c.team_id,
    event_types.c.created_at,
    event_types.c.id,
)

# One namespace for random and custom slugs, stored lowercase.
event_type_slugs = sa.Table(
    "event_type_slugs",
    metadata,
    sa.Column("slug", sa.Text(), primary_key=True),
    sa.Column(
        "event_type_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey(
            "event_types.id", name="event_type_slugs_event_type_id_fkey", ondelete="CASCADE"
        ),
        nullable=False,
    ),
    sa.Column("custom", sa.Boolean(), nullable=False),
    sa.CheckConstraint("slug = lower(slug)", name="event_type_slugs_lowercase_check"),
)
sa.Index(
    "event_type_slugs_one_per_kind",
    event_type_slugs.c.event_type_id,
    event_type_slugs.c.custom,
    unique=True,
)

# Places taken per slot; incremented only while places are left.
slot_occupancy = sa.Table(
    "slot_occupancy",
    metadata,
    sa.Column(
        "event_type_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey("event_types.id", name="slot_occupancy_event_type_id_fkey"),
        nullable=False,
    ),
    sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("booked", sa.Integer(), nullable=False),
    # The provider hosting these places (the owner, or a team's member).
    sa.Column(
        "provider_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey("providers.id", name="slot_occupancy_provider_id_fkey"),
        nullable=False,
    ),
    sa.PrimaryKeyConstraint(
        "event_type_id", "start_time", "provider_id", name="slot_occupancy_pkey"
    ),
    sa.CheckConstraint("booked >= 0", name="slot_occupancy_booked_check"),
)

booking_guests = sa.Table(
    "booking_guests",
    metadata,
    sa.Column(
        "booking_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey(
            "bookings.id",
            name="booking_guests_booking_id_fkey",
            deferrable=True,
            initially="DEFERRED",
        ),
        primary_key=True,
    ),
    sa.Column("reference", sa.Text(), nullable=False),
    sa.Column("manage_token_hash", sa.LargeBinary(), nullable=False),
    sa.Column("first_name", sa.Text(), nullable=False),
    sa.Column("last_name", sa.Text(), nullable=False),
    sa.Column("email", sa.Text(), nullable=False),
    sa.Column("phone", sa.Text(), nullable=False),
    sa.Column("address", sa.Text(), nullable=True),
    sa.Column("special_requests", sa.Text(), nullable=True),
    sa.UniqueConstraint("reference", name="booking_guests_reference_key"),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column(
        "organisation_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey("organisations.id", name="users_organisation_id_fkey"),
        nullable=False,
    ),
    sa.Column("email", sa.Text(), nullable=False),
    sa.Column("display_name", sa.Text(), nullable=False),
    sa.Column("password_hash", sa.Text(), nullable=False),
    sa.Column("role", sa.Text(), nullable=False),
    sa.Column(
        "provider_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey("providers.id", name="users_provider_id_fkey"),
        nullable=True,
    ),
    sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    sa.CheckConstraint("role IN ('admin', 'provider')", name="users_role_check"),
    sa.CheckConstraint(
        "role <> 'provider' OR provider_id IS NOT NULL", name="users_provider_check"
    ),
    sa.UniqueConstraint("provider_id", name="users_provider_id_key"),
)
sa.Index("users_email_lower_key", sa.func.lower(users.c.email), unique=True)
sa.Index("ix_users_organisation", users.c.organisation_id, users.c.created_at, users.c.id)

refresh_tokens = sa.Table(
    "refresh_tokens",
    metadata,
    sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("family_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column(
        "user_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey("users.id", name="refresh_tokens_user_id_fkey", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("token_hash", sa.LargeBinary(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    sa.UniqueConstraint("token_hash", name="refresh_tokens_token_hash_key"),
)
sa.Index("ix_refresh_tokens_family", refresh_tokens.c.family_id)
sa.Index("ix_refresh_tokens_user", refresh_tokens.c.user_id)

login_throttle = sa.Table(
    "login_throttle",
    metadata,
    sa.Column("key", sa.Text(), primary_key=True),
    sa.Column("failures", sa.Integer(), nullable=False),
    sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
    sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
)

teams = sa.Table(
    "teams",
    metadata,
    sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column(
        "organisation_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey("organisations.id", name="teams_organisation_id_fkey"),
        nullable=False,
    ),
    sa.Column("name", sa.Text(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
)
sa.Index("ix_teams_organisation", teams.c.organisation_id, teams.c.created_at, teams.c.id)

team_members = sa.Table(
    "team_members",
    metadata,
    sa.Column(
        "team_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey("teams.id", name="team_members_team_id_fkey", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column(
        "provider_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey("providers.id", name="team_members_provider_id_fkey"),
        nullable=False,
    ),
    sa.Column("added_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    sa.PrimaryKeyConstraint("team_id", "provider_id", name="team_members_pkey"),
)
sa.Index("ix_team_members_provider", team_members.c.provider_id)

audit_log = sa.Table(
    "audit_log",
    metadata,
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
sa.Index("ix_audit_log_organisation", audit_log.c.organisation_id, audit_log.c.id)

# The mail dispatcher's high-water mark over events (one row).
mail_cursor = sa.Table(
    "mail_cursor",
    metadata,
    sa.Column("id", sa.SmallInteger(), primary_key=True),
    sa.Column("last_event_id", sa.BigInteger(), nullable=False),
    sa.CheckConstraint("id = 1", name="mail_cursor_single_row_check"),
)

mail_jobs = sa.Table(
    "mail_jobs",
    metadata,
    sa.Column(
        "event_id",
        sa.BigInteger(),
        sa.ForeignKey("events.id", name="mail_jobs_event_id_fkey"),
        primary_key=True,
    ),
    sa.Column("state", sa.Text(), nullable=False, server_default="enqueued"),
    sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="1"),
    sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("state IN ('enqueued', 'done')", name="mail_jobs_state_check"),
)
sa.Index(
    "ix_mail_jobs_enqueued",
    mail_jobs.c.enqueued_at,
    postgresql_where=mail_jobs.c.state == "enqueued",
)

mail_deliveries = sa.Table(
    "mail_deliveries",
    metadata,
    sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column(
        "event_id",
        sa.BigInteger(),
        sa.ForeignKey("events.id", name="mail_deliveries_event_id_fkey"),
        nullable=False,
    ),
    sa.Column(
        "booking_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey("bookings.id", name="mail_deliveries_booking_id_fkey"),
        nullable=False,
    ),
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
sa.Index(
    "ix_mail_deliveries_failed",
    mail_deliveries.c.failed_at,
    postgresql_where=mail_deliveries.c.state == "failed",
)

# --- ticketing ----------------------------------------------------------------------

venues = sa.Table(
    "venues",
    metadata,
    sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column(
        "organisation_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey("organisations.id", name="venues_organisation_id_fkey"),
        nullable=False,
    ),
    sa.Column("name", sa.Text(), nullable=False),
    sa.Column("address", sa.Text(), nullable=False, server_default=""),
    sa.Column("time_zone", sa.Text(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
)
sa.Index("ix_venues_organisation", venues.c.organisation_id, venues.c.created_at, venues.c.id)

seats = sa.Table(
    "seats",
    metadata,
    sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column(
        "venue_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey("venues.id", name="seats_venue_id_fkey"),
        nullable=False,
    ),
    sa.Column("section", sa.Text(), nullable=False),
    sa.Column("row", sa.Text(), nullable=False),
    sa.Column("number", sa.Text(), nullable=False),
    sa.Column("category", sa.Text(), nullable=False),
    sa.UniqueConstraint("venue_id", "section", "row", "number", name="seats_position_key"),
)

ticketed_events = sa.Table(
    "ticketed_events",
    metadata,
    sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column(
        "organisation_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey("organisations.id", name="ticketed_events_organisation_id_fkey"),
        nullable=False,
    ),
    sa.Column(
        "venue_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey("venues.id", name="ticketed_events_venue_id_fkey"),
        nullable=False,
    ),
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
    sa.CheckConstraint("ends_at > starts_at", name="ticketed_events_times_check"),
    sa.CheckConstraint("sales_close_at > sales_open_at", name="ticketed_events_sales_check"),
    sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name="ticketed_events_currency_check"),
)
sa.Index(
    "ix_ticketed_events_organisation",
    ticketed_events.c.organisation_id,
    ticketed_events.c.created_at,
    ticketed_events.c.id,
)

ticket_prices = sa.Table(
    "ticket_prices",
    metadata,
    sa.Column(
        "event_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey("ticketed_events.id", name="ticket_prices_event_id_fkey"),
        primary_key=True,
    ),
    sa.Column("category", sa.Text(), primary_key=True),
    sa.Column("amount_minor", sa.BigInteger(), nullable=False),
    sa.CheckConstraint("amount_minor >= 0", name="ticket_prices_amount_check"),
)

ticket_bookings = sa.Table(
    "ticket_bookings",
    metadata,
    sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column(
        "event_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey("ticketed_events.id", name="ticket_bookings_event_id_fkey"),
        nullable=False,
    ),
    sa.Column(
        "customer_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey("customers.id", name="ticket_bookings_customer_id_fkey"),
        nullable=False,
    ),
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
# The expiry scheduler's queue: pending holds by expiry.
sa.Index(
    "ix_ticket_bookings_expiring",
    ticket_bookings.c.expires_at,
    postgresql_where=ticket_bookings.c.status == "pending",
)
sa.Index(
    "ix_ticket_bookings_event",
    ticket_bookings.c.event_id,
    ticket_bookings.c.created_at,
    ticket_bookings.c.id,
)

ticket_booking_items = sa.Table(
    "ticket_booking_items",
    metadata,
    sa.Column(
        "booking_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey("ticket_bookings.id", name="ticket_booking_items_booking_id_fkey"),
        primary_key=True,
    ),
    sa.Column(
        "seat_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey("seats.id", name="ticket_booking_items_seat_id_fkey"),
        primary_key=True,
    ),
    sa.Column("event_id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("category", sa.Text(), nullable=False),
    sa.Column("price_minor", sa.BigInteger(), nullable=False),
    # True while its booking is pending or confirmed.
    sa.Column("active", sa.Boolean(), nullable=False),
)
# No seat in two active bookings of one event: the database decides.
sa.Index(
    "ticket_booking_items_active_seat_key",
    ticket_booking_items.c.event_id,
    ticket_booking_items.c.seat_id,
    unique=True,
    postgresql_where=ticket_booking_items.c.active,
)

# Payment and refund requests to payment-service: the outbox of the payments queue.
payment_requests = sa.Table(
    "payment_requests",
    metadata,
    # Also the dramatiq message's id.
    sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column(
        "booking_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey("ticket_bookings.id", name="payment_requests_booking_id_fkey"),
        nullable=False,
    ),
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
    sa.CheckConstraint("kind IN ('charge', 'refund')", name="payment_requests_kind_check"),
    sa.CheckConstraint(
        "state IN ('queued', 'enqueued', 'resolved')", name="payment_requests_state_check"
    ),
    sa.UniqueConstraint("idempotency_key", name="payment_requests_idempotency_key_key"),
)
sa.Index(
    "ix_payment_requests_open",
    payment_requests.c.state,
    payment_requests.c.enqueued_at,
    postgresql_where=payment_requests.c.state != "resolved",
)

# Messages from the payment outcomes queue already applied (written in the same
# transaction as what they changed, so a redelivery is a no-op).
processed_messages = sa.Table(
    "processed_messages",
    metadata,
    sa.Column("message_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("queue", sa.Text(), nullable=False),
    sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
)
sa.Index(
    "ix_ticket_bookings_idempotency_key_created",
    ticket_bookings.c.created_at,
    postgresql_where=ticket_bookings.c.idempotency_key.isnot(None),
)
