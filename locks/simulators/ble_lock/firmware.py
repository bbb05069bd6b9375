"""Firmware generations the simulated lock can be: which layout every message it sends has.

A real lock runs one firmware, and every answer it sends has that firmware's layout: a lock
whose firmware knows keypad codes also sends the longer Config, Nuki States, Advanced Config,
Battery Report and Log Entry Count of the later spec, and a v1.10 lock knows no keypad
commands at all. `SimulatedLock(firmware=...)` picks one generation; the default,
`SMART_LOCK_3`, is what the portal meets in the field. Tests choose `SMART_LOCK_1_V110` to check
that our client still reads the old layouts.

Sizes of the payloads each generation sends (bytes):

    message               v1.10 (SMART_LOCK_1_V110)   Smart Lock 3.0, firmware 3.x
    Config (0x0015)       63                          77  (+ single lock .. time zone id,
                                                           device type, capabilities,
                                                           has keypad v2)
    Nuki States (0x000C)  18                          21  (+ door sensor state, night mode
                                                           active, accessory battery state)
    Advanced Config       17                          31  (+ auto lock, night mode, auto update)
    Battery Report        5                           17  (+ last action's measurements)
    Log Entry Count       3                           5   (+ door sensor flags)
    Authorization Entry   56, or 75 if time limited   75  (always with the time fields)
    Log Entry             48 + data (1 or 4 bytes)    53  (data padded to 5 bytes)
    keypad commands       ERROR_UNKNOWN               0x0041-0x0047 (Keypad Code: 63 bytes,
                                                           always with the time fields)

Status, Challenge and the pairing messages have the same layout in both. The ATT
MTU: a v1.10 lock stays at the default 23 (20-byte indications); the Smart Lock 3.0 accepts
an MTU exchange up to `max_mtu` (247, the simulator's choice; the real figure is not
published). The later layouts are Nuki's Smart Lock API v2.2.1 as the open-source clients
implement it (NukiBleEsp32, pyNukiBT); device type, capabilities and has keypad v2 are seen
from Smart Lock 3.0 by those clients and named as they name them (*unconfirmed*).
"""

from __future__ import annotations

from dataclasses import dataclass

from locks.nuki.ble import commands as c
from locks.nuki.ble.constants import AdvertisingMode, HomeKitStatus
from locks.nuki.ble.gatt import DEFAULT_MTU

KEYPAD_COMMANDS: tuple[type[c.Command], ...] = (
    c.AddKeypadCode,
    c.RequestKeypadCodes,
    c.UpdateKeypadCode,
    c.RemoveKeypadCode,
)
"""What a lock without keypad support answers with ERROR_UNKNOWN."""


@dataclass(frozen=True)
class Firmware:
    """One firmware generation: what the lock reports about itself and which layouts it uses."""

    name: str
    keypad_support: bool
    """Keypad code commands, and the longer layouts of the answers that came with them."""
    version: bytes = b"\x01\x0a\x00"
    hardware_revision: bytes = b"\x01\x00"
    device_type: int | None = None
    """Config's device type, capabilities and has keypad v2 (Smart Lock 3.0 on); None: not
    sent."""
    capabilities: int = 0
    has_keypad_v2: int = 0
    homekit_status: int = HomeKitStatus.NOT_AVAILABLE
    advertising_mode: int = AdvertisingMode.AUTOMATIC
    max_mtu: int = DEFAULT_MTU
    """The largest ATT MTU the lock accepts in an MTU exchange."""

    @property
    def version_text(self) -> str:
        return ".".join(str(part) for part in self.version)

    def knows(self, command: c.Command) -> bool:
        """Whether this firmware has the command at all."""
        return self.keypad_support or not isinstance(command, KEYPAD_COMMANDS)


SMART_LOCK_3 = Firmware(
    name="Smart Lock 3.0, firmware 3.x",
    keypad_support=True,
    version=bytes((3, 8, 2)),
    hardware_revision=bytes((7, 1)),
    device_type=4,
    capabilities=0x01,
    has_keypad_v2=1,
    homekit_status=HomeKitStatus.DISABLED,
    max_mtu=247,
)
"""The default: a current lock with keypad codes (what issue 15 asks the simulator to be)."""

SMART_LOCK_1_V110 = Firmware(
    name="Smart Lock 1.0, firmware 1.x (spec v1.10)",
    keypad_support=False,
    version=bytes((1, 10, 0)),
    hardware_revision=bytes((1, 0)),
    max_mtu=DEFAULT_MTU,
)
"""The spec v1.10 lock: 63-byte Config, no keypad commands, no MTU exchange."""

GENERATIONS: dict[str, Firmware] = {"3": SMART_LOCK_3, "1.10": SMART_LOCK_1_V110}
"""By short name, for command lines and persisted locks."""
