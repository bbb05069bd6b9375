"""Signals the locks app sends so that other apps (bookings) can react without locks
importing them (imports run bookings -> locks, never back)."""

from django.dispatch import Signal

# Sent after commit whenever an AccessCode changes state. kwargs: access_code.
access_code_state_changed = Signal()

# Sent after commit when a command fails for good. kwargs: command.
command_failed = Signal()

# Sent inside the transaction when a lock joins or leaves a property.
# kwargs: lock, old_property_id.
lock_property_changed = Signal()

# Sent inside the transaction when a lock already holds a code's digits in an authorization
# that is not ours. kwargs: access_code, code. The holder's app chooses a new code.
access_code_conflict = Signal()

# Sent after commit when a command found its lock unreachable (a transient failure).
# kwargs: lock; access_codes: the ids of the codes to look at, or None for every code of the
# lock (when it has just gone unreachable, and once a minute while it stays so). Holders may
# fall back (backup codes for a stay about to begin).
lock_unreachable = Signal()

# Sent inside the planner's transaction when a code's window has ended, before it is taken
# off the lock. kwargs: access_code. A holder with recurring access may move the window on
# (access_put); the planner then leaves the code where it is.
access_code_ended = Signal()

# Sent inside the planner's transaction when a backup code's long window has ended (instead of
# access_code_ended: a backup code is never renewed). kwargs: access_code. locks.backup retires
# it and refills the lock's pool.
backup_code_ended = Signal()
