"""``python -m booking_core.users``: create a staff user from the shell (``make user``).

    make user EMAIL=anna@clinic.example ROLE=provider [NAME="Dr. Anna Berg"]
              [TIME_ZONE=Europe/Berlin] [ORGANISATION=<uuid>]

The organisation defaults to the only one there is (``make seed`` creates the demo
one). The password is ``PASSWORD`` from the environment if set (checked like any
new password), else a random one printed once; only its Argon2id hash is stored.
A provider user gets a new provider record named after it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from bookings_common.settings import load_or_exit, postgres_url

from .adapters.postgres import SqlUnitOfWork, create_engine
from .adapters.signing import TokenSigner
from .adapters.tables import organisations
from .domain import identity_commands as cmds
from .domain.errors import BookingError
from .domain.identity import Passwords, UserRole, generate_password
from .domain.model import Actor
from .service_layer.identity import IdentityService

ACTOR = Actor.trusted_service("make-user")


async def create(args: argparse.Namespace, database_url: str) -> dict[str, str]:
    engine = create_engine(database_url, pool_size=1)
    try:
        organisation = args.organisation
        if not organisation:
            async with engine.connect() as conn:
                ids = (await conn.execute(sa.select(organisations.c.id).limit(2))).scalars().all()
            if len(ids) != 1:
                raise SystemExit("make user: name the organisation with ORGANISATION=<uuid>")
            organisation = str(ids[0])
        password = os.environ.get("PASSWORD") or generate_password()
        service = IdentityService(
            lambda: SqlUnitOfWork(engine), lambda: datetime.now(UTC), Passwords(), TokenSigner()
        )
        user = await service.create_user(
            cmds.CreateUser(
                actor=ACTOR,
                email=args.email,
                display_name=args.name or args.email.split("@", 1)[0],
                password=password,
                role=UserRole(args.role),
                time_zone=args.time_zone,
                organisation_id=uuid.UUID(organisation),
            )
        )
    finally:
        await engine.dispose()
    shown = {
        "userId": str(user.id),
        "email": user.email,
        "role": str(user.role),
        "organisationId": str(user.organisation_id),
    }
    if user.provider_id:
        shown["providerId"] = str(user.provider_id)
    if not os.environ.get("PASSWORD"):
        shown["password"] = password  # shown once
    return shown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--email", required=True)
    parser.add_argument("--role", required=True, choices=[r.value for r in UserRole])
    parser.add_argument("--name", default="")
    parser.add_argument("--time-zone", default="UTC")
    parser.add_argument("--organisation", default="")
    args = parser.parse_args(argv)
    url = load_or_exit(postgres_url)
    try:
        print(json.dumps(asyncio.run(create(args, url))))
    except BookingError as exc:
        print(f"make user: {exc.message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
