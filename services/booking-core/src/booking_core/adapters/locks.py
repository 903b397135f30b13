"""PostgreSQL advisory lock keys (arbitrary, project-wide constants)."""

from __future__ import annotations

from typing import Final

# pg_advisory_xact_lock keys.
EVENT_SEQUENCER_LOCK: Final = 0x626B_0001
OUTBOX_RELAY_LOCK: Final = 0x626B_0002
# The two-key advisory locks (a separate key space) that serialize the writes to
# one provider's calendar: (PROVIDER_LOCK_CLASS, hashtext(provider id)).
PROVIDER_LOCK_CLASS: Final = 0x626B
# The two-key advisory locks that serialize the bookings of one team's event types:
# (TEAM_LOCK_CLASS, hashtext(team id)); always taken before a provider's.
TEAM_LOCK_CLASS: Final = 0x626C
# The two-key advisory locks a request holds on its idempotency key while it runs:
# (IDEMPOTENCY_LOCK_CLASS, hashtext("<scope>:<key>")), pg_try_advisory_xact_lock, so
# a concurrent duplicate learns at once that the first is in flight.
IDEMPOTENCY_LOCK_CLASS: Final = 0x626D
# The mail dispatcher's pass (pg_try_advisory_xact_lock: one replica at a time).
MAIL_DISPATCH_LOCK: Final = 0x626B_0003
