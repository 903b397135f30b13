"""Request and response schemas of the ticketing routes: the admin's venues, seats and
events, the public event and seat map, and ticket bookings (holds, payment,
cancellation, refunds). Money is ``amountMinor`` (an integer in the currency's
minor unit) beside an ISO 4217 ``currency``."""

from __future__ import annotations

from typing import Any, Final

from bookings_common import limits
from marshmallow import Schema, ValidationError, fields, validates_schema
from marshmallow.validate import Length, OneOf, Range, Regexp

from .schemas import Rfc3339DateTime, StrictSchema

EXAMPLE_VENUE: Final = "3d2b1f0e-7c6a-4b5d-9e8f-1a2b3c4d5e6f"
EXAMPLE_EVENT: Final = "5e4d3c2b-1a0f-4e9d-8c7b-6a5f4e3d2c1b"
EXAMPLE_SEAT: Final = "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d"
EXAMPLE_TICKET_BOOKING: Final = "9c8b7a6f-5e4d-4c3b-8a29-1f0e9d8c7b6a"
REST_SEATS_MAX: Final = 500
_LABEL: Final = Length(min=1, max=limits.SEAT_LABEL_MAX)
_CURRENCY: Final = Regexp(r"^[A-Z]{3}$", error="must be an ISO 4217 code such as EUR")


def _name(required: bool) -> fields.String:
    return fields.String(required=required, validate=Length(min=1, max=limits.NAME_MAX))


class VenueRequest(StrictSchema):
    """Body of ``POST /admin/venues``."""

    name = _name(True)
    address = fields.String(load_default="", validate=Length(max=limits.LOCATION_MAX))
    time_zone = fields.String(
        required=True, data_key="timeZone", metadata={"example": "Europe/Berlin"}
    )


class VenuePatch(StrictSchema):
    """Body of ``PATCH /admin/venues/{id}`` (JSON Merge Patch, RFC 7396)."""

    name = _name(False)
    address = fields.String(validate=Length(max=limits.LOCATION_MAX))
    time_zone = fields.String(data_key="timeZone")


class Venue(Schema):
    id = fields.String(required=True, metadata={"example": EXAMPLE_VENUE})
    organisation_id = fields.String(required=True, data_key="organisationId")
    name = fields.String(required=True)
    address = fields.String(required=True)
    time_zone = fields.String(required=True, data_key="timeZone")
    seat_count = fields.Integer(required=True, data_key="seatCount")
    created_at = Rfc3339DateTime(required=True, data_key="createdAt")
    updated_at = Rfc3339DateTime(required=True, data_key="updatedAt")


class VenueEnvelope(Schema):
    venue = fields.Nested(Venue, required=True)


class VenuePage(Schema):
    items = fields.List(fields.Nested(Venue), required=True)
    next_cursor = fields.String(required=True, allow_none=True, data_key="nextCursor")


class SeatSpec(StrictSchema):
    section = fields.String(required=True, validate=_LABEL, metadata={"example": "Stalls"})
    row = fields.String(required=True, validate=_LABEL, metadata={"example": "A"})
    number = fields.String(required=True, validate=_LABEL, metadata={"example": "12"})
    category = fields.String(required=True, validate=_LABEL, metadata={"example": "front"})


class SeatRow(StrictSchema):
    """A row of numbered seats: ``from``..``to`` inclusive."""

    section = fields.String(required=True, validate=_LABEL)
    row = fields.String(required=True, validate=_LABEL)
    first = fields.Integer(
        required=True, data_key="from", strict=True, validate=Range(min=0, max=100_000)
    )
    last = fields.Integer(
        required=True, data_key="to", strict=True, validate=Range(min=0, max=100_000)
    )
    category = fields.String(required=True, validate=_LABEL)

    @validates_schema
    def _order(self, data: dict[str, Any], **_: Any) -> None:
        if data["last"] < data["first"]:
            raise ValidationError("must not be below from", "to")


class AddSeatsRequest(StrictSchema):
    """Body of ``POST /admin/venues/{id}/seats``: ``seats`` one by one (at most 500) and/or
    ``rows`` of numbered seats; at most 2000 in all."""

    seats = fields.List(
        fields.Nested(SeatSpec), load_default=list, validate=Length(max=REST_SEATS_MAX)
    )
    rows = fields.List(fields.Nested(SeatRow), load_default=list, validate=Length(max=200))

    @validates_schema
    def _count(self, data: dict[str, Any], **_: Any) -> None:
        total = len(data["seats"]) + sum(r["last"] - r["first"] + 1 for r in data["rows"])
        if not 1 <= total <= limits.SEATS_PER_CALL_MAX:
            raise ValidationError(
                f"must add 1 to {limits.SEATS_PER_CALL_MAX} seats in all", "seats"
            )


class Seat(Schema):
    id = fields.String(required=True, metadata={"example": EXAMPLE_SEAT})
    section = fields.String(required=True)
    row = fields.String(required=True)
    number = fields.String(required=True)
    category = fields.String(required=True)


class SeatList(Schema):
    items = fields.List(fields.Nested(Seat), required=True)


class Price(StrictSchema):
    category = fields.String(required=True, validate=_LABEL)
    amount_minor = fields.Integer(
        required=True,
        strict=True,
        data_key="amountMinor",
        validate=Range(min=0, max=10**12),
        metadata={"example": 4500, "description": "In the currency's minor unit (cents)."},
    )


def _event_fields(*, create: bool) -> dict[str, fields.Field[Any]]:
    found: dict[str, fields.Field[Any]] = {
        "name": _name(create),
        "description": fields.String(validate=Length(max=limits.DESCRIPTION_MAX)),
        "starts_at": Rfc3339DateTime(required=create, data_key="startsAt"),
        "ends_at": Rfc3339DateTime(required=create, data_key="endsAt"),
        "sales_open_at": Rfc3339DateTime(required=create, data_key="salesOpenAt"),
        "sales_close_at": Rfc3339DateTime(required=create, data_key="salesCloseAt"),
        "prices": fields.List(
            fields.Nested(Price), required=create, validate=Length(min=1, max=100)
        ),
    }
    if create:
        found["venue_id"] = fields.UUID(required=True, data_key="venueId")
        found["currency"] = fields.String(
            required=True, validate=_CURRENCY, metadata={"example": "EUR"}
        )
    return found


TicketedEventRequest = StrictSchema.from_dict(
    _event_fields(create=True), name="TicketedEventRequest"
)
# Body of PATCH /admin/events/{id} (JSON Merge Patch, RFC 7396; venue and currency stay).
TicketedEventPatch = StrictSchema.from_dict(_event_fields(create=False), name="TicketedEventPatch")


class PriceOut(Schema):
    category = fields.String(required=True)
    amount_minor = fields.Integer(required=True, data_key="amountMinor")


class TicketedEvent(Schema):
    id = fields.String(required=True, metadata={"example": EXAMPLE_EVENT})
    organisation_id = fields.String(required=True, data_key="organisationId")
    venue_id = fields.String(required=True, data_key="venueId")
    name = fields.String(required=True)
    description = fields.String(required=True)
    starts_at = Rfc3339DateTime(required=True, data_key="startsAt")
    ends_at = Rfc3339DateTime(required=True, data_key="endsAt")
    sales_open_at = Rfc3339DateTime(required=True, data_key="salesOpenAt")
    sales_close_at = Rfc3339DateTime(required=True, data_key="salesCloseAt")
    currency = fields.String(required=True)
    prices = fields.List(fields.Nested(PriceOut), required=True)
    version = fields.Integer(required=True)
    created_at = Rfc3339DateTime(required=True, data_key="createdAt")
    updated_at = Rfc3339DateTime(required=True, data_key="updatedAt")


class TicketedEventEnvelope(Schema):
    event = fields.Nested(TicketedEvent, required=True)


class TicketedEventPage(Schema):
    items = fields.List(fields.Nested(TicketedEvent), required=True)
    next_cursor = fields.String(required=True, allow_none=True, data_key="nextCursor")


class PublicEvent(Schema):
    id = fields.String(required=True, metadata={"example": EXAMPLE_EVENT})
    name = fields.String(required=True)
    description = fields.String(required=True)
    venue_name = fields.String(required=True, data_key="venueName")
    venue_address = fields.String(required=True, data_key="venueAddress")
    time_zone = fields.String(required=True, data_key="timeZone")
    starts_at = Rfc3339DateTime(required=True, data_key="startsAt")
    ends_at = Rfc3339DateTime(required=True, data_key="endsAt")
    sales_open_at = Rfc3339DateTime(required=True, data_key="salesOpenAt")
    sales_close_at = Rfc3339DateTime(required=True, data_key="salesCloseAt")
    currency = fields.String(required=True)
    prices = fields.List(fields.Nested(PriceOut), required=True)
    on_sale = fields.Boolean(required=True, data_key="onSale")
    seats_available = fields.Integer(required=True, data_key="seatsAvailable")
    seats_total = fields.Integer(required=True, data_key="seatsTotal")


class PublicEventEnvelope(Schema):
    event = fields.Nested(PublicEvent, required=True)


class EventSeat(Seat):
    price_minor = fields.Integer(required=True, data_key="priceMinor")
    state = fields.String(required=True, validate=OneOf(["available", "held", "sold"]))


class SeatMap(Schema):
    """Every seat for sale, in section, row, number order."""

    currency = fields.String(required=True)
    items = fields.List(fields.Nested(EventSeat), required=True)


class Buyer(StrictSchema):
    name = fields.String(required=True, validate=Length(min=1, max=limits.NAME_MAX))
    email = fields.String(
        required=True,
        validate=Length(min=3, max=limits.EMAIL_MAX),
        metadata={"example": "ada@example.com"},
    )


class HoldRequest(StrictSchema):
    """Body of ``POST /ticket-bookings``."""

    event_id = fields.UUID(required=True, data_key="eventId")
    seat_ids = fields.List(
        fields.UUID(), required=True, data_key="seatIds", validate=Length(min=1, max=100)
    )
    buyer = fields.Nested(Buyer, required=True)
    idempotency_key = fields.String(
        data_key="idempotencyKey", validate=Length(min=1, max=255), load_default=None
    )


class PayRequest(StrictSchema):
    """Body of ``POST /ticket-bookings/{id}/pay``."""

    payment_method = fields.String(
        required=True,
        data_key="paymentMethod",
        validate=Length(min=1, max=limits.PAYMENT_METHOD_MAX),
        metadata={
            "example": "4242424242424242",
            "description": "The provider's payment method token; for the mock provider a "
            "test card number (see the README).",
        },
    )


class CancelRequest(StrictSchema):
    reason = fields.String(validate=Length(max=limits.CANCEL_REASON_MAX), load_default=None)


class RefundRequest(StrictSchema):
    reason = fields.String(required=True, validate=Length(min=1, max=limits.CANCEL_REASON_MAX))


class TokenQuery(StrictSchema):
    """``?token=``: a guest's manage token (customers and admins use their bearer token)."""

    token = fields.String(validate=Length(min=1, max=128), load_default="")


class PageQuery(StrictSchema):
    cursor = fields.String(validate=Length(min=1, max=256))
    limit = fields.Integer(strict=False, load_default=20, validate=Range(min=1, max=100))


class TicketItem(Schema):
    seat = fields.Nested(Seat, required=True)
    price_minor = fields.Integer(required=True, data_key="priceMinor")


class Payment(Schema):
    state = fields.String(
        required=True,
        validate=OneOf(
            ["none", "requested", "succeeded", "failed", "refund_requested", "refunded"]
        ),
    )
    failure_code = fields.String(required=True, allow_none=True, data_key="failureCode")
    failure_message = fields.String(required=True, allow_none=True, data_key="failureMessage")
    late = fields.Boolean(
        required=True,
        metadata={
            "description": "The charge succeeded after the booking had expired or was "
            "cancelled: the booking stays so and the charge is refunded."
        },
    )


class TicketBooking(Schema):
    id = fields.String(required=True, metadata={"example": EXAMPLE_TICKET_BOOKING})
    event_id = fields.String(required=True, data_key="eventId")
    customer_id = fields.String(required=True, data_key="customerId")
    buyer = fields.Nested(Buyer, required=True)
    status = fields.String(
        required=True, validate=OneOf(["pending", "confirmed", "cancelled", "expired"])
    )
    expires_at = Rfc3339DateTime(required=True, data_key="expiresAt")
    items = fields.List(fields.Nested(TicketItem), required=True)
    total_minor = fields.Integer(required=True, data_key="totalMinor")
    currency = fields.String(required=True)
    ticket_reference = fields.String(required=True, allow_none=True, data_key="ticketReference")
    payment = fields.Nested(Payment, required=True)
    cancel_reason = fields.String(required=True, allow_none=True, data_key="cancelReason")
    version = fields.Integer(required=True)
    created_at = Rfc3339DateTime(required=True, data_key="createdAt")
    confirmed_at = Rfc3339DateTime(required=True, allow_none=True, data_key="confirmedAt")
    cancelled_at = Rfc3339DateTime(required=True, allow_none=True, data_key="cancelledAt")
    expired_at = Rfc3339DateTime(required=True, allow_none=True, data_key="expiredAt")


class TicketBookingEnvelope(Schema):
    booking = fields.Nested(TicketBooking, required=True)


class HoldCreated(Schema):
    booking = fields.Nested(TicketBooking, required=True)
    manage_token = fields.String(
        required=True,
        allow_none=True,
        data_key="manageToken",
        metadata={"description": "A guest's key to the booking (?token=); null for customers."},
    )


class TicketBookingPage(Schema):
    items = fields.List(fields.Nested(TicketBooking), required=True)
    next_cursor = fields.String(required=True, allow_none=True, data_key="nextCursor")
