"""``python -m gateway.token --role customer --id <uuid>``: print a development token.

Signs with the gateway's own settings (``JWT_SECRET``, HS256, plus
``JWT_ISSUER``/``JWT_AUDIENCE`` when set), so the token works against a gateway
started from the same environment. ``make token ROLE=customer ID=<uuid>`` runs it.
"""

from __future__ import annotations

import argparse
import sys

from bookings_common.settings import load_or_exit
from bookings_web.auth import JwtSettings, Role, issue_token


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--role", required=True, choices=[role.value for role in Role])
    parser.add_argument("--id", required=True, help="the customer or provider id (uuid)")
    parser.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (3600)")
    args = parser.parse_args(argv)
    settings = load_or_exit(JwtSettings.from_env)
    try:
        print(issue_token(settings, Role(args.role), args.id, ttl_seconds=args.ttl))
    except ValueError as exc:
        print(f"cannot issue a token: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
