"""Opaque, tamper-evident keyset cursors for ListBookings.

A cursor is ``base64url(payload) "." base64url(HMAC-SHA256(secret, payload)[:16])``
where the payload binds the list (type and owner) and the last row's
``(start_time, id)``. A cursor that was altered, is garbage, or belongs to
another list is rejected with ``InvalidArgument("cursor", ...)``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from uuid import UUID

from booking_core.domain.errors import InvalidArgument
from booking_core.domain.model import ListType, Owner

_VERSION = "1"
_MAC_BYTES = 16
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorCodec:
    """Encode and decode cursors with one secret (bytes, at least 16)."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("cursor secret must be at least 16 bytes")
        self._secret = secret

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, sha256).digest()[:_MAC_BYTES]

    def encode(
        self, list_type: ListType, owner: Owner, start_time: datetime, booking_id: UUID
    ) -> str:
        micros = (start_time - _EPOCH) // _MICROSECOND
        payload = "|".join(
            (
                _VERSION,
                list_type.value,
                owner.kind.value,
                str(owner.id),
                str(micros),
                booking_id.hex,
            )
        ).encode()
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def decode(self, cursor: str, list_type: ListType, owner: Owner) -> tuple[datetime, UUID]:
        """Return ``(start_time, booking_id)`` of the last row of the previous page."""
        try:
            payload_text, mac_text = cursor.split(".")
            payload, mac = _unb64(payload_text), _unb64(mac_text)
        except (ValueError, binascii.Error):
            raise InvalidArgument("cursor", "is not a valid cursor") from None
        if not hmac.compare_digest(mac, self._mac(payload)):
            raise InvalidArgument("cursor", "is not a valid cursor")
        try:
            version, kind, owner_kind, owner_id, micros, booking_hex = payload.decode().split("|")
        except (UnicodeDecodeError, ValueError):
            raise InvalidArgument("cursor", "is not a valid cursor") from None
        if (version, kind, owner_kind, owner_id) != (
            _VERSION,
            list_type.value,
            owner.kind.value,
            str(owner.id),
        ):
            raise InvalidArgument("cursor", "belongs to another list")
        return _EPOCH + int(micros) * _MICROSECOND, UUID(hex=booking_hex)


def encode_keyset(at: datetime, row_id: UUID) -> str:
    """A plain keyset cursor ``(time, id)`` for lists whose query is scoped to the caller
    anyway (event types, users, teams, an organisation's bookings): tampering with it
    only moves the page start."""
    micros = (at - _EPOCH) // _MICROSECOND
    return _b64(f"k1|{micros}|{row_id.hex}".encode())


def decode_keyset(cursor: str) -> tuple[datetime, UUID]:
    """The ``(time, id)`` of ``encode_keyset``; raises ``InvalidArgument("cursor", ...)``."""
    try:
        version, micros, hex_id = _unb64(cursor).decode().split("|")
        if version != "k1":
            raise ValueError
        return _EPOCH + int(micros) * _MICROSECOND, UUID(hex=hex_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidArgument("cursor", "is not a valid cursor") from None
