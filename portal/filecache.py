"""The cache `make run` uses without Redis: files under var/cache, shared by every process.

Why not Django's own choices: the in-process cache (locmem) is one per gunicorn worker, so
each worker counted rate limits alone and the sign-in allowed workers x its limit. Django's
file and database caches are shared but not atomic: their `incr` reads, adds and writes back,
and their `add` checks then writes, so two workers counting at once lose hits (the limit
overshoots again). This is Django's file cache with every write (add, set, incr/decr, touch,
delete) under one exclusive `flock` on the cache directory: an increment is read-modify-write
that no other process can interleave, which is what Redis's INCR gives in production. Reads
need no lock (a write replaces a file atomically). One machine only: several hosts need Redis.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pickle
import random
import tempfile
import threading
import time
import zlib

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.filebased import FileBasedCache
from django.core.files.move import file_move_safe

# Counters must not be culled at random (Django's default past 300 entries would reset limits):
# expired entries go first, and only a cache this large loses live ones.
MAX_ENTRIES = 100_000
CULL_EVERY = 200  # writes; listing the directory on every write (Django's way) is O(entries)


class LockedFileCache(FileBasedCache):
    def __init__(self, dir, params):
        params = {**params, "OPTIONS": {"MAX_ENTRIES": MAX_ENTRIES, **params.get("OPTIONS", {})}}
        super().__init__(dir, params)
        self._held = threading.local()  # add() calls set(): the lock is taken once per thread

    @contextlib.contextmanager
    def _locked(self):
        if getattr(self._held, "lock", False):
            yield
            return
        self._createdir()
        with open(os.path.join(self._dir, ".lock"), "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # each open() is its own lock: threads exclude too
            self._held.lock = True
            try:
                yield
            finally:
                self._held.lock = False
                fcntl.flock(lock, fcntl.LOCK_UN)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        with self._locked():
            return super().add(key, value, timeout, version)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        with self._locked():
            super().set(key, value, timeout, version)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        with self._locked():
            return super().touch(key, timeout, version)

    def delete(self, key, version=None):
        with self._locked():
            return super().delete(key, version)

    def incr(self, key, delta=1, version=None):
        """Atomic across processes; the entry keeps its expiry (as Redis INCR keeps a TTL)."""
        fname = self._key_to_file(key, version)
        with self._locked():
            try:
                with open(fname, "rb") as f:
                    # Our own files in a 0700 directory, as Django's file cache reads them.
                    expiry = pickle.load(f)  # noqa: S301
                    value = pickle.loads(zlib.decompress(f.read()))  # noqa: S301
            except (FileNotFoundError, EOFError):
                raise ValueError(f"Key '{key}' not found.") from None
            if expiry is not None and expiry < time.time():
                self._delete(fname)
                raise ValueError(f"Key '{key}' not found.")
            value += delta
            fd, tmp_path = tempfile.mkstemp(dir=self._dir)
            renamed = False
            try:
                with open(fd, "wb") as f:
                    f.write(pickle.dumps(expiry, self.pickle_protocol))
                    f.write(zlib.compress(pickle.dumps(value, self.pickle_protocol)))
                file_move_safe(tmp_path, fname, allow_overwrite=True)
                renamed = True
            finally:
                if not renamed:
                    os.remove(tmp_path)
            return value

    def _cull(self):
        """Now and then, drop expired entries; Django's random cull only when still full."""
        if random.randrange(CULL_EVERY):
            return
        now = time.time()
        for fname in self._list_cache_files():
            with contextlib.suppress(FileNotFoundError, EOFError, pickle.UnpicklingError):
                with open(fname, "rb") as f:
                    expiry = pickle.load(f)  # noqa: S301 (our own files, as above)
                if expiry is not None and expiry < now:
                    self._delete(fname)
        super()._cull()
