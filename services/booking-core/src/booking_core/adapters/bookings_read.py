"""How bookings are read: their row, their guest's details (if any) and their
provider's organisation, in one query (two joins on keys)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import sqlalchemy as sa

from booking_core.domain.guests import Guest
from booking_core.domain.model import Booking, BookingStatus

from .tables import booking_guests, bookings, providers

# A booking's row with its guest's details, if it has any (one join on the key).
_GUEST_COLUMNS: Final = (
    "reference",
    "first_name",
    "last_name",
    "email",
    "phone",
    "address",
    "special_requests",
)
# And its provider's organisation (one more join on a key), for admins' access.
BOOKING_WITH_GUEST: Final = sa.select(
    bookings,
    *(booking_guests.c[c].label(f"guest_{c}") for c in _GUEST_COLUMNS),
    providers.c.organisation_id.label("provider_organisation_id"),
).select_from(
    bookings.outerjoin(booking_guests).join(providers, providers.c.id == bookings.c.provider_id)
)


def _guest(row: Mapping[Any, Any]) -> Guest | None:
    if row.get("guest_reference") is None:
        return None
    return Guest(
        first_name=row["guest_first_name"],
        last_name=row["guest_last_name"],
        email=row["guest_email"],
        phone=row["guest_phone"],
        address=row["guest_address"],
        special_requests=row["guest_special_requests"],
    )


def booking_from_row(row: Mapping[Any, Any]) -> Booking:
    """A booking read with ``BOOKING_WITH_GUEST`` (a ``RowMapping``, or a ``Prepared``
    statement's dict)."""
    return Booking(
        id=row["id"],
        provider_id=row["provider_id"],
        customer_id=row["customer_id"],
        start_time=row["start_time"],
        end_time=row["end_time"],
        status=BookingStatus(row["status"]),
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        idempotency_key=row["idempotency_key"],
        request_fingerprint=row["request_fingerprint"],
        cancelled_at=row["cancelled_at"],
        cancel_reason=row["cancel_reason"],
        event_type_id=row["event_type_id"],
        slot_id=row["slot_id"],
        busy_start=row["busy_start"],
        busy_end=row["busy_end"],
        single_place_per_guest=row["single_place_per_guest"],
        reference=row.get("guest_reference"),
        guest=_guest(row),
        organisation_id=row.get("provider_organisation_id"),
    )
