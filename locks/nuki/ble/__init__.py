"""Nuki Bluetooth LE protocol (Smart Lock BLE API v1.10, the keypad-code commands and the
longer answers of firmware with keypad support).

Pure Python on top of PyNaCl: no Django and nothing else from the project, so the on-site agent
and the simulators can use it on their own. Modules:

* `errors`: `ProtocolError` (every decode failure) and `NukiErrorReport` (the lock said no).
* `crc`, `crypto`: CRC-CCITT and the spec's dh1/kdf1/h1/e1.
* `values`: dates, times of day, weekday bitmask, names, PINs: one wire form each.
* `commands`: a typed dataclass per command, the registry and `decode_command`.
* `frames`: unencrypted and encrypted frames and the `Reassembler` for indications (any MTU).
* `pairing`: the pairing authenticators.
* `transport`, `client`: the async client (acting as an app) over an abstract transport;
  `exchange` (the request/answer steps) and `entries` (log, authorizations, keypad codes,
  time control) are its parts.
* `python -m locks.nuki.ble decode ...`: print any frame as JSON.
"""

from .commands import COMMANDS, Command, command_class, command_name, decode_command
from .errors import NukiErrorCode, NukiErrorReport, ProtocolError

__all__ = [
    "COMMANDS",
    "Command",
    "NukiErrorCode",
    "NukiErrorReport",
    "ProtocolError",
    "command_class",
    "command_name",
    "decode_command",
]
