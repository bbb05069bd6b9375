"""A simulated Nuki Smart Lock: the lock side of the BLE protocol.

It models ONE firmware generation at a time, consistently in every message it sends: by
default a Nuki Smart Lock 3.0 with firmware 3.x (`firmware.SMART_LOCK_3`: keypad codes, the
77-byte Config that goes on after fob action 3 with single lock, advertising mode, has keypad,
firmware version, hardware revision, HomeKit status, time zone id, device type, capabilities
and has keypad v2, and the longer Nuki States, Advanced Config, Battery Report and Log Entry
Count of the same firmware). `SimulatedLock(firmware=SMART_LOCK_1_V110)` is a spec v1.10 lock
instead (63-byte Config, no keypad commands). firmware.py lists each generation's layouts.

Built on the protocol library in `locks.nuki.ble` (which never imports this), no Django. It
serves any `Transport`; `SimulatedLock.connect()` gives a client an in-memory
`LoopbackTransport` with an ATT MTU (23 unless the client asks for more, up to the firmware's
`max_mtu`), on which every answer really travels as indications of at most MTU - 3 bytes (20
at the default), so the real `NukiClient` reassembles them exactly as from a lock.

    lock = SimulatedLock(name="Front door", pin=1234, capacity=100, clock=ManualClock())
    lock.enter_pairing_mode()
    async with lock.running():
        client = NukiClient(lock.connect(), security_pin=1234)
        await client.pair(app_id=1, name="agent")
        await client.lock_action(LockAction.UNLOCK)
    assert lock.state == LockState.UNLOCKED

Where things are: `core.py` what the lock keeps (memory, log, counters, pairing mode),
`lock.py` the connections and the dispatch of frames, `session.py` one connection (transport,
framing, crypto), `handlers/` the keyturner commands by area (actions, config, authorizations,
logs, keypad, time control), `motor.py` lock actions running in the background, `pairing.py`
the pairing exchange (it sees the lock only through `PairingStore`), `firmware.py` the
generations and their layouts, `model.py` the stored records, `clock.py` time, `persist.py`
the lock's flash as JSON.

What it does:

* Pairing only in pairing mode (`enter_pairing_mode()`), left after a successful pairing or
  when `pairing_timeout` seconds of the time source have passed; the full exchange with every
  authenticator checked; authorizations stored with their shared keys; P_ERROR_MAX_USER at
  `max_authorizations`; pairing a bridge unregisters the previous bridge.
* Challenges per authorization: a command's n_K must be the last challenge issued to that
  authorization, and each challenge is good for one command (any attempt uses it up), so a
  replayed frame gets K_ERROR_BAD_NONCE.
* Security PIN: `max_pin_attempts` wrong PINs in a row lock PIN commands out for
  `pin_lockout_seconds` of the time source (K_ERROR_TOO_MANY_PIN_ATTEMPTS, even with the right
  PIN); a right PIN resets the count. A PIN of the wrong width is ERROR_BAD_LENGTH.
* Authorizations: enabled flag (K_ERROR_DISABLED), time windows (K_ERROR_TIME_NOT_ALLOWED),
  remote access for connections opened with `connect(via_bridge=True)`
  (K_ERROR_REMOTE_NOT_ALLOWED); these apply to every command except Request Data. List (count,
  own entry first, COMPLETE), update, remove (K_ERROR_INVALID_AUTH_ID), invite (0x000B).
* Keypad codes: 6 digits 1-9 not starting with 12 (0x2B), unique (0x2A), at most `capacity`
  (0x29), window checked (K_ERROR_BAD_PARAMETER); add answers Keypad Code ID then COMPLETE; list
  answers Keypad Code Count, the entries, COMPLETE; update and remove (unknown id:
  K_ERROR_BAD_PARAMETER). `enter_keypad_code()` is a guest at the keypad.
* Lock actions: Status ACCEPTED, a Nuki States per state passed (unlock: unlocking, unlocked;
  lock: locking, locked; unlatch: unlatching, unlatched, unlocked; lock 'n' go: unlocking,
  unlocked (lock 'n' go), locking, locked), then Status COMPLETE; `action_seconds` between
  states. K_ERROR_BUSY while one runs, K_ERROR_AUTO_UNLOCK_TOO_RECENT within
  `auto_unlock_cooldown`, K_ERROR_POSITION_UNKNOWN over a bridge when the position is unknown,
  injectable motor faults (`inject_fault`). Fob actions map through Config's fob actions.
* Log (`log`: the LogEntry commands the lock sends): lock actions (type 2), logging on/off
  (type 1), keypad use (type 5), and keypad code changes (type 0xF0, simulator-only; see
  `LOG_TYPE_KEYPAD_CODE_CHANGE`). Request Log Entries honours start index, count, sort order and
  the total-count flag.
* Lock clock set by Update Time and running on the injectable time source (`clock.py`); Nuki
  States, battery report, Config / Set Config, Advanced Config, Set / Verify Security PIN, time
  control entries (stored and listed, not executed), calibration, reboot, disconnect, and
  `idle_timeout` (drop a quiet connection).
* Error Report for undecodable frames: ERROR_BAD_CRC, ERROR_BAD_LENGTH, ERROR_UNKNOWN (unknown
  or misplaced command); K_ERROR_NOT_AUTHORIZED, unencrypted, for an unknown authorization id or
  a frame the stored key cannot open.
"""

from .clock import LockClock, ManualClock, TimeSource, system_time
from .core import LOG_TYPE_KEYPAD_ACTION, LOG_TYPE_KEYPAD_CODE_CHANGE, LockCore
from .errors import Refused
from .firmware import GENERATIONS, SMART_LOCK_1_V110, SMART_LOCK_3, Firmware
from .lock import SimulatedLock
from .model import (
    MOTIONS,
    AdvancedConfiguration,
    Authorization,
    KeypadCodeEntry,
    LockConfiguration,
    TimeControlRecord,
    TimeWindow,
)
from .motor import MOTOR_FAULTS, Motor
from .pairing import PairingExchange, PairingStore
from .session import Session

__all__ = [
    "GENERATIONS",
    "LOG_TYPE_KEYPAD_ACTION",
    "LOG_TYPE_KEYPAD_CODE_CHANGE",
    "MOTIONS",
    "MOTOR_FAULTS",
    "SMART_LOCK_1_V110",
    "SMART_LOCK_3",
    "AdvancedConfiguration",
    "Authorization",
    "Firmware",
    "KeypadCodeEntry",
    "LockClock",
    "LockConfiguration",
    "LockCore",
    "ManualClock",
    "Motor",
    "PairingExchange",
    "PairingStore",
    "Refused",
    "Session",
    "SimulatedLock",
    "TimeControlRecord",
    "TimeSource",
    "TimeWindow",
    "system_time",
]
