"""Guests: people who book on a public page without an account.

A guest's details are validated here (``parse_guest``): names of 1..100
printable characters with at least one letter, an email address checked by
``email-validator`` (syntax only, RFC 5321/5322 with internationalized
addresses; no DNS), a phone number parsed by ``phonenumbers`` (Google's
libphonenumber metadata) in international format and stored as E.164, an
optional address (500) and special requests (2000).

A guest booking gets a ``reference`` (8 Crockford base32 characters of 40
random bits: short to read out on the phone, unique, never derived from the
clock) and a manage token: a 256-bit secret derived from the booking id with a
server key (HMAC-SHA256), so that a retried request and the mail worker can
give the guest the same link; only its SHA-256 is stored, and it is compared
in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import unicodedata
from dataclasses import dataclass
from typing import Final
from uuid import UUID

import phonenumbers
from bookings_common import limits
from email_validator import EmailNotValidError, validate_email

from .errors import InvalidArgument

MAX_GUEST_NAME_LENGTH: Final = limits.GUEST_NAME_MAX
MAX_EMAIL_LENGTH: Final = limits.EMAIL_MAX
MAX_PHONE_INPUT_LENGTH: Final = limits.PHONE_INPUT_MAX
MAX_ADDRESS_LENGTH: Final = limits.ADDRESS_MAX
MAX_SPECIAL_REQUESTS_LENGTH: Final = limits.SPECIAL_REQUESTS_MAX
CROCKFORD_ALPHABET: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
REFERENCE_LENGTH: Final = 8
# Crockford's decoding of look-alike characters.
_CROCKFORD_ALIASES: Final = str.maketrans({"O": "0", "I": "1", "L": "1"})


@dataclass(frozen=True, slots=True)
class Guest:
    """A guest's validated details; ``phone`` is E.164 (``+4930123456``)."""

    first_name: str
    last_name: str
    email: str
    phone: str
    address: str | None = None
    special_requests: str | None = None

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


def _name(value: str, field: str) -> str:
    value = value.strip()
    if value.isprintable():  # line breaks and other controls are refused (header injection)
        value = " ".join(part for part in value.split(" ") if part)
    if not 1 <= len(value) <= MAX_GUEST_NAME_LENGTH or not value.isprintable():
        raise InvalidArgument(field, f"must be 1 to {MAX_GUEST_NAME_LENGTH} printable characters")
    if not any(unicodedata.category(c).startswith("L") for c in value):
        raise InvalidArgument(field, "must contain a letter")
    return value


def _optional_text(value: str | None, field: str, maximum: int) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    if len(value) > maximum or not all(c.isprintable() or c in "\n\t" for c in value):
        raise InvalidArgument(field, f"must be at most {maximum} printable characters")
    return value


def parse_email(value: str, field: str = "email") -> str:
    """A syntactically valid address (normalized: the domain lowercased and IDNA-checked)."""
    value = value.strip()
    if not value or len(value) > MAX_EMAIL_LENGTH:
        raise InvalidArgument(field, "must be an email address")
    try:
        checked = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidArgument(field, f"must be an email address ({exc})") from None
    return str(checked.normalized)


def parse_phone(value: str, field: str = "phone") -> str:
    """A valid phone number in international format (``+`` and the country code), as E.164."""
    message = "must be a phone number with its country code, e.g. +49 30 1234567"
    if len(value) > MAX_PHONE_INPUT_LENGTH:
        raise InvalidArgument(field, message)
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise InvalidArgument(field, message) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidArgument(field, message)
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def parse_guest(
    *,
    first_name: str,
    last_name: str,
    email: str,
    phone: str,
    address: str | None = None,
    special_requests: str | None = None,
) -> Guest:
    """Validate and normalize a guest's details; raises ``InvalidArgument`` naming the
    field (``guest.first_name``, ``guest.phone``, ...)."""
    return Guest(
        first_name=_name(first_name, "guest.first_name"),
        last_name=_name(last_name, "guest.last_name"),
        email=parse_email(email, "guest.email"),
        phone=parse_phone(phone, "guest.phone"),
        address=_optional_text(address, "guest.address", MAX_ADDRESS_LENGTH),
        special_requests=_optional_text(
            special_requests, "guest.special_requests", MAX_SPECIAL_REQUESTS_LENGTH
        ),
    )


def new_reference() -> str:
    """8 random Crockford base32 characters (40 bits)."""
    return "".join(secrets.choice(CROCKFORD_ALPHABET) for _ in range(REFERENCE_LENGTH))


def normalize_reference(text: str) -> str | None:
    """A reference as typed (any case, hyphens, O for 0, I or L for 1) in canonical form,
    or ``None`` when it cannot be one."""
    cleaned = text.strip().upper().replace("-", "").replace(" ", "").translate(_CROCKFORD_ALIASES)
    if len(cleaned) != REFERENCE_LENGTH or any(c not in CROCKFORD_ALPHABET for c in cleaned):
        return None
    return cleaned


class ManageTokens:
    """Derive, hash and check manage-link tokens with one server key (at least 16 bytes)."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("manage token key must be at least 16 bytes")
        self._key = key
        # Compared against when a reference is unknown, so both cases take as long.
        self.dummy_hash = self.hash(secrets.token_urlsafe(32))

    def token_for(self, booking_id: UUID) -> str:
        """43 URL-safe characters: base64url(HMAC-SHA256(key, booking id))."""
        mac = hmac.new(self._key, b"manage-token:v1:" + booking_id.bytes, hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()

    @staticmethod
    def hash(token: str) -> bytes:
        """What is stored: SHA-256 of the token (a 256-bit secret needs no slow hash)."""
        return hashlib.sha256(token.encode()).digest()

    def matches(self, token: str, stored_hash: bytes) -> bool:
        """Constant-time comparison of ``token`` with a stored hash."""
        return hmac.compare_digest(self.hash(token), stored_hash)
