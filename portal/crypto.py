"""Secrets at rest (bridge tokens, OAuth tokens): encrypted with XSalsa20-Poly1305 (PyNaCl
SecretBox). The key comes from LATCHKEY_ENCRYPTION_KEY, else is derived from SECRET_KEY."""

from __future__ import annotations

import base64
import hashlib

import nacl.exceptions
import nacl.secret
import nacl.utils
from django.conf import settings
from django.db import models

PREFIX = "enc1:"


def _box() -> nacl.secret.SecretBox:
    material = settings.LATCHKEY_ENCRYPTION_KEY or settings.SECRET_KEY
    key = hashlib.sha256(b"latchkey-secrets:" + material.encode()).digest()
    return nacl.secret.SecretBox(key)


def encrypt(plain: str) -> str:
    sealed = _box().encrypt(plain.encode())
    return PREFIX + base64.urlsafe_b64encode(bytes(sealed)).decode()


def decrypt(stored: str) -> str:
    if not stored.startswith(PREFIX):
        raise ValueError("not an encrypted value")
    try:
        return _box().decrypt(base64.urlsafe_b64decode(stored[len(PREFIX) :])).decode()
    except nacl.exceptions.CryptoError:
        raise ValueError("cannot decrypt: was the encryption key changed?") from None


class EncryptedTextField(models.TextField):
    """A text column whose value is encrypted before it reaches the database."""

    def from_db_value(self, value, expression, connection):
        if value in (None, ""):
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value in (None, ""):
            return value
        return encrypt(value)


def keyed_digest(purpose: str, message: bytes) -> bytes:
    """HMAC-SHA256 under the installation's key, per purpose: for tokens the portal can
    re-derive (the guest's stay link) and for short codes that must not be brute-forced from a
    database dump alone (a plain hash of six digits would be)."""
    import hmac

    material = settings.LATCHKEY_ENCRYPTION_KEY or settings.SECRET_KEY
    key = hashlib.sha256(f"latchkey-{purpose}:".encode() + material.encode()).digest()
    return hmac.new(key, message, hashlib.sha256).digest()
