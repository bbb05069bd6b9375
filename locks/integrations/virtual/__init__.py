"""The virtual lock: a lock that lives in the database (demo and tests)."""
