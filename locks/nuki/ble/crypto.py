"""The spec's cryptographic functions dh1, kdf1, h1 and e1, on top of PyNaCl (libsodium).

* dh1 = crypto_scalarmult_curve25519 (X25519).
* kdf1 = crypto_core_hsalsa20(k=dh1 output, in=16 zero bytes, c="expand 32-byte k").
  PyNaCl has no binding for crypto_core_hsalsa20, but NaCl's crypto_box_beforenm is defined as
  exactly dh1 followed by kdf1, so `shared_key()` uses it. `kdf1()` is also provided on its own
  as a small pure-Python HSalsa20 so the two halves can be checked separately against the
  spec's example (the dh key and the shared key are both printed there).
* h1 = HMAC-SHA256 keyed with the shared key (pairing authenticators).
* e1 = crypto_secretbox_xsalsa20poly1305 with a 24-byte nonce sent in clear.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from nacl import bindings
from nacl.exceptions import CryptoError

from .errors import DecryptionError, ProtocolError

KEY_SIZE = 32
"""Bytes in a Curve25519 key, the shared key and an authenticator."""
NONCE_SIZE = 24
"""Bytes in the secretbox nonce that leads every encrypted frame."""
CHALLENGE_SIZE = 32
"""Bytes in a challenge nonce n_K / n_A (Challenge 0x0004 and the commands that echo it)."""
MAC_SIZE = 16
"""Bytes the Poly1305 tag adds to every ciphertext."""

RandomSource = Callable[[int], bytes]


def random_bytes(size: int) -> bytes:
    """Cryptographically strong random bytes (the default `RandomSource`)."""
    return os.urandom(size)


def new_nonce(random: RandomSource = random_bytes) -> bytes:
    """A fresh 24-byte secretbox nonce. Never reuse one with the same shared key."""
    return random(NONCE_SIZE)


def new_challenge(random: RandomSource = random_bytes) -> bytes:
    """A fresh 32-byte challenge nonce (n_K on the lock side, n_A on the app side)."""
    return random(CHALLENGE_SIZE)


def _check_key(name: str, key: bytes) -> None:
    if not isinstance(key, bytes | bytearray) or len(key) != KEY_SIZE:
        raise ValueError(f"{name} must be {KEY_SIZE} bytes")


@dataclass(frozen=True)
class KeyPair:
    """A Curve25519 key pair; `secret_key` must never leave the device that made it."""

    secret_key: bytes = field(repr=False)
    public_key: bytes

    @classmethod
    def generate(cls, random: RandomSource = random_bytes) -> KeyPair:
        """Make a new key pair from `random` (injectable so tests can be deterministic)."""
        return cls.from_secret_key(random(KEY_SIZE))

    @classmethod
    def from_secret_key(cls, secret_key: bytes) -> KeyPair:
        """Rebuild a key pair from a stored secret key."""
        _check_key("secret_key", secret_key)
        return cls(bytes(secret_key), bindings.crypto_scalarmult_base(bytes(secret_key)))


def dh1(secret_key: bytes, public_key: bytes) -> bytes:
    """X25519 of our secret key and the peer's public key (the spec's DH key k)."""
    _check_key("secret_key", secret_key)
    _check_key("public_key", public_key)
    try:
        return bindings.crypto_scalarmult(bytes(secret_key), bytes(public_key))
    except (CryptoError, RuntimeError) as exc:  # low-order point: a malicious or broken key
        raise ProtocolError("peer public key rejected by X25519") from exc


_SIGMA = b"expand 32-byte k"
_MASK32 = 0xFFFFFFFF


def _rotl(value: int, shift: int) -> int:
    return ((value << shift) | (value >> (32 - shift))) & _MASK32


def _hsalsa20(key: bytes, inp: bytes, const: bytes) -> bytes:
    """HSalsa20 core: 20 Salsa rounds, output words 0,5,10,15,6,7,8,9 without feed-forward."""
    c = struct.unpack("<4I", const)
    k = struct.unpack("<8I", key)
    i = struct.unpack("<4I", inp)
    x = [c[0], *k[0:4], c[1], *i, c[2], *k[4:8], c[3]]
    for _ in range(10):
        for a, b, cc, d in ((0, 4, 8, 12), (5, 9, 13, 1), (10, 14, 2, 6), (15, 3, 7, 11)):
            x[b] ^= _rotl((x[a] + x[d]) & _MASK32, 7)
            x[cc] ^= _rotl((x[b] + x[a]) & _MASK32, 9)
            x[d] ^= _rotl((x[cc] + x[b]) & _MASK32, 13)
            x[a] ^= _rotl((x[d] + x[cc]) & _MASK32, 18)
        for a, b, cc, d in ((0, 1, 2, 3), (5, 6, 7, 4), (10, 11, 8, 9), (15, 12, 13, 14)):
            x[b] ^= _rotl((x[a] + x[d]) & _MASK32, 7)
            x[cc] ^= _rotl((x[b] + x[a]) & _MASK32, 9)
            x[d] ^= _rotl((x[cc] + x[b]) & _MASK32, 13)
            x[a] ^= _rotl((x[d] + x[cc]) & _MASK32, 18)
    return struct.pack("<8I", x[0], x[5], x[10], x[15], x[6], x[7], x[8], x[9])


def kdf1(dh_key: bytes) -> bytes:
    """Derive the long-term shared key from a DH key: HSalsa20(k, 16 zero bytes, sigma)."""
    _check_key("dh_key", dh_key)
    return _hsalsa20(bytes(dh_key), bytes(16), _SIGMA)


def shared_key(secret_key: bytes, peer_public_key: bytes) -> bytes:
    """kdf1(dh1(secret_key, peer_public_key)) via libsodium's crypto_box_beforenm."""
    _check_key("secret_key", secret_key)
    _check_key("peer_public_key", peer_public_key)
    try:
        return bindings.crypto_box_beforenm(bytes(peer_public_key), bytes(secret_key))
    except (CryptoError, RuntimeError) as exc:
        raise ProtocolError("peer public key rejected by X25519") from exc


def h1(key: bytes, *parts: bytes) -> bytes:
    """HMAC-SHA256 over the concatenated `parts`, keyed with the shared key."""
    _check_key("key", key)
    return hmac.new(bytes(key), b"".join(parts), hashlib.sha256).digest()


def authenticators_equal(a: bytes, b: bytes) -> bool:
    """Constant-time comparison, so a forged authenticator cannot be found byte by byte."""
    return hmac.compare_digest(a, b)


def e1_encrypt(key: bytes, nonce: bytes, plaintext: bytes) -> bytes:
    """Secretbox `plaintext`; returns tag (16 bytes) followed by the ciphertext, no nonce."""
    _check_key("key", key)
    if len(nonce) != NONCE_SIZE:
        raise ValueError(f"nonce must be {NONCE_SIZE} bytes")
    return bindings.crypto_secretbox(bytes(plaintext), bytes(nonce), bytes(key))


def e1_decrypt(key: bytes, nonce: bytes, ciphertext: bytes) -> bytes:
    """Open a secretbox; raises `DecryptionError` if the tag does not verify."""
    _check_key("key", key)
    if len(nonce) != NONCE_SIZE:
        raise DecryptionError(f"nonce must be {NONCE_SIZE} bytes")
    if len(ciphertext) < MAC_SIZE:
        raise DecryptionError("ciphertext shorter than its authentication tag")
    try:
        return bindings.crypto_secretbox_open(bytes(ciphertext), bytes(nonce), bytes(key))
    except CryptoError as exc:
        raise DecryptionError("ciphertext failed authentication (wrong key or tampered)") from exc
