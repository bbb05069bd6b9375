"""The sync engine: desired codes in, LockCommands (the outbox) out, drivers make it so.

- desired.py: what each lock should hold (put / withdraw codes, the preload planner)
- commands.py: writing, dispatching, claiming and retrying LockCommands (the outbox's rows)
- outbox.py: the outbox's public face: the same names, and the sweep (lost messages, dead
  workers, devices that did not answer)
- states.py: a code confirmed by what the lock reports, and the state-changed signal
- reachability.py: a lock going unreachable and coming back
- runner.py: running one command against its driver and recording the outcome
- reconcile.py: comparing what a lock reports with what it should hold
"""
