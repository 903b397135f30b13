"""The mail actor. Import ``mail_worker.broker`` (which imports this module) rather than
this module directly, so the actor registers on the right broker."""

from __future__ import annotations

import dramatiq
import structlog
from bookings_common.jobs import MAIL_ACTOR, MAIL_QUEUE, mail_job_id
from bookings_common.logging import REQUEST_ID_KEY

from .broker import clients, settings
from .compose import Sender, compose
from .delivery import RetryLater, deliver
from .smtp import SmtpMailer

# One job sends a message or two; each SMTP step has SMTP_TIMEOUT_SECONDS.
TIME_LIMIT_MS = max(60_000, round(settings.smtp_timeout_seconds * 1000 * 6))
# With backoff doubling from 1 s up to MAIL_RETRY_MAX_BACKOFF_SECONDS, 30 retries
# span about half an hour by default; after that booking-core's dispatcher hands
# the job out again (MAIL_REDELIVERY_SECONDS), so mail is never dropped.
MAX_RETRIES = 30

_mailer = SmtpMailer(settings)
_sender = Sender(
    name=settings.mail_from[0],
    address=settings.mail_from[1],
    public_base_url=settings.public_base_url,
)


@dramatiq.actor(
    queue_name=MAIL_QUEUE,
    actor_name=MAIL_ACTOR,
    time_limit=TIME_LIMIT_MS,
    max_retries=MAX_RETRIES,
    min_backoff=1_000,
    max_backoff=round(settings.mail_retry_max_backoff_seconds * 1000),
)
async def send_mail(event_id: int) -> None:
    """Send the mail of event ``event_id`` (see ``delivery.deliver``)."""
    core = clients.open()
    with structlog.contextvars.bound_contextvars(**{REQUEST_ID_KEY: mail_job_id(event_id)}):
        try:
            await deliver(
                core,
                _mailer,
                lambda job, recipient, message_id: compose(job, recipient, message_id, _sender),
                event_id,
            )
        except RetryLater as exc:  # expected while SMTP is down: retried, no traceback
            raise dramatiq.Retry(str(exc)) from None
