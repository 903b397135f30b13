"""JWT rules at the gateway: every bad token is a 401 problem, never a 5xx or a traceback."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from bookings_proto.bookings import v1 as pb
from bookings_web.auth import JwtSettings
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from gateway.app import create_app

from .conftest import gateway_settings
from .harness import JWT_SECRET, CoreProcess, GatewayProcess, make_token
from .test_gateway_api import problem

pytestmark = pytest.mark.integration


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_signed(
    header: dict[str, Any], payload: dict[str, Any], key: bytes | None, digest: Any = hashlib.sha256
) -> str:
    """A compact JWS built by hand, for tokens PyJWT refuses to make (alg none, key confusion)."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    if key is None:
        return signing_input + "."
    signature = hmac.new(key, signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64(signature)}"


def claims(customer: pb.Customer, **extra: Any) -> dict[str, Any]:
    return {
        "sub": f"customer:{customer.id}",
        "role": "customer",
        "customerId": customer.id,
        "exp": int(time.time()) + 600,
        **extra,
    }


@pytest.fixture(scope="module")
def rsa_keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    path = tmp_path_factory.mktemp("keys") / "jwt.pub"
    path.write_bytes(public_pem)
    return private, path


def bad_hs256_tokens(customer: pb.Customer) -> dict[str, str]:
    now = int(time.time())
    return {
        "alg none": hand_signed({"alg": "none", "typ": "JWT"}, claims(customer), None),
        "alg none, no dot": hand_signed({"alg": "none"}, claims(customer), None)[:-1],
        "wrong signature": jwt.encode(claims(customer), "another-secret-" * 3, "HS256"),
        "tampered payload": (
            make_token("customer", customer.id).rsplit(".", 2)[0]
            + "."
            + b64(json.dumps(claims(customer, role="provider")).encode())
            + "."
            + make_token("customer", customer.id).rsplit(".", 1)[1]
        ),
        "expired": make_token("customer", customer.id, exp=now - 60),
        "not yet valid": make_token("customer", customer.id, nbf=now + 120),
        "issued in the future": make_token("customer", customer.id, iat=now + 120),
        "no exp": make_token("customer", customer.id, exp=None),
        "no sub": make_token("customer", customer.id, sub=None),
        "unknown role": jwt.encode(claims(customer, role="admin"), JWT_SECRET, "HS256"),
        "customer without customerId": make_token("customer", customer.id, customerId=None),
        "customerId not a uuid": make_token("customer", customer.id, customerId="42"),
        "garbage": "not.a.token",
        "HS384 instead of HS256": hand_signed(
            {"alg": "HS384"}, claims(customer), JWT_SECRET.encode(), hashlib.sha384
        ),
    }


@pytest.mark.parametrize(
    "name",
    list(bad_hs256_tokens(pb.Customer(id="8133b53f-6451-5af0-b72b-ea0c7a71b115"))),
)
async def test_bad_tokens_are_401(gateway: Any, customer: pb.Customer, name: str) -> None:
    token = bad_hs256_tokens(customer)[name]
    reply = await gateway.get("/bookings", headers={"Authorization": f"Bearer {token}"})
    await problem(reply, 401, "UNAUTHENTICATED")
    assert reply.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc.def.ghi", "Bearer a.b.c d"],
)
async def test_missing_or_malformed_header_is_401(gateway: Any, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    reply = await gateway.get("/bookings", headers=headers)
    await problem(reply, 401, "UNAUTHENTICATED")


async def test_scheme_is_case_insensitive_and_leeway_absorbs_skew(
    gateway: Any, customer: pb.Customer
) -> None:
    token = make_token("customer", customer.id)
    assert (await gateway.get("/bookings", headers={"Authorization": f"bearer {token}"})).ok
    # expired three seconds ago, within the default 10 s leeway
    skewed = make_token("customer", customer.id, exp=int(time.time()) - 3)
    assert (await gateway.get("/bookings", headers={"Authorization": f"Bearer {skewed}"})).ok


async def test_issuer_and_audience_are_checked_when_configured(
    core: CoreProcess, customer: pb.Customer, aiohttp_client: Any
) -> None:
    settings = gateway_settings(
        core, jwt=JwtSettings("HS256", JWT_SECRET, issuer="https://id.example", audience="bookings")
    )
    client = await aiohttp_client(create_app(settings))
    good = make_token("customer", customer.id, iss="https://id.example", aud="bookings")
    assert (await client.get("/bookings", headers={"Authorization": f"Bearer {good}"})).ok
    for token in (
        make_token("customer", customer.id, iss="https://evil.example", aud="bookings"),
        make_token("customer", customer.id, iss="https://id.example", aud="other"),
        make_token("customer", customer.id),  # neither
    ):
        reply = await client.get("/bookings", headers={"Authorization": f"Bearer {token}"})
        await problem(reply, 401, "UNAUTHENTICATED")


async def test_rs256_accepts_its_key_and_rejects_key_confusion(
    core: CoreProcess, customer: pb.Customer, aiohttp_client: Any, rsa_keys: tuple[Any, Path]
) -> None:
    private, public_path = rsa_keys
    public_pem = public_path.read_text()
    settings = gateway_settings(core, jwt=JwtSettings("RS256", public_pem))
    client = await aiohttp_client(create_app(settings))

    signed = jwt.encode(claims(customer), private, algorithm="RS256")
    assert (await client.get("/bookings", headers={"Authorization": f"Bearer {signed}"})).ok

    # The classic confusion attack: HS256 keyed with the server's public key.
    confused = hand_signed({"alg": "HS256", "typ": "JWT"}, claims(customer), public_pem.encode())
    reply = await client.get("/bookings", headers={"Authorization": f"Bearer {confused}"})
    await problem(reply, 401, "UNAUTHENTICATED")
    hs256 = make_token("customer", customer.id)
    reply = await client.get("/bookings", headers={"Authorization": f"Bearer {hs256}"})
    await problem(reply, 401, "UNAUTHENTICATED")
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims(customer), other_key, algorithm="RS256")
    reply = await client.get("/bookings", headers={"Authorization": f"Bearer {forged}"})
    await problem(reply, 401, "UNAUTHENTICATED")


async def test_public_routes_need_no_token(gateway: Any) -> None:
    for path in ("/health", "/ready", "/openapi.json", "/docs", "/metrics"):
        assert (await gateway.get(path)).status == 200, path


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"JWT_SECRET": "too-short-secret"}, '"JWT_SECRET" must be at least 32 bytes'),
        ({"JWT_ALGORITHM": "none"}, '"JWT_ALGORITHM" must be HS256 or RS256'),
        ({"JWT_ALGORITHM": "RS256"}, '"JWT_PUBLIC_KEY_FILE" is required'),
        (
            {"JWT_ALGORITHM": "RS256", "JWT_PUBLIC_KEY_FILE": "/nonexistent.pem"},
            '"JWT_PUBLIC_KEY_FILE" is not a readable PEM public key',
        ),
        ({"CORE_GRPC_TARGET": "nowhere"}, '"CORE_GRPC_TARGET"'),
        ({"RATE_LIMIT_PER_MINUTE": "0"}, '"RATE_LIMIT_PER_MINUTE"'),
        ({"CORS_ALLOWED_ORIGINS": "*"}, '"CORS_ALLOWED_ORIGINS"'),
        ({"TRUSTED_PROXIES": "10.0.0.0/8,proxy"}, '"TRUSTED_PROXIES"'),
    ],
)
def test_bad_settings_refuse_to_start(tmp_path: Path, env: dict[str, str], message: str) -> None:
    gateway = GatewayProcess(1, tmp_path / "gateway.log", **env)
    gateway.launch()
    code = gateway.wait_exit()
    output = gateway.log_path.read_text()
    assert code == 1
    assert message in output
    assert "Traceback" not in output and len(output.strip().splitlines()) == 1


def test_make_token_prints_a_token_the_gateway_accepts(tmp_path: Path) -> None:
    owner = "8133b53f-6451-5af0-b72b-ea0c7a71b115"
    env = {"PATH": "/usr/bin:/bin", "JWT_SECRET": JWT_SECRET}
    out = subprocess.run(
        [sys.executable, "-m", "gateway.token", "--role", "customer", "--id", owner],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    claims = jwt.decode(out.stdout.strip(), JWT_SECRET, algorithms=["HS256"])
    assert claims["customerId"] == owner and claims["role"] == "customer" and claims["exp"]
    bad = subprocess.run(
        [sys.executable, "-m", "gateway.token", "--role", "customer", "--id", "nope"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "cannot issue a token" in bad.stderr
