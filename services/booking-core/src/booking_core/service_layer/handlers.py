"""The booking use cases. Each reads as: authorize, validate, open a unit of work,
load, apply the domain rule, commit, hand the committed events to the publisher.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bookings_common.events import (
    BOOKING_CANCELLED,
    BOOKING_CREATED,
    BOOKING_REMINDER_DUE,
    is_public_channel,
)
from bookings_common.logging import current_request_id

from booking_core.domain import commands
from booking_core.domain.errors import (
    BookingOverlap,
    IdempotencyKeyReused,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from booking_core.domain.model import (
    CLAIM_EARLY_TOLERANCE,
    MAX_CANCEL_REASON_LENGTH,
    MAX_NAME_LENGTH,
    Booking,
    BookingStatus,
    ClaimOutcome,
    Customer,
    EventPage,
    LoggedEvent,
    NewEvent,
    Owner,
    Provider,
    Reminder,
    ReminderState,
    reminder_due_at,
    request_fingerprint,
    resolve_owner,
    validate_idempotency_key,
    validate_slot,
)

from .audit import audit_entry
from .cursors import CursorCodec, decode_keyset, encode_keyset
from .event_type_ports import EventTypesUnitOfWorkFactory
from .idempotency import hold_idempotency_key
from .ports import Clock, DuplicateIdempotencyKey, EventPublisher
from .slot_events import release_place

MAX_PAGE_SIZE = 100
# Reminders claimed, or events marked published, by one call.
MAX_CLAIM_BATCH = 500
MAX_SEARCH_PAGE_SIZE = 500
MAX_EVENTS_PAGE_SIZE = 1000
# Deliberately loose (RFC 5321 allows far more than any regex checks well): one
# "@", no spaces, a dot in the domain.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True, slots=True)
class BookingRules:
    """Configurable limits: reminder lead time and maximum booking duration."""

    reminder_lead: timedelta = timedelta(seconds=600)
    max_duration: timedelta = timedelta(hours=8)


@dataclass(frozen=True, slots=True)
class CreateResult:
    booking: Booking
    replayed: bool


@dataclass(frozen=True, slots=True)
class ClaimResult:
    """``event`` is set for CLAIMED and ALREADY_SENT; ``published`` tells whether it
    reached Redis; ``due_at`` is the reminder's due time."""

    outcome: ClaimOutcome
    due_at: datetime
    event: LoggedEvent | None = None
    published: bool = False


@dataclass(frozen=True, slots=True)
class BookingPage:
    bookings: list[Booking]
    next_cursor: str | None


class BookingService:
    """booking-core's application service; every public method is one use case."""

    def __init__(
        self,
        # The whole transaction: cancelling a place of a slot gives the place back.
        uow_factory: EventTypesUnitOfWorkFactory,
        publisher: EventPublisher,
        clock: Clock,
        cursors: CursorCodec,
        rules: BookingRules,
    ) -> None:
        self._uow = uow_factory
        self._publisher = publisher
        self._clock = clock
        self._cursors = cursors
        self._rules = rules

    async def create_booking(self, cmd: commands.CreateBooking) -> CreateResult:
        """Create a confirmed booking with its booking.created event and its reminder.

        Raises ``InvalidArgument``, ``PermissionDenied``, ``NotFound`` (provider or
        customer), ``BookingOverlap``, ``IdempotencyKeyReused``,
        ``IdempotencyInProgress`` (the same key's request is still running),
        ``Unavailable``.
        The database decides overlaps and duplicate keys, so concurrent
        requests are race-free: the loser of a duplicate key re-reads the
        winner's booking and compares request fingerprints.
        """
        if not cmd.actor.may_act_for(customer_id=cmd.customer_id, provider_id=cmd.provider_id):
            raise PermissionDenied(f"a {cmd.actor.kind} may only book for itself")
        validate_idempotency_key(cmd.idempotency_key)
        fingerprint = request_fingerprint(cmd.provider_id, cmd.customer_id, cmd.slot)
        if cmd.idempotency_key is not None:
            # A retry replays the original even once its slot is no longer
            # bookable (it has started): the client must learn it succeeded.
            replay = await self._replay(cmd.provider_id, cmd.idempotency_key, fingerprint)
            if replay is not None:
                return replay
        now = self._clock()
        validate_slot(cmd.slot, now=now, max_duration=self._rules.max_duration)

        booking = Booking(
            id=uuid.uuid4(),
            provider_id=cmd.provider_id,
            customer_id=cmd.customer_id,
            start_time=cmd.slot.start,
            end_time=cmd.slot.end,
            status=BookingStatus.CONFIRMED,
            version=1,
            created_at=now,
            updated_at=now,
            idempotency_key=cmd.idempotency_key,
            request_fingerprint=fingerprint,
        )
        try:
            async with self._uow() as uow:
                await hold_idempotency_key(uow, f"provider:{cmd.provider_id}", cmd.idempotency_key)
                await uow.bookings.add(booking)
                await uow.reminders.add(
                    Reminder(
                        booking.id,
                        reminder_due_at(
                            booking.start_time, lead=self._rules.reminder_lead, now=now
                        ),
                    )
                )
                uow.append_event(self.event(BOOKING_CREATED, booking))
                events = await uow.commit()
        except (DuplicateIdempotencyKey, BookingOverlap):
            # Either a concurrent duplicate won the key, or the slot is taken.
            # A duplicate's overlap may surface before its key conflict, so
            # look the key up before deciding.
            if cmd.idempotency_key is not None:
                replay = await self._replay(cmd.provider_id, cmd.idempotency_key, fingerprint)
                if replay is not None:
                    return replay
            raise BookingOverlap("the slot overlaps another booking of this provider") from None
        self._publisher.publish_committed(events)
        return CreateResult(booking, replayed=False)

    async def _replay(
        self, provider_id: uuid.UUID, key: str, fingerprint: str
    ) -> CreateResult | None:
        async with self._uow() as uow:
            existing = await uow.bookings.get_by_idempotency_key(provider_id, key)
        if existing is None:
            return None
        if existing.request_fingerprint != fingerprint:
            raise IdempotencyKeyReused("this idempotency key was used for a different request")
        return CreateResult(existing, replayed=True)

    async def get_booking(self, cmd: commands.GetBooking) -> Booking:
        """Return a booking its customer, its provider or a service may see; else ``NotFound``."""
        async with self._uow() as uow:
            booking = await uow.bookings.get(cmd.booking_id)
        if booking is None or not cmd.actor.may_view(booking):
            raise NotFound("booking not found")
        return booking

    async def list_bookings(self, cmd: commands.ListBookings) -> BookingPage:
        """One keyset page of the owner's bookings (see ``BookingRepository.list_page``).

        Raises ``InvalidArgument`` (limit outside 1..100, bad or foreign cursor,
        owner ambiguity) and ``PermissionDenied`` (someone else's list).
        """
        owner = resolve_owner(cmd.actor, customer_id=cmd.customer_id, provider_id=cmd.provider_id)
        if not 1 <= cmd.limit <= MAX_PAGE_SIZE:
            raise InvalidArgument("limit", f"must be between 1 and {MAX_PAGE_SIZE}")
        after = None
        if cmd.cursor:
            after = self._cursors.decode(cmd.cursor, cmd.list_type, owner)
        async with self._uow() as uow:
            rows = await uow.bookings.list_page(
                owner, cmd.list_type, now=self._clock(), after=after, limit=cmd.limit + 1
            )
        page, more = rows[: cmd.limit], len(rows) > cmd.limit
        next_cursor = None
        if more:
            last = page[-1]
            next_cursor = self._cursors.encode(cmd.list_type, owner, last.start_time, last.id)
        return BookingPage(page, next_cursor)

    async def cancel_booking(self, cmd: commands.CancelBooking) -> Booking:
        """Cancel a booking, write booking.cancelled and cancel its reminder atomically.

        Cancelling a cancelled booking returns it unchanged. Raises ``NotFound``
        (unknown or not visible), ``BookingNotCancellable`` (already started),
        ``InvalidArgument`` (reason too long).
        """
        if cmd.reason is not None and (
            len(cmd.reason) > MAX_CANCEL_REASON_LENGTH
            or not all(c.isprintable() or c in "\n\t" for c in cmd.reason)
        ):
            raise InvalidArgument(
                "reason", f"must be at most {MAX_CANCEL_REASON_LENGTH} printable characters"
            )
        async with self._uow() as uow:
            booking = await uow.bookings.get(cmd.booking_id, for_update=True)
            if booking is None or not cmd.actor.may_view(booking):
                raise NotFound("booking not found")
            if not booking.cancel(now=self._clock(), reason=cmd.reason or None):
                return booking
            await uow.bookings.save(booking)
            await uow.reminders.cancel(booking.id)
            uow.append_event(self.event(BOOKING_CANCELLED, booking))
            if booking.event_type_id is not None:  # a place of a slot: give it back
                uow.append_event(await release_place(uow, booking))
            await uow.audit.record(
                audit_entry(
                    cmd.actor, "booking.cancelled", booking, {"reason": booking.cancel_reason}
                )
            )
            events = await uow.commit()
        self._publisher.publish_committed(events)
        return booking

    async def search_bookings(self, cmd: commands.SearchBookings) -> BookingPage:
        """One page of an organisation's bookings with filters (admins only), ascending by
        ``(start_time, id)``. Raises ``PermissionDenied`` and ``InvalidArgument`` (limit,
        cursor, a range that ends before it starts)."""
        if not cmd.actor.is_admin:
            raise PermissionDenied("only an admin searches an organisation's bookings")
        assert cmd.actor.organisation_id is not None
        if not 1 <= cmd.limit <= MAX_SEARCH_PAGE_SIZE:
            raise InvalidArgument("limit", f"must be between 1 and {MAX_SEARCH_PAGE_SIZE}")
        f = cmd.filters
        if f.start_from and f.start_to and f.start_to <= f.start_from:
            raise InvalidArgument("to_time", "must be after from_time")
        after = decode_keyset(cmd.cursor) if cmd.cursor else None
        async with self._uow() as uow:
            rows = await uow.bookings.search(
                cmd.actor.organisation_id, f, after=after, limit=cmd.limit + 1
            )
        page = rows[: cmd.limit]
        more = len(rows) > cmd.limit
        return BookingPage(page, encode_keyset(page[-1].start_time, page[-1].id) if more else None)

    async def register_provider(self, cmd: commands.RegisterProvider) -> Provider:
        """Register a provider (services only). ``time_zone`` must be an IANA name."""
        if not cmd.actor.is_service:
            raise PermissionDenied("only a trusted service may register providers")
        name = _valid_name(cmd.name)
        time_zone = cmd.time_zone or "UTC"
        try:
            ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory, too long
            raise InvalidArgument("time_zone", "must be an IANA time zone name") from None
        provider = Provider(uuid.uuid4(), name, time_zone, self._clock(), cmd.organisation_id)
        async with self._uow() as uow:
            await uow.directory.add_provider(provider)
            await uow.commit()
        return provider

    async def register_customer(self, cmd: commands.RegisterCustomer) -> tuple[Customer, bool]:
        """Register a customer (services only), or return the one with that email and ``False``."""
        if not cmd.actor.is_service:
            raise PermissionDenied("only a trusted service may register customers")
        name = _valid_name(cmd.name)
        email = cmd.email.strip()
        if len(email) > 254 or not email.isprintable() or not _EMAIL.fullmatch(email):
            raise InvalidArgument("email", "must be an email address")
        async with self._uow() as uow:
            customer, created = await uow.directory.add_customer_or_get(
                Customer(uuid.uuid4(), name, email, self._clock())
            )
            await uow.commit()
        return customer, created

    async def list_events(self, cmd: commands.ListEvents) -> EventPage:
        """Committed events of one customer or provider after ``after_id``, for replay;
        with ``all_owners``, a service reads every owner's events (a notifier
        replica catching up after a Redis outage); with ``channel``, anyone reads
        a public channel's (no personal data). The page carries the log's head
        id, read before the page, so a reader without a cursor can start there."""
        owner: Owner | None = None
        if cmd.channel is not None:
            if cmd.all_owners or cmd.customer_id is not None or cmd.provider_id is not None:
                raise InvalidArgument("channel", "set a channel or owners, not both")
            if not is_public_channel(cmd.channel):
                raise InvalidArgument("channel", "is not a public channel")
        elif cmd.all_owners:
            if not cmd.actor.is_service:
                raise PermissionDenied("only a service may read every owner's events")
            if cmd.customer_id is not None or cmd.provider_id is not None:
                raise InvalidArgument("all_owners", "set all_owners or one owner id, not both")
        else:
            owner = resolve_owner(
                cmd.actor, customer_id=cmd.customer_id, provider_id=cmd.provider_id
            )
        if cmd.after_id < 0:
            raise InvalidArgument("after_id", "must not be negative")
        if not 1 <= cmd.limit <= MAX_EVENTS_PAGE_SIZE:
            raise InvalidArgument("limit", f"must be between 1 and {MAX_EVENTS_PAGE_SIZE}")
        async with self._uow() as uow:
            head_id = await uow.events.head_id()
            page = await uow.events.list_after(owner, cmd.after_id, cmd.limit, channel=cmd.channel)
        return EventPage(page, head_id)

    async def claim_reminder(self, cmd: commands.ClaimReminder) -> ClaimResult:
        """Claim a due reminder of an active booking, atomically and idempotently.

        In one transaction, with the reminder row locked: a cancelled reminder
        or booking gives CANCELLED; a sent one gives ALREADY_SENT with the
        event written when it was claimed; one due later than
        ``CLAIM_EARLY_TOLERANCE`` from now gives NOT_DUE; otherwise the
        booking.reminder.due event is appended, the reminder marked sent, and
        CLAIMED returned with the event. The event is not handed to the
        publisher: the caller publishes it (and the outbox relay does if the
        caller dies first). Raises ``PermissionDenied`` (not a service) and
        ``NotFound`` (no reminder).
        """
        if not cmd.actor.is_service:
            raise PermissionDenied("only a trusted service may claim reminders")
        (result,) = await self._claim((cmd.booking_id,))
        if result is None:
            raise NotFound("the booking has no reminder")
        return result

    async def claim_reminders(self, cmd: commands.ClaimReminders) -> list[ClaimResult | None]:
        """``claim_reminder`` for each of ``cmd.booking_ids`` (1..``MAX_CLAIM_BATCH``,
        distinct) in one transaction: the rows are locked in booking-id order (two
        overlapping batches cannot deadlock) and every new event is appended by one
        commit, so the event sequencer's lock is taken once for the batch. Returns a
        result per id, in the command's order; ``None`` where the booking has no
        reminder. Raises ``PermissionDenied`` (not a service), ``InvalidArgument``
        (no ids, too many, a repeated one).
        """
        if not cmd.actor.is_service:
            raise PermissionDenied("only a trusted service may claim reminders")
        ids = cmd.booking_ids
        if not 1 <= len(ids) <= MAX_CLAIM_BATCH:
            raise InvalidArgument("booking_ids", f"must hold 1 to {MAX_CLAIM_BATCH} ids")
        if len(set(ids)) != len(ids):
            raise InvalidArgument("booking_ids", "must not repeat an id")
        return await self._claim(ids)

    async def _claim(self, booking_ids: Sequence[uuid.UUID]) -> list[ClaimResult | None]:
        found: dict[uuid.UUID, ClaimResult | None] = dict.fromkeys(booking_ids)
        claimed: list[tuple[uuid.UUID, datetime]] = []
        async with self._uow() as uow:
            locked = await uow.reminders.lock_many(booking_ids)
            now = self._clock()
            live = [
                booking_id
                for booking_id, reminder in locked.items()
                if reminder.state is not ReminderState.CANCELLED
            ]
            booked = await uow.bookings.get_many(live) if live else {}
            for booking_id, reminder in sorted(locked.items()):
                booking = booked.get(booking_id)
                if reminder.state is ReminderState.SENT:
                    logged = await uow.events.find(booking_id, BOOKING_REMINDER_DUE)
                    event, published = logged if logged else (None, False)
                    found[booking_id] = ClaimResult(
                        ClaimOutcome.ALREADY_SENT, reminder.due_at, event, published
                    )
                elif (
                    reminder.state is ReminderState.CANCELLED
                    or booking is None
                    or not booking.is_active
                ):
                    found[booking_id] = ClaimResult(ClaimOutcome.CANCELLED, reminder.due_at)
                elif reminder.due_at > now + CLAIM_EARLY_TOLERANCE:
                    found[booking_id] = ClaimResult(ClaimOutcome.NOT_DUE, reminder.due_at)
                else:
                    uow.append_event(
                        NewEvent(
                            type=BOOKING_REMINDER_DUE,
                            booking_id=booking.id,
                            provider_id=booking.provider_id,
                            customer_id=booking.customer_id,
                            data=booking.reminder_data(),
                            request_id=current_request_id(),
                        )
                    )
                    claimed.append((booking_id, reminder.due_at))
            if claimed:
                await uow.reminders.mark_sent_many([b for b, _ in claimed], now=now)
                # One commit, so one take of the event sequencer's lock for the batch.
                written = {event.booking_id: event for event in await uow.commit()}
                for booking_id, due_at in claimed:
                    found[booking_id] = ClaimResult(
                        ClaimOutcome.CLAIMED, due_at, written[booking_id], published=False
                    )
        return [found[booking_id] for booking_id in booking_ids]

    async def mark_event_published(self, cmd: commands.MarkEventPublished) -> None:
        """Record that an event reached Redis (services only; idempotent)."""
        if not cmd.actor.is_service:
            raise PermissionDenied("only a trusted service may mark events published")
        ids = [cmd.event_id, *cmd.more_event_ids] if cmd.event_id else list(cmd.more_event_ids)
        if not ids:
            raise InvalidArgument("event_id", "must be positive")
        if any(event_id < 1 for event_id in ids):
            field = "event_ids" if cmd.more_event_ids else "event_id"
            raise InvalidArgument(field, "must be positive")
        if len(ids) > MAX_CLAIM_BATCH:
            raise InvalidArgument("event_ids", f"must hold at most {MAX_CLAIM_BATCH} ids")
        async with self._uow() as uow:
            await uow.events.mark_published_many(ids)
            await uow.commit()

    @staticmethod
    def event(event_type: str, booking: Booking) -> NewEvent:
        """The owner event ``event_type`` (booking.created, booking.cancelled) of a booking."""
        return NewEvent(
            type=event_type,
            booking_id=booking.id,
            provider_id=booking.provider_id,
            customer_id=booking.customer_id,
            data=booking.event_data(),
            request_id=current_request_id(),
        )


def _valid_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH or not name.isprintable():
        raise InvalidArgument("name", f"must be 1 to {MAX_NAME_LENGTH} printable characters")
    return name
