"""Composition root: wires booking-core's dependencies with production defaults.

Nothing connects at import time. ``serve`` owns every resource (engine, Redis
client, outbox tasks, gRPC server) and releases them on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from bookings_common.dramatiq_redis import RedisBroker
from bookings_common.dramatiq_tracing import TracingMiddleware
from bookings_common.events import BOOKING_CREATED
from bookings_common.logging import get_logger
from bookings_proto.google_proto_descriptor_pool import default_google_proto_descriptor_pool
from google.protobuf.descriptor_pool import DescriptorPool
from grpclib.events import RecvRequest, SendTrailingMetadata, listen
from grpclib.health.check import ServiceStatus
from grpclib.health.service import Health
from grpclib.health.v1 import health_pb2
from grpclib.reflection.service import ServerReflection
from grpclib.reflection.v1 import reflection_pb2
from grpclib.server import Server
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from .adapters.idempotency import IdempotencyKeyExpiry
from .adapters.invitations import render_invitation
from .adapters.mail import SqlMailStore
from .adapters.mail_dispatcher import MailDispatcher
from .adapters.outbox import OutboxPublisher
from .adapters.passes import FunctionPass
from .adapters.payments import OutcomeConsumer, PaymentDispatcher
from .adapters.postgres import SqlUnitOfWork, create_engine
from .adapters.reminder_scheduler import ReminderScheduler
from .adapters.signing import TokenSigner
from .domain import commands
from .domain import event_type_commands as et_cmds
from .domain.errors import InvalidArgument
from .domain.guests import ManageTokens
from .domain.identity import Passwords
from .domain.mail import MAIL_KIND_OF, Party
from .domain.model import Actor, Booking, LoggedEvent
from .entrypoints.event_types_grpc import EventTypeServicer
from .entrypoints.grpc_server import BookingServicer, CallGuard
from .entrypoints.identity_grpc import IdentityServicer, OrganisationServicer
from .entrypoints.mail_grpc import MailServicer
from .entrypoints.ticketing_grpc import TicketingServicer
from .service_layer.cursors import CursorCodec
from .service_layer.event_types import EventTypeService
from .service_layer.handlers import BookingRules, BookingService
from .service_layer.identity import IdentityService
from .service_layer.mail import MailRules, MailService
from .service_layer.organisations import OrganisationService
from .service_layer.ports import Clock, EventPublisher
from .service_layer.ticketing import (
    EXPIRY_BATCH,
    PaymentOutcome,
    TicketingRules,
    TicketingService,
)
from .settings import Settings

log = get_logger("booking_core")


def utc_now() -> datetime:
    """The production clock: aware UTC."""
    return datetime.now(UTC)


def _rules(settings: Settings) -> BookingRules:
    return BookingRules(
        reminder_lead=timedelta(seconds=settings.reminder_lead_seconds),
        max_duration=timedelta(seconds=settings.max_booking_duration_seconds),
    )


def build_service(
    engine: AsyncEngine, publisher: EventPublisher, settings: Settings, clock: Clock = utc_now
) -> BookingService:
    """The appointments service on PostgreSQL with the configured rules."""
    return BookingService(
        uow_factory=lambda: SqlUnitOfWork(engine),
        publisher=publisher,
        clock=clock,
        cursors=CursorCodec(settings.cursor_secret),
        rules=_rules(settings),
    )


def build_event_type_service(
    engine: AsyncEngine,
    publisher: EventPublisher,
    settings: Settings,
    bookings: BookingService,
    clock: Clock = utc_now,
) -> EventTypeService:
    """The event-types service on PostgreSQL; cancellations go through ``bookings``."""
    return EventTypeService(
        uow_factory=lambda: SqlUnitOfWork(engine),
        publisher=publisher,
        clock=clock,
        rules=_rules(settings),
        tokens=ManageTokens(settings.manage_token_secret),
        bookings=bookings,
    )


def build_identity_service(
    engine: AsyncEngine, settings: Settings, clock: Clock = utc_now
) -> IdentityService:
    """Sign-in and users on PostgreSQL, signing with the configured keys or secret."""
    return IdentityService(
        uow_factory=lambda: SqlUnitOfWork(engine),
        clock=clock,
        passwords=Passwords(),
        signer=TokenSigner(
            keys_dir=Path(settings.jwt_signing_keys_dir) if settings.jwt_signing_keys_dir else None,
            secret=settings.jwt_secret or None,
            issuer=settings.jwt_issuer or None,
            audience=settings.jwt_audience or None,
        ),
    )


class WakingPublisher:
    """The outbox publisher, plus a wake-up of the reminder scheduler when a new
    booking's reminder is due before the scheduler's next tick (so it fires on time),
    and of the mail dispatcher when an event sends mail (so it goes out at once)."""

    def __init__(
        self,
        outbox: EventPublisher,
        scheduler: ReminderScheduler,
        *,
        lead: timedelta,
        tick: timedelta,
        clock: Clock = utc_now,
        mail: MailDispatcher | None = None,
    ) -> None:
        self._outbox = outbox
        self._scheduler = scheduler
        self._lead = lead
        self._tick = tick
        self._clock = clock
        self._mail = mail

    def publish_committed(self, events: Sequence[LoggedEvent]) -> None:
        self._outbox.publish_committed(events)
        if self._mail is not None and any(
            event.type in MAIL_KIND_OF and not event.channel for event in events
        ):
            self._mail.wake()
        soon = self._clock() + self._tick + self._lead
        for event in events:
            if event.type == BOOKING_CREATED and (
                datetime.fromisoformat(event.data["startTime"]) <= soon
            ):
                self._scheduler.wake()
                return


def build_ticketing_service(
    engine: AsyncEngine,
    publisher: EventPublisher,
    settings: Settings,
    *,
    wake_payments: Callable[[], None] = lambda: None,
    clock: Clock = utc_now,
) -> TicketingService:
    """Venues, events, holds and payments on PostgreSQL with the configured limits."""
    return TicketingService(
        uow_factory=lambda: SqlUnitOfWork(engine),
        publisher=publisher,
        clock=clock,
        rules=TicketingRules(
            hold_ttl=timedelta(seconds=settings.hold_ttl_seconds),
            max_seats=settings.max_seats_per_booking,
        ),
        tokens=ManageTokens(settings.manage_token_secret),
        wake_payments=wake_payments,
    )


def outcome_applier(
    service: TicketingService,
) -> Callable[[dict[str, Any]], Coroutine[Any, Any, None]]:
    """What the outcome consumer runs per message: a malformed one is logged and
    dropped (no retry can help); anything else that fails is retried by dramatiq."""

    async def apply(body: dict[str, Any]) -> None:
        try:
            outcome = PaymentOutcome.from_message(body)
        except InvalidArgument as exc:
            log.error("payments.malformed_outcome", error=exc.message)
            return
        await service.apply_outcome(outcome)

    return apply


def build_mail_service(
    engine: AsyncEngine,
    settings: Settings,
    bookings: BookingService,
    event_types: EventTypeService,
    clock: Clock = utc_now,
) -> MailService:
    """The mail use cases on PostgreSQL; visibility is the bookings' and guests' rules."""

    async def get_booking(actor: Actor, booking_id: UUID) -> Booking:
        return await bookings.get_booking(commands.GetBooking(actor, booking_id))

    async def get_guest_booking(reference: str, token: str) -> Booking:
        view = await event_types.get_guest_booking(
            et_cmds.GetGuestBooking(Actor.guest(), reference, token)
        )
        return view.booking

    name, address = settings.mail_from
    return MailService(
        store=SqlMailStore(engine),
        clock=clock,
        rules=MailRules(
            sender=Party(address, name),
            claim_lease=timedelta(seconds=settings.mail_claim_lease_seconds),
        ),
        render=render_invitation,
        get_booking=get_booking,
        get_guest_booking=get_guest_booking,
        get_manage_token=event_types.get_manage_token,
    )


def _reflection_pool() -> DescriptorPool:
    """Our descriptor pool, plus the health and reflection protos so they describe too."""
    pool = default_google_proto_descriptor_pool
    for module in (health_pb2, reflection_pb2):
        try:
            pool.FindFileByName(module.DESCRIPTOR.name)
        except KeyError:
            pool.AddSerializedFile(module.DESCRIPTOR.serialized_pb)
    return pool


async def _within(seconds: float, waiting: Coroutine[Any, Any, None]) -> bool:
    """Await ``waiting`` for at most ``seconds``; True if it finished in time."""
    try:
        async with asyncio.timeout(seconds):
            await waiting
    except TimeoutError:
        return False
    return True


async def serve(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """Run booking-core until SIGTERM/SIGINT (or ``stop`` is set), then drain and close.

    Draining: health turns NOT_SERVING, new calls get UNAVAILABLE, in-flight
    calls get up to ``shutdown_grace_seconds`` to finish, then the server closes.
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
    redis = Redis.from_url(settings.redis_url, socket_connect_timeout=1.0, socket_timeout=2.0)
    outbox = OutboxPublisher(
        redis, engine, relay_min_age=timedelta(seconds=settings.outbox_relay_min_age_seconds)
    )
    broker = RedisBroker(  # type: ignore[no-untyped-call]
        url=settings.redis_url,
        middleware=[TracingMiddleware()],  # enqueues carry the trace context
        socket_connect_timeout=1.0,
        socket_timeout=2.0,
    )
    scheduler = ReminderScheduler(
        engine,
        broker,
        utc_now,
        horizon=timedelta(seconds=settings.reminder_horizon_seconds),
        redeliver_after=timedelta(seconds=settings.reminder_redelivery_seconds),
    )
    mail = MailDispatcher(
        engine,
        broker,
        utc_now,
        redeliver_after=timedelta(seconds=settings.mail_redelivery_seconds),
    )
    publisher = WakingPublisher(
        outbox,
        scheduler,
        lead=timedelta(seconds=settings.reminder_lead_seconds),
        tick=timedelta(seconds=settings.reminder_scheduler_interval_seconds),
        mail=mail,
    )
    payments = PaymentDispatcher(
        engine,
        broker,
        utc_now,
        redeliver_after=timedelta(seconds=settings.payment_redelivery_seconds),
    )
    tickets = build_ticketing_service(engine, publisher, settings, wake_payments=payments.wake)
    expiry = FunctionPass("tickets", tickets.expire_due, batch=EXPIRY_BATCH)
    keys = IdempotencyKeyExpiry(
        engine, utc_now, retention=timedelta(hours=settings.idempotency_key_retention_hours)
    )
    key_expiry = FunctionPass("idempotency_keys", keys.expire_once, batch=keys.batch)
    outcomes = OutcomeConsumer(
        settings.redis_url, outcome_applier(tickets), threads=settings.payment_outcome_threads
    )
    guard = CallGuard(settings.internal_token)
    bookings = build_service(engine, publisher, settings)
    event_types = build_event_type_service(engine, publisher, settings, bookings)
    servicers: list[Any] = [  # grpclib's IServable and ICheckable
        BookingServicer(bookings, guard),
        EventTypeServicer(event_types, guard),
        MailServicer(build_mail_service(engine, settings, bookings, event_types), guard),
        TicketingServicer(tickets, guard),
        IdentityServicer(build_identity_service(engine, settings), guard),
        OrganisationServicer(OrganisationService(lambda: SqlUnitOfWork(engine), utc_now), guard),
    ]
    serving = ServiceStatus()
    serving.set(True)
    services = ServerReflection.extend(
        [*servicers, Health({servicer: [serving] for servicer in servicers})],
        pool=_reflection_pool(),
    )
    server = Server(services)
    listen(server, RecvRequest, guard.on_recv_request)
    listen(server, SendTrailingMetadata, guard.on_send_trailing_metadata)

    tasks = [
        asyncio.create_task(outbox.run(), name="outbox-drain"),
        asyncio.create_task(
            outbox.run_relay(settings.outbox_relay_interval_seconds), name="outbox-relay"
        ),
        asyncio.create_task(
            scheduler.run(settings.reminder_scheduler_interval_seconds),
            name="reminder-scheduler",
        ),
        asyncio.create_task(
            mail.run(settings.mail_dispatch_interval_seconds), name="mail-dispatch"
        ),
        asyncio.create_task(
            payments.run(settings.payment_dispatch_interval_seconds), name="payment-dispatch"
        ),
        asyncio.create_task(
            expiry.run(settings.ticket_expiry_interval_seconds), name="ticket-expiry"
        ),
        asyncio.create_task(
            key_expiry.run(settings.idempotency_cleanup_interval_seconds),
            name="idempotency-key-expiry",
        ),
    ]
    outcomes.start()
    try:
        await server.start(settings.grpc_host, settings.grpc_port)
        log.info("booking_core.started", host=settings.grpc_host, port=settings.grpc_port)
        await stop.wait()
        log.info("booking_core.draining", inFlight=guard.in_flight)
        guard.draining = True
        serving.set(False)
        drained = await _within(settings.shutdown_grace_seconds, guard.wait_idle())
        server.close()
        await server.wait_closed()
        await _within(2.0, outbox.join())
        log.info("booking_core.stopped", drained=drained)
    finally:
        # The consumer's threads apply messages on this loop: stop them off it.
        await asyncio.to_thread(outcomes.stop)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await redis.aclose()
        broker.close()
        await engine.dispose()
