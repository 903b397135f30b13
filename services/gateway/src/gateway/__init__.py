"""gateway: the public REST API over booking-core (aiohttp, JWT, marshmallow, aiolimiter)."""
