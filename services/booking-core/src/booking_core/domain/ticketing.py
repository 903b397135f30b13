"""Ticketing rules: venues and seats, ticketed events and their prices, and the life of
a ticket booking (a hold on seats that a payment confirms or that expires).

Money is an integer amount in the currency's minor unit (ISO 4217; JPY has none,
EUR two, BHD three), with the currency's code beside it. Codes are checked
against the CLDR currency data (``babel``).

Status machine (see ``TicketBooking``)::

    pending --payment succeeded--> confirmed --refund succeeded--> cancelled
    pending --payment failed / buyer cancels--> cancelled
    pending --hold ran out--> expired
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final
from uuid import UUID

from babel.numbers import get_currency_precision, list_currencies
from bookings_common import limits

from .errors import (
    BookingNotCancellable,
    BookingNotPayable,
    BookingNotRefundable,
    InvalidArgument,
    SalesClosed,
)
from .event_types import clean_text, validate_time_zone

MAX_SEAT_LABEL: Final = limits.SEAT_LABEL_MAX
MAX_SEATS_PER_CALL: Final = limits.SEATS_PER_CALL_MAX
_CURRENCIES: Final = frozenset(list_currencies())


class TicketStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def is_active(self) -> bool:
        """Its seats are taken (held or sold)."""
        return self in (TicketStatus.PENDING, TicketStatus.CONFIRMED)


class PaymentState(StrEnum):
    NONE = "none"
    REQUESTED = "requested"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUND_REQUESTED = "refund_requested"
    REFUNDED = "refunded"


class SeatState(StrEnum):
    AVAILABLE = "available"
    HELD = "held"
    SOLD = "sold"


def validate_currency(code: str, field_name: str = "currency") -> str:
    """An ISO 4217 code (``EUR``), upper case; ``InvalidArgument`` otherwise."""
    if len(code) != 3 or code.upper() != code or code not in _CURRENCIES:
        raise InvalidArgument(field_name, "must be an ISO 4217 currency code such as EUR")
    return code


def minor_units(currency: str) -> int:
    """Digits after the decimal point of ``currency`` (EUR 2, JPY 0, BHD 3)."""
    return int(get_currency_precision(currency))


def format_money(amount_minor: int, currency: str) -> str:
    """``amount_minor`` as a decimal string with the code: ``(2500, "EUR")`` is
    ``"25.00 EUR"``, ``(2500, "JPY")`` is ``"2500 JPY"``."""
    digits = minor_units(currency)
    if digits == 0:
        return f"{amount_minor} {currency}"
    sign = "-" if amount_minor < 0 else ""
    whole, fraction = divmod(abs(amount_minor), 10**digits)
    return f"{sign}{whole}.{fraction:0{digits}d} {currency}"


def _label(value: str, field_name: str) -> str:
    return clean_text(value, field_name, maximum=MAX_SEAT_LABEL, minimum=1, lines=False)


@dataclass(frozen=True, slots=True)
class VenueSpec:
    name: str
    address: str
    time_zone: str

    def validated(self) -> VenueSpec:
        """The spec with its text trimmed; ``InvalidArgument`` naming a bad field."""
        return VenueSpec(
            name=clean_text(self.name, "name", maximum=limits.NAME_MAX, minimum=1, lines=False),
            address=clean_text(self.address, "address", maximum=limits.LOCATION_MAX, lines=True),
            time_zone=validate_time_zone(self.time_zone),
        )


@dataclass(frozen=True, slots=True)
class Venue:
    id: UUID
    organisation_id: UUID
    spec: VenueSpec
    seat_count: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class SeatSpec:
    section: str
    row: str
    number: str
    category: str


@dataclass(frozen=True, slots=True)
class Seat:
    id: UUID
    venue_id: UUID
    section: str
    row: str
    number: str
    category: str


def _natural(label: str) -> tuple[tuple[int, int | str], ...]:
    """``"A10"`` after ``"A9"``: digit runs compare as numbers."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in re.findall(r"\d+|\D+", label)
    )


def seat_order(seat: Seat) -> tuple[object, ...]:
    """How seats are listed: by section, row and number, numbers in numeric order."""
    return (_natural(seat.section), _natural(seat.row), _natural(seat.number))


def validate_seats(specs: list[SeatSpec]) -> list[SeatSpec]:
    """1..2000 seats with 1..50-character labels, each position once; ``InvalidArgument``
    naming the first bad element."""
    if not 1 <= len(specs) <= MAX_SEATS_PER_CALL:
        raise InvalidArgument("seats", f"must hold 1 to {MAX_SEATS_PER_CALL} seats")
    seen: set[tuple[str, str, str]] = set()
    validated = []
    for i, spec in enumerate(specs):
        seat = SeatSpec(
            section=_label(spec.section, f"seats[{i}].section"),
            row=_label(spec.row, f"seats[{i}].row"),
            number=_label(spec.number, f"seats[{i}].number"),
            category=_label(spec.category, f"seats[{i}].category"),
        )
        position = (seat.section, seat.row, seat.number)
        if position in seen:
            raise InvalidArgument(f"seats[{i}]", "repeats a section, row and number")
        seen.add(position)
        validated.append(seat)
    return validated


@dataclass(frozen=True, slots=True)
class EventSpec:
    """A ticketed event as its admin sets it; ``prices`` maps category to amount."""

    venue_id: UUID
    name: str
    description: str
    starts_at: datetime
    ends_at: datetime
    sales_open_at: datetime
    sales_close_at: datetime
    currency: str
    prices: dict[str, int] = field(default_factory=dict)

    def validated(self) -> EventSpec:
        """The spec checked (times in order, an ISO 4217 currency, prices >= 0 for at
        most 100 categories); ``InvalidArgument`` naming a bad field."""
        name = clean_text(self.name, "name", maximum=limits.NAME_MAX, minimum=1, lines=False)
        description = clean_text(
            self.description, "description", maximum=limits.DESCRIPTION_MAX, lines=True
        )
        if self.ends_at <= self.starts_at:
            raise InvalidArgument("ends_at", "must be after starts_at")
        if self.sales_close_at <= self.sales_open_at:
            raise InvalidArgument("sales_close_at", "must be after sales_open_at")
        if self.sales_close_at > self.ends_at:
            raise InvalidArgument("sales_close_at", "must not be after ends_at")
        if not 1 <= len(self.prices) <= 100:
            raise InvalidArgument("prices", "must price 1 to 100 seat categories")
        prices = {}
        for category, amount in self.prices.items():
            prices[_label(category, "prices.category")] = amount
            if not 0 <= amount <= 10**12:
                raise InvalidArgument("prices.amount_minor", "must be between 0 and 10^12")
        return replace(
            self,
            name=name,
            description=description,
            currency=validate_currency(self.currency),
            prices=prices,
        )


@dataclass(frozen=True, slots=True)
class TicketedEvent:
    id: UUID
    organisation_id: UUID
    spec: EventSpec
    version: int
    created_at: datetime
    updated_at: datetime

    def sales_open(self, now: datetime) -> bool:
        """Holds are taken in ``[sales_open_at, sales_close_at)`` and before the start."""
        spec = self.spec
        return spec.sales_open_at <= now < spec.sales_close_at and now < spec.starts_at

    def check_on_sale(self, now: datetime) -> None:
        if not self.sales_open(now):
            raise SalesClosed("tickets for this event are not on sale now")


@dataclass(frozen=True, slots=True)
class Buyer:
    name: str
    email: str


@dataclass(frozen=True, slots=True)
class TicketItem:
    seat: Seat
    price_minor: int


def validate_seat_ids(seat_ids: list[UUID], maximum: int) -> list[UUID]:
    """1..``maximum`` distinct seats, sorted (so concurrent holds take their rows in
    one order and never deadlock)."""
    if not 1 <= len(seat_ids) <= maximum:
        raise InvalidArgument("seat_ids", f"must name 1 to {maximum} seats")
    if len(set(seat_ids)) != len(seat_ids):
        raise InvalidArgument("seat_ids", "must not repeat a seat")
    return sorted(seat_ids)


@dataclass(slots=True)
class TicketBooking:
    """A hold on seats of one event and what became of it.

    ``payment_state`` follows the payment (``PaymentState``); ``late_payment`` is
    set when a charge succeeded after the booking had expired or was cancelled:
    the booking stays as it was and the charge is refunded.
    """

    id: UUID
    event_id: UUID
    customer_id: UUID
    buyer: Buyer
    status: TicketStatus
    expires_at: datetime
    items: list[TicketItem]
    total_minor: int
    currency: str
    created_at: datetime
    updated_at: datetime
    version: int = 1
    ticket_reference: str | None = None
    payment_state: PaymentState = PaymentState.NONE
    payment_failure_code: str | None = None
    payment_failure_message: str | None = None
    charge_id: str | None = None
    late_payment: bool = False
    cancel_reason: str | None = None
    confirmed_at: datetime | None = None
    cancelled_at: datetime | None = None
    expired_at: datetime | None = None
    idempotency_key: str | None = None
    request_fingerprint: str | None = None
    # Read only: the event's organisation (for its admins).
    organisation_id: UUID | None = None

    @property
    def seat_ids(self) -> list[UUID]:
        return [item.seat.id for item in self.items]

    def _touch(self, now: datetime) -> None:
        self.updated_at = now
        self.version += 1

    def request_payment(self, now: datetime) -> bool:
        """Record that a charge was asked for; False (and nothing changes) if it already
        was. ``BookingNotPayable`` unless pending, unexpired and unpaid."""
        if self.status is not TicketStatus.PENDING or self.expires_at <= now:
            raise BookingNotPayable(f"a {self.status} booking cannot be paid")
        if self.payment_state is PaymentState.REQUESTED:
            return False
        if self.payment_state is not PaymentState.NONE:
            raise BookingNotPayable("this booking's payment is already settled")
        self.payment_state = PaymentState.REQUESTED
        self._touch(now)
        return True

    def payment_succeeded(self, now: datetime, *, charge_id: str, reference: str) -> bool:
        """Apply a successful charge: a pending booking is confirmed with ``reference``
        (True); any other is left as it is, marked ``late_payment`` with its refund
        requested (False: the caller asks for the refund)."""
        self.charge_id = charge_id
        if self.status is TicketStatus.PENDING:
            self.status = TicketStatus.CONFIRMED
            self.payment_state = PaymentState.SUCCEEDED
            self.ticket_reference = reference
            self.confirmed_at = now
            self._touch(now)
            return True
        self.late_payment = True
        self.payment_state = PaymentState.REFUND_REQUESTED
        self._touch(now)
        return False

    def payment_failed(self, now: datetime, *, code: str, message: str) -> bool:
        """Apply a failed charge: a pending booking is cancelled and its seats released
        (True); otherwise only the failure is recorded (False)."""
        self.payment_state = PaymentState.FAILED
        self.payment_failure_code = code
        self.payment_failure_message = message
        if self.status is TicketStatus.PENDING:
            self.status = TicketStatus.CANCELLED
            self.cancel_reason = f"payment failed: {code}"
            self.cancelled_at = now
            self._touch(now)
            return True
        self._touch(now)
        return False

    def cancel(self, now: datetime, reason: str | None) -> None:
        """The buyer cancels a pending booking. ``BookingNotCancellable`` otherwise (a
        confirmed one is cancelled only by a refund)."""
        if self.status is not TicketStatus.PENDING:
            raise BookingNotCancellable(f"a {self.status} booking cannot be cancelled")
        self.status = TicketStatus.CANCELLED
        self.cancel_reason = reason
        self.cancelled_at = now
        self._touch(now)

    def expire(self, now: datetime) -> bool:
        """The hold ran out: a pending booking past ``expires_at`` becomes expired."""
        if self.status is not TicketStatus.PENDING or self.expires_at > now:
            return False
        self.status = TicketStatus.EXPIRED
        self.expired_at = now
        self._touch(now)
        return True

    def request_refund(self, now: datetime, reason: str) -> None:
        """An admin refunds a confirmed booking. ``BookingNotRefundable`` otherwise."""
        if self.status is not TicketStatus.CONFIRMED:
            raise BookingNotRefundable(f"a {self.status} booking cannot be refunded")
        if self.payment_state is not PaymentState.SUCCEEDED:
            raise BookingNotRefundable("a refund of this booking is under way")
        self.payment_state = PaymentState.REFUND_REQUESTED
        self.cancel_reason = reason
        self._touch(now)

    def refunded(self, now: datetime) -> bool:
        """The refund went through: a confirmed booking is cancelled and its seats
        released (True); a late payment's booking stays as it is (False)."""
        self.payment_state = PaymentState.REFUNDED
        if self.status is TicketStatus.CONFIRMED:
            self.status = TicketStatus.CANCELLED
            self.cancelled_at = now
            self._touch(now)
            return True
        self._touch(now)
        return False


def hold_expiry(now: datetime, ttl_seconds: float) -> datetime:
    return now + timedelta(seconds=ttl_seconds)
