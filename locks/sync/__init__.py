"""The sync engine: desired codes in, LockCommands (the outbox) out, drivers make it so.

- desired.py: what each lock should hold (put / withdraw codes, the preload planner)
- outbox.py: writing, dispatching, claiming and sweeping LockCommands
- runner.py: running one command against its driver and recording the outcome
- reconcile.py: comparing what a lock reports with what it should hold
"""
