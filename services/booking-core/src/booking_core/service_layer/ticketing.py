"""Ticketing use cases: the admin's catalog (venues, seats, events, prices), the public
seat map, holds, payment requests and outcomes, cancellations, refunds and expiry.

Every status change and its events (to the buyer, and ``seat.availability`` on
the event's public channel) commit in one transaction. Payment-service is
reached only through ``payment_requests`` (an outbox the payment dispatcher
sends to the durable ``payments`` queue), and answers on ``payment_outcomes``,
applied here once per message id (``processed_messages``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Final
from uuid import UUID

from bookings_common.events import (
    BOOKING_CANCELLED,
    BOOKING_CONFIRMED,
    BOOKING_EXPIRED,
    BOOKING_HELD,
    SEAT_AVAILABILITY,
    format_time,
    ticketed_event_channel,
)
from bookings_common.logging import get_logger

from booking_core.domain.errors import (
    IdempotencyKeyReused,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    SeatUnavailable,
)
from booking_core.domain.event_types import clean_text
from booking_core.domain.guests import ManageTokens, new_reference, parse_email
from booking_core.domain.model import Actor, ActorKind, Customer, NewEvent
from booking_core.domain.ticketing import (
    Buyer,
    EventSpec,
    Seat,
    SeatSpec,
    SeatState,
    TicketBooking,
    TicketedEvent,
    TicketItem,
    TicketStatus,
    Venue,
    VenueSpec,
    seat_order,
    validate_seat_ids,
    validate_seats,
)

from .idempotency import hold_idempotency_key
from .ports import Clock, DuplicateIdempotencyKey, EventPublisher, UnitOfWork, UnitOfWorkFactory
from .ticketing_ports import PaymentRequest, SeatOffer

log = get_logger(__name__)
MAX_PAGE: Final = 100
EXPIRY_BATCH: Final = 100
OUTCOMES_QUEUE: Final = "payment_outcomes"
VENUE_PATHS: Final = frozenset({"name", "address", "time_zone"})
EVENT_PATHS: Final = frozenset(
    {"name", "description", "starts_at", "ends_at", "sales_open_at", "sales_close_at", "prices"}
)


@dataclass(frozen=True, slots=True)
class TicketingRules:
    """``hold_ttl``: how long a hold lasts (``HOLD_TTL_SECONDS``); ``max_seats``: seats
    per booking (``MAX_SEATS_PER_BOOKING``)."""

    hold_ttl: timedelta
    max_seats: int


@dataclass(frozen=True, slots=True)
class Held:
    booking: TicketBooking
    manage_token: str
    replayed: bool


@dataclass(frozen=True, slots=True)
class PublicEventView:
    event: TicketedEvent
    venue: Venue
    seats_available: int
    seats_total: int
    on_sale: bool


@dataclass(frozen=True, slots=True)
class PaymentOutcome:
    """A message from payment-service: ``kind`` "charge" or "refund"; ``status``
    "succeeded" or "failed"."""

    message_id: UUID
    kind: str
    booking_id: UUID
    idempotency_key: str
    status: str
    charge_id: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None

    @classmethod
    def from_message(cls, data: dict[str, Any]) -> PaymentOutcome:
        """Parse the wire form (camelCase keys); ``InvalidArgument`` when malformed."""
        try:
            outcome = cls(
                message_id=UUID(str(data["messageId"])),
                kind=str(data["kind"]),
                booking_id=UUID(str(data["bookingId"])),
                idempotency_key=str(data["idempotencyKey"]),
                status=str(data["status"]),
                charge_id=data.get("chargeId"),
                failure_code=data.get("failureCode"),
                failure_message=data.get("failureMessage"),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise InvalidArgument("message", f"not a payment outcome: {exc}") from None
        if outcome.kind not in ("charge", "refund") or outcome.status not in (
            "succeeded",
            "failed",
        ):
            raise InvalidArgument("message", "unknown kind or status")
        return outcome


def encode_cursor(created_at: datetime, row_id: UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(row_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    """The position a cursor names; ``InvalidArgument`` when it is not one of ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, row_id = json.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(created), UUID(row_id)
    except (ValueError, TypeError) as exc:
        raise InvalidArgument("cursor", f"is not valid ({type(exc).__name__})") from None


def _page_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidArgument("limit", f"must be between 1 and {MAX_PAGE}")
    return limit


def _admin_org(actor: Actor) -> UUID:
    if actor.kind is not ActorKind.ADMIN or actor.organisation_id is None:
        raise PermissionDenied("only an organisation's admin manages venues and events")
    return actor.organisation_id


def seat_events(
    booking: TicketBooking, state: SeatState, *, request_id: str | None = None
) -> NewEvent:
    """The public ``seat.availability`` event of the booking's seats (no personal data).

    It carries the seats' new state only, no count of the seats left: counting would
    be one more query while the seats' rows are locked, on the hottest path there is
    (a seat map counts the states it shows)."""
    return NewEvent(
        type=SEAT_AVAILABILITY,
        booking_id=booking.id,
        provider_id=None,
        customer_id=None,
        data={
            "eventId": str(booking.event_id),
            "seats": [{"seatId": str(s), "state": state.value} for s in booking.seat_ids],
        },
        request_id=request_id,
        channel=ticketed_event_channel(str(booking.event_id)),
    )


def buyer_event(booking: TicketBooking, event_type: str) -> NewEvent:
    """The buyer's event of a transition (to the booking's customer)."""
    data: dict[str, Any] = {
        "bookingId": str(booking.id),
        "customerId": str(booking.customer_id),
        "eventId": str(booking.event_id),
        "status": booking.status.value,
        "seatIds": [str(s) for s in booking.seat_ids],
    }
    if event_type == BOOKING_HELD:
        data.update(
            expiresAt=format_time(booking.expires_at),
            totalMinor=booking.total_minor,
            currency=booking.currency,
        )
    elif event_type == BOOKING_CONFIRMED:
        data["ticketReference"] = booking.ticket_reference
    elif event_type == BOOKING_CANCELLED:
        data["reason"] = booking.cancel_reason
    return NewEvent(event_type, booking.id, None, booking.customer_id, data)


class TicketingService:
    def __init__(
        self,
        *,
        uow_factory: UnitOfWorkFactory,
        publisher: EventPublisher,
        clock: Clock,
        rules: TicketingRules,
        tokens: ManageTokens,
        wake_payments: Callable[[], None] = lambda: None,
    ) -> None:
        self._uow = uow_factory
        self._publisher = publisher
        self._clock = clock
        self._rules = rules
        self._tokens = tokens
        self._wake_payments = wake_payments

    async def _commit(self, uow: UnitOfWork) -> None:
        written = await uow.commit()
        if written:
            self._publisher.publish_committed(written)

    # --- venues and seats ------------------------------------------------------------

    async def create_venue(self, actor: Actor, spec: VenueSpec) -> Venue:
        organisation_id = _admin_org(actor)
        now = self._clock()
        venue = Venue(uuid.uuid4(), organisation_id, spec.validated(), 0, now, now)
        async with self._uow() as uow:
            await uow.tickets.add_venue(venue)
            await self._commit(uow)
        return venue

    async def _own_venue(self, uow: UnitOfWork, actor: Actor, venue_id: UUID) -> Venue:
        organisation_id = _admin_org(actor)
        venue = await uow.tickets.get_venue(venue_id)
        if venue is None or venue.organisation_id != organisation_id:
            raise NotFound("venue not found")
        return venue

    async def get_venue(self, actor: Actor, venue_id: UUID) -> Venue:
        async with self._uow() as uow:
            return await self._own_venue(uow, actor, venue_id)

    async def update_venue(
        self, actor: Actor, venue_id: UUID, spec: VenueSpec, paths: Sequence[str]
    ) -> Venue:
        unknown = set(paths) - VENUE_PATHS
        if unknown or not paths:
            raise InvalidArgument("update_mask", f"paths must be some of {sorted(VENUE_PATHS)}")
        async with self._uow() as uow:
            venue = await self._own_venue(uow, actor, venue_id)
            changed = replace(venue.spec, **{p: getattr(spec, p) for p in paths}).validated()
            venue = replace(venue, spec=changed, updated_at=self._clock())
            await uow.tickets.save_venue(venue)
            await self._commit(uow)
        return venue

    async def list_venues(self, actor: Actor, cursor: str, limit: int) -> tuple[list[Venue], str]:
        organisation_id = _admin_org(actor)
        after = decode_cursor(cursor) if cursor else None
        async with self._uow() as uow:
            rows = await uow.tickets.list_venues(organisation_id, after, _page_limit(limit) + 1)
        page = rows[:limit]
        more = len(rows) > limit
        return page, encode_cursor(page[-1].created_at, page[-1].id) if more else ""

    async def add_seats(self, actor: Actor, venue_id: UUID, specs: list[SeatSpec]) -> list[Seat]:
        """Add seats to the venue (all or none); return every seat of the venue."""
        validated = validate_seats(specs)
        async with self._uow() as uow:
            await self._own_venue(uow, actor, venue_id)
            await uow.tickets.add_seats(venue_id, validated, [uuid.uuid4() for _ in validated])
            await self._commit(uow)
            return await uow.tickets.list_seats(venue_id)

    async def list_seats(self, actor: Actor, venue_id: UUID) -> list[Seat]:
        async with self._uow() as uow:
            await self._own_venue(uow, actor, venue_id)
            return await uow.tickets.list_seats(venue_id)

    # --- events ----------------------------------------------------------------------

    async def create_event(self, actor: Actor, spec: EventSpec) -> TicketedEvent:
        validated = spec.validated()
        now = self._clock()
        async with self._uow() as uow:
            venue = await self._own_venue(uow, actor, spec.venue_id)
            event = TicketedEvent(uuid.uuid4(), venue.organisation_id, validated, 1, now, now)
            await uow.tickets.add_event(event)
            await self._commit(uow)
        return event

    async def _own_event(
        self, uow: UnitOfWork, actor: Actor, event_id: UUID, *, for_update: bool = False
    ) -> TicketedEvent:
        organisation_id = _admin_org(actor)
        event = await uow.tickets.get_event(event_id, for_update=for_update)
        if event is None or event.organisation_id != organisation_id:
            raise NotFound("event not found")
        return event

    async def get_event(self, actor: Actor, event_id: UUID) -> TicketedEvent:
        async with self._uow() as uow:
            return await self._own_event(uow, actor, event_id)

    async def update_event(
        self, actor: Actor, event_id: UUID, spec: EventSpec, paths: Sequence[str]
    ) -> TicketedEvent:
        unknown = set(paths) - EVENT_PATHS
        if unknown or not paths:
            raise InvalidArgument("update_mask", f"paths must be some of {sorted(EVENT_PATHS)}")
        async with self._uow() as uow:
            event = await self._own_event(uow, actor, event_id, for_update=True)
            changed = replace(event.spec, **{p: getattr(spec, p) for p in paths}).validated()
            event = replace(
                event, spec=changed, version=event.version + 1, updated_at=self._clock()
            )
            await uow.tickets.save_event(event)
            await self._commit(uow)
        return event

    async def list_events(
        self, actor: Actor, cursor: str, limit: int
    ) -> tuple[list[TicketedEvent], str]:
        organisation_id = _admin_org(actor)
        after = decode_cursor(cursor) if cursor else None
        async with self._uow() as uow:
            rows = await uow.tickets.list_events(organisation_id, after, _page_limit(limit) + 1)
        page = rows[:limit]
        more = len(rows) > limit
        return page, encode_cursor(page[-1].created_at, page[-1].id) if more else ""

    async def list_bookings(
        self, actor: Actor, event_id: UUID, cursor: str, limit: int
    ) -> tuple[list[TicketBooking], str]:
        """The event's bookings, newest first (its organisation's admins)."""
        before = decode_cursor(cursor) if cursor else None
        async with self._uow() as uow:
            await self._own_event(uow, actor, event_id)
            rows = await uow.tickets.list_bookings(event_id, before, _page_limit(limit) + 1)
        page = rows[:limit]
        more = len(rows) > limit
        return page, encode_cursor(page[-1].created_at, page[-1].id) if more else ""

    # --- public ----------------------------------------------------------------------

    async def public_event(self, event_id: UUID) -> PublicEventView:
        async with self._uow() as uow:
            event = await uow.tickets.get_event(event_id)
            if event is None:
                raise NotFound("event not found")
            venue = await uow.tickets.get_venue(event.spec.venue_id)
            assert venue is not None  # the foreign key
            available, total = await uow.tickets.availability(event)
        return PublicEventView(event, venue, available, total, event.sales_open(self._clock()))

    async def seat_map(self, event_id: UUID) -> list[SeatOffer]:
        async with self._uow() as uow:
            event = await uow.tickets.get_event(event_id)
            if event is None:
                raise NotFound("event not found")
            return await uow.tickets.seat_map(event)

    # --- holds -----------------------------------------------------------------------

    async def _buyer_customer(self, uow: UnitOfWork, actor: Actor, buyer: Buyer) -> UUID:
        if actor.kind is ActorKind.CUSTOMER and actor.id is not None:
            return actor.id
        if actor.kind in (ActorKind.GUEST, ActorKind.SERVICE):
            customer, _ = await uow.directory.add_customer_or_get(
                Customer(uuid.uuid4(), buyer.name, buyer.email, self._clock())
            )
            return customer.id
        raise PermissionDenied("only a customer or a guest buys tickets")

    async def hold(
        self,
        actor: Actor,
        event_id: UUID,
        seat_ids: list[UUID],
        buyer: Buyer,
        idempotency_key: str | None,
    ) -> Held:
        """Hold the seats for ``hold_ttl``. Raises ``InvalidArgument`` (seats not of the
        event or not for sale, a bad buyer), ``SalesClosed``, ``SeatUnavailable``
        (naming the taken seats; nothing is written), ``IdempotencyKeyReused`` and
        ``IdempotencyInProgress``."""
        wanted = validate_seat_ids(seat_ids, self._rules.max_seats)
        buyer = Buyer(
            clean_text(buyer.name, "buyer.name", maximum=200, minimum=1, lines=False),
            parse_email(buyer.email, "buyer.email"),
        )
        fingerprint = hashlib.sha256(
            json.dumps([str(event_id), [str(s) for s in wanted], buyer.email.lower()]).encode()
        ).hexdigest()
        now = self._clock()
        async with self._uow() as uow:
            customer_id = await self._buyer_customer(uow, actor, buyer)
            if idempotency_key:
                await hold_idempotency_key(uow, f"tickets:{customer_id}", idempotency_key)
                earlier = await uow.tickets.by_idempotency_key(customer_id, idempotency_key)
                if earlier is not None:
                    return self._replay(earlier, fingerprint)
            event = await uow.tickets.get_event(event_id)
            if event is None:
                raise NotFound("event not found")
            event.check_on_sale(now)
            found = {
                seat.id: seat for seat in await uow.tickets.seats_of(event.spec.venue_id, wanted)
            }
            items = []
            for i, seat_id in enumerate(wanted):
                seat = found.get(seat_id)
                if seat is None:
                    raise InvalidArgument(f"seat_ids[{i}]", "is not a seat of this event")
                price = event.spec.prices.get(seat.category)
                if price is None:
                    raise InvalidArgument(f"seat_ids[{i}]", "is not for sale at this event")
                items.append(TicketItem(seat, price))
            booking = TicketBooking(
                id=uuid.uuid4(),
                event_id=event_id,
                customer_id=customer_id,
                buyer=buyer,
                status=TicketStatus.PENDING,
                expires_at=now + self._rules.hold_ttl,
                items=items,
                total_minor=sum(item.price_minor for item in items),
                currency=event.spec.currency,
                created_at=now,
                updated_at=now,
                idempotency_key=idempotency_key,
                request_fingerprint=fingerprint,
                organisation_id=event.organisation_id,
            )
            token = self._tokens.token_for(booking.id)
            try:
                taken = await uow.tickets.insert_hold(booking, self._tokens.hash(token))
                booking.items.sort(key=lambda item: seat_order(item.seat))
            except DuplicateIdempotencyKey:
                taken = None
            if taken is None:  # the same key committed meanwhile: answer as it did
                async with self._uow() as again:
                    earlier = await again.tickets.by_idempotency_key(
                        customer_id, idempotency_key or ""
                    )
                assert earlier is not None
                return self._replay(earlier, fingerprint)
            if taken:
                raise SeatUnavailable([str(s) for s in taken])
            uow.append_event(buyer_event(booking, BOOKING_HELD))
            uow.append_event(seat_events(booking, SeatState.HELD))
            await self._commit(uow)
        return Held(booking, token, replayed=False)

    def _replay(self, earlier: TicketBooking, fingerprint: str) -> Held:
        if earlier.request_fingerprint != fingerprint:
            raise IdempotencyKeyReused("this idempotency key was used for a different request")
        return Held(earlier, self._tokens.token_for(earlier.id), replayed=True)

    async def _open(
        self, uow: UnitOfWork, actor: Actor, booking_id: UUID, token: str, *, for_update: bool
    ) -> TicketBooking:
        """The booking if ``actor`` may see it (its customer, its organisation's admin, a
        service, or anyone with its manage token); ``NotFound`` otherwise."""
        found = await uow.tickets.get_booking(booking_id, for_update=for_update)
        stored = found[1] if found is not None else None
        booking = found[0] if found is not None else None
        allowed = booking is not None and (
            actor.is_service
            or (actor.kind is ActorKind.CUSTOMER and actor.id == booking.customer_id)
            or actor.administers(booking.organisation_id)
            or (bool(token) and stored is not None and self._tokens.matches(token, stored))
        )
        if token and not allowed:
            self._tokens.matches(token, self._tokens.dummy_hash)  # the same time either way
        if booking is None or not allowed:
            raise NotFound("ticket booking not found")
        return booking

    async def get_booking(self, actor: Actor, booking_id: UUID, token: str) -> TicketBooking:
        async with self._uow() as uow:
            return await self._open(uow, actor, booking_id, token, for_update=False)

    async def pay(
        self, actor: Actor, booking_id: UUID, token: str, payment_method: str
    ) -> TicketBooking:
        """Ask payment-service for the charge. Idempotent: while a charge is requested,
        asking again changes nothing. ``BookingNotPayable`` unless pending and unpaid."""
        method = payment_method.strip()
        if not 1 <= len(method) <= 255 or not method.isprintable():
            raise InvalidArgument("payment_method", "must be 1 to 255 printable characters")
        now = self._clock()
        async with self._uow() as uow:
            booking = await self._open(uow, actor, booking_id, token, for_update=True)
            if booking.request_payment(now):
                await uow.tickets.add_payment_request(
                    PaymentRequest(
                        id=uuid.uuid4(),
                        booking_id=booking.id,
                        kind="charge",
                        idempotency_key=f"charge:{booking.id}",
                        amount_minor=booking.total_minor,
                        currency=booking.currency,
                        payment_method=method,
                        charge_id=None,
                        created_at=now,
                    )
                )
                await uow.tickets.save_booking(booking)
                await self._commit(uow)
                self._wake_payments()
        return booking

    async def cancel(
        self, actor: Actor, booking_id: UUID, token: str, reason: str | None
    ) -> TicketBooking:
        """The buyer cancels a pending booking; its seats are released at once."""
        if reason is not None and len(reason) > 500:
            raise InvalidArgument("reason", "must be at most 500 characters")
        now = self._clock()
        async with self._uow() as uow:
            booking = await self._open(uow, actor, booking_id, token, for_update=True)
            booking.cancel(now, reason or None)
            await self._released(uow, booking, BOOKING_CANCELLED)
            await self._commit(uow)
        return booking

    async def _released(self, uow: UnitOfWork, booking: TicketBooking, event_type: str) -> None:
        """Save a booking that left the active states and stage its events."""
        await uow.tickets.save_booking(booking)
        uow.append_event(buyer_event(booking, event_type))
        uow.append_event(seat_events(booking, SeatState.AVAILABLE))

    async def refund(self, actor: Actor, booking_id: UUID, reason: str) -> TicketBooking:
        """An admin refunds a confirmed booking: it is cancelled once the refund succeeds."""
        text = clean_text(reason, "reason", maximum=500, minimum=1, lines=False)
        now = self._clock()
        async with self._uow() as uow:
            booking = await self._open(uow, actor, booking_id, "", for_update=True)
            if not actor.administers(booking.organisation_id):
                raise PermissionDenied("only the event's admins refund")
            booking.request_refund(now, text)
            await self._request_refund(uow, booking, now)
            await uow.tickets.save_booking(booking)
            await self._commit(uow)
        self._wake_payments()
        return booking

    async def _request_refund(self, uow: UnitOfWork, booking: TicketBooking, now: datetime) -> None:
        await uow.tickets.add_payment_request(
            PaymentRequest(
                id=uuid.uuid4(),
                booking_id=booking.id,
                kind="refund",
                idempotency_key=f"refund:{booking.id}",
                amount_minor=booking.total_minor,
                currency=booking.currency,
                payment_method=None,
                charge_id=booking.charge_id,
                created_at=now,
            )
        )

    # --- expiry and payment outcomes --------------------------------------------------

    async def expire_due(self, limit: int = EXPIRY_BATCH) -> int:
        """Expire up to ``limit`` holds past their ``expiresAt`` (oldest first) in one
        transaction; return how many."""
        now = self._clock()
        async with self._uow() as uow:
            if not await uow.tickets.any_due(now):  # the common case: one cheap read
                return 0
            due = await uow.tickets.due_for_expiry(now, limit)
            for booking in due:
                booking.expire(now)
                await self._released(uow, booking, BOOKING_EXPIRED)
            await self._commit(uow)
        if due:
            late = max((now - b.expires_at).total_seconds() for b in due)
            log.info("tickets.expired", count=len(due), maxLatenessMs=round(late * 1000))
        return len(due)

    async def apply_outcome(self, outcome: PaymentOutcome) -> bool:
        """Apply one payment-service message, once per message id; False for a message
        already applied (or about an unknown booking, which is logged and dropped)."""
        now = self._clock()
        refund_asked = False
        async with self._uow() as uow:
            if not await uow.tickets.mark_processed(outcome.message_id, OUTCOMES_QUEUE):
                log.info("payments.duplicate_outcome", messageId=str(outcome.message_id))
                return False
            found = await uow.tickets.get_booking(outcome.booking_id, for_update=True)
            if found is None:
                log.warning("payments.unknown_booking", bookingId=str(outcome.booking_id))
                await uow.commit()
                return False
            booking = found[0]
            refund_asked = await self._apply(uow, booking, outcome, now)
            await uow.tickets.resolve_payment_request(outcome.idempotency_key, now)
            await self._commit(uow)
        if refund_asked:
            self._wake_payments()
        return True

    async def _apply(
        self, uow: UnitOfWork, booking: TicketBooking, outcome: PaymentOutcome, now: datetime
    ) -> bool:
        """Apply the outcome to the locked booking; True when it asked for a refund."""
        fields = {"bookingId": str(booking.id), "kind": outcome.kind, "status": outcome.status}
        if outcome.kind == "charge" and outcome.status == "succeeded":
            if outcome.charge_id and outcome.charge_id == booking.charge_id:
                return False  # the same charge reported again
            if booking.payment_succeeded(
                now, charge_id=outcome.charge_id or "", reference=new_reference()
            ):
                await uow.tickets.save_booking(booking)
                uow.append_event(buyer_event(booking, BOOKING_CONFIRMED))
                uow.append_event(seat_events(booking, SeatState.SOLD))
                log.info("tickets.confirmed", **fields)
                return False
            # Paid after the hold expired (or was cancelled): keep it so, refund it.
            log.warning("tickets.late_payment", bookingStatus=booking.status.value, **fields)
            await self._request_refund(uow, booking, now)
            await uow.tickets.save_booking(booking)
            return True
        if outcome.kind == "charge":
            code = outcome.failure_code or "payment_failed"
            if booking.payment_failed(now, code=code, message=outcome.failure_message or ""):
                await self._released(uow, booking, BOOKING_CANCELLED)
            else:
                await uow.tickets.save_booking(booking)
            log.info("tickets.payment_failed", failureCode=code, **fields)
            return False
        if outcome.status == "succeeded":
            if booking.refunded(now):
                await self._released(uow, booking, BOOKING_CANCELLED)
            else:
                await uow.tickets.save_booking(booking)
            log.info("tickets.refunded", **fields)
            return False
        booking.payment_failure_code = outcome.failure_code or "refund_failed"
        booking.payment_failure_message = outcome.failure_message or ""
        await uow.tickets.save_booking(booking)
        log.error("tickets.refund_failed", failureCode=booking.payment_failure_code, **fields)
        return False
