"""``python -m bookings_common.healthcheck URL``: exit 0 when the service at ``URL``
is healthy, 1 otherwise, for container health checks (the images have no curl).

- ``http://host:port/path``: a GET answered 2xx within 2 seconds;
- ``grpc://host:port``: ``grpc.health.v1.Health/Check`` says SERVING within 2 seconds.
"""

from __future__ import annotations

import asyncio
import sys
import urllib.request
from urllib.error import URLError
from urllib.parse import urlsplit

from grpclib.client import Channel

from .grpc import is_serving

TIMEOUT_SECONDS = 2.0


def http_ok(url: str) -> bool:
    """True when ``GET url`` answers 2xx within the timeout."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            return 200 <= int(response.status) < 300
    except (URLError, OSError, ValueError):
        return False


async def grpc_ok(host: str, port: int) -> bool:
    """True when the gRPC health service at ``host:port`` says SERVING."""
    channel = Channel(host, port)
    try:
        return await is_serving(channel, within_seconds=TIMEOUT_SECONDS)
    finally:
        channel.close()


def check(url: str) -> bool:
    """Check ``url`` (``http://`` or ``grpc://``); raises ``ValueError`` for another scheme."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        return http_ok(url)
    if parts.scheme == "grpc" and parts.hostname and parts.port:
        return asyncio.run(grpc_ok(parts.hostname, parts.port))
    raise ValueError(f"expected http://host:port/path or grpc://host:port, got {url!r}")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m bookings_common.healthcheck URL", file=sys.stderr)
        return 2
    try:
        healthy = check(args[0])
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    print("healthy" if healthy else "unhealthy")
    return 0 if healthy else 1


if __name__ == "__main__":
    raise SystemExit(main())
