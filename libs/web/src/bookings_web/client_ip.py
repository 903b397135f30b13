"""The client's address behind trusted proxies (``TRUSTED_PROXIES``), for per-IP limits.

``X-Forwarded-For`` is believed only from a trusted proxy, and only up to the
right-most hop that is not itself a trusted proxy (the first hop a proxy of
ours did not add), so a client cannot pick its own address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from aiohttp import web
from environs import Env

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_proxies(env: Env, name: str = "TRUSTED_PROXIES") -> tuple[IpNetwork, ...]:
    """Read comma-separated addresses/networks; raises ``ValueError`` naming a bad one."""
    proxies: list[IpNetwork] = []
    items: list[str] = env.list(name, [])
    for item in items:
        try:
            proxies.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise ValueError(f'"{name}" has a bad address: {item!r}') from None
    return tuple(proxies)


def client_ip(request: web.Request, trusted_proxies: Sequence[IpNetwork]) -> str:
    """The client's address: the peer's, unless the peer is a trusted proxy, then the
    right-most ``X-Forwarded-For`` hop that is not itself a trusted proxy."""
    remote = request.remote or "unknown"
    try:
        peer = ipaddress.ip_address(remote)
    except ValueError:
        return remote
    if not any(peer in network for network in trusted_proxies):
        return str(peer)
    hops = [
        hop.strip()
        for value in request.headers.getall("X-Forwarded-For", [])
        for hop in value.split(",")
        if hop.strip()
    ]
    for hop in reversed(hops):
        try:
            address = ipaddress.ip_address(hop)
        except ValueError:
            return hop[:64]
        if not any(address in network for network in trusted_proxies):
            return str(address)
    return str(peer)
