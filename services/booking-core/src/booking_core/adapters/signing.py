"""The keys booking-core signs access tokens with, and their public JWK Set.

Two modes:

- **keys** (``JWT_SIGNING_KEYS_DIR``): every ``*.pem`` in the directory is a
  private key, Ed25519 (signs EdDSA) or RSA of at least 2048 bits (RS256). The
  last file by name signs; every key's public part is published, each with its
  ``kid``, the RFC 7638 JWK thumbprint. The directory is read again when its
  contents change (checked at most every ``reload_seconds``), so keys rotate
  without a restart: add the new key, wait for the verifiers' JWKS caches (they
  refetch on an unknown ``kid``), then remove the old one once its tokens expired.
- **development** (``JWT_SECRET``, no key directory): HS256 with the shared
  secret, no ``kid``, an empty JWK Set.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm

from booking_core.domain.errors import SignInUnavailable

MIN_RSA_BITS: Final = 2048
# JWK members that make up the thumbprint of each key type (RFC 7638, section 3.2).
_THUMBPRINT_MEMBERS: Final = {"OKP": ("crv", "kty", "x"), "RSA": ("e", "kty", "n")}


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    algorithm: str
    private_key: Any
    public_jwk: dict[str, Any]


def thumbprint(jwk: dict[str, Any]) -> str:
    """The RFC 7638 thumbprint of a public JWK: base64url(SHA-256(canonical JSON))."""
    members = {name: jwk[name] for name in _THUMBPRINT_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()


def load_key(path: Path) -> SigningKey:
    """A signing key from a PEM file; raises ``ValueError`` for another kind of key."""
    key = load_pem_private_key(path.read_bytes(), password=None)
    if isinstance(key, Ed25519PrivateKey):
        algorithm, jwk = "EdDSA", OKPAlgorithm.to_jwk(key.public_key(), as_dict=True)
    elif isinstance(key, RSAPrivateKey) and key.key_size >= MIN_RSA_BITS:
        algorithm, jwk = "RS256", RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    else:
        raise ValueError(f"{path}: not an Ed25519 key or an RSA key of >= {MIN_RSA_BITS} bits")
    kid = thumbprint(jwk)
    public = {**jwk, "kid": kid, "alg": algorithm, "use": "sig"}
    return SigningKey(kid, algorithm, key, public)


class TokenSigner:
    """Implements the service layer's ``TokenSigner`` port."""

    def __init__(
        self,
        *,
        keys_dir: Path | None = None,
        secret: str | None = None,
        issuer: str | None = None,
        audience: str | None = None,
        reload_seconds: float = 5.0,
    ) -> None:
        self._dir = keys_dir
        self._secret = secret
        self._issuer = issuer
        self._audience = audience
        self._reload_seconds = reload_seconds
        self._checked = 0.0
        self._state: tuple[tuple[str, float], ...] = ()
        self._keys: list[SigningKey] = []
        if keys_dir is not None:
            self._reload(force=True)

    def _reload(self, *, force: bool = False) -> None:
        if self._dir is None:
            return
        now = time.monotonic()
        if not force and now - self._checked < self._reload_seconds:
            return
        self._checked = now
        files = sorted(self._dir.glob("*.pem"))
        state = tuple((str(p), p.stat().st_mtime) for p in files)
        if state == self._state and not force:
            return
        keys = [load_key(path) for path in files]
        if not keys:
            raise ValueError(f"no *.pem signing key in {self._dir}")
        self._keys, self._state = keys, state

    def sign(self, claims: dict[str, Any]) -> str:
        claims = dict(claims)
        if self._issuer:
            claims["iss"] = self._issuer
        if self._audience:
            claims["aud"] = self._audience
        if self._dir is not None:
            self._reload()
            key = self._keys[-1]
            return jwt.encode(
                claims, key.private_key, algorithm=key.algorithm, headers={"kid": key.kid}
            )
        if self._secret:
            return jwt.encode(claims, self._secret, algorithm="HS256")
        raise SignInUnavailable("sign-in is not configured (JWT_SIGNING_KEYS_DIR or JWT_SECRET)")

    def jwks(self) -> dict[str, Any]:
        self._reload()
        return {"keys": [key.public_jwk for key in self._keys]}
