"""Sign-in for staff: ``POST /auth/login``, ``/auth/refresh``, ``/auth/logout`` and the
public signing keys at ``GET /.well-known/jwks.json``. booking-core holds the users,
the password hashes, the refresh-token families and the private key; the gateway
only passes the client's address along for throttling."""

from __future__ import annotations

from typing import Final

from aiohttp import web
from bookings_web.client_ip import client_ip

from . import identity_schemas as schemas
from . import keys
from .parsing import read_json
from .upstream_identity import token_data

JWKS_MAX_AGE_SECONDS: Final = 60

_login = schemas.LoginRequest()
_refresh = schemas.RefreshRequest()
_pair = schemas.TokenPair()

routes = web.RouteTableDef()


def _address(request: web.Request) -> str:
    return client_ip(request, request.app[keys.SETTINGS].trusted_proxies)


@routes.post("/auth/login")
async def login(request: web.Request) -> web.Response:
    """200 ``{accessToken, refreshToken, expiresIn, tokenType}``; 401 for any bad
    credentials (one answer for an unknown email and a wrong password); 429 after too
    many failures for the account or the address."""
    body = await read_json(request, _login)
    pair = await request.app[keys.IDENTITY].login(
        body["email"], body["password"], _address(request)
    )
    return web.json_response(_pair.dump(token_data(pair)), headers={"Cache-Control": "no-store"})


@routes.post("/auth/refresh")
async def refresh(request: web.Request) -> web.Response:
    """200 a new pair; the refresh token sent stops working. Sending one that was already
    used revokes its whole family (all later tokens of that sign-in) and answers 401."""
    body = await read_json(request, _refresh)
    pair = await request.app[keys.IDENTITY].refresh(body["refresh_token"], _address(request))
    return web.json_response(_pair.dump(token_data(pair)), headers={"Cache-Control": "no-store"})


@routes.post("/auth/logout")
async def logout(request: web.Request) -> web.Response:
    """204: the refresh token's family is revoked (idempotent)."""
    body = await read_json(request, _refresh)
    await request.app[keys.IDENTITY].logout(body["refresh_token"])
    return web.Response(status=204)


@routes.get("/.well-known/jwks.json")
async def jwks(request: web.Request) -> web.Response:
    """The public keys access tokens are signed with (RFC 7517), for verifiers."""
    document = await request.app[keys.IDENTITY].jwks()
    return web.json_response(
        document, headers={"Cache-Control": f"public, max-age={JWKS_MAX_AGE_SECONDS}"}
    )
