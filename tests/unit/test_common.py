"""bookings_common: the event envelope, request ids, gRPC helpers, settings loading."""

from __future__ import annotations

import json
import pathlib
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from booking_core.settings import Settings
from bookings_common.events import EVENT_TYPES, EventEnvelope, format_time
from bookings_common.grpc import ERROR_DOMAIN, error, error_reason, parse_target
from bookings_common.logging import sane_request_id
from bookings_common.settings import load_or_exit
from environs import Env
from google.rpc.error_details_pb2 import ErrorInfo
from grpclib.const import Status
from grpclib.exceptions import GRPCError

# --- events ---------------------------------------------------------------------------

ENVELOPE = EventEnvelope(
    id=42,
    type="booking.created",
    occurred_at=datetime(2030, 1, 7, 9, 30, 15, 123456, tzinfo=UTC),
    data={"bookingId": str(uuid.uuid4()), "status": "confirmed", "nested": {"n": [1, 2]}},
)


def test_envelope_wire_shape() -> None:
    wire = json.loads(ENVELOPE.to_json())

    assert set(wire) == {"id", "type", "occurredAt", "data"}
    assert wire["id"] == "42"
    assert wire["type"] == "booking.created"
    assert wire["occurredAt"] == "2030-01-07T09:30:15.123456Z"
    assert wire["data"] == ENVELOPE.data
    assert ", " not in ENVELOPE.to_json()  # compact separators
    assert ": " not in ENVELOPE.to_json()
    assert ENVELOPE.to_dict() == wire


def test_envelope_round_trip() -> None:
    assert EventEnvelope.from_json(ENVELOPE.to_json()) == ENVELOPE
    assert EventEnvelope.from_json(ENVELOPE.to_json().encode()) == ENVELOPE


def test_envelope_time_is_utc_with_z_even_from_another_offset() -> None:
    local = datetime(2030, 1, 7, 11, 30, tzinfo=timezone(timedelta(hours=2)))
    envelope = EventEnvelope(1, "booking.cancelled", local, {})

    wire = envelope.to_dict()

    assert wire["occurredAt"] == "2030-01-07T09:30:00Z"
    assert EventEnvelope.from_json(envelope.to_json()).occurred_at == local


def test_format_time_uses_z() -> None:
    assert format_time(datetime(2030, 1, 1, tzinfo=UTC)) == "2030-01-01T00:00:00Z"
    assert format_time(datetime(2030, 1, 1, 1, tzinfo=timezone(timedelta(hours=1)))) == (
        "2030-01-01T00:00:00Z"
    )


def test_event_types() -> None:
    assert sorted(EVENT_TYPES) == [
        "booking.cancelled",
        "booking.confirmed",
        "booking.created",
        "booking.expired",
        "booking.held",
        "booking.reminder.due",
        "seat.availability",
        "slot.availability",
    ]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("not json", id="not-json"),
        pytest.param("[]", id="array"),
        pytest.param('"x"', id="string"),
        pytest.param("null", id="null"),
        pytest.param('{"type": "booking.created"}', id="missing-fields"),
        pytest.param(
            '{"id": "1", "type": "t", "occurredAt": "2030-01-01T00:00:00Z"}', id="no-data"
        ),
        pytest.param(
            '{"id": "x", "type": "t", "occurredAt": "2030-01-01T00:00:00Z", "data": {}}',
            id="id-not-a-number",
        ),
        pytest.param(
            '{"id": "0", "type": "t", "occurredAt": "2030-01-01T00:00:00Z", "data": {}}',
            id="id-zero",
        ),
        pytest.param(
            '{"id": "-3", "type": "t", "occurredAt": "2030-01-01T00:00:00Z", "data": {}}',
            id="id-negative",
        ),
        pytest.param(
            '{"id": "1", "type": "t", "occurredAt": "2030-01-01T00:00:00", "data": {}}',
            id="naive-time",
        ),
        pytest.param(
            '{"id": "1", "type": "t", "occurredAt": "yesterday", "data": {}}', id="bad-time"
        ),
        pytest.param('{"id": "1", "type": "t", "occurredAt": 5, "data": {}}', id="time-number"),
        pytest.param(
            '{"id": "1", "type": "t", "occurredAt": "2030-01-01T00:00:00Z", "data": 7}',
            id="data-number",
        ),
        pytest.param(
            '{"id": "1", "type": "t", "occurredAt": "2030-01-01T00:00:00Z", "data": "ab"}',
            id="data-string",
        ),
        pytest.param(b"\xff\xfe", id="not-utf8"),
        pytest.param(
            '{"id": 1.9, "type": "t", "occurredAt": "2030-01-01T00:00:00Z", "data": {}}',
            id="id-float",
        ),
        pytest.param(
            '{"id": "1", "type": null, "occurredAt": "2030-01-01T00:00:00Z", "data": {}}',
            id="type-null",
        ),
        pytest.param(
            '{"id": "1", "type": "t", "occurredAt": "2030-01-01T00:00:00Z", "data": [["a", 1]]}',
            id="data-pairs",
        ),
    ],
)
def test_from_json_rejects_garbage(text: str | bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the documented contract is ValueError
        EventEnvelope.from_json(text)


# --- request ids ----------------------------------------------------------------------


@pytest.mark.parametrize("candidate", ["abc", "req-1.2:3_4", str(uuid.uuid4()), "A" * 128, "0"])
def test_sane_request_ids_are_kept(candidate: str) -> None:
    assert sane_request_id(candidate) == candidate


@pytest.mark.parametrize(
    "candidate",
    [None, "", "has space", "new\nline", "\nleading", "tab\tbed", "A" * 129, 'quote"', "é"],
)
def test_insane_request_ids_are_replaced_by_a_uuid4(candidate: str | None) -> None:
    replaced = sane_request_id(candidate)
    assert replaced != candidate
    assert uuid.UUID(replaced).version == 4
    assert sane_request_id(candidate) != replaced  # a fresh id each time


@pytest.mark.parametrize("candidate", ["abc\n", "A" * 128 + "\n"])
def test_a_trailing_newline_is_not_sane(candidate: str) -> None:
    assert sane_request_id(candidate) != candidate


# --- gRPC helpers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (Status.NOT_FOUND, "NOT_FOUND"),
        (Status.FAILED_PRECONDITION, "IDEMPOTENCY_KEY_REUSED"),
        (Status.FAILED_PRECONDITION, "BOOKING_NOT_CANCELLABLE"),
    ],
)
def test_error_reason_round_trip(status: Status, reason: str) -> None:
    exc = error(status, reason, "human readable")

    assert isinstance(exc, GRPCError)
    assert exc.status is status
    assert exc.message == "human readable"
    assert error_reason(exc) == reason


def test_error_reason_is_none_without_our_error_info() -> None:
    assert error_reason(GRPCError(Status.INTERNAL, "internal error")) is None
    foreign = GRPCError(Status.INTERNAL, "x", [ErrorInfo(reason="OTHER", domain="example.com")])
    assert error_reason(foreign) is None
    mixed = GRPCError(
        Status.INTERNAL,
        "x",
        [
            ErrorInfo(reason="OTHER", domain="example.com"),
            ErrorInfo(reason="OURS", domain=ERROR_DOMAIN),
        ],
    )
    assert error_reason(mixed) == "OURS"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("host:1", ("host", 1)),
        ("booking-core:50051", ("booking-core", 50051)),
        ("127.0.0.1:65535", ("127.0.0.1", 65535)),
        ("[::1]:50051", ("::1", 50051)),
        ("[2001:db8::7]:443", ("2001:db8::7", 443)),
    ],
)
def test_parse_target_accepts_host_port(target: str, expected: tuple[str, int]) -> None:
    assert parse_target(target) == expected


@pytest.mark.parametrize(
    "target",
    ["", "host", "host:", ":50051", "host:0", "host:65536", "host:http", "host:-1", "host: 1"],
)
def test_parse_target_rejects_malformed_targets(target: str) -> None:
    with pytest.raises(ValueError, match="host:port"):
        parse_target(target)


def test_parse_target_rejects_an_empty_bracketed_host() -> None:
    with pytest.raises(ValueError, match="host:port"):
        parse_target("[]:50051")


# --- settings -------------------------------------------------------------------------

SETTINGS_VARS = [
    "DATABASE_URL",
    "REDIS_URL",
    "INTERNAL_TOKEN",
    "CURSOR_SECRET",
    "GRPC_HOST",
    "GRPC_PORT",
    "REMINDER_LEAD_SECONDS",
    "MAX_BOOKING_DURATION_SECONDS",
    "DB_POOL_SIZE",
    "OUTBOX_RELAY_INTERVAL_SECONDS",
    "OUTBOX_RELAY_MIN_AGE_SECONDS",
    "SHUTDOWN_GRACE_SECONDS",
    "LOG_LEVEL",
]
GOOD_URL = "postgresql://bookings@db:5432/bookings"
GOOD_TOKEN = "t" * 16


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in SETTINGS_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_settings_load_with_defaults(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("DATABASE_URL", GOOD_URL)
    clean_env.setenv("INTERNAL_TOKEN", GOOD_TOKEN)

    settings = load_or_exit(Settings.from_env, env=Env())

    assert settings.database_url == "postgresql+asyncpg://bookings@db:5432/bookings"
    assert settings.internal_token == GOOD_TOKEN
    assert (settings.grpc_port, settings.reminder_lead_seconds) == (50051, 600)
    assert settings.max_booking_duration_seconds == 8 * 3600
    assert len(settings.cursor_secret) == 32  # derived from the token
    assert settings.cursor_secret != GOOD_TOKEN.encode()


def test_the_derived_cursor_secret_depends_only_on_the_token(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("DATABASE_URL", GOOD_URL)
    clean_env.setenv("INTERNAL_TOKEN", GOOD_TOKEN)
    one = Settings.from_env(Env())
    two = Settings.from_env(Env())
    clean_env.setenv("INTERNAL_TOKEN", "u" * 16)
    other = Settings.from_env(Env())
    assert one.cursor_secret == two.cursor_secret != other.cursor_secret


@pytest.mark.parametrize(
    ("env", "named"),
    [
        pytest.param({"INTERNAL_TOKEN": GOOD_TOKEN}, "DATABASE_URL", id="no-database-url"),
        pytest.param(
            {"DATABASE_URL": "mysql://x@db/bookings", "INTERNAL_TOKEN": GOOD_TOKEN},
            "DATABASE_URL",
            id="not-postgres",
        ),
        pytest.param({"DATABASE_URL": GOOD_URL}, "INTERNAL_TOKEN", id="no-token"),
        pytest.param(
            {"DATABASE_URL": GOOD_URL, "INTERNAL_TOKEN": "t" * 15},
            "INTERNAL_TOKEN",
            id="short-token",
        ),
        pytest.param(
            {"DATABASE_URL": GOOD_URL, "INTERNAL_TOKEN": GOOD_TOKEN, "GRPC_PORT": "70000"},
            "GRPC_PORT",
            id="bad-port",
        ),
        pytest.param(
            {"DATABASE_URL": GOOD_URL, "INTERNAL_TOKEN": GOOD_TOKEN, "CURSOR_SECRET": "short"},
            "CURSOR_SECRET",
            id="short-cursor-secret",
        ),
    ],
)
def test_load_or_exit_prints_one_line_naming_the_setting(
    clean_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    named: str,
) -> None:
    for name, value in env.items():
        clean_env.setenv(name, value)

    with pytest.raises(SystemExit) as info:
        load_or_exit(Settings.from_env, env=Env())

    assert info.value.code == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("configuration error: ")
    assert named in lines[0]
    assert "Traceback" not in captured.err


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DB_POOL_SIZE", "0"),
        ("OUTBOX_RELAY_INTERVAL_SECONDS", "0"),
        ("SHUTDOWN_GRACE_SECONDS", "-1"),
    ],
)
def test_non_positive_pool_and_intervals_are_configuration_errors(
    clean_env: pytest.MonkeyPatch, name: str, value: str
) -> None:
    clean_env.setenv("DATABASE_URL", GOOD_URL)
    clean_env.setenv("INTERNAL_TOKEN", GOOD_TOKEN)
    clean_env.setenv(name, value)
    with pytest.raises(SystemExit):
        load_or_exit(Settings.from_env, env=Env())


def test_dotenv_is_read_from_the_working_directory_only_and_never_overrides(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bookings_common.settings import new_env

    (tmp_path / "with").mkdir()
    (tmp_path / "with" / ".env").write_text("DOTENV_PROBE_A=from-file\nDOTENV_PROBE_B=from-file\n")
    (tmp_path / "with" / "nested").mkdir()
    monkeypatch.delenv("DOTENV_PROBE_A", raising=False)
    monkeypatch.setenv("DOTENV_PROBE_B", "from-environment")

    monkeypatch.chdir(tmp_path / "with" / "nested")  # a parent's .env is not searched
    assert new_env().str("DOTENV_PROBE_A", "unset") == "unset"

    monkeypatch.chdir(tmp_path / "with")
    env = new_env()
    assert env.str("DOTENV_PROBE_A") == "from-file"
    assert env.str("DOTENV_PROBE_B") == "from-environment"
    monkeypatch.delenv("DOTENV_PROBE_A", raising=False)  # read_env wrote it into os.environ
