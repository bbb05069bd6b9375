"""A stand-in for a Nuki hardware bridge, speaking the Bridge HTTP API v1.13 over real HTTP.

Command line (a long-running server, e.g. for the dev stack or a third-party client):

    python -m locks.simulators.bridge --host 127.0.0.1 --port 8080 --token TOKEN --locks 2 \
        [--action-seconds 1.5]

In tests (stdlib only, plus PyNaCl for encrypted tokens):

    with BridgeSimulator(locks=2, action_seconds=0.05) as sim:
        ...  # sim.url, sim.token, sim.locks, sim.press_button(), sim.max_concurrent_seen

What it does, as the hardware does (FACTS.md, "Bridge HTTP API"):
- Every endpoint is GET with query parameters: /auth, /configAuth, /list, /lockState,
  /lockAction, /lock, /unlock, /unpair, /info, /callback/add|list|remove, /log, /clearlog,
  /reboot, /fwupdate, /factoryReset.
- Tokens: plain `token`; hashed `ts`/`rnr`/`hash`; encrypted `ctoken`/`nonce`. Hashed and
  encrypted tokens are refused (401) when their timestamp is more than `max_skew` (60 s) away
  from the bridge's clock, or when their (ts, rnr) was used before.
- One request at a time: a request that arrives while another is being served gets 503. The
  radio runs one lock command at a time too: /lockState and lock actions get 503 while an
  action started with nowait=1 is still running.
- Lock actions take `action_seconds` per movement and go through the documented states
  (unlock: unlocking -> unlocked; lock: locking -> locked; unlatch: unlatching -> unlatched ->
  unlocked; lock 'n' go: unlocking -> unlocked (lock 'n' go) -> locking -> locked). With
  nowait=1 (third-party clients also send noWait=1) the answer comes at once.
- Every state change (lock state or door sensor) is appended to /log and POSTed as JSON to each
  registered callback URL (at most 3) by a background thread; requests never wait for it.
- /auth hands out the token only if the bridge button is pressed (`press_button()` or
  GET/POST /__sim__/press-button) within `auth_window` (30 s) of the request: a press while
  /auth waits, or shortly before it.

Our own choices where the documents are silent: the /log entries' fields beyond timestamp and
type; /lock maps to "lock" and /unlock to "unlock" ("unlatch" for a lock with a knob); the
maintenance endpoints answer 200 with an empty body; /factoryReset clears callbacks and the log
but keeps the token and the paired locks.

Test hooks (not part of the bridge API, never counted as bridge requests): /__sim__/press-button,
/__sim__/state; methods set_door(), set_battery(), set_offline(); attributes `latency` (added
to every API answer) and `clock_offset` (the bridge's clock error, in seconds).
"""

from .model import (
    ACTION_LNG,
    ACTION_LNG_UNLATCH,
    ACTION_LOCK,
    ACTION_UNLATCH,
    ACTION_UNLOCK,
    DOOR_CALIBRATING,
    DOOR_CLOSED,
    DOOR_DEACTIVATED,
    DOOR_NAMES,
    DOOR_OPENED,
    DOOR_UNKNOWN,
    LOCKED,
    LOCKING,
    STATE_NAMES,
    UNCALIBRATED,
    UNLATCHED,
    UNLATCHING,
    UNLOCKED,
    UNLOCKED_LNG,
    UNLOCKING,
    SimulatedLock,
)
from .receiver import CallbackReceiver
from .server import BridgeSimulator

__all__ = [
    "ACTION_LNG",
    "ACTION_LNG_UNLATCH",
    "ACTION_LOCK",
    "ACTION_UNLATCH",
    "ACTION_UNLOCK",
    "DOOR_CALIBRATING",
    "DOOR_CLOSED",
    "DOOR_DEACTIVATED",
    "DOOR_NAMES",
    "DOOR_OPENED",
    "DOOR_UNKNOWN",
    "LOCKED",
    "LOCKING",
    "STATE_NAMES",
    "UNCALIBRATED",
    "UNLATCHED",
    "UNLATCHING",
    "UNLOCKED",
    "UNLOCKED_LNG",
    "UNLOCKING",
    "BridgeSimulator",
    "CallbackReceiver",
    "SimulatedLock",
]
