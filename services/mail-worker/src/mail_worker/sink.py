"""A development SMTP sink: ``python -m mail_worker.sink`` accepts every message on
``SMTP_HOST:SMTP_PORT`` (127.0.0.1:1025 by default), stores it under
``MAIL_SINK_DIR`` (``var/mail`` by default) and logs one line per message.

Each message is written twice over: ``<stamp>-<n>.eml``, the message exactly as
received (open it with any mail client), and a folder ``<stamp>-<n>/`` with its
attachments, such as ``invite.ics``. Never use it in production: it accepts
mail from anyone who can reach the port, and delivers none. It needs ``aiosmtpd``,
which the development install (``make install``) has and the worker's image does not.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import os
import re
import signal
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from bookings_common.logging import configure_logging, get_logger

from .policy import DEFAULT_POLICY

log = get_logger("mail_sink")
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class StoringHandler:
    """aiosmtpd handler writing each message (and its attachments) under ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._numbers = itertools.count(1)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        if isinstance(envelope.content, bytes):
            raw = envelope.content
        name = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{next(self._numbers):04d}"
        path, message, attachments = await asyncio.to_thread(self.store, name, raw)
        log.info(
            "mail.stored",
            path=str(path),
            to=envelope.rcpt_tos,
            subject=str(message.get("Subject", "")),
            messageId=str(message.get("Message-ID", "")),
            attachments=attachments,
        )
        return "250 Message accepted for delivery"

    def store(self, name: str, raw: bytes) -> tuple[Path, EmailMessage, list[str]]:
        """Write ``<name>.eml`` and ``<name>/<attachment>``; return the path, the parsed
        message and the attachments' relative paths."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{name}.eml"
        path.write_bytes(raw)
        message = message_from_bytes(raw, policy=DEFAULT_POLICY)
        assert isinstance(message, EmailMessage)  # the default policy builds EmailMessage
        attachments = []
        for part in message.iter_attachments():
            filename = _SAFE.sub("_", part.get_filename() or "attachment")[:100]
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                (self.folder / name).mkdir(exist_ok=True)
                (self.folder / name / filename).write_bytes(payload)
                attachments.append(f"{name}/{filename}")
        return path, message, attachments


async def serve(host: str, port: int, folder: Path, *, stop: asyncio.Event) -> None:
    handler = StoringHandler(folder)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="mail-sink", data_size_limit=10 * 1024 * 1024),
        host=host,
        port=port,
    )
    log.info("mail_sink.started", host=host, port=port, folder=str(folder))
    await stop.wait()
    server.close()
    with contextlib.suppress(Exception):
        await server.wait_closed()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default=os.environ.get("SMTP_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("SMTP_PORT", "1025")))
    parser.add_argument("--dir", default=os.environ.get("MAIL_SINK_DIR", "var/mail"))
    args = parser.parse_args(argv)
    configure_logging("mail-sink", os.environ.get("LOG_LEVEL", "INFO"))
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command
    folder = Path(args.dir).absolute()

    async def run() -> None:
        stop = asyncio.Event()
        loop: Any = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await serve(args.host, args.port, folder, stop=stop)

    asyncio.run(run())


if __name__ == "__main__":
    main()
