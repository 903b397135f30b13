"""JSON logging (structlog) with a ``requestId`` carried in a context variable.

Every line is one JSON object on stdout with ``timestamp`` (UTC, ISO 8601),
``level``, ``event``, ``service`` and, inside a request, ``requestId``. Records
from the standard library (SQLAlchemy, grpclib, asyncio) go through the same
renderer so the stream stays machine-readable.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from typing import Any

import structlog

REQUEST_ID_KEY = "requestId"
# A sane client-supplied request id: short, printable, no separators that could
# forge log fields or headers.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send structlog and stdlib logging to stdout as JSON lines at ``level``."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            # First, so that a line below the level costs nothing more.
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        # Records from stdlib loggers: their extra attributes become fields too.
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _add_service(service),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def _add_service(service: str) -> structlog.types.Processor:
    def add(_: Any, __: str, event: structlog.types.EventDict) -> structlog.types.EventDict:
        event.setdefault("service", service)
        return event

    return add


def get_logger(name: str) -> Any:
    """Return a structlog logger named ``name``."""
    return structlog.stdlib.get_logger(name)


def sane_request_id(candidate: str | None) -> str:
    """Return ``candidate`` if sane (1-128 of ``[A-Za-z0-9._:-]``), else a new uuid4."""
    if candidate and _SANE_REQUEST_ID.fullmatch(candidate):
        return candidate
    return str(uuid.uuid4())


def bind_request_id(request_id: str) -> None:
    """Set the current context's ``requestId`` (seen by every log line and outgoing call)."""
    structlog.contextvars.bind_contextvars(**{REQUEST_ID_KEY: request_id})


def current_request_id() -> str | None:
    """Return the current context's ``requestId``, if one is bound."""
    value = structlog.contextvars.get_contextvars().get(REQUEST_ID_KEY)
    return value if isinstance(value, str) else None
