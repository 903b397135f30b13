"""The mail worker's SMTP connections (``mail_worker.smtp.SmtpMailer``) against a real
SMTP server (aiosmtpd in a thread of its own): reused between messages, retired when
idle, after a failure or after ``MESSAGES_PER_CONNECTION``, and a connection the
server closed meanwhile costs no message."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from bookings_common.settings import load_or_exit
from environs import Env
from mail_worker import smtp
from mail_worker.settings import Settings
from mail_worker.smtp import SmtpFailure, SmtpMailer

from .harness import free_port


@dataclass
class Server:
    """Every accepted message with the client port it came from; ``refuse`` answers
    RCPT TO for an address."""

    port: int = field(default_factory=free_port)
    received: list[tuple[int, str]] = field(default_factory=list)
    quits: int = 0
    refuse: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    controller: Controller | None = None

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: object
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            self.received.append((session.peer[1], envelope.rcpt_tos[0]))
        return "250 Message accepted for delivery"

    async def handle_QUIT(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            self.quits += 1
        return "221 Bye"

    def start(self) -> None:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def connections(self) -> int:
        with self.lock:
            return len({peer for peer, _ in self.received})

    def recipients(self) -> list[str]:
        with self.lock:
            return [to for _, to in self.received]


@pytest.fixture
def server() -> Iterator[Server]:
    running = Server()
    running.start()
    yield running
    running.stop()


def mailer(server: Server, keepalive: float = 30.0) -> SmtpMailer:
    return SmtpMailer(
        Settings(
            redis_url="redis://127.0.0.1:6379/0",
            internal_token="x" * 32,
            smtp_port=server.port,
            smtp_timeout_seconds=3.0,
            smtp_keepalive_seconds=keepalive,
        )
    )


def message(to: str) -> EmailMessage:
    built = EmailMessage()
    built["From"] = "bookings@mail.example"
    built["To"] = to
    built["Subject"] = f"to {to}"
    built.set_content("hello")
    return built


async def test_messages_one_after_another_share_one_connection(server: Server) -> None:
    sender = mailer(server)
    for n in range(5):
        await sender.send(message(f"guest{n}@example.com"))
    assert server.recipients() == [f"guest{n}@example.com" for n in range(5)]
    assert server.connections() == 1
    assert sender.idle_connections == 1
    await sender.close()
    assert sender.idle_connections == 0
    assert server.quits == 1


async def test_messages_at_once_open_a_connection_each_and_then_reuse_them(
    server: Server,
) -> None:
    sender = mailer(server)
    await asyncio.gather(*(sender.send(message(f"a{n}@example.com")) for n in range(4)))
    opened = server.connections()
    assert 1 <= opened <= 4 and sender.idle_connections == opened
    await asyncio.gather(*(sender.send(message(f"b{n}@example.com")) for n in range(4)))
    assert server.connections() == opened
    assert sorted(server.recipients()) == sorted(
        [f"a{n}@example.com" for n in range(4)] + [f"b{n}@example.com" for n in range(4)]
    )
    await sender.close()


async def test_keepalive_zero_is_a_connection_per_message_each_ended_with_quit(
    server: Server,
) -> None:
    sender = mailer(server, keepalive=0)
    for n in range(3):
        await sender.send(message(f"guest{n}@example.com"))
    await sender.close()  # waits for the QUITs under way
    assert server.connections() == 3
    assert server.quits == 3
    assert sender.idle_connections == 0


async def test_an_idle_connection_quits_after_the_keepalive(server: Server) -> None:
    sender = mailer(server, keepalive=0.2)
    await sender.send(message("first@example.com"))
    assert sender.idle_connections == 1
    await asyncio.sleep(0.6)
    assert sender.idle_connections == 0
    assert server.quits == 1
    await sender.send(message("second@example.com"))
    assert server.connections() == 2
    await sender.close()


async def test_a_connection_carries_at_most_messages_per_connection(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(smtp, "MESSAGES_PER_CONNECTION", 2)
    sender = mailer(server)
    for n in range(5):
        await sender.send(message(f"guest{n}@example.com"))
    await sender.close()
    assert server.connections() == 3
    assert len(server.recipients()) == 5


async def test_a_server_restarted_between_messages_costs_no_message(server: Server) -> None:
    sender = mailer(server)
    await sender.send(message("before@example.com"))
    server.stop()
    server.start()  # the idle connection is gone with the old server
    await sender.send(message("after@example.com"))
    assert server.recipients() == ["before@example.com", "after@example.com"]
    assert server.connections() == 2
    await sender.close()


async def test_a_refused_recipient_is_reported_and_the_next_message_goes_out(
    server: Server,
) -> None:
    server.refuse["gone@example.com"] = "550 5.1.1 <gone>: mailbox unavailable"
    server.refuse["later@example.com"] = "451 4.3.0 try again later"
    sender = mailer(server)
    await sender.send(message("first@example.com"))
    with pytest.raises(SmtpFailure) as permanent:
        await sender.send(message("gone@example.com"))
    assert permanent.value.permanent and str(permanent.value).startswith("550 5.1.1")
    with pytest.raises(SmtpFailure) as transient:
        await sender.send(message("later@example.com"))
    assert not transient.value.permanent
    await sender.send(message("next@example.com"))
    assert server.recipients() == ["first@example.com", "next@example.com"]
    await sender.close()


async def test_no_server_is_a_transient_failure_and_leaves_nothing_idle(server: Server) -> None:
    sender = mailer(server)
    server.stop()
    with pytest.raises(SmtpFailure) as failure:
        await sender.send(message("nobody@example.com"))
    assert not failure.value.permanent
    assert sender.idle_connections == 0
    server.start()
    await sender.send(message("somebody@example.com"))
    assert server.recipients() == ["somebody@example.com"]
    await sender.close()


@pytest.mark.parametrize(("value", "kept"), [(None, 30.0), ("0", 0.0), ("300", 300.0)])
def test_the_keepalive_setting(
    monkeypatch: pytest.MonkeyPatch, value: str | None, kept: float
) -> None:
    monkeypatch.setenv("INTERNAL_TOKEN", "t" * 16)
    monkeypatch.delenv("SMTP_KEEPALIVE_SECONDS", raising=False)
    if value is not None:
        monkeypatch.setenv("SMTP_KEEPALIVE_SECONDS", value)
    assert Settings.from_env(Env()).smtp_keepalive_seconds == kept


@pytest.mark.parametrize("value", ["-1", "301", "soon"])
def test_a_bad_keepalive_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    monkeypatch.setenv("INTERNAL_TOKEN", "t" * 16)
    monkeypatch.setenv("SMTP_KEEPALIVE_SECONDS", value)
    with pytest.raises(SystemExit):
        load_or_exit(Settings.from_env, env=Env())
    assert "SMTP_KEEPALIVE_SECONDS" in capsys.readouterr().err
