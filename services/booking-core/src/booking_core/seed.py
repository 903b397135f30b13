"""``python -m booking_core.seed``: create the demo provider and customer, print their ids.

Idempotent: the demo records have fixed ids (uuid5 of their names), so running
it again changes nothing and prints the same ids as JSON.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

from bookings_common.settings import load_or_exit, postgres_url
from sqlalchemy.dialects.postgresql import insert

from .adapters.postgres import create_engine
from .adapters.tables import customers, providers

DEMO_PROVIDER_ID = uuid.uuid5(uuid.NAMESPACE_URL, "bookings:demo-provider")
DEMO_CUSTOMER_ID = uuid.uuid5(uuid.NAMESPACE_URL, "bookings:demo-customer")
DEMO_CUSTOMER_EMAIL = "demo.customer@example.com"


async def seed(database_url: str) -> dict[str, str]:
    """Insert the demo records if absent; return ``{"providerId", "customerId"}``."""
    engine = create_engine(database_url, pool_size=1)
    now = datetime.now(UTC)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                insert(providers)
                .values(
                    id=DEMO_PROVIDER_ID,
                    name="Demo Clinic",
                    time_zone="Europe/Berlin",
                    created_at=now,
                )
                .on_conflict_do_nothing(index_elements=[providers.c.id])
            )
            await conn.execute(
                insert(customers)
                .values(
                    id=DEMO_CUSTOMER_ID,
                    name="Demo Customer",
                    email=DEMO_CUSTOMER_EMAIL,
                    created_at=now,
                )
                .on_conflict_do_nothing()
            )
    finally:
        await engine.dispose()
    return {"providerId": str(DEMO_PROVIDER_ID), "customerId": str(DEMO_CUSTOMER_ID)}


def main() -> None:
    url = load_or_exit(postgres_url)
    print(json.dumps(asyncio.run(seed(url))))


if __name__ == "__main__":
    main()
