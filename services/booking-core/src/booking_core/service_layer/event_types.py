"""The event-type use cases: providers (and their organisation's admins) manage event
types; guests see slots, book a place without an account and manage it through the
link they were given.

Capacity, overlaps and "one place per guest" are decided by the database inside
the booking's transaction (``SlotOccupancy.take`` and the ``bookings``
constraints), so concurrent guests cannot overbook a slot. A team's event type
has places per member: a booking takes the team's lock, then, in that
transaction, goes to the free member with the fewest bookings that day (in the
event type's zone), then to the one assigned a place of it longest ago
(round robin), then by provider id.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
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
from booking_core.domain.guests import (
    Guest,
    ManageTokens,
    new_reference,
    normalize_reference,
    parse_guest,
)
from booking_core.domain.model import (
    Actor,
    ActorKind,
    Booking,
    BookingStatus,
    Customer,
    LoggedEvent,
    Reminder,
    reminder_due_at,
    validate_idempotency_key,
)
from booking_core.domain.slots import OfferedSlot, Slot, generate_slots, offered

from .audit import audit_entry
from .cursors import decode_keyset, encode_keyset
from .event_type_ports import EventTypesUnitOfWork, EventTypesUnitOfWorkFactory, Host, PublicListing
from .handlers import BookingRules, BookingService
from .idempotency import hold_idempotency_key
from .ports import Clock, DuplicateIdempotencyKey, EventPublisher
from .slot_events import availability_event

MAX_SLOT_RANGE: Final = timedelta(days=limits.SLOT_RANGE_MAX_DAYS)
MAX_EVENT_TYPES_PAGE: Final = 100
_REFERENCE_ATTEMPTS: Final = 8
_MICROSECOND: Final = timedelta(microseconds=1)
GUEST_CANCEL_ACTOR: Final = Actor.trusted_service("guest-manage-link")


class _MemberBusy(Exception):
    """The database refused a team member for a place (a booking of theirs meanwhile)."""

    def __init__(self, provider_id: uuid.UUID) -> None:
        super().__init__(str(provider_id))
        self.provider_id = provider_id


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


def _fingerprint(event_type_id: uuid.UUID, start: datetime, guest: Guest) -> str:
    canonical = "|".join(
        (
            "slot",
            str(event_type_id),
            start.isoformat(),
            guest.email.lower(),
            guest.first_name,
            guest.last_name,
            guest.phone,
            guest.address or "",
            guest.special_requests or "",
        )
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def guest_key(event_type_id: uuid.UUID, key: str) -> str:
    """A guest's idempotency key as stored: namespaced by the event type, so guests never
    collide with each other's types or with the provider's own keys."""
    return f"event-type:{event_type_id}:{key}"


def merge_slots(
    per_host: Sequence[list[OfferedSlot]], hosts: int, capacity: int
) -> list[OfferedSlot]:
    """One slot per start across hosts: the places left summed, capacity for all hosts."""
    merged: dict[datetime, OfferedSlot] = {}
    for slots in per_host:
        for slot in slots:
            seen = merged.get(slot.start)
            remaining = slot.remaining + (seen.remaining if seen else 0)
            merged[slot.start] = OfferedSlot(slot.start, slot.end, capacity * hosts, remaining)
    return [merged[start] for start in sorted(merged)]


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

    # --- providers and admins ------------------------------------------------------

    async def _owner(
        self,
        uow: EventTypesUnitOfWork,
        actor: Actor,
        provider_id: uuid.UUID | None,
        team_id: uuid.UUID | None,
    ) -> tuple[uuid.UUID | None, uuid.UUID | None, uuid.UUID | None]:
        """``(provider_id, team_id, organisation_id)`` an actor may create for."""
        if provider_id is not None and team_id is not None:
            raise InvalidArgument("team_id", "an event type belongs to a provider or a team")
        if actor.kind is ActorKind.PROVIDER:
            assert actor.id is not None
            if team_id is not None or (provider_id is not None and provider_id != actor.id):
                raise PermissionDenied("a provider may only create its own event types")
            provider = await uow.directory.provider(actor.id)
            return actor.id, None, provider.organisation_id if provider else None
        if not (actor.is_service or actor.is_admin):
            raise PermissionDenied("only providers and admins manage event types")
        if team_id is not None:
            team = await uow.teams.get(team_id)
            if team is None or not (actor.is_service or actor.administers(team.organisation_id)):
                raise NotFound("team not found")
            return None, team_id, team.organisation_id
        if provider_id is None:
            raise InvalidArgument("provider_id", "name the provider or the team")
        provider = await uow.directory.provider(provider_id)
        if provider is None or not (
            actor.is_service or actor.administers(provider.organisation_id)
        ):
            raise NotFound("provider not found")
        return provider_id, None, provider.organisation_id

    @staticmethod
    def _visible(actor: Actor, event_type: EventType | None) -> EventType:
        """The event type if the actor manages it: its provider, an admin of its
        organisation, or a service; ``NotFound`` otherwise."""
        if event_type is None or not (
            actor.is_service
            or (actor.kind is ActorKind.PROVIDER and actor.id == event_type.provider_id)
            or actor.administers(event_type.organisation_id)
        ):
            raise NotFound("event type not found")
        return event_type

    async def create_event_type(self, cmd: cmds.CreateEventType) -> EventType:
        """Create an event type with a new random slug (and the custom one, if given).

        Raises ``PermissionDenied``, ``InvalidArgument``, ``NotFound`` (provider or
        team), ``SlugTaken``.
        """
        spec = validate_spec(cmd.spec)
        now = self._clock()
        async with self._uow() as uow:
            provider_id, team_id, organisation_id = await self._owner(
                uow, cmd.actor, cmd.provider_id, cmd.team_id
            )
            event_type = EventType(
                id=uuid.uuid4(),
                provider_id=provider_id,
                team_id=team_id,
                organisation_id=organisation_id,
                spec=spec,
                slug=new_slug(),
                active=True,
                version=1,
                created_at=now,
                updated_at=now,
            )
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
            await uow.audit.record(
                audit_entry(cmd.actor, "event_type.created", event_type, {"name": spec.name})
            )
            await uow.commit()
        return event_type

    async def get_event_type(self, cmd: cmds.GetEventType) -> EventType:
        """The actor's event type; ``NotFound`` for anyone else's."""
        async with self._uow() as uow:
            return self._visible(cmd.actor, await uow.event_types.get(cmd.event_type_id))

    async def list_event_types(self, cmd: cmds.ListEventTypes) -> EventTypePage:
        """One page of event types, oldest first: a provider's own; an admin's
        organisation's (or one provider's or team's of it); a service's provider or team."""
        if not 1 <= cmd.limit <= MAX_EVENT_TYPES_PAGE:
            raise InvalidArgument("limit", f"must be between 1 and {MAX_EVENT_TYPES_PAGE}")
        after = decode_keyset(cmd.cursor) if cmd.cursor else None
        async with self._uow() as uow:
            scope: dict[str, uuid.UUID | None]
            actor = cmd.actor
            if actor.kind is ActorKind.PROVIDER:
                if cmd.team_id is not None or cmd.provider_id not in (None, actor.id):
                    raise PermissionDenied("a provider lists its own event types")
                scope = {"provider_id": actor.id}
            elif actor.is_admin and cmd.provider_id is None and cmd.team_id is None:
                scope = {"organisation_id": actor.organisation_id}
            elif actor.is_admin or actor.is_service:
                provider, team, _ = await self._owner(uow, actor, cmd.provider_id, cmd.team_id)
                scope = {"provider_id": provider} if provider else {"team_id": team}
            else:
                raise PermissionDenied("only providers and admins list event types")
            rows = await uow.event_types.list_page(**scope, after=after, limit=cmd.limit + 1)
        page = rows[: cmd.limit]
        more = len(rows) > cmd.limit
        cursor = encode_keyset(page[-1].created_at, page[-1].id) if more else None
        return EventTypePage(page, cursor)

    async def update_event_type(self, cmd: cmds.UpdateEventType) -> EventType:
        """Change the fields named in the mask, under the row's lock. Bookings are never
        touched: places already booked stay booked whatever the new rules say.

        Raises ``NotFound``, ``InvalidArgument`` (unknown path, bad value), ``SlugTaken``.
        """
        async with self._uow() as uow:
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
            await uow.audit.record(
                audit_entry(
                    cmd.actor, "event_type.updated", updated, {"fields": sorted(set(cmd.paths))}
                )
            )
            await uow.commit()
        return updated

    async def set_event_type_active(self, cmd: cmds.SetEventTypeActive) -> EventType:
        """Deactivate (public calls then answer ``NotFound``; bookings stay) or reactivate."""
        async with self._uow() as uow:
            current = self._visible(
                cmd.actor, await uow.event_types.get(cmd.event_type_id, for_update=True)
            )
            updated = current.with_active(cmd.active, now=self._clock())
            if updated is not current:
                await uow.event_types.save(updated)
                action = "event_type.activated" if cmd.active else "event_type.deactivated"
                await uow.audit.record(audit_entry(cmd.actor, action, updated, {}))
                await uow.commit()
        return updated

    # --- the public -----------------------------------------------------------------

    async def _public(self, slug: str) -> PublicListing:
        async with self._uow() as uow:
            listing = await uow.event_types.find_by_slug(normalize_slug(slug))
        if listing is None or not listing.event_type.active:
            raise NotFound("event type not found")
        return listing

    @staticmethod
    def _hosts(listing: PublicListing, member_id: uuid.UUID | None) -> tuple[Host, ...]:
        """The hosts a guest may book with: all of them, or the one they picked."""
        if member_id is None:
            return listing.hosts
        spec = listing.event_type.spec
        chosen = tuple(h for h in listing.hosts if h.provider_id == member_id)
        if listing.event_type.team_id is None or not spec.allow_member_choice or not chosen:
            raise InvalidArgument("member_id", "is not a member this event type lets you pick")
        return chosen

    async def get_public_event_type(self, cmd: cmds.GetPublicEventType) -> PublicListing:
        """An active event type by random or custom slug; ``NotFound`` otherwise."""
        return await self._public(cmd.slug)

    async def list_slots(self, cmd: cmds.ListSlots) -> SlotPage:
        """The slots offered now that start in ``[start, end)`` (at most 62 days apart),
        across the event type's hosts (or the picked member's)."""
        if cmd.end <= cmd.start:
            raise InvalidArgument("to_time", "must be after from_time")
        if cmd.end - cmd.start > MAX_SLOT_RANGE:
            days = limits.SLOT_RANGE_MAX_DAYS
            raise InvalidArgument("to_time", f"the range may span at most {days} days")
        listing = await self._public(cmd.slug)
        hosts = self._hosts(listing, cmd.member_id)
        event_type = listing.event_type
        spec = event_type.spec
        now = self._clock()
        earliest = now + timedelta(minutes=spec.minimum_notice_minutes)
        latest = now + timedelta(days=spec.booking_horizon_days)
        start, end = max(cmd.start, earliest), min(cmd.end, latest)
        if end <= start or not hosts:
            return SlotPage(listing, [])
        candidates = generate_slots(
            spec.rules, zone=spec.zone, period=spec.period, start=start, end=end
        )
        if not candidates:
            return SlotPage(listing, [])
        ids = [h.provider_id for h in hosts]
        async with self._uow() as uow:
            booked = await uow.slots.booked_between(event_type.id, start, end)
            busy = await uow.calendar.busy_between(
                ids,
                candidates[0].start - spec.buffer_before,
                candidates[-1].end + spec.buffer_after,
            )
        per_host = [
            offered(
                candidates,
                capacity=spec.capacity,
                booked={s: n for (s, p), n in booked.items() if p == provider_id},
                busy=busy.get(provider_id, []),
                buffer_before=spec.buffer_before,
                buffer_after=spec.buffer_after,
                slot_id_of=event_type.slot_id,
                earliest=earliest,
                latest=latest,
            )
            for provider_id in ids
        ]
        return SlotPage(listing, merge_slots(per_host, len(ids), spec.capacity))

    async def book_slot(self, cmd: cmds.BookSlot) -> BookedSlot:
        """Book a place in a slot for a guest, who becomes (or is matched by email to) a
        customer. One transaction writes the customer (if new), the place, the guest's
        details, the reminder, booking.created and slot.availability. A team's place goes
        to a member (see the module docstring); if the database refuses that member (a
        booking of theirs made meanwhile), the next one is tried.

        Raises ``InvalidArgument`` (guest details, key, member), ``NotFound`` (slug),
        ``SlotUnavailable`` (not offered, or no host is free then), ``SlotFull``,
        ``GuestAlreadyBooked``, ``IdempotencyKeyReused``, ``IdempotencyInProgress``,
        ``Unavailable``.
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
        hosts = self._hosts(listing, cmd.member_id)
        event_type = listing.event_type
        spec = event_type.spec
        start = cmd.slot_start.astimezone(UTC)
        fingerprint = _fingerprint(event_type.id, start, guest)
        key = guest_key(event_type.id, cmd.idempotency_key) if cmd.idempotency_key else None
        if key is not None:
            replay = await self._replay(listing, key, fingerprint)
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
        refused: set[uuid.UUID] = set()
        while True:
            try:
                booking, events = await self._book(
                    listing, hosts, refused, slot, guest, key, fingerprint, now
                )
            except _MemberBusy as busy:
                refused.add(busy.provider_id)  # that member got busy: try the next
                continue
            except (
                DuplicateIdempotencyKey,
                BookingOverlap,
                SlotFull,
                GuestAlreadyBooked,
            ) as exc:
                # A concurrent duplicate of this request may have won: a replay then.
                if key is not None:
                    replay = await self._replay(listing, key, fingerprint)
                    if replay is not None:
                        return replay
                if isinstance(exc, BookingOverlap):
                    raise SlotUnavailable("the provider is not available then") from None
                if isinstance(exc, DuplicateIdempotencyKey):  # pragma: no cover - replayed
                    raise IdempotencyKeyReused("this idempotency key was used already") from None
                raise
            break
        self._publisher.publish_committed(events)
        return BookedSlot(booking, listing, self._tokens.token_for(booking.id), replayed=False)

    async def _book(
        self,
        listing: PublicListing,
        hosts: tuple[Host, ...],
        refused: set[uuid.UUID],
        slot: Slot,
        guest: Guest,
        key: str | None,
        fingerprint: str,
        now: datetime,
    ) -> tuple[Booking, list[LoggedEvent]]:
        """One attempt in one transaction; returns the booking and its committed events."""
        event_type = listing.event_type
        spec = event_type.spec
        booking_id = uuid.uuid4()
        async with self._uow() as uow:
            await hold_idempotency_key(uow, "guest", key)
            candidates = [h.provider_id for h in hosts if h.provider_id not in refused]
            if event_type.team_id is not None:
                await uow.lock_team(event_type.team_id)
                candidates = await self._free_members(uow, event_type, candidates, slot)
            if not candidates:
                raise SlotUnavailable("no member of the team is available then")
            customer, _ = await uow.directory.add_customer_or_get(
                Customer(uuid.uuid4(), guest.full_name, guest.email, now)
            )
            host = None
            for candidate in candidates:
                if await uow.slots.take(event_type.id, candidate, slot.start):
                    host = candidate
                    break
            if host is None:
                raise SlotFull("every place of that slot is taken")
            token_hash = self._tokens.hash(self._tokens.token_for(booking_id))
            for _ in range(_REFERENCE_ATTEMPTS):
                reference = new_reference()
                if await uow.guests.add(booking_id, reference, token_hash, guest):
                    break
            else:  # pragma: no cover - 40 random bits, eight draws
                raise RuntimeError("could not draw a free booking reference")
            booking = Booking(
                id=booking_id,
                provider_id=host,
                customer_id=customer.id,
                start_time=slot.start,
                end_time=slot.end,
                status=BookingStatus.CONFIRMED,
                version=1,
                created_at=now,
                updated_at=now,
                idempotency_key=key,
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
                    reminder_due_at(booking.start_time, lead=self._rules.reminder_lead, now=now),
                )
            )
            uow.append_event(BookingService.event(BOOKING_CREATED, booking))
            uow.append_event(await availability_event(uow, event_type, booking))
            try:
                events = await uow.commit()
            except BookingOverlap:
                if event_type.team_id is None:
                    raise
                raise _MemberBusy(host) from None
        return booking, events

    async def _free_members(
        self,
        uow: EventTypesUnitOfWork,
        event_type: EventType,
        candidates: list[uuid.UUID],
        slot: Slot,
    ) -> list[uuid.UUID]:
        """The members who can take the slot, in assignment order (module docstring)."""
        spec = event_type.spec
        booked = await uow.slots.booked_between(
            event_type.id, slot.start, slot.start + _MICROSECOND
        )
        busy = await uow.calendar.busy_between(
            candidates, slot.start - spec.buffer_before, slot.end + spec.buffer_after
        )
        free = [
            provider_id
            for provider_id in candidates
            if offered(
                [slot],
                capacity=spec.capacity,
                booked={slot.start: booked.get((slot.start, provider_id), 0)},
                busy=busy.get(provider_id, []),
                buffer_before=spec.buffer_before,
                buffer_after=spec.buffer_after,
                slot_id_of=event_type.slot_id,
                earliest=slot.start,
                latest=slot.end,
            )
        ]
        day = slot.start.astimezone(spec.zone).date()
        day_start = datetime.combine(day, time(), tzinfo=spec.zone)
        stats = await uow.calendar.assignment_stats(
            event_type.id,
            free,
            day_start.astimezone(UTC),
            (day_start + timedelta(days=1)).astimezone(UTC),
        )
        never = datetime.min.replace(tzinfo=UTC)

        def order(provider_id: uuid.UUID) -> tuple[int, datetime, str]:
            seen = stats.get(provider_id)
            count = seen.bookings_that_day if seen else 0
            last = (seen.last_assigned_at if seen else None) or never
            return count, last, str(provider_id)

        return sorted(free, key=order)

    async def _replay(
        self, listing: PublicListing, key: str, fingerprint: str
    ) -> BookedSlot | None:
        async with self._uow() as uow:
            existing = await uow.calendar.by_event_type_key(listing.event_type.id, key)
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
        """``(reference, manage token)`` of a guest booking, for services (mail). Raises
        ``NotFound`` when the token cannot be derived again (``MANAGE_TOKEN_SECRET``
        changed since the booking was made), so no dead link is ever sent."""
        if not cmd.actor.is_service:
            raise PermissionDenied("only a trusted service may read manage tokens")
        booking = None
        async with self._uow() as uow:
            booking = await uow.bookings.get(cmd.booking_id)
            found = (
                await uow.guests.find(booking.reference) if booking and booking.reference else None
            )
        if booking is None or booking.reference is None or found is None:
            raise NotFound("not a guest booking")
        token = self._tokens.token_for(booking.id)
        if not self._tokens.matches(token, found[1]):
            raise NotFound("the manage link of this booking cannot be derived any more")
        return booking.reference, token
