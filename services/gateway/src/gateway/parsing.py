"""Request parsing shared by the views: JSON bodies, queries and path ids, validated
by marshmallow schemas, with 400/413/415 problems for bad input."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web
from bookings_web.problems import FieldError, ProblemError, ValidationFailed
from marshmallow import Schema, ValidationError

from .schemas import field_errors

MAX_BODY_BYTES: Final = 64 * 1024


def is_json(content_type: str) -> bool:
    """``application/json`` or any ``application/*+json`` (RFC 6839) media type."""
    return content_type == "application/json" or (
        content_type.startswith("application/") and content_type.endswith("+json")
    )


async def read_json(request: web.Request, schema: Schema, *, optional: bool = False) -> Any:
    """Load the body through ``schema``.

    Raises ``ProblemError``: 413 ``PAYLOAD_TOO_LARGE`` over 64 KiB, 415
    ``UNSUPPORTED_MEDIA_TYPE`` unless JSON, 400 ``VALIDATION_FAILED`` for a
    body that is missing (unless ``optional``), not JSON, not an object, or
    invalid. An empty optional body loads as ``{}``.
    """
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise ProblemError("PAYLOAD_TOO_LARGE", f"the body must be at most {MAX_BODY_BYTES} bytes")
    if not request.body_exists:
        if optional:
            return load(schema, {}, location="body")
        raise ValidationFailed([FieldError("body", "a JSON object is required")])
    if not is_json(request.content_type):
        raise ProblemError("UNSUPPORTED_MEDIA_TYPE", "send Content-Type: application/json")
    raw = await request.read()  # aiohttp raises 413 past client_max_size for chunked bodies
    if not raw.strip() and optional:
        return load(schema, {}, location="body")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise ValidationFailed(
            [FieldError("body", "not valid JSON")], "the body is not valid JSON"
        ) from None
    if not isinstance(data, dict):
        raise ValidationFailed([FieldError("body", "must be a JSON object")])
    return load(schema, data, location="body")


def read_query(request: web.Request, schema: Schema) -> Any:
    """Load the query string through ``schema``; a repeated parameter is an error."""
    keys = list(request.query.keys())
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise ValidationFailed([FieldError(key, "given more than once") for key in repeated])
    return load(schema, dict(request.query), location="query")


def load(schema: Schema, data: Mapping[str, Any], *, location: str) -> Any:
    """``schema.load(data)``, with marshmallow's errors as 400 ``VALIDATION_FAILED``."""
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise ValidationFailed(field_errors(exc, location=location)) from None
