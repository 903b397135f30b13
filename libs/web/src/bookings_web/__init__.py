"""aiohttp code shared by the HTTP services (gateway and notifier).

- ``problems``: RFC 9457 problem+json errors and the middleware that renders them.
- ``auth``: JWT authentication (aiohttp-jwt + PyJWT), the ``Principal`` and ``@roles``.
- ``observability``: one middleware for request ids, request logs and Prometheus metrics.
"""
