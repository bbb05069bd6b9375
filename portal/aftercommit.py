"""Work queued for after the commit, which never turns a stored change into an error.

What a request sends for later (a Celery message, a signal whose receivers send one) goes out
once its transaction commits. By then the change is stored, so:

- a broker that cannot be reached must not answer the client 500: the failure is logged (the
  task's name and ids only, never a code) and the stored row waits for its periodic sweep,
  which sends it again: `locks.sync.outbox.sweep` for lock commands (a booking's codes),
  `sweep_pms_events` for PMS deliveries, `poll_due_feeds` for iCal feeds. Work without such a
  row (a neighbour's re-plan, a bridge import, an access email) is lost with the message, as
  before, and is redone by hand (import again, resend) or by the next change;
- every hook after a failing one still runs: Django stops at the first hook that raises unless
  it is registered with `robust=True`, which every hook here is (any other error is logged by
  Django with its traceback).

The broker settings make the attempt short (portal/settings.py: connect and socket timeouts,
one publish retry), so a request never waits long for a broker that is down.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import transaction
from kombu.exceptions import OperationalError

logger = logging.getLogger("latchkey.aftercommit")

# What a publish raises when the broker is down, refuses, or stops answering: kombu wraps the
# transport's errors in OperationalError; a socket error may come through bare.
BROKER_ERRORS = (OperationalError, OSError)


def after_commit(func: Callable[[], object], *, what: str) -> None:
    """Run `func` once the current transaction commits (at once outside one), robustly.

    `what` names the work in the log line when the broker cannot be reached, e.g.
    "run_commands([12, 13])": ids only, never a code or a token.
    """

    def run() -> None:
        try:
            func()
        except BROKER_ERRORS as exc:
            logger.warning(
                "%s not queued: the broker cannot be reached (%s). The change is stored; "
                "a periodic sweep re-sends what has an outbox row (portal/aftercommit.py).",
                what,
                exc.__class__.__name__,
            )

    run.__qualname__ = f"after_commit[{what}]"
    transaction.on_commit(run, robust=True)
