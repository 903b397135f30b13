"""The ticketing context on PostgreSQL: venues, seats, events and prices, ticket bookings
with their items, payment requests and processed outcome messages.

A hold is decided by the partial unique index on the active items' (event, seat):
its items are inserted ``ON CONFLICT DO NOTHING`` in seat id order, so a
concurrent hold on a seat waits for the first to commit or roll back, two holds
never deadlock, and the seats whose row was not inserted are exactly the taken
ones (the caller then rolls the whole hold back).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping

from booking_core.domain.errors import InvalidArgument
from booking_core.domain.ticketing import (
    Buyer,
    EventSpec,
    PaymentState,
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
)
from booking_core.service_layer.ports import DuplicateIdempotencyKey
from booking_core.service_layer.ticketing_ports import PaymentRequest, SeatOffer

from .session import Session, sqlstate_of
from .tables import (
    payment_requests,
    processed_messages,
    seats,
    ticket_booking_items,
    ticket_bookings,
    ticket_prices,
    ticketed_events,
    venues,
)

_SEAT_COUNT = (
    sa.select(sa.func.count())
    .where(seats.c.venue_id == venues.c.id)
    .correlate(venues)
    .scalar_subquery()
)


def _venue(row: RowMapping) -> Venue:
    return Venue(
        id=row["id"],
        organisation_id=row["organisation_id"],
        spec=VenueSpec(row["name"], row["address"], row["time_zone"]),
        seat_count=row["seat_count"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _seat(row: RowMapping) -> Seat:
    return Seat(
        row["id"], row["venue_id"], row["section"], row["row"], row["number"], row["category"]
    )


def _event(row: RowMapping, prices: dict[str, int]) -> TicketedEvent:
    spec = EventSpec(
        venue_id=row["venue_id"],
        name=row["name"],
        description=row["description"],
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        sales_open_at=row["sales_open_at"],
        sales_close_at=row["sales_close_at"],
        currency=row["currency"],
        prices=prices,
    )
    return TicketedEvent(
        row["id"],
        row["organisation_id"],
        spec,
        row["version"],
        row["created_at"],
        row["updated_at"],
    )


# A hold's items in one statement of a fixed shape (compiled once, whatever the number
# of seats): arrays unnested in order, inserted unless the seat is active elsewhere.
_ITEM_ROWS = sa.select(
    sa.bindparam("booking_id", type_=pg.UUID(as_uuid=True)).label("booking_id"),
    sa.func.unnest(sa.bindparam("seat_ids", type_=pg.ARRAY(pg.UUID(as_uuid=True)))).label(
        "seat_id"
    ),
    sa.bindparam("event_id", type_=pg.UUID(as_uuid=True)).label("event_id"),
    sa.func.unnest(sa.bindparam("categories", type_=pg.ARRAY(sa.Text()))).label("category"),
    sa.func.unnest(sa.bindparam("prices", type_=pg.ARRAY(sa.BigInteger()))).label("price_minor"),
    sa.true().label("active"),
)
_INSERT_ITEMS = (
    pg_insert(ticket_booking_items)
    .from_select(
        ["booking_id", "seat_id", "event_id", "category", "price_minor", "active"], _ITEM_ROWS
    )
    .on_conflict_do_nothing(
        index_elements=[ticket_booking_items.c.event_id, ticket_booking_items.c.seat_id],
        index_where=ticket_booking_items.c.active,
    )
    .returning(ticket_booking_items.c.seat_id)
)


class SqlTicketing:
    """Everything the ticketing use cases read and write, in the unit of work."""

    def __init__(self, session: Session) -> None:
        self._session = session

    # --- venues and seats ------------------------------------------------------------

    async def add_venue(self, venue: Venue) -> None:
        await self._session.write(
            venues.insert().values(
                id=venue.id,
                organisation_id=venue.organisation_id,
                name=venue.spec.name,
                address=venue.spec.address,
                time_zone=venue.spec.time_zone,
                created_at=venue.created_at,
                updated_at=venue.updated_at,
            )
        )

    async def get_venue(self, venue_id: UUID) -> Venue | None:
        query = sa.select(venues, _SEAT_COUNT.label("seat_count")).where(venues.c.id == venue_id)
        row = (await self._session.read(query)).mappings().first()
        return _venue(row) if row is not None else None

    async def save_venue(self, venue: Venue) -> None:
        await self._session.write(
            venues.update()
            .where(venues.c.id == venue.id)
            .values(
                name=venue.spec.name,
                address=venue.spec.address,
                time_zone=venue.spec.time_zone,
                updated_at=venue.updated_at,
            )
        )

    async def list_venues(
        self, organisation_id: UUID, after: tuple[datetime, UUID] | None, limit: int
    ) -> list[Venue]:
        query = (
            sa.select(venues, _SEAT_COUNT.label("seat_count"))
            .where(venues.c.organisation_id == organisation_id)
            .order_by(venues.c.created_at, venues.c.id)
            .limit(limit)
        )
        if after is not None:
            query = query.where(sa.tuple_(venues.c.created_at, venues.c.id) > sa.tuple_(*after))
        return [_venue(row) for row in (await self._session.read(query)).mappings()]

    async def add_seats(
        self, venue_id: UUID, specs: Sequence[SeatSpec], ids: Sequence[UUID]
    ) -> None:
        """Insert the seats; ``InvalidArgument`` if a position exists already."""
        statement = pg_insert(seats).values(
            [
                {
                    "id": seat_id,
                    "venue_id": venue_id,
                    "section": spec.section,
                    "row": spec.row,
                    "number": spec.number,
                    "category": spec.category,
                }
                for seat_id, spec in zip(ids, specs, strict=True)
            ]
        )
        inserted = await self._session.write(
            statement.on_conflict_do_nothing(constraint="seats_position_key").returning(seats.c.id)
        )
        if len(inserted.all()) != len(specs):
            raise InvalidArgument("seats", "a seat with that section, row and number exists")

    async def list_seats(self, venue_id: UUID) -> list[Seat]:
        query = sa.select(seats).where(seats.c.venue_id == venue_id)
        found = [_seat(row) for row in (await self._session.read(query)).mappings()]
        return sorted(found, key=seat_order)

    # --- events ----------------------------------------------------------------------

    async def _prices(self, event_ids: Sequence[UUID]) -> dict[UUID, dict[str, int]]:
        found: dict[UUID, dict[str, int]] = defaultdict(dict)
        if event_ids:
            query = sa.select(ticket_prices).where(ticket_prices.c.event_id.in_(event_ids))
            for row in (await self._session.read(query)).mappings():
                found[row["event_id"]][row["category"]] = row["amount_minor"]
        return found

    async def add_event(self, event: TicketedEvent) -> None:
        spec = event.spec
        await self._session.write(
            ticketed_events.insert().values(
                id=event.id,
                organisation_id=event.organisation_id,
                venue_id=spec.venue_id,
                name=spec.name,
                description=spec.description,
                starts_at=spec.starts_at,
                ends_at=spec.ends_at,
                sales_open_at=spec.sales_open_at,
                sales_close_at=spec.sales_close_at,
                currency=spec.currency,
                version=event.version,
                created_at=event.created_at,
                updated_at=event.updated_at,
            )
        )
        await self._write_prices(event)

    async def _write_prices(self, event: TicketedEvent) -> None:
        await self._session.write(
            ticket_prices.delete().where(ticket_prices.c.event_id == event.id)
        )
        await self._session.write(
            ticket_prices.insert().values(
                [
                    {"event_id": event.id, "category": category, "amount_minor": amount}
                    for category, amount in event.spec.prices.items()
                ]
            )
        )

    async def get_event(self, event_id: UUID, *, for_update: bool = False) -> TicketedEvent | None:
        query = sa.select(ticketed_events).where(ticketed_events.c.id == event_id)
        row = await self._session.first(query, for_update=for_update)
        if row is None:
            return None
        return _event(row, (await self._prices([event_id]))[event_id])

    async def save_event(self, event: TicketedEvent) -> None:
        spec = event.spec
        await self._session.write(
            ticketed_events.update()
            .where(ticketed_events.c.id == event.id)
            .values(
                name=spec.name,
                description=spec.description,
                starts_at=spec.starts_at,
                ends_at=spec.ends_at,
                sales_open_at=spec.sales_open_at,
                sales_close_at=spec.sales_close_at,
                version=event.version,
                updated_at=event.updated_at,
            )
        )
        await self._write_prices(event)

    async def list_events(
        self, organisation_id: UUID, after: tuple[datetime, UUID] | None, limit: int
    ) -> list[TicketedEvent]:
        query = (
            sa.select(ticketed_events)
            .where(ticketed_events.c.organisation_id == organisation_id)
            .order_by(ticketed_events.c.created_at, ticketed_events.c.id)
            .limit(limit)
        )
        if after is not None:
            query = query.where(
                sa.tuple_(ticketed_events.c.created_at, ticketed_events.c.id) > sa.tuple_(*after)
            )
        rows = list((await self._session.read(query)).mappings())
        prices = await self._prices([row["id"] for row in rows])
        return [_event(row, prices[row["id"]]) for row in rows]

    async def seat_map(self, event: TicketedEvent) -> list[SeatOffer]:
        """Every seat of the event's venue with its price (``None``: not for sale) and
        its state, in section, row, number order."""
        taken = (
            sa.select(
                ticket_booking_items.c.seat_id,
                ticket_bookings.c.status,
            )
            .join(ticket_bookings, ticket_bookings.c.id == ticket_booking_items.c.booking_id)
            .where(
                ticket_booking_items.c.event_id == event.id,
                ticket_booking_items.c.active,
            )
            .subquery()
        )
        query = (
            sa.select(seats, taken.c.status.label("booking_status"))
            .outerjoin(taken, taken.c.seat_id == seats.c.id)
            .where(seats.c.venue_id == event.spec.venue_id)
        )
        offers = []
        for row in (await self._session.read(query)).mappings():
            status = row["booking_status"]
            state = (
                SeatState.AVAILABLE
                if status is None
                else SeatState.SOLD
                if status == TicketStatus.CONFIRMED
                else SeatState.HELD
            )
            seat = _seat(row)
            offers.append(SeatOffer(seat, event.spec.prices.get(seat.category), state))
        return sorted(offers, key=lambda offer: seat_order(offer.seat))

    async def seats_of(self, venue_id: UUID, seat_ids: Sequence[UUID]) -> list[Seat]:
        """The venue's seats among ``seat_ids`` (others are not returned)."""
        query = sa.select(seats).where(seats.c.venue_id == venue_id, seats.c.id.in_(seat_ids))
        return [_seat(row) for row in (await self._session.read(query)).mappings()]

    async def availability(self, event: TicketedEvent) -> tuple[int, int]:
        """``(seats available, seats for sale)`` of the event, in this transaction."""
        for_sale = sa.select(sa.func.count()).where(
            seats.c.venue_id == event.spec.venue_id,
            seats.c.category.in_(list(event.spec.prices) or [""]),
        )
        active = sa.select(sa.func.count()).where(
            ticket_booking_items.c.event_id == event.id, ticket_booking_items.c.active
        )
        row = (
            await self._session.read(
                sa.select(
                    for_sale.scalar_subquery().label("total"),
                    active.scalar_subquery().label("taken"),
                )
            )
        ).one()
        total, taken = int(row.total), int(row.taken)
        return max(0, total - taken), total

    # --- bookings --------------------------------------------------------------------

    async def insert_hold(self, booking: TicketBooking, manage_hash: bytes | None) -> list[UUID]:
        """Write the booking and its items; return the seats that were taken already
        (none: the hold stands once committed; some: the caller must not commit)."""
        try:
            await self._session.write(
                ticket_bookings.insert().values(
                    **_booking_values(booking), manage_token_hash=manage_hash
                )
            )
        except sa.exc.IntegrityError as exc:
            if sqlstate_of(exc)[1] == "ticket_bookings_idempotency_key_key":
                raise DuplicateIdempotencyKey from None
            raise
        inserted = await self._session.write(
            _INSERT_ITEMS,
            {
                "booking_id": booking.id,
                "event_id": booking.event_id,
                # In seat id order (validate_seat_ids): concurrent holds never deadlock.
                "seat_ids": [item.seat.id for item in booking.items],
                "categories": [item.seat.category for item in booking.items],
                "prices": [item.price_minor for item in booking.items],
            },
        )
        got = {row.seat_id for row in inserted}
        return [seat_id for seat_id in booking.seat_ids if seat_id not in got]

    async def get_booking(
        self, booking_id: UUID, *, for_update: bool = False
    ) -> tuple[TicketBooking, bytes | None] | None:
        """The booking with its items and its manage token's hash."""
        query = (
            sa.select(ticket_bookings, ticketed_events.c.organisation_id)
            .join(ticketed_events, ticketed_events.c.id == ticket_bookings.c.event_id)
            .where(ticket_bookings.c.id == booking_id)
        )
        row = await self._session.first(query, for_update=for_update, of=ticket_bookings)
        if row is None:
            return None
        items = await self._items([booking_id])
        return _booking(row, items[booking_id]), row["manage_token_hash"]

    async def by_idempotency_key(self, customer_id: UUID, key: str) -> TicketBooking | None:
        query = sa.select(ticket_bookings.c.id).where(
            ticket_bookings.c.customer_id == customer_id,
            ticket_bookings.c.idempotency_key == key,
        )
        booking_id = (await self._session.read(query)).scalar()
        found = await self.get_booking(booking_id) if booking_id is not None else None
        return found[0] if found is not None else None

    async def _items(self, booking_ids: Sequence[UUID]) -> dict[UUID, list[TicketItem]]:
        found: dict[UUID, list[TicketItem]] = defaultdict(list)
        if booking_ids:
            query = (
                sa.select(
                    ticket_booking_items.c.booking_id, ticket_booking_items.c.price_minor, seats
                )
                .join(seats, seats.c.id == ticket_booking_items.c.seat_id)
                .where(ticket_booking_items.c.booking_id.in_(booking_ids))
            )
            for row in (await self._session.read(query)).mappings():
                found[row["booking_id"]].append(TicketItem(_seat(row), row["price_minor"]))
        for items in found.values():
            items.sort(key=lambda item: seat_order(item.seat))
        return found

    async def save_booking(self, booking: TicketBooking) -> None:
        """Write the booking's state back; release its seats once it is not active."""
        values = _booking_values(booking)
        for key in ("id", "event_id", "customer_id", "created_at", "idempotency_key"):
            values.pop(key)
        await self._session.write(
            ticket_bookings.update().where(ticket_bookings.c.id == booking.id).values(**values)
        )
        if not booking.status.is_active:
            await self._session.write(
                ticket_booking_items.update()
                .where(
                    ticket_booking_items.c.booking_id == booking.id,
                    ticket_booking_items.c.active,
                )
                .values(active=False)
            )

    async def any_due(self, now: datetime) -> bool:
        """Whether a pending booking is past its expiry (one plain read, no lock)."""
        query = sa.select(
            sa.exists().where(
                ticket_bookings.c.status == "pending", ticket_bookings.c.expires_at <= now
            )
        )
        return bool((await self._session.read(query)).scalar())

    async def due_for_expiry(self, now: datetime, limit: int) -> list[TicketBooking]:
        """Pending bookings past their expiry, oldest first, locked (``SKIP LOCKED``: any
        number of replicas expire side by side, each booking once)."""
        query = (
            sa.select(ticket_bookings, ticketed_events.c.organisation_id)
            .join(ticketed_events, ticketed_events.c.id == ticket_bookings.c.event_id)
            .where(ticket_bookings.c.status == "pending", ticket_bookings.c.expires_at <= now)
            .order_by(ticket_bookings.c.expires_at)
            .limit(limit)
            .with_for_update(of=ticket_bookings, skip_locked=True)
        )
        rows = list((await self._session.write(query)).mappings())
        items = await self._items([row["id"] for row in rows])
        return [_booking(row, items[row["id"]]) for row in rows]

    async def list_bookings(
        self, event_id: UUID, before: tuple[datetime, UUID] | None, limit: int
    ) -> list[TicketBooking]:
        query = (
            sa.select(ticket_bookings, ticketed_events.c.organisation_id)
            .join(ticketed_events, ticketed_events.c.id == ticket_bookings.c.event_id)
            .where(ticket_bookings.c.event_id == event_id)
            .order_by(ticket_bookings.c.created_at.desc(), ticket_bookings.c.id.desc())
            .limit(limit)
        )
        if before is not None:
            query = query.where(
                sa.tuple_(ticket_bookings.c.created_at, ticket_bookings.c.id) < sa.tuple_(*before)
            )
        rows = list((await self._session.read(query)).mappings())
        items = await self._items([row["id"] for row in rows])
        return [_booking(row, items[row["id"]]) for row in rows]

    # --- payments --------------------------------------------------------------------

    async def add_payment_request(self, request: PaymentRequest) -> bool:
        """Queue the request; False when one with its idempotency key exists."""
        inserted = await self._session.write(
            pg_insert(payment_requests)
            .values(
                id=request.id,
                booking_id=request.booking_id,
                kind=request.kind,
                idempotency_key=request.idempotency_key,
                amount_minor=request.amount_minor,
                currency=request.currency,
                payment_method=request.payment_method,
                charge_id=request.charge_id,
                created_at=request.created_at,
            )
            .on_conflict_do_nothing(constraint="payment_requests_idempotency_key_key")
            .returning(payment_requests.c.id)
        )
        return inserted.first() is not None

    async def resolve_payment_request(self, idempotency_key: str, now: datetime) -> None:
        await self._session.write(
            payment_requests.update()
            .where(
                payment_requests.c.idempotency_key == idempotency_key,
                payment_requests.c.state != "resolved",
            )
            .values(state="resolved", resolved_at=now, payment_method=None)
        )

    async def mark_processed(self, message_id: UUID, queue: str) -> bool:
        """Record the message as processed in this transaction; False if it already was."""
        inserted = await self._session.write(
            pg_insert(processed_messages)
            .values(message_id=message_id, queue=queue)
            .on_conflict_do_nothing(index_elements=[processed_messages.c.message_id])
            .returning(processed_messages.c.message_id)
        )
        return inserted.first() is not None


def _booking_values(booking: TicketBooking) -> dict[str, Any]:
    return {
        "id": booking.id,
        "event_id": booking.event_id,
        "customer_id": booking.customer_id,
        "buyer_name": booking.buyer.name,
        "buyer_email": booking.buyer.email,
        "status": booking.status.value,
        "expires_at": booking.expires_at,
        "total_minor": booking.total_minor,
        "currency": booking.currency,
        "ticket_reference": booking.ticket_reference,
        "idempotency_key": booking.idempotency_key,
        "request_fingerprint": booking.request_fingerprint,
        "payment_state": booking.payment_state.value,
        "payment_failure_code": booking.payment_failure_code,
        "payment_failure_message": booking.payment_failure_message,
        "charge_id": booking.charge_id,
        "late_payment": booking.late_payment,
        "cancel_reason": booking.cancel_reason,
        "version": booking.version,
        "created_at": booking.created_at,
        "updated_at": booking.updated_at,
        "confirmed_at": booking.confirmed_at,
        "cancelled_at": booking.cancelled_at,
        "expired_at": booking.expired_at,
    }


def _booking(row: RowMapping, items: list[TicketItem]) -> TicketBooking:
    return TicketBooking(
        id=row["id"],
        event_id=row["event_id"],
        customer_id=row["customer_id"],
        buyer=Buyer(row["buyer_name"], row["buyer_email"]),
        status=TicketStatus(row["status"]),
        expires_at=row["expires_at"],
        items=items,
        total_minor=row["total_minor"],
        currency=row["currency"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        version=row["version"],
        ticket_reference=row["ticket_reference"],
        payment_state=PaymentState(row["payment_state"]),
        payment_failure_code=row["payment_failure_code"],
        payment_failure_message=row["payment_failure_message"],
        charge_id=row["charge_id"],
        late_payment=row["late_payment"],
        cancel_reason=row["cancel_reason"],
        confirmed_at=row["confirmed_at"],
        cancelled_at=row["cancelled_at"],
        expired_at=row["expired_at"],
        idempotency_key=row["idempotency_key"],
        request_fingerprint=row["request_fingerprint"],
        organisation_id=row["organisation_id"],
    )
