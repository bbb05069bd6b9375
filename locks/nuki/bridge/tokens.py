"""The three ways a request proves it knows the bridge's API token.

- plain:     token=<token>
- hashed:    ts=<UTC YYYY-MM-DDTHH:MM:SSZ>&rnr=<uint16>&hash=sha256_hex("ts,rnr,token")
- encrypted: ctoken=hex(secretbox("ts,rnr", key=sha256(token)))&nonce=<24-byte nonce, hex>

Hashed and encrypted tokens are single-use (the bridge refuses a (ts, rnr) pair it has seen) and
only valid while the bridge's clock and ours agree (the bridge allows about a minute). They are
built fresh for every request, after the per-bridge lock is taken, so time spent waiting for the
lock never makes them stale.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from enum import StrEnum

import nacl.secret
import nacl.utils

TS_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class TokenMode(StrEnum):
    PLAIN = "plain"
    HASHED = "hashed"
    ENCRYPTED = "encrypted"


def format_ts(when: dt.datetime | float) -> str:
    """A timestamp as the bridge wants it: UTC, whole seconds, e.g. 2019-03-05T01:06:53Z."""
    if not isinstance(when, dt.datetime):
        when = dt.datetime.fromtimestamp(when, tz=dt.UTC)
    elif when.tzinfo is None:
        raise ValueError("format_ts needs an aware datetime")
    return when.astimezone(dt.UTC).strftime(TS_FORMAT)


def hash_token(token: str, ts: str, rnr: int) -> str:
    """sha256 hex of "ts,rnr,token" (section 3.2.1 of the Bridge HTTP API)."""
    return hashlib.sha256(f"{ts},{rnr},{token}".encode()).hexdigest()


def encryption_key(token: str) -> bytes:
    """The secretbox key for encrypted tokens: the raw sha256 digest of the token."""
    return hashlib.sha256(token.encode()).digest()


def encrypt_token(token: str, ts: str, rnr: int, nonce: bytes) -> str:
    """hex(secretbox("ts,rnr")) under sha256(token), without the nonce (sent separately)."""
    if len(nonce) != nacl.secret.SecretBox.NONCE_SIZE:
        raise ValueError("the nonce must be 24 bytes")
    box = nacl.secret.SecretBox(encryption_key(token))
    return box.encrypt(f"{ts},{rnr}".encode(), nonce).ciphertext.hex()


class TokenSigner:
    """Makes the token query parameters for one request.

    clock: returns the current UNIX time; clock_offset (seconds) is added to it, for a bridge
    whose clock is known to be off.
    """

    def __init__(
        self,
        token: str,
        mode: TokenMode | str = TokenMode.ENCRYPTED,
        *,
        clock: Callable[[], float] = time.time,
        clock_offset: float = 0.0,
    ):
        if not token:
            raise ValueError("the bridge API token is empty")
        self.token = token
        self.mode = TokenMode(mode)
        self.clock = clock
        self.clock_offset = clock_offset
        self._used_lock = threading.Lock()
        self._used_ts = ""
        self._used_rnr: set[int] = set()

    def _fresh(self) -> tuple[str, int]:
        """A timestamp and a random number this process has not used together before.

        Another process can still pick the same pair in the same second (1 in 65536 per pair);
        the client retries a refused hashed/encrypted token once to cover that.
        """
        ts = format_ts(self.clock() + self.clock_offset)
        with self._used_lock:
            if ts != self._used_ts:
                self._used_ts, self._used_rnr = ts, set()
            while True:
                rnr = secrets.randbelow(65536)
                if rnr not in self._used_rnr:
                    self._used_rnr.add(rnr)
                    return ts, rnr

    def params(self) -> dict[str, str]:
        if self.mode is TokenMode.PLAIN:
            return {"token": self.token}
        ts, rnr = self._fresh()
        if self.mode is TokenMode.HASHED:
            return {"ts": ts, "rnr": str(rnr), "hash": hash_token(self.token, ts, rnr)}
        nonce = nacl.utils.random(nacl.secret.SecretBox.NONCE_SIZE)
        return {"ctoken": encrypt_token(self.token, ts, rnr, nonce), "nonce": nonce.hex()}
