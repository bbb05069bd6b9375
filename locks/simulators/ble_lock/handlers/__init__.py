"""The simulated lock's keyturner command handlers, one module per area.

`HANDLERS` maps each command class the lock accepts on the encrypted characteristic to its
handler; a command missing here is answered ERROR_UNKNOWN.
"""

from __future__ import annotations

from locks.nuki.ble import commands as c

from . import actions, authorizations, config, keypad, logs, time_control
from .common import Handler

HANDLERS: dict[type[c.Command], Handler] = {
    **actions.HANDLERS,
    **config.HANDLERS,
    **authorizations.HANDLERS,
    **logs.HANDLERS,
    **keypad.HANDLERS,
    **time_control.HANDLERS,
}

__all__ = ["HANDLERS", "Handler"]
