"""Sending over SMTP with ``aiosmtplib``, sorting failures into retry or give up.

RFC 5321, section 4.2.1: a 4yz reply is a transient failure (try again later),
a 5yz reply a permanent one for this message. Connection errors and timeouts
are transient. A refused login (535) or a refused sender is also treated as
transient: it is the server's configuration, not the message, that is wrong,
and mail should flow again once it is fixed rather than be given up.
"""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib

from .settings import Settings, SmtpTls


class SmtpFailure(Exception):
    """The message was not accepted; ``permanent`` for a 5yz reply about the message."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


def _describe(exc: aiosmtplib.SMTPResponseException) -> str:
    return f"{exc.code} {exc.message}".strip()


class SmtpMailer:
    """``delivery.Mailer`` on one SMTP connection per message."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def send(self, message: EmailMessage) -> None:
        """Send ``message``; raises ``SmtpFailure``."""
        s = self._settings
        try:
            await aiosmtplib.send(
                message,
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username or None,
                password=s.smtp_password or None,
                use_tls=s.smtp_tls is SmtpTls.TLS,
                start_tls=s.smtp_tls is SmtpTls.STARTTLS,
                timeout=s.smtp_timeout_seconds,
            )
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
