"""One request at a time per bridge.

A Nuki bridge serves one HTTP request at a time and answers a second, concurrent one with 503.
Every `BridgeClient` therefore takes a per-bridge lock around each HTTP request. The lock comes
from a *lock factory*: a callable that takes the bridge key ("host:port") and returns a context
manager. Two factories are provided:

- `LocalBridgeLock`: threading locks, for one process (tests, scripts). Clients share the
  serialization when they share the factory instance.
- `RedisBridgeLock`: redis-py locks, for every process that talks to the same Redis (web
  workers, Celery workers, management commands).

Entering the context manager raises `BridgeError` (permanent=False) when the lock could not be
had within the blocking timeout.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from .errors import BridgeError

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)

LockFactory = Callable[[str], AbstractContextManager[object]]


def _busy_error(key: str, waited: float, detail: str = "") -> BridgeError:
    return BridgeError(
        f"Another request to the bridge at {key} has been running for more than "
        f"{waited:g} seconds, so this one was not sent.",
        fix="Try again in a minute. If it keeps happening, check that the bridge answers "
        "(it may be hanging or rebooting).",
        permanent=False,
        detail=detail or f"bridge lock for {key} not acquired within {waited:g}s",
    )


class _HeldThreadingLock(AbstractContextManager):
    def __init__(self, lock: threading.Lock, key: str, blocking_timeout: float):
        self._lock = lock
        self._key = key
        self._blocking_timeout = blocking_timeout

    def __enter__(self):
        if not self._lock.acquire(timeout=self._blocking_timeout):
            raise _busy_error(self._key, self._blocking_timeout)
        return self

    def __exit__(self, *exc_info):
        self._lock.release()
        return None


class LocalBridgeLock:
    """A lock factory for one process: one `threading.Lock` per bridge key."""

    def __init__(self, *, blocking_timeout: float = 120.0):
        self.blocking_timeout = blocking_timeout
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def __call__(self, key: str) -> AbstractContextManager[object]:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        return _HeldThreadingLock(lock, key, self.blocking_timeout)


class _HeldRedisLock(AbstractContextManager):
    def __init__(self, lock, key: str, blocking_timeout: float):
        self._lock = lock
        self._key = key
        self._blocking_timeout = blocking_timeout

    def __enter__(self):
        import redis.exceptions

        try:
            acquired = self._lock.acquire()
        except redis.exceptions.RedisError as exc:
            raise BridgeError(
                "Could not reach Redis, which keeps requests to each bridge one at a time, "
                "so the bridge was not called.",
                fix="Check that Redis is running and reachable from this server.",
                permanent=False,
                detail=f"redis lock for {self._key}: {exc!r}",
            ) from exc
        if not acquired:
            raise _busy_error(self._key, self._blocking_timeout)
        return self

    def __exit__(self, *exc_info):
        import redis.exceptions

        try:
            self._lock.release()
        except redis.exceptions.LockError:
            # The lock expired (its timeout passed) before we released it: someone else may
            # have talked to the bridge meanwhile. Nothing to undo; make it visible.
            log.warning("bridge lock for %s expired before release; raise its timeout", self._key)
        except redis.exceptions.RedisError:
            log.warning("could not release the bridge lock for %s; it expires", self._key)
        return None


class RedisBridgeLock:
    """A lock factory across processes: a redis-py `Lock` per bridge key.

    timeout: seconds after which Redis drops a lock whose holder died; must be longer than the
        longest single request (the client's action timeout), or two requests may overlap.
    blocking_timeout: how long a caller waits for the lock before giving up with BridgeError.
    prefix: Redis key prefix; the key is prefix + "host:port".
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        timeout: float = 60.0,
        blocking_timeout: float = 120.0,
        prefix: str = "latchkey:nuki-bridge-lock:",
    ):
        self.client = client
        self.timeout = timeout
        self.blocking_timeout = blocking_timeout
        self.prefix = prefix

    @classmethod
    def from_url(cls, url: str, **kwargs) -> RedisBridgeLock:
        import redis

        return cls(redis.Redis.from_url(url), **kwargs)

    def __call__(self, key: str) -> AbstractContextManager[object]:
        lock = self.client.lock(
            self.prefix + key,
            timeout=self.timeout,
            blocking=True,
            blocking_timeout=self.blocking_timeout,
            sleep=0.01,
            thread_local=False,
        )
        return _HeldRedisLock(lock, key, self.blocking_timeout)


# Clients built without a lock factory share this one: per-process serialization. Use a
# RedisBridgeLock wherever more than one process may talk to the same bridge.
default_lock_factory = LocalBridgeLock()


class _HeldFileLock(AbstractContextManager):
    def __init__(self, path: str, key: str, blocking_timeout: float):
        self._path = path
        self._key = key
        self._blocking_timeout = blocking_timeout
        self._fd: int | None = None

    def __enter__(self) -> _HeldFileLock:
        import fcntl
        import os
        import time

        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + self._blocking_timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._fd = fd
                return self
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise _busy_error(self._key, self._blocking_timeout) from None
                time.sleep(0.01)

    def __exit__(self, *exc) -> None:
        import fcntl
        import os

        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        return None


class FileBridgeLock:
    """A lock factory across processes on one machine (flock on a file per bridge), for
    installations without Redis such as the demo. The kernel drops the lock if a holder dies."""

    def __init__(self, directory: str, *, blocking_timeout: float = 120.0):
        import os

        os.makedirs(directory, exist_ok=True)
        self.directory = directory
        self.blocking_timeout = blocking_timeout

    def __call__(self, key: str) -> AbstractContextManager[object]:
        import hashlib
        import os

        name = hashlib.sha256(key.encode()).hexdigest()[:32] + ".lock"
        return _HeldFileLock(os.path.join(self.directory, name), key, self.blocking_timeout)
