"""Keypad codes by Nuki's rules: 6 digits from 1-9, not starting with 12, unique on the lock.

On top of Nuki's rules, codes are hard to guess and easy to type: drawn with `secrets`, at most
two equal digits in a row, at least three distinct digits.
"""

from __future__ import annotations

import secrets
from collections.abc import Container

DIGITS = "123456789"
LENGTH = 6


def is_valid_code(code: str) -> bool:
    if len(code) != LENGTH or any(ch not in DIGITS for ch in code):
        return False
    if code.startswith("12"):
        return False
    if len(set(code)) < 3:
        return False
    return all(not (code[i] == code[i + 1] == code[i + 2]) for i in range(LENGTH - 2))


class NoCodeAvailable(RuntimeError):
    """Every attempt collided with a code in use (practically impossible below ~100k codes)."""


def draw_code(*, avoid: Container[str] = (), attempts: int = 1000) -> str:
    for _ in range(attempts):
        code = "".join(secrets.choice(DIGITS) for _ in range(LENGTH))
        if is_valid_code(code) and code not in avoid:
            return code
    raise NoCodeAvailable("Could not draw a free keypad code.")
