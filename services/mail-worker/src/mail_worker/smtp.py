"""Sending over SMTP with ``aiosmtplib``, sorting failures into retry or give up.

RFC 5321, section 4.2.1: a 4yz reply is a transient failure (try again later),
a 5yz reply a permanent one for this message. Connection errors and timeouts
are transient. A refused login (535) or a refused sender is also treated as
transient: it is the server's configuration, not the message, that is wrong,
and mail should flow again once it is fixed rather than be given up.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Final

import aiosmtplib

from .settings import Settings, SmtpTls


class SmtpFailure(Exception):
    """The message was not accepted; ``permanent`` for a 5yz reply about the message."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


def _describe(exc: aiosmtplib.SMTPResponseException) -> str:
    return f"{exc.code} {exc.message}".strip()


# Messages one connection carries before it is closed and a new one opened: some
# providers limit messages per connection, and a fresh one renews the TLS session.
MESSAGES_PER_CONNECTION: Final = 100
# QUIT on a connection being retired: at most this long, in the background.
QUIT_TIMEOUT_SECONDS: Final = 5.0


@dataclass(slots=True, eq=False)
class _Connection:
    client: aiosmtplib.SMTP
    loop: asyncio.AbstractEventLoop
    sent: int = 0
    idle_timer: asyncio.TimerHandle | None = None


def _server_closed(exc: BaseException) -> bool:
    """The server closed the connection: gone (RFC 5321, section 4.5.3.2.7: servers close
    idle ones) or ``421`` (closing the transmission channel)."""
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return exc.code == 421
    return isinstance(exc, ConnectionError)


class SmtpMailer:
    """``delivery.Mailer`` keeping SMTP connections open between messages.

    A message goes out on the connection used last, or on a new one (connect, EHLO,
    STARTTLS or TLS, login) when none is idle: there are as many connections as
    messages being sent at once. After a message is accepted its connection waits
    ``smtp_keepalive_seconds`` for the next one, then QUITs; it also QUITs after
    ``MESSAGES_PER_CONNECTION`` messages and after any failure. With keepalive 0
    every message has a connection of its own. A message whose reused connection
    turns out to be closed by the server (idle too long, ``421``) is sent once more
    on a new connection (a server that dropped it after taking the whole message may
    so get it twice, with the same Message-ID, as after any redelivery); a failure
    there is reported as usual. Use it from one event
    loop at a time (the worker's); connections of another loop are not reused.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._idle: list[_Connection] = []
        self._quitting: set[asyncio.Task[None]] = set()

    async def send(self, message: EmailMessage) -> None:
        """Send ``message``; raises ``SmtpFailure``."""
        try:
            await self._send(message)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [refused.code for refused in exc.recipients]
            detail = "; ".join(_describe(refused) for refused in exc.recipients)
            raise SmtpFailure(detail, permanent=all(500 <= c < 600 for c in codes)) from None
        except (aiosmtplib.SMTPAuthenticationError, aiosmtplib.SMTPSenderRefused) as exc:
            raise SmtpFailure(_describe(exc), permanent=False) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise SmtpFailure(_describe(exc), permanent=500 <= exc.code < 600) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise SmtpFailure(f"{type(exc).__name__}: {exc}", permanent=False) from None

    @property
    def idle_connections(self) -> int:
        """How many connections wait for the next message."""
        return len(self._idle)

    async def close(self) -> None:
        """QUIT every idle connection (and wait for those already quitting)."""
        while self._idle:
            self._retire(self._idle.pop())
        if self._quitting:
            await asyncio.gather(*self._quitting, return_exceptions=True)

    async def _send(self, message: EmailMessage) -> None:
        reused = self._take()
        if reused is not None:
            try:
                await reused.client.send_message(message)
            except Exception as exc:
                self._retire(reused)
                if not _server_closed(exc):
                    raise
            else:
                self._keep(reused)
                return
        s = self._settings
        connection = _Connection(
            aiosmtplib.SMTP(
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username or None,
                password=s.smtp_password or None,
                use_tls=s.smtp_tls is SmtpTls.TLS,
                start_tls=s.smtp_tls is SmtpTls.STARTTLS,
                timeout=s.smtp_timeout_seconds,
            ),
            asyncio.get_running_loop(),
        )
        try:
            await connection.client.connect()
            await connection.client.send_message(message)
        except BaseException:
            self._retire(connection)
            raise
        self._keep(connection)

    def _take(self) -> _Connection | None:
        """The idle connection used last that is still open, if any."""
        loop = asyncio.get_running_loop()
        while self._idle:
            connection = self._idle.pop()
            if connection.idle_timer is not None:
                connection.idle_timer.cancel()
                connection.idle_timer = None
            if connection.loop is not loop:  # another loop's: not ours to use or close
                continue
            if connection.client.is_connected:
                return connection
            connection.client.close()
        return None

    def _keep(self, connection: _Connection) -> None:
        """After a message was accepted: idle until the next, or QUIT."""
        connection.sent += 1
        keepalive = self._settings.smtp_keepalive_seconds
        if keepalive <= 0 or connection.sent >= MESSAGES_PER_CONNECTION:
            self._retire(connection)
            return
        connection.idle_timer = connection.loop.call_later(keepalive, self._expire, connection)
        self._idle.append(connection)

    def _expire(self, connection: _Connection) -> None:
        if connection in self._idle:
            self._idle.remove(connection)
            self._retire(connection)

    def _retire(self, connection: _Connection) -> None:
        """QUIT ``connection`` in the background (just close it if it cannot)."""
        if not connection.client.is_connected:
            connection.client.close()
            return
        task = connection.loop.create_task(self._quit(connection.client))
        self._quitting.add(task)
        task.add_done_callback(self._quitting.discard)

    @staticmethod
    async def _quit(client: aiosmtplib.SMTP) -> None:
        try:
            with contextlib.suppress(Exception):  # the server may be gone: close anyway
                await client.quit(timeout=QUIT_TIMEOUT_SECONDS)
        finally:
            client.close()
