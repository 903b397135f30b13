"""Staff sign-in against the real gateway, booking-core and PostgreSQL: access and
refresh tokens, rotation and reuse detection, logout, expiry, disabled users,
throttling, no user enumeration; users and teams through the admin API."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import jwt
import pytest
import sqlalchemy as sa
from bookings_proto.bookings import v1 as pb
from gateway.app import create_app as create_gateway
from sqlalchemy.ext.asyncio import AsyncEngine

from .conftest import SERVICE, gateway_settings
from .harness import JWT_SECRET, CoreProcess

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery staple 42"


@pytest.fixture
async def gateway(core: CoreProcess, aiohttp_client: Any) -> Any:
    return await aiohttp_client(create_gateway(gateway_settings(core)))


async def new_organisation(channel: Any, name: str = "Clinic") -> str:
    reply = await pb.IdentityServiceStub(channel, timeout=10).create_organisation(
        pb.CreateOrganisationRequest(actor=SERVICE, name=name)
    )
    assert reply.organisation is not None
    return reply.organisation.id


async def new_user(
    channel: Any,
    organisation_id: str,
    role: str = "admin",
    *,
    email: str | None = None,
    password: str = PASSWORD,
) -> pb.User:
    reply = await pb.IdentityServiceStub(channel, timeout=10).create_user(
        pb.CreateUserRequest(
            actor=SERVICE,
            email=email or f"{role}.{uuid.uuid4().hex[:10]}@clinic.example",
            display_name=f"{role.title()} {uuid.uuid4().hex[:4]}",
            password=password,
            role=pb.UserRole.ADMIN if role == "admin" else pb.UserRole.PROVIDER,
            time_zone="Europe/Berlin",
            organisation_id=organisation_id,
        )
    )
    assert reply.user is not None
    return reply.user


async def login(gateway: Any, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = await gateway.post("/auth/login", json={"email": email, "password": password})
    assert response.status == 200, await response.text()
    assert response.headers["Cache-Control"] == "no-store"
    body: dict[str, Any] = await response.json()
    return body


def bearer(pair: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {pair['accessToken']}"}


async def test_sign_in_gives_tokens_that_work_and_rotate(
    gateway: Any, channel: Any, engine: AsyncEngine
) -> None:
    organisation = await new_organisation(channel)
    admin = await new_user(channel, organisation, "admin")
    provider = await new_user(channel, organisation, "provider")

    pair = await login(gateway, admin.email.upper())  # emails are case-insensitive
    assert pair["tokenType"] == "Bearer" and pair["expiresIn"] == 900
    claims = jwt.decode(pair["accessToken"], JWT_SECRET, algorithms=["HS256"])
    assert claims["role"] == "admin" and claims["organisationId"] == organisation
    assert claims["sub"] == f"user:{admin.id}" and claims["exp"] - claims["iat"] == 900
    response = await gateway.get("/admin/users", headers=bearer(pair))
    assert response.status == 200
    assert {u["email"] for u in (await response.json())["items"]} == {admin.email, provider.email}

    mine = await login(gateway, provider.email)
    claims = jwt.decode(mine["accessToken"], JWT_SECRET, algorithms=["HS256"])
    assert (claims["role"], claims["providerId"]) == ("provider", provider.provider_id)
    assert (await gateway.get("/event-types", headers=bearer(mine))).status == 200
    assert (await gateway.get("/admin/users", headers=bearer(mine))).status == 403

    # Refresh rotates: the new pair works, the old refresh token does not.
    response = await gateway.post("/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    assert response.status == 200
    second = await response.json()
    assert second["refreshToken"] != pair["refreshToken"]
    assert (await gateway.get("/admin/users", headers=bearer(second))).status == 200

    # Reuse of the rotated token revokes the whole family, the newest token included.
    reused = await gateway.post("/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    assert reused.status == 401
    newest = await gateway.post("/auth/refresh", json={"refreshToken": second["refreshToken"]})
    assert newest.status == 401
    async with engine.connect() as conn:
        states = (
            await conn.execute(
                sa.text(
                    "SELECT used_at IS NOT NULL, revoked_at IS NOT NULL FROM refresh_tokens "
                    "WHERE user_id = :u ORDER BY created_at"
                ),
                {"u": admin.id},
            )
        ).all()
        stored = (
            (
                await conn.execute(
                    sa.text("SELECT token_hash FROM refresh_tokens WHERE user_id = :u"),
                    {"u": admin.id},
                )
            )
            .scalars()
            .all()
        )
    assert [tuple(s) for s in states] == [(True, True), (False, True)]
    assert all(bytes(h) != second["refreshToken"].encode() for h in stored)  # hashed

    # Logout revokes the family of the token given; another sign-in is unaffected.
    other = await login(gateway, admin.email)
    third = await login(gateway, admin.email)
    assert (
        await gateway.post("/auth/logout", json={"refreshToken": other["refreshToken"]})
    ).status == 204
    assert (
        await gateway.post("/auth/logout", json={"refreshToken": other["refreshToken"]})
    ).status == 204
    assert (
        await gateway.post("/auth/refresh", json={"refreshToken": other["refreshToken"]})
    ).status == 401
    assert (
        await gateway.post("/auth/refresh", json={"refreshToken": third["refreshToken"]})
    ).status == 200


async def test_expired_tokens_are_refused(gateway: Any, channel: Any, engine: AsyncEngine) -> None:
    organisation = await new_organisation(channel)
    admin = await new_user(channel, organisation, "admin")
    pair = await login(gateway, admin.email)
    claims = jwt.decode(pair["accessToken"], JWT_SECRET, algorithms=["HS256"])
    expired = jwt.encode({**claims, "exp": claims["iat"] - 60}, JWT_SECRET, algorithm="HS256")
    response = await gateway.get("/admin/users", headers={"Authorization": f"Bearer {expired}"})
    assert response.status == 401
    async with engine.begin() as conn:
        await conn.execute(
            sa.text(
                "UPDATE refresh_tokens SET expires_at = now() - interval '1 s' WHERE user_id = :u"
            ),
            {"u": admin.id},
        )
    response = await gateway.post("/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    assert response.status == 401


async def test_no_user_enumeration_and_disabled_users_are_out(gateway: Any, channel: Any) -> None:
    organisation = await new_organisation(channel)
    admin = await new_user(channel, organisation, "admin")
    victim = await new_user(channel, organisation, "provider")
    answers = []
    for email, password in (
        (victim.email, "not the password at all"),
        (f"nobody.{uuid.uuid4().hex}@clinic.example", "not the password at all"),
    ):
        response = await gateway.post("/auth/login", json={"email": email, "password": password})
        body = await response.json()
        del body["requestId"]
        answers.append((response.status, body, response.headers.get("WWW-Authenticate")))
    assert answers[0] == answers[1]
    assert answers[0][0] == 401 and answers[0][1]["code"] == "UNAUTHENTICATED"

    session = await login(gateway, victim.email)
    admin_pair = await login(gateway, admin.email)
    response = await gateway.patch(
        f"/admin/users/{victim.id}", json={"disabled": True}, headers=bearer(admin_pair)
    )
    assert response.status == 200 and (await response.json())["user"]["disabled"] is True
    response = await gateway.post("/auth/login", json={"email": victim.email, "password": PASSWORD})
    body = await response.json()
    del body["requestId"]
    assert (response.status, body) == (answers[0][0], answers[0][1])
    refused = await gateway.post("/auth/refresh", json={"refreshToken": session["refreshToken"]})
    assert refused.status == 401


async def test_repeated_failures_are_throttled_per_account_and_per_address(
    core: CoreProcess, aiohttp_client: Any, channel: Any
) -> None:
    gateway = await aiohttp_client(create_gateway(gateway_settings(core)))
    organisation = await new_organisation(channel)
    user = await new_user(channel, organisation, "admin")
    statuses = []
    for _ in range(6):
        response = await gateway.post(
            "/auth/login", json={"email": user.email, "password": "wrong password here"}
        )
        statuses.append(response.status)
    assert statuses == [401] * 5 + [429]
    assert 0 < int(response.headers["Retry-After"]) <= 15 * 60 + 1
    assert (await response.json())["code"] == "RATE_LIMITED"
    # Locked even with the right password, and the same for an unknown account.
    locked = await gateway.post("/auth/login", json={"email": user.email, "password": PASSWORD})
    assert locked.status == 429
    ghost = f"ghost.{uuid.uuid4().hex}@clinic.example"
    ghost_statuses = [
        (await gateway.post("/auth/login", json={"email": ghost, "password": "x" * 12})).status
        for _ in range(6)
    ]
    assert ghost_statuses == [401] * 5 + [429]


async def test_weak_passwords_and_duplicate_emails_are_refused(gateway: Any, channel: Any) -> None:
    organisation = await new_organisation(channel)
    admin = await new_user(channel, organisation, "admin")
    headers = bearer(await login(gateway, admin.email))
    base = {"displayName": "New", "role": "admin"}
    for password in ("short", "password1234", "123456789012", "aaaaaaaaaaaaaaa"):
        response = await gateway.post(
            "/admin/users",
            json={
                **base,
                "email": f"n.{uuid.uuid4().hex[:6]}@clinic.example",
                "password": password,
            },
            headers=headers,
        )
        assert response.status == 400, password
        assert (await response.json())["errors"][0]["field"] == "password"
    response = await gateway.post(
        "/admin/users",
        json={**base, "email": admin.email.upper(), "password": PASSWORD},
        headers=headers,
    )
    assert response.status == 409 and (await response.json())["code"] == "EMAIL_TAKEN"


async def test_a_new_password_ends_sessions_and_old_hashes_are_rehashed(
    gateway: Any, channel: Any, engine: AsyncEngine
) -> None:
    organisation = await new_organisation(channel)
    admin = await new_user(channel, organisation, "admin")
    user = await new_user(channel, organisation, "provider")
    session = await login(gateway, user.email)
    headers = bearer(await login(gateway, admin.email))
    response = await gateway.patch(
        f"/admin/users/{user.id}", json={"password": "another long passphrase!"}, headers=headers
    )
    assert response.status == 200
    assert (
        await gateway.post("/auth/refresh", json={"refreshToken": session["refreshToken"]})
    ).status == 401
    await login(gateway, user.email, "another long passphrase!")
    # A hash with weaker parameters is replaced at the next sign-in.
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    async with engine.begin() as conn:
        await conn.execute(
            sa.text("UPDATE users SET password_hash = :h WHERE id = :u"), {"h": weak, "u": user.id}
        )
    await login(gateway, user.email)
    async with engine.connect() as conn:
        rehashed = await conn.scalar(
            sa.text("SELECT password_hash FROM users WHERE id = :u"), {"u": user.id}
        )
    assert rehashed != weak and rehashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")


async def test_teams_and_members(gateway: Any, channel: Any, stub: pb.BookingServiceStub) -> None:
    organisation = await new_organisation(channel)
    admin = await new_user(channel, organisation, "admin")
    members = [await new_user(channel, organisation, "provider") for _ in range(2)]
    stranger = await stub.register_provider(
        pb.RegisterProviderRequest(
            actor=SERVICE, name="Elsewhere", organisation_id=await new_organisation(channel)
        )
    )
    headers = bearer(await login(gateway, admin.email))
    response = await gateway.post("/admin/teams", json={"name": "Physio"}, headers=headers)
    assert response.status == 201
    team = (await response.json())["team"]
    for member in members:
        response = await gateway.post(
            f"/admin/teams/{team['id']}/members",
            json={"providerId": member.provider_id},
            headers=headers,
        )
        assert response.status == 200
    assert sorted((await response.json())["team"]["memberIds"]) == sorted(
        m.provider_id for m in members
    )
    assert stranger.provider is not None
    response = await gateway.post(
        f"/admin/teams/{team['id']}/members",
        json={"providerId": stranger.provider.id},
        headers=headers,
    )
    assert response.status == 400
    response = await gateway.patch(
        f"/admin/teams/{team['id']}", json={"name": "Physio 2"}, headers=headers
    )
    assert (await response.json())["team"]["name"] == "Physio 2"
    response = await gateway.delete(
        f"/admin/teams/{team['id']}/members/{members[0].provider_id}", headers=headers
    )
    assert (await response.json())["team"]["memberIds"] == [members[1].provider_id]
    listed = await (await gateway.get("/admin/teams", headers=headers)).json()
    assert [t["id"] for t in listed["items"]] == [team["id"]]

    event_type = await gateway.post(
        "/event-types",
        json={"name": "Team call", "timeZone": "UTC", "periodMinutes": 30, "teamId": team["id"]},
        headers=headers,
    )
    assert event_type.status == 201, await event_type.text()
    assert (await event_type.json())["eventType"]["teamId"] == team["id"]
    response = await gateway.delete(f"/admin/teams/{team['id']}", headers=headers)
    assert response.status == 409 and (await response.json())["code"] == "TEAM_IN_USE"

    empty = await (
        await gateway.post("/admin/teams", json={"name": "Empty"}, headers=headers)
    ).json()
    assert (
        await gateway.delete(f"/admin/teams/{empty['team']['id']}", headers=headers)
    ).status == 204
    assert (await gateway.get(f"/admin/teams/{empty['team']['id']}", headers=headers)).status == 404
    await asyncio.sleep(0)
