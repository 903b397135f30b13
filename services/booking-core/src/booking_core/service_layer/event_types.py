"""The event-type use cases: providers manage event types; guests see slots, book a
place without an account and manage it through the link they were given.

Capacity, overlaps and "one place per guest" are decided by the database
inside the booking's transaction (see ``SlotOccupancy.take`` and the
``bookings`` constraints), so concurrent guests cannot overbook a slot.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Final

from bookings_common import limits
from bookings_common.events import BOOKING_CREATED

from booking_core.domain import commands
from booking_core.domain import event_type_commands as cmds
from booking_core.domain.errors import (
    BookingOverlap,
    GuestAlreadyBooked,
    IdempotencyKeyReused,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    SlotFull,
    SlotUnavailable,
    SlugTaken,
)
from booking_core.domain.event_types import (
    EventType,
    merge_spec,
    new_slug,
    normalize_slug,
    validate_spec,
)
from booking_core.domain.guests import ManageTokens, new_reference, normalize_reference, parse_guest
from booking_core.domain.model import (
    Actor,
    ActorKind,
    Booking,
    BookingStatus,
    Customer,
    Reminder,
    reminder_due_at,
    validate_idempotency_key,
)
from booking_core.domain.slots import OfferedSlot, generate_slots, offered

from .event_type_ports import EventTypesUnitOfWorkFactory, PublicListing
from .handlers import BookingRules, BookingService
from .ports import Clock, DuplicateIdempotencyKey, EventPublisher
from .slot_events import availability_event

MAX_SLOT_RANGE: Final = timedelta(days=limits.SLOT_RANGE_MAX_DAYS)
MAX_EVENT_TYPES_PAGE: Final = 100
_REFERENCE_ATTEMPTS: Final = 8
_MICROSECOND: Final = timedelta(microseconds=1)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
GUEST_CANCEL_ACTOR: Final = Actor.trusted_service("guest-manage-link")


@dataclass(frozen=True, slots=True)
class EventTypePage:
    event_types: list[EventType]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class SlotPage:
    listing: PublicListing
    slots: list[OfferedSlot]


@dataclass(frozen=True, slots=True)
class BookedSlot:
    booking: Booking
    listing: PublicListing
    manage_token: str
    replayed: bool


@dataclass(frozen=True, slots=True)
class GuestBookingView:
    booking: Booking
    listing: PublicListing


def _encode_cursor(created_at: datetime, event_type_id: uuid.UUID) -> str:
    micros = (created_at - _EPOCH) // _MICROSECOND
    return base64.urlsafe_b64encode(f"1|{micros}|{event_type_id.hex}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        version, micros, hex_id = base64.urlsafe_b64decode(cursor).decode().split("|")
        if version != "1":
            raise ValueError
        return _EPOCH + int(micros) * _MICROSECOND, uuid.UUID(hex=hex_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidArgument("cursor", "is not a valid cursor") from None


def _fingerprint(event_type_id: uuid.UUID, start: datetime, guest_key: str) -> str:
    canonical = "|".join(("slot", str(event_type_id), start.isoformat(), guest_key))
    return hashlib.sha256(canonical.encode()).hexdigest()


class EventTypeService:
    """booking-core's event-type use cases; every public method is one use case."""

    def __init__(
        self,
        uow_factory: EventTypesUnitOfWorkFactory,
        publisher: EventPublisher,
        clock: Clock,
        rules: BookingRules,
        tokens: ManageTokens,
        bookings: BookingService,
    ) -> None:
        self._uow = uow_factory
        self._publisher = publisher
        self._clock = clock
        self._rules = rules
        self._tokens = tokens
        self._bookings = bookings

    # --- providers -----------------------------------------------------------------

    @staticmethod
    def _owner(actor: Actor, provider_id: uuid.UUID | None) -> uuid.UUID:
        if actor.kind is ActorKind.PROVIDER:
            assert actor.id is not None
            if provider_id is not None and provider_id != actor.id:
                raise PermissionDenied("a provider may only manage its own event types")
            return actor.id
        if actor.is_service:
            if provider_id is None:
                raise InvalidArgument("provider_id", "a service must name the provider")
            return provider_id
        raise PermissionDenied("only providers manage event types")

    @staticmethod
    def _visible(actor: Actor, event_type: EventType | None) -> EventType:
        if event_type is None or not (
            actor.is_service
            or (actor.kind is ActorKind.PROVIDER and actor.id == event_type.provider_id)
        ):
            raise NotFound("event type not found")
        return event_type

    async def create_event_type(self, cmd: cmds.CreateEventType) -> EventType:
        """Create an event type with a new random slug (and the custom one, if given).

        Raises ``PermissionDenied``, ``InvalidArgument``, ``NotFound`` (provider),
        ``SlugTaken``.
        """
        provider_id = self._owner(cmd.actor, cmd.provider_id)
        spec = validate_spec(cmd.spec)
        now = self._clock()
        event_type = EventType(
            id=uuid.uuid4(),
            provider_id=provider_id,
            spec=spec,
            slug=new_slug(),
            active=True,
            version=1,
            created_at=now,
            updated_at=now,
        )
        async with self._uow() as uow:
            await uow.event_types.add(event_type)
            while not await uow.event_types.claim_slug(
                event_type.id, event_type.slug, custom=False
            ):
                # 80 random bits: a collision is all but impossible; draw again.
                event_type = replace(event_type, slug=new_slug())
            if spec.custom_slug and not await uow.event_types.claim_slug(
                event_type.id, spec.custom_slug, custom=True
            ):
                raise SlugTaken(f"the slug {spec.custom_slug!r} is taken")
            await uow.commit()
        return event_type

    async def get_event_type(self, cmd: cmds.GetEventType) -> EventType:
        """The actor's event type; ``NotFound`` for anyone else's."""
        if cmd.actor.kind not in (ActorKind.PROVIDER, ActorKind.SERVICE):
            raise NotFound("event type not found")
        async with self._uow() as uow:
            return self._visible(cmd.actor, await uow.event_types.get(cmd.event_type_id))

    async def list_event_types(self, cmd: cmds.ListEventTypes) -> EventTypePage:
        """One page of the provider's event types, oldest first."""
        provider_id = self._owner(cmd.actor, cmd.provider_id)
        if not 1 <= cmd.limit <= MAX_EVENT_TYPES_PAGE:
            raise InvalidArgument("limit", f"must be between 1 and {MAX_EVENT_TYPES_PAGE}")
        after = _decode_cursor(cmd.cursor) if cmd.cursor else None
        async with self._uow() as uow:
            rows = await uow.event_types.list_page(provider_id, after=after, limit=cmd.limit + 1)
        page = rows[: cmd.limit]
        more = len(rows) > cmd.limit
        cursor = _encode_cursor(page[-1].created_at, page[-1].id) if more else None
        return EventTypePage(page, cursor)

    async def update_event_type(self, cmd: cmds.UpdateEventType) -> EventType:
        """Change the fields named in the mask, under the row's lock. Bookings are never
        touched: places already booked stay booked whatever the new rules say.

        Raises ``NotFound``, ``InvalidArgument`` (unknown path, bad value), ``SlugTaken``.
        """
        async with self._uow() as uow:
            if cmd.actor.kind not in (ActorKind.PROVIDER, ActorKind.SERVICE):
                raise NotFound("event type not found")
            current = self._visible(
                cmd.actor, await uow.event_types.get(cmd.event_type_id, for_update=True)
            )
            if not cmd.paths:
                return current
            spec = validate_spec(merge_spec(current.spec, cmd.spec, cmd.paths))
            if spec == current.spec:
                return current
            if spec.custom_slug != current.spec.custom_slug:
                await uow.event_types.release_custom_slug(current.id)
                if spec.custom_slug and not await uow.event_types.claim_slug(
                    current.id, spec.custom_slug, custom=True
                ):
                    raise SlugTaken(f"the slug {spec.custom_slug!r} is taken")
            updated = current.with_spec(spec, now=self._clock())
            await uow.event_types.save(updated)
            await uow.commit()
        return updated

    async def set_event_type_active(self, cmd: cmds.SetEventTypeActive) -> EventType:
        """Deactivate (public calls then answer ``NotFound``; bookings stay) or reactivate."""
        async with self._uow() as uow:
            if cmd.actor.kind not in (ActorKind.PROVIDER, ActorKind.SERVICE):
                raise NotFound("event type not found")
            current = self._visible(
                cmd.actor, await uow.event_types.get(cmd.event_type_id, for_update=True)
            )
            updated = current.with_active(cmd.active, now=self._clock())
            if updated is not current:
                await uow.event_types.save(updated)
                await uow.commit()
        return updated

    # --- the public -----------------------------------------------------------------

    async def _public(self, slug: str) -> PublicListing:
        async with self._uow() as uow:
            listing = await uow.event_types.find_by_slug(normalize_slug(slug))
        if listing is None or not listing.event_type.active:
            raise NotFound("event type not found")
        return listing

    async def get_public_event_type(self, cmd: cmds.GetPublicEventType) -> PublicListing:
        """An active event type by random or custom slug; ``NotFound`` otherwise."""
        return await self._public(cmd.slug)

    async def list_slots(self, cmd: cmds.ListSlots) -> SlotPage:
        """The slots offered now that start in ``[start, end)`` (at most 62 days apart)."""
        if cmd.end <= cmd.start:
            raise InvalidArgument("to_time", "must be after from_time")
        if cmd.end - cmd.start > MAX_SLOT_RANGE:
            raise InvalidArgument(
                "to_time", f"the range may span at most {limits.SLOT_RANGE_MAX_DAYS} days"
            )
        listing = await self._public(cmd.slug)
        event_type = listing.event_type
        spec = event_type.spec
        now = self._clock()
        earliest = now + timedelta(minutes=spec.minimum_notice_minutes)
        latest = now + timedelta(days=spec.booking_horizon_days)
        start, end = max(cmd.start, earliest), min(cmd.end, latest)
        if end <= start:
            return SlotPage(listing, [])
        candidates = generate_slots(
            spec.rules, zone=spec.zone, period=spec.period, start=start, end=end
        )
        if not candidates:
            return SlotPage(listing, [])
        async with self._uow() as uow:
            booked = await uow.slots.booked_between(event_type.id, start, end)
            busy = await uow.calendar.busy_between(
                event_type.provider_id,
                candidates[0].start - spec.buffer_before,
                candidates[-1].end + spec.buffer_after,
            )
        slots = offered(
            candidates,
            capacity=spec.capacity,
            booked=booked,
            busy=busy,
            buffer_before=spec.buffer_before,
            buffer_after=spec.buffer_after,
            slot_id_of=event_type.slot_id,
            earliest=earliest,
            latest=latest,
        )
        return SlotPage(listing, slots)

    async def book_slot(self, cmd: cmds.BookSlot) -> BookedSlot:
        """Book a place in a slot for a guest, who becomes (or is matched by email to) a
        customer. One transaction writes the customer (if new), the place, the guest's
        details, the reminder, booking.created and slot.availability.

        Raises ``InvalidArgument`` (guest details, key), ``NotFound`` (slug),
        ``SlotUnavailable`` (not offered, or the provider is busy then), ``SlotFull``,
        ``GuestAlreadyBooked``, ``IdempotencyKeyReused``, ``Unavailable``.
        """
        g = cmd.guest
        guest = parse_guest(
            first_name=g.first_name,
            last_name=g.last_name,
            email=g.email,
            phone=g.phone,
            address=g.address,
            special_requests=g.special_requests,
        )
        validate_idempotency_key(cmd.idempotency_key)
        listing = await self._public(cmd.slug)
        event_type = listing.event_type
        spec = event_type.spec
        start = cmd.slot_start.astimezone(UTC)
        fingerprint = _fingerprint(
            event_type.id,
            start,
            "|".join(
                (
                    guest.email.lower(),
                    guest.first_name,
                    guest.last_name,
                    guest.phone,
                    guest.address or "",
                    guest.special_requests or "",
                )
            ),
        )
        if cmd.idempotency_key is not None:
            replay = await self._replay(listing, cmd.idempotency_key, fingerprint)
            if replay is not None:
                return replay
        now = self._clock()
        earliest = now + timedelta(minutes=spec.minimum_notice_minutes)
        latest = now + timedelta(days=spec.booking_horizon_days)
        rule_slots = generate_slots(
            spec.rules, zone=spec.zone, period=spec.period, start=start, end=start + _MICROSECOND
        )
        if not rule_slots or rule_slots[0].start != start or not earliest <= start < latest:
            raise SlotUnavailable("that slot is not offered")
        slot = rule_slots[0]
        booking_id = uuid.uuid4()
        token = self._tokens.token_for(booking_id)
        try:
            async with self._uow() as uow:
                customer, _ = await uow.directory.add_customer_or_get(
                    Customer(uuid.uuid4(), guest.full_name, guest.email, now)
                )
                state = await uow.slots.take(event_type.id, event_type.provider_id, slot.start)
                if state is None:
                    raise SlotFull("every place of that slot is taken")
                for _ in range(_REFERENCE_ATTEMPTS):
                    reference = new_reference()
                    if await uow.guests.add(booking_id, reference, self._tokens.hash(token), guest):
                        break
                else:  # pragma: no cover - 40 random bits, eight draws
                    raise RuntimeError("could not draw a free booking reference")
                booking = Booking(
                    id=booking_id,
                    provider_id=event_type.provider_id,
                    customer_id=customer.id,
                    start_time=slot.start,
                    end_time=slot.end,
                    status=BookingStatus.CONFIRMED,
                    version=1,
                    created_at=now,
                    updated_at=now,
                    idempotency_key=cmd.idempotency_key,
                    request_fingerprint=fingerprint,
                    event_type_id=event_type.id,
                    slot_id=event_type.slot_id(slot.start),
                    busy_start=slot.start - spec.buffer_before,
                    busy_end=slot.end + spec.buffer_after,
                    single_place_per_guest=not spec.allow_multiple_places_per_guest,
                    reference=reference,
                    guest=guest,
                )
                await uow.bookings.add(booking)
                await uow.reminders.add(
                    Reminder(
                        booking.id,
                        reminder_due_at(
                            booking.start_time, lead=self._rules.reminder_lead, now=now
                        ),
                    )
                )
                uow.append_event(BookingService.event(BOOKING_CREATED, booking))
                uow.append_event(availability_event(state, booking))
                events = await uow.commit()
        except (
            DuplicateIdempotencyKey,
            BookingOverlap,
            SlotFull,
            GuestAlreadyBooked,
        ) as exc:
            # A concurrent duplicate of this request may have won; it is a replay then.
            if cmd.idempotency_key is not None:
                replay = await self._replay(listing, cmd.idempotency_key, fingerprint)
                if replay is not None:
                    return replay
            if isinstance(exc, BookingOverlap):
                raise SlotUnavailable("the provider is not available then") from None
            if isinstance(exc, DuplicateIdempotencyKey):  # pragma: no cover - replayed above
                raise IdempotencyKeyReused("this idempotency key was used already") from None
            raise
        self._publisher.publish_committed(events)
        return BookedSlot(booking, listing, token, replayed=False)

    async def _replay(
        self, listing: PublicListing, key: str, fingerprint: str
    ) -> BookedSlot | None:
        async with self._uow() as uow:
            existing = await uow.bookings.get_by_idempotency_key(
                listing.event_type.provider_id, key
            )
        if existing is None:
            return None
        if existing.request_fingerprint != fingerprint:
            raise IdempotencyKeyReused("this idempotency key was used for a different request")
        return BookedSlot(existing, listing, self._tokens.token_for(existing.id), replayed=True)

    async def _guest_booking(self, reference: str, token: str) -> Booking:
        """The booking a reference and manage token open; ``NotFound`` for a wrong token
        and an unknown reference alike (and in the same time: a dummy comparison)."""
        canonical = normalize_reference(reference)
        found = None
        if canonical is not None:
            async with self._uow() as uow:
                found = await uow.guests.find(canonical)
        booking_id, stored = found if found is not None else (None, self._tokens.dummy_hash)
        if not self._tokens.matches(token, stored) or booking_id is None:
            raise NotFound("booking not found")
        async with self._uow() as uow:
            booking = await uow.bookings.get(booking_id)
        if booking is None:  # pragma: no cover - the guest row's foreign key
            raise NotFound("booking not found")
        return booking

    async def _listing_of(self, booking: Booking) -> PublicListing:
        assert booking.event_type_id is not None
        async with self._uow() as uow:
            event_type = await uow.event_types.get(booking.event_type_id)
            assert event_type is not None
            listing = await uow.event_types.find_by_slug(event_type.slug)
        assert listing is not None
        return listing

    async def get_guest_booking(self, cmd: cmds.GetGuestBooking) -> GuestBookingView:
        """A guest booking by reference and manage token (``NotFound`` otherwise)."""
        booking = await self._guest_booking(cmd.reference, cmd.manage_token)
        return GuestBookingView(booking, await self._listing_of(booking))

    async def cancel_guest_booking(self, cmd: cmds.CancelGuestBooking) -> GuestBookingView:
        """Cancel a guest booking by reference and manage token; see
        ``BookingService.cancel_booking`` for the rules and errors."""
        booking = await self._guest_booking(cmd.reference, cmd.manage_token)
        cancelled = await self._bookings.cancel_booking(
            commands.CancelBooking(GUEST_CANCEL_ACTOR, booking.id, cmd.reason)
        )
        return GuestBookingView(cancelled, await self._listing_of(cancelled))

    async def get_manage_token(self, cmd: cmds.GetManageToken) -> tuple[str, str]:
        """``(reference, manage token)`` of a guest booking, for services (mail)."""
        if not cmd.actor.is_service:
            raise PermissionDenied("only a trusted service may read manage tokens")
        async with self._uow() as uow:
            booking = await uow.bookings.get(cmd.booking_id)
        if booking is None or booking.reference is None:
            raise NotFound("not a guest booking")
        return booking.reference, self._tokens.token_for(booking.id)
