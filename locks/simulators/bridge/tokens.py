"""How the simulated bridge checks a request's token: plain, hashed or encrypted.

Hashed (`ts`, `rnr`, `hash`) and encrypted (`ctoken`, `nonce`) tokens are refused when their
timestamp is more than `max_skew` seconds away from the bridge's clock, or when their
(ts, rnr) was used before.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import threading

import nacl.exceptions
import nacl.secret

from .model import TS_FORMAT


class TokenGuard:
    """Checks tokens against the bridge's token and remembers used (ts, rnr) pairs."""

    def __init__(self) -> None:
        self._used: dict[tuple[str, int], float] = {}
        self._lock = threading.Lock()

    def problem(self, p: dict[str, str], token: str, now: float, max_skew: float) -> str | None:
        """None when the request carries a valid token, else why not."""
        if "token" in p:
            if hmac.compare_digest(p["token"].encode(), token.encode()):
                return None
            return "wrong token"
        if "hash" in p:
            ts, rnr = p.get("ts", ""), p.get("rnr", "")
            expected = hashlib.sha256(f"{ts},{rnr},{token}".encode()).hexdigest()
            if not hmac.compare_digest(p["hash"].lower().encode(), expected.encode()):
                return "wrong hash (wrong token, or ts/rnr differ from what was hashed)"
            return self._fresh(ts, rnr, now, max_skew)
        if "ctoken" in p:
            try:
                nonce = bytes.fromhex(p.get("nonce", ""))
                sealed = bytes.fromhex(p["ctoken"])
            except ValueError:
                return "ctoken and nonce must be hex"
            if len(nonce) != nacl.secret.SecretBox.NONCE_SIZE:
                return "nonce must be 24 bytes"
            box = nacl.secret.SecretBox(hashlib.sha256(token.encode()).digest())
            try:
                ts, _, rnr = box.decrypt(sealed, nonce).decode().partition(",")
            except (nacl.exceptions.CryptoError, UnicodeDecodeError):
                return "ctoken does not decrypt with this bridge's token"
            return self._fresh(ts, rnr, now, max_skew)
        return "no token"

    def _fresh(self, ts: str, rnr: str, now: float, max_skew: float) -> str | None:
        try:
            when = dt.datetime.strptime(ts, TS_FORMAT).replace(tzinfo=dt.UTC).timestamp()
        except ValueError:
            return "ts must be YYYY-MM-DDTHH:MM:SSZ"
        if not rnr.isdigit() or not 0 <= int(rnr) <= 65535:
            return "rnr must be a uint16"
        if abs(now - when) > max_skew:
            return f"ts is {now - when:+.0f} s away from the bridge's clock"
        key = (ts, int(rnr))
        with self._lock:
            horizon = now - 2 * max_skew - 5
            for old in [k for k, seen in self._used.items() if seen < horizon]:
                del self._used[old]
            if key in self._used:
                return "token already used (same ts and rnr)"
            self._used[key] = now
        return None
