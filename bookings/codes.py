"""Keypad codes by Nuki's rules. The rules live with the locks (`locks.keypad`), which draw
backup codes too; stays draw theirs through this module."""

from locks.keypad import DIGITS, LENGTH, NoCodeAvailable, draw_code, is_valid_code

__all__ = ["DIGITS", "LENGTH", "NoCodeAvailable", "draw_code", "is_valid_code"]
