"""How the simulated lock says no: `Refused` carries the Error Report code to answer."""

from __future__ import annotations


class Refused(Exception):
    """The lock answers with Error Report `code` (raised by handlers, caught by the lock)."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"0x{code:02X} {reason}".strip())
        self.code = code
        self.reason = reason
