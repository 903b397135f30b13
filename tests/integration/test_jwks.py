"""Public-key tokens end to end: booking-core signs with EdDSA keys from a directory and
publishes them through the gateway's /.well-known/jwks.json; the gateway and a
notifier verify against that set. Keys rotate without a restart; an unknown kid,
algorithm confusion and a token signed by another key are refused."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from bookings_proto.bookings import v1 as pb
from bookings_web.auth import Role
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .conftest import REDIS_URL, SERVICE, fresh_database
from .harness import CoreProcess, GatewayProcess, NotifierProcess, eventually
from .test_identity import PASSWORD

pytestmark = pytest.mark.integration


def write_key(directory: Path, name: str) -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.generate()
    (directory / name).write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return key


class Stack:
    def __init__(
        self, core: CoreProcess, gateway: GatewayProcess, notifier: NotifierProcess, keys: Path
    ) -> None:
        self.core, self.gateway, self.notifier, self.keys = core, gateway, notifier, keys


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    workdir = tmp_path_factory.mktemp("jwks")
    keys = workdir / "keys"
    keys.mkdir()
    write_key(keys, "2026-12-01.pem")
    async with fresh_database() as database_url:
        core = CoreProcess(
            database_url, REDIS_URL, workdir / "core.log", JWT_SIGNING_KEYS_DIR=str(keys)
        )
        await core.start()
        common = {"JWT_ALGORITHM": "EdDSA,RS256", "JWT_JWKS_MIN_REFRESH_SECONDS": "0.2"}
        gateway = GatewayProcess(core.port, workdir / "gateway.log", **common)
        gateway.env["JWT_JWKS_URL"] = f"{gateway.url}/.well-known/jwks.json"
        await gateway.start()
        notifier = NotifierProcess(
            core.port,
            REDIS_URL,
            workdir / "notifier.log",
            **common,
            JWT_JWKS_URL=f"{gateway.url}/.well-known/jwks.json",
        )
        await notifier.start()
        try:
            yield Stack(core, gateway, notifier, keys)
        finally:
            notifier.terminate()
            gateway.terminate()
            core.terminate()


async def sign_in(stack: Stack, session: aiohttp.ClientSession) -> tuple[str, str]:
    """A fresh provider user's access token and provider id."""
    from bookings_common.grpc import create_channel
    from grpclib.client import Channel

    from .harness import INTERNAL_TOKEN

    channel: Channel = create_channel(f"127.0.0.1:{stack.core.port}", internal_token=INTERNAL_TOKEN)
    try:
        identity = pb.IdentityServiceStub(channel, timeout=10)
        organisation = (
            await identity.create_organisation(
                pb.CreateOrganisationRequest(actor=SERVICE, name="K")
            )
        ).organisation
        assert organisation is not None
        user = (
            await identity.create_user(
                pb.CreateUserRequest(
                    actor=SERVICE,
                    email=f"k.{uuid.uuid4().hex[:8]}@clinic.example",
                    display_name="Key",
                    password=PASSWORD,
                    role=pb.UserRole.PROVIDER,
                    organisation_id=organisation.id,
                )
            )
        ).user
        assert user is not None
    finally:
        channel.close()
    async with session.post(
        f"{stack.gateway.url}/auth/login", json={"email": user.email, "password": PASSWORD}
    ) as response:
        assert response.status == 200, await response.text()
        return (await response.json())["accessToken"], user.provider_id


async def accepted(stack: Stack, session: aiohttp.ClientSession, token: str) -> tuple[int, int]:
    """(gateway status, notifier status) for a request with ``token``."""
    headers = {"Authorization": f"Bearer {token}"}
    async with session.get(f"{stack.gateway.url}/event-types", headers=headers) as response:
        gateway_status = response.status
    async with session.get(
        f"{stack.notifier.url}/events", headers=headers, timeout=aiohttp.ClientTimeout(sock_read=2)
    ) as response:
        notifier_status = response.status
    return gateway_status, notifier_status


async def test_jwks_tokens_work_and_keys_rotate_without_a_restart(stack: Stack) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{stack.gateway.url}/.well-known/jwks.json") as response:
            document = await response.json()
        assert [k["kty"] for k in document["keys"]] == ["OKP"]
        first_kid = document["keys"][0]["kid"]
        token, _ = await sign_in(stack, session)
        header = jwt.get_unverified_header(token)
        assert (header["alg"], header["kid"]) == ("EdDSA", first_kid)
        assert await accepted(stack, session, token) == (200, 200)

        # Rotate: a newer key signs from now on; both stay published.
        write_key(stack.keys, "2026-12-02.pem")

        async def rotated() -> str | None:
            fresh, _ = await sign_in(stack, session)
            kid = jwt.get_unverified_header(fresh)["kid"]
            return fresh if kid != first_kid else None

        fresh = await eventually(rotated, timeout=20, interval=0.5)
        assert await accepted(stack, session, fresh) == (200, 200)
        assert await accepted(stack, session, token) == (200, 200)  # old tokens still valid
        lines = stack.gateway.log_lines() + stack.notifier.log_lines()
        assert any('"jwks.fetched"' in line for line in lines)


async def test_forged_tokens_are_refused(stack: Stack) -> None:
    async with aiohttp.ClientSession() as session:
        token, provider_id = await sign_in(stack, session)
        claims = jwt.decode(token, options={"verify_signature": False})
        kid = jwt.get_unverified_header(token)["kid"]
        other = Ed25519PrivateKey.generate()
        async with session.get(f"{stack.gateway.url}/.well-known/jwks.json") as response:
            published = (await response.json())["keys"][0]
        public_pem = jwt.PyJWK(published).key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        forged = {
            "unknown kid": jwt.encode(claims, other, algorithm="EdDSA", headers={"kid": "nope"}),
            "another key, same kid": jwt.encode(
                claims, other, algorithm="EdDSA", headers={"kid": kid}
            ),
            "no kid": jwt.encode(claims, other, algorithm="EdDSA"),
            "alg none": base64.urlsafe_b64encode(b'{"alg":"none","kid":"%s"}' % kid.encode())
            .rstrip(b"=")
            .decode()
            + "."
            + base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
            + ".",
            "alg confusion": _hs256_with(public_pem, claims, kid),
            "expired": jwt.encode(
                {**claims, "exp": int(time.time()) - 3600},
                other,
                algorithm="EdDSA",
                headers={"kid": kid},
            ),
        }
        for name, bad in forged.items():
            assert await accepted(stack, session, bad) == (401, 401), name
        assert Role.PROVIDER and provider_id


def _hs256_with(secret: bytes, claims: dict[str, Any], kid: str) -> str:
    """An HS256 token whose secret is the published public key (algorithm confusion)."""
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = (
        b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
        + "."
        + b64(json.dumps(claims).encode())
    )
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64(mac)
