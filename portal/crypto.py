"""Secrets at rest (bridge tokens, OAuth tokens, PMS secrets, iCal URLs) and keyed digests.

Encryption is XSalsa20-Poly1305 (PyNaCl SecretBox) under a *key ring*: LATCHKEY_ENCRYPTION_KEY is
a comma-separated list, newest first. The newest key encrypts and signs; every listed key still
decrypts and verifies, so rotating a key never loses a stored secret or breaks a link a guest
already has. Outside production an empty LATCHKEY_ENCRYPTION_KEY falls back to SECRET_KEY (and
SECRET_KEY_FALLBACKS), as before; production refuses to start without a key of its own
(portal.config.check_production_secrets).

Every value written carries the id of the key that made it (`enc2:<key id>:<ciphertext>`,
`<key id>:<hex digest>`), so reading picks the right key at once. Values written before key ids
existed (`enc1:`, bare hex digests) are still read by trying each candidate key, including
SECRET_KEY: before the ring, an installation without LATCHKEY_ENCRYPTION_KEY encrypted under a
key derived from it. `manage.py rotate_secrets` re-encrypts everything under the newest key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from functools import lru_cache

import nacl.exceptions
import nacl.secret
from django.conf import settings
from django.db import models

PREFIX = "enc2:"  # enc2:<key id>:<urlsafe base64 of nonce + ciphertext>
LEGACY_PREFIX = "enc1:"  # no key id: written before the key ring
KEY_ID_LENGTH = 8


@dataclass(frozen=True)
class Key:
    """One key of the ring. The id is derived from the key itself, so no one has to number keys
    by hand and the same key always has the same id in every process."""

    kid: str
    material: str = field(repr=False)


def key_id(material: str) -> str:
    return hashlib.sha256(b"latchkey-key-id:" + material.encode()).hexdigest()[:KEY_ID_LENGTH]


@lru_cache(maxsize=32)
def _keys(materials: tuple[str, ...]) -> tuple[Key, ...]:
    seen: dict[str, Key] = {}
    for material in materials:
        if material:
            key = Key(kid=key_id(material), material=material)
            seen.setdefault(key.kid, key)
    return tuple(seen.values())


def _configured() -> list[str]:
    ring = getattr(settings, "LATCHKEY_ENCRYPTION_KEYS", None) or []
    if isinstance(ring, str):  # tolerate a plain string (override_settings in a test, say)
        ring = [part.strip() for part in ring.split(",")]
    return [material for material in ring if material]


def _signing_materials() -> list[str]:
    return [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]


def keyring() -> tuple[Key, ...]:
    """The keys in force, newest first: the first encrypts and signs, all of them read."""
    return _keys(tuple(_configured() or _signing_materials()))


def newest_key() -> Key:
    return keyring()[0]


def candidate_keys() -> tuple[Key, ...]:
    """Every key stored data may have been written with: the ring, then SECRET_KEY and its
    fallbacks (data written before LATCHKEY_ENCRYPTION_KEY was set)."""
    return _keys(tuple(_configured() + _signing_materials()))


def find_key(kid: str) -> Key | None:
    return next((key for key in candidate_keys() if key.kid == kid), None)


@lru_cache(maxsize=32)
def _box(material: str) -> nacl.secret.SecretBox:
    return nacl.secret.SecretBox(hashlib.sha256(b"latchkey-secrets:" + material.encode()).digest())


def encrypt(plain: str) -> str:
    key = newest_key()
    sealed = _box(key.material).encrypt(plain.encode())
    return f"{PREFIX}{key.kid}:{base64.urlsafe_b64encode(bytes(sealed)).decode()}"


def stored_key_id(stored: str) -> str | None:
    """The id of the key a stored value was encrypted with; None for values from before ids."""
    if stored.startswith(PREFIX):
        return stored[len(PREFIX) :].partition(":")[0]
    return None


def is_current(stored: str) -> bool:
    """True when a stored value is already encrypted under the newest key."""
    return stored.startswith(f"{PREFIX}{newest_key().kid}:")


def decrypt(stored: str) -> str:
    if stored.startswith(PREFIX):
        kid, _, body = stored[len(PREFIX) :].partition(":")
        key = find_key(kid)
        if key is None:
            raise ValueError(
                f"cannot decrypt: key {kid} is no longer listed in LATCHKEY_ENCRYPTION_KEY"
            )
        candidates: tuple[Key, ...] = (key,)
    elif stored.startswith(LEGACY_PREFIX):
        body = stored[len(LEGACY_PREFIX) :]
        candidates = candidate_keys()
    else:
        raise ValueError("not an encrypted value")
    sealed = base64.urlsafe_b64decode(body)
    for key in candidates:
        try:
            return _box(key.material).decrypt(sealed).decode()
        except nacl.exceptions.CryptoError:
            continue
    raise ValueError("cannot decrypt: was the encryption key changed?")


class EncryptedTextField(models.TextField):
    """A text column whose value is encrypted before it reaches the database.
    `manage.py rotate_secrets` finds every field of this class in every app."""

    def from_db_value(self, value, expression, connection):
        if value in (None, ""):
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value in (None, ""):
            return value
        return encrypt(value)


def keyed_digest(purpose: str, message: bytes, *, key: Key | None = None) -> bytes:
    """HMAC-SHA256 under the installation's key (the newest unless `key` is given), per purpose:
    for tokens the portal can re-derive (the guest's stay link) and for short codes that must not
    be brute-forced from a database dump alone (a plain hash of six digits would be)."""
    material = (key or newest_key()).material
    derived = hashlib.sha256(f"latchkey-{purpose}:".encode() + material.encode()).digest()
    return hmac.new(derived, message, hashlib.sha256).digest()


def stamped_digest(purpose: str, message: bytes) -> str:
    """A keyed digest to store: `<key id>:<hex>`, checkable after the key is rotated."""
    key = newest_key()
    return f"{key.kid}:{keyed_digest(purpose, message, key=key).hex()}"


def verify_stamped_digest(purpose: str, message: bytes, stored: str) -> bool:
    """Whether `stored` (from stamped_digest, or a bare hex digest from before key ids) is the
    digest of `message`: under the key it names, or under any candidate key for a bare one."""
    kid, sep, digest = stored.rpartition(":")
    if sep:
        key = find_key(kid)
        keys: tuple[Key, ...] = (key,) if key else ()
    else:
        keys = candidate_keys()
    return any(
        hmac.compare_digest(keyed_digest(purpose, message, key=key).hex(), digest) for key in keys
    )
