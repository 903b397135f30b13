"""Gateway and bookings_web pieces without I/O: rate limits, client addresses, claims,
error mapping, input parsing, settings and the OpenAPI document."""

from __future__ import annotations

import asyncio
import ipaddress
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request
from bookings_common.grpc import error
from bookings_web.auth import JwtSettings, Principal, Role, issue_token, principal_from_claims
from bookings_web.client_ip import client_ip
from bookings_web.problems import AuthenticationFailed, ProblemError, ValidationFailed
from bookings_web.ratelimit import KeyedRateLimiter
from environs import Env
from gateway.openapi import build_spec
from gateway.schemas import CreateBookingRequest, ListBookingsQuery, field_errors
from gateway.settings import Settings
from gateway.upstream import camel_case, problem_from_grpc, rest_field
from grpclib.const import Status
from grpclib.exceptions import GRPCError
from marshmallow import ValidationError

CUSTOMER = "8133b53f-6451-5af0-b72b-ea0c7a71b115"
SECRET = "unit-test-secret-0123456789abcdef0123"


class FakeClock:
    """Stands in for time.monotonic and the event loop's clock, which aiolimiter reads."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fake_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Replace the running loop's clock (these tests run on a loop of their own)."""
    fake = FakeClock()
    monkeypatch.setattr(asyncio.get_running_loop(), "time", fake)
    return fake


@pytest.mark.asyncio(loop_scope="function")
async def test_rate_limiter_allows_the_limit_then_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = fake_clock(monkeypatch)
    limiter = KeyedRateLimiter(60)
    decisions = [await limiter.check("user:a") for _ in range(60)]
    assert all(d.allowed for d in decisions)
    assert [d.remaining for d in decisions[:3]] == [59, 58, 57]
    refused = await limiter.check("user:a")
    assert not refused.allowed
    assert refused.remaining == 0
    assert refused.retry_after_seconds == 1  # one request leaks per second at 60/min
    assert refused.reset_seconds == 60
    assert refused.headers()["Retry-After"] == "1"
    assert (await limiter.check("user:b")).allowed  # keys are independent

    clock.now += 1.0
    assert (await limiter.check("user:a")).allowed
    assert not (await limiter.check("user:a")).allowed


@pytest.mark.asyncio(loop_scope="function")
async def test_rate_limiter_drops_idle_keys_and_caps_the_map(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = fake_clock(monkeypatch)
    limiter = KeyedRateLimiter(10, max_keys=100)
    for number in range(100):
        await limiter.check(f"ip:{number}")
    assert len(limiter) == 100
    clock.now += 61  # all idle for a full period: drained, equivalent to new
    await limiter.check("ip:fresh")
    assert len(limiter) == 1

    for number in range(1000):  # a flood of distinct keys
        await limiter.check(f"ip:flood-{number}")
    assert len(limiter) == 100
    assert limiter.evictions == 901


def test_rate_limiter_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="positive"):
        KeyedRateLimiter(0)


TRUSTED = (ipaddress.ip_network("10.0.0.0/8"),)


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.5", None, "203.0.113.5"),
        ("203.0.113.5", "1.2.3.4", "203.0.113.5"),  # untrusted peer: header ignored
        ("10.0.0.2", "198.51.100.1", "198.51.100.1"),
        ("10.0.0.2", "6.6.6.6, 198.51.100.1, 10.0.0.3", "198.51.100.1"),  # spoofed left hop
        ("10.0.0.2", None, "10.0.0.2"),
        ("10.0.0.2", "10.0.0.9", "10.0.0.2"),
    ],
)
def test_client_ip_trusts_forwarded_for_only_from_trusted_proxies(
    peer: str, forwarded: str | None, expected: str
) -> None:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    transport: Any = type("T", (), {"get_extra_info": lambda self, name, d=None: (peer, 1234)})()
    request = make_mocked_request("GET", "/", headers=headers, transport=transport)
    assert client_ip(request, TRUSTED) == expected


def test_principal_from_claims() -> None:
    exp = int(time.time()) + 60
    principal = principal_from_claims(
        {"sub": "u1", "role": "customer", "customerId": CUSTOMER.upper(), "exp": exp}
    )
    assert principal == Principal("u1", Role.CUSTOMER, customer_id=CUSTOMER)
    assert principal.owner_id == CUSTOMER
    provider = principal_from_claims(
        {"sub": "p", "role": "provider", "providerId": CUSTOMER, "exp": exp}
    )
    assert provider.provider_id == CUSTOMER and provider.customer_id is None
    for bad in (
        {"sub": "u1", "role": "customer", "customerId": CUSTOMER},
        {"role": "customer", "customerId": CUSTOMER, "exp": exp},
        {"sub": "u1", "role": "admin", "customerId": CUSTOMER, "exp": exp},
        {"sub": "u1", "role": "provider", "customerId": CUSTOMER, "exp": exp},
        {"sub": "u1", "role": "customer", "customerId": ["x"], "exp": exp},
    ):
        with pytest.raises(AuthenticationFailed):
            principal_from_claims(bad)


def env_of(values: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Env:
    for name in ("JWT_ALGORITHM", "JWT_SECRET", "JWT_PUBLIC_KEY_FILE", "JWT_ISSUER"):
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return Env()


def test_jwt_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = JwtSettings.from_env(
        env_of({"JWT_SECRET": SECRET, "JWT_ISSUER": "iss"}, monkeypatch)
    )
    assert settings.algorithm == "HS256" and settings.issuer == "iss" and settings.audience is None
    with pytest.raises(ValueError, match="at least 32 bytes"):
        JwtSettings.from_env(env_of({"JWT_SECRET": "x" * 31}, monkeypatch))
    with pytest.raises(ValueError, match="HS256 or RS256"):
        JwtSettings.from_env(env_of({"JWT_ALGORITHM": "none", "JWT_SECRET": SECRET}, monkeypatch))

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    def pem(key: Any) -> Path:
        path = tmp_path / f"{id(key)}.pem"
        path.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        return path

    good = pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    rs = JwtSettings.from_env(
        env_of({"JWT_ALGORITHM": "rs256", "JWT_PUBLIC_KEY_FILE": str(good)}, monkeypatch)
    )
    assert rs.algorithm == "RS256" and "PUBLIC KEY" in rs.key
    for bad in (
        pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)),
        pem(ec.generate_private_key(ec.SECP256R1())),
    ):
        with pytest.raises(ValueError, match="RSA key of >= 2048 bits"):
            JwtSettings.from_env(
                env_of({"JWT_ALGORITHM": "RS256", "JWT_PUBLIC_KEY_FILE": str(bad)}, monkeypatch)
            )
    with pytest.raises(ValueError, match="HS256"):
        issue_token(rs, Role.CUSTOMER, CUSTOMER)


def test_gateway_settings_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    env = env_of({"JWT_SECRET": SECRET, "INTERNAL_TOKEN": "x" * 16}, monkeypatch)
    for name in ("APP_ENV", "PORT", "CORE_GRPC_TARGET", "RATE_LIMIT_PER_MINUTE", "TRUSTED_PROXIES"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings.from_env(env)
    assert settings.port == 8080 and settings.core_grpc_target == "127.0.0.1:50051"
    assert settings.rate_limit_per_minute == 60 and settings.core_deadline_seconds == 5
    assert not settings.development  # production unless told otherwise: no /dev/token


@pytest.mark.parametrize(
    ("status", "reason", "message", "http", "code"),
    [
        (
            Status.INVALID_ARGUMENT,
            "VALIDATION_FAILED",
            "end_time: after start",
            400,
            "VALIDATION_FAILED",
        ),
        (Status.PERMISSION_DENIED, "FORBIDDEN", "not yours", 403, "FORBIDDEN"),
        (Status.NOT_FOUND, "NOT_FOUND", "no such booking", 404, "NOT_FOUND"),
        (Status.ALREADY_EXISTS, "BOOKING_OVERLAP", "overlaps", 409, "BOOKING_OVERLAP"),
        (Status.FAILED_PRECONDITION, "IDEMPOTENCY_KEY_REUSED", "k", 422, "IDEMPOTENCY_KEY_REUSED"),
        (
            Status.FAILED_PRECONDITION,
            "BOOKING_NOT_CANCELLABLE",
            "s",
            409,
            "BOOKING_NOT_CANCELLABLE",
        ),
        (Status.FAILED_PRECONDITION, "SOMETHING_NEW", "?", 500, "INTERNAL"),
        (Status.UNAVAILABLE, "UPSTREAM_UNAVAILABLE", "db down", 503, "UPSTREAM_UNAVAILABLE"),
        (Status.DEADLINE_EXCEEDED, "", "slow", 504, "UPSTREAM_TIMEOUT"),
        (Status.UNAUTHENTICATED, "", "bad internal token", 500, "INTERNAL"),
        (Status.INTERNAL, "", "boom: SELECT * FROM", 500, "INTERNAL"),
    ],
)
def test_grpc_errors_map_to_the_contract(
    status: Status, reason: str, message: str, http: int, code: str
) -> None:
    exc = error(status, reason, message) if reason else GRPCError(status, message)
    problem = problem_from_grpc(exc)
    assert (problem.status, problem.code) == (http, code)
    if http == 500:
        assert "SELECT" not in problem.detail and problem.detail == "Internal server error"
    if code == "VALIDATION_FAILED":
        assert isinstance(problem, ValidationFailed)
        assert [(e.field, e.message) for e in problem.errors] == [("endTime", "after start")]


@pytest.mark.parametrize(
    ("reason", "status", "code"),
    [
        ("SLOT_UNAVAILABLE", Status.FAILED_PRECONDITION, "SLOT_UNAVAILABLE"),
        ("SLOT_FULL", Status.FAILED_PRECONDITION, "SLOT_FULL"),
        ("GUEST_ALREADY_BOOKED", Status.ALREADY_EXISTS, "GUEST_ALREADY_BOOKED"),
        ("SLUG_TAKEN", Status.ALREADY_EXISTS, "SLUG_TAKEN"),
        ("BOOKING_OVERLAP", Status.ALREADY_EXISTS, "BOOKING_OVERLAP"),
    ],
)
def test_event_type_errors_map_by_reason(reason: str, status: Status, code: str) -> None:
    problem = problem_from_grpc(error(status, reason, "why"))
    assert (problem.status, problem.code, problem.detail) == (409, code, "why")


def test_proto_field_paths_get_their_rest_names() -> None:
    renames = {"from_time": "from", "to_time": "to", "guest.": ""}
    assert rest_field("weekly_hours[2].to_time", renames) == "weeklyHours[2].to"
    assert rest_field("guest.first_name", renames) == "firstName"
    assert rest_field("to_time", renames) == "to"
    assert rest_field("dated_windows[0].end", renames) == "datedWindows[0].end"
    problem = problem_from_grpc(
        error(Status.INVALID_ARGUMENT, "VALIDATION_FAILED", "guest.phone: must be a phone"),
        renames,
    )
    assert [(e.field, e.message) for e in problem.errors] == [("phone", "must be a phone")]


def test_camel_case() -> None:
    assert camel_case("start_time") == "startTime"
    assert camel_case("actor.customer_id") == "actor.customerId"
    assert camel_case("limit") == "limit"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2030-01-01T10:00:00Z", datetime(2030, 1, 1, 10, tzinfo=UTC)),
        ("2030-01-01t10:00:00z", datetime(2030, 1, 1, 10, tzinfo=UTC)),
        ("2030-01-01 10:00:00+02:00", datetime(2030, 1, 1, 8, tzinfo=UTC)),
        (
            "2030-01-01T10:00:00.123456789-05:30",
            datetime(
                2030, 1, 1, 10, 0, 0, 123456, tzinfo=timezone(-timedelta(hours=5, minutes=30))
            ),
        ),
    ],
)
def test_times_accept_rfc3339_with_an_offset(text: str, expected: datetime) -> None:
    body = {"providerId": CUSTOMER, "customerId": CUSTOMER, "startTime": text, "endTime": text}
    loaded = CreateBookingRequest().load(body)
    assert loaded["start_time"] == expected and loaded["start_time"].tzinfo is not None


@pytest.mark.parametrize(
    "text",
    [
        "2030-01-01T10:00:00",
        "2030-01-01",
        "20300101T100000Z",
        "2030-13-01T10:00:00Z",
        "2030-01-01T10:00:60Z",
        "2030-01-01T10:00Z",
        " 2030-01-01T10:00:00Z",
        "1700000000",
    ],
)
def test_times_reject_anything_else(text: str) -> None:
    body = {"providerId": CUSTOMER, "customerId": CUSTOMER, "startTime": text, "endTime": text}
    with pytest.raises(ValidationError) as info:
        CreateBookingRequest().load(body)
    assert {e.field for e in field_errors(info.value)} == {"startTime", "endTime"}


def test_list_query_defaults_and_unknown_fields() -> None:
    assert ListBookingsQuery().load({}) == {"type": "upcoming", "limit": 20}
    with pytest.raises(ValidationError) as info:
        ListBookingsQuery().load({"limit": "5", "offset": "10"})
    assert [(e.field, e.message) for e in field_errors(info.value, location="query")] == [
        ("offset", "Unknown field.")
    ]


def test_problem_codes_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown problem code"):
        ProblemError("TEAPOT", "no")


def test_openapi_document_documents_every_operation() -> None:
    document = build_spec(development=False)
    assert document["openapi"] == "3.1.0"
    assert "/dev/token" not in document["paths"]
    assert "/dev/token" in build_spec(development=True)["paths"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert any(status.startswith("2") for status in responses), (path, method)
            for status, response in responses.items():
                assert "X-Request-ID" in response["headers"], (path, method, status)
                if int(status) >= 400:
                    assert "application/problem+json" in response["content"]
            if operation.get("security") != []:
                assert {"401", "429", "503", "504"} <= set(responses), (path, method)
    booking = document["components"]["schemas"]["Booking"]
    assert booking["properties"]["startTime"]["format"] == "date-time"
    assert (
        document["components"]["schemas"]["CreateBookingRequest"]["additionalProperties"] is False
    )
