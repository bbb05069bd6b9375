"""The agent's state directory: who we are to the portal, and the keys of the paired locks.

Layout (default ~/.latchkey-agent, mode 0700)::

    agent.json              portal URL, agent id, agent token            (0600)
    locks/<address>.json    shared key, authorization id, PIN per lock   (0600)
    cursors/<address>.json  highest log index already reported           (0600)
    journal/<job id>.json   jobs started on a lock, result not yet kept  (0600)
    outbox/<job id>.json    job results not yet accepted by the portal   (0600)

Everything here is secret or close to it (a shared key opens the door), hence 0600 files in a
0700 directory, written atomically (temporary file, fsync, rename) so that a power cut on a
Raspberry Pi never leaves half a key file. The cursor lives apart from the key so the key file
is written once, at pairing, and not on every log read. Job results wait in the outbox so a
result survives the portal being down and even an agent restart: a job done on the lock must
not be done twice (a second add_code would fail as a duplicate). The journal closes the
other gap: a job is written there before the agent touches the lock and removed once its
result is in the outbox, so a job cut short by a crash is found at the next start and finished
(as a job that may already have happened) instead of being forgotten.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from locks.nuki.ble.client import Credentials
from locks.nuki.ble.constants import IdType
from locks.nuki.ble.values import SecurityPin

logger = logging.getLogger(__name__)

DEFAULT_STATE_DIR = Path("~/.latchkey-agent")
DIR_MODE = 0o700
FILE_MODE = 0o600

_ADDRESS = re.compile(r"^[0-9A-Z][0-9A-Z:_-]{0,63}$")


class StateError(Exception):
    """The state directory is missing something or holds something unreadable."""


class NotEnrolled(StateError):
    """agent.json is missing: run `python -m locks.agent enroll` first."""


def normalize_address(address: str) -> str:
    """One spelling per lock (upper case), and safe as a file name.

    Addresses become file names, so anything but letters, digits, ':', '-' and '_' is refused
    (no path traversal through a job's address). Linux shows MAC addresses, macOS UUIDs; both
    fit.
    """
    if not isinstance(address, str):
        raise ValueError("a lock address is text")
    normalized = address.strip().upper()
    if not _ADDRESS.match(normalized):
        raise ValueError(f"not a Bluetooth address: {address!r}")
    return normalized


def write_private_json(path: Path, data: Any) -> None:
    """Write JSON atomically with mode 0600 (the mode is set before any byte is written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # the umask may have taken bits away; never added any
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def read_json(path: Path) -> Any:
    """Parsed JSON, warning (like ssh does) when a secret file is readable by others."""
    mode = path.stat().st_mode  # FileNotFoundError goes to the caller
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        logger.warning("%s is accessible by other users; it should be mode 0600", path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StateError(f"cannot read {path}: {exc}") from exc


@dataclass(frozen=True)
class AgentConfig:
    """What enrollment yields. The token is a bearer secret: kept out of repr and logs."""

    portal_url: str
    agent_id: int
    agent_token: str = field(repr=False)
    name: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "portal_url": self.portal_url,
            "agent_id": self.agent_id,
            "agent_token": self.agent_token,
            "name": self.name,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AgentConfig:
        try:
            return cls(
                portal_url=str(data["portal_url"]),
                agent_id=int(data["agent_id"]),
                agent_token=str(data["agent_token"]),
                name=str(data.get("name") or ""),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise StateError(f"agent.json is incomplete: {exc}") from exc


@dataclass(frozen=True)
class LockRecord:
    """A paired lock: everything a later session needs. Key and PIN stay out of repr."""

    address: str
    name: str
    authorization_id: int
    shared_key: bytes = field(repr=False)
    app_id: int
    id_type: int = IdType.APP
    security_pin: int | None = field(default=None, repr=False)
    pin_width: int = 2
    nuki_id: int | None = None
    lock_public_key: bytes = b""
    lock_uuid: bytes = b""
    paired_at: str = ""

    def credentials(self) -> Credentials:
        return Credentials(
            authorization_id=self.authorization_id,
            shared_key=self.shared_key,
            app_id=self.app_id,
            id_type=self.id_type,
            lock_public_key=self.lock_public_key,
            lock_uuid=self.lock_uuid,
        )

    def pin(self) -> SecurityPin | None:
        if self.security_pin is None:
            return None
        return SecurityPin(self.security_pin, self.pin_width)

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "name": self.name,
            "authorization_id": self.authorization_id,
            "shared_key": self.shared_key.hex(),
            "app_id": self.app_id,
            "id_type": self.id_type,
            "security_pin": self.security_pin,
            "pin_width": self.pin_width,
            "nuki_id": self.nuki_id,
            "lock_public_key": self.lock_public_key.hex(),
            "lock_uuid": self.lock_uuid.hex(),
            "paired_at": self.paired_at,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LockRecord:
        try:
            key = bytes.fromhex(data["shared_key"])
            if len(key) != 32:
                raise ValueError("shared key is not 32 bytes")
            pin = data.get("security_pin")
            nuki_id = data.get("nuki_id")
            return cls(
                address=normalize_address(data["address"]),
                name=str(data.get("name") or ""),
                authorization_id=int(data["authorization_id"]),
                shared_key=key,
                app_id=int(data["app_id"]),
                id_type=int(data.get("id_type", IdType.APP)),
                security_pin=None if pin is None else int(pin),
                pin_width=int(data.get("pin_width", 2)),
                nuki_id=None if nuki_id is None else int(nuki_id),
                lock_public_key=bytes.fromhex(data.get("lock_public_key", "")),
                lock_uuid=bytes.fromhex(data.get("lock_uuid", "")),
                paired_at=str(data.get("paired_at") or ""),
            )
        except (KeyError, TypeError, ValueError) as exc:
            # Never echo the data: it holds the key.
            raise StateError(f"lock file is incomplete or damaged ({type(exc).__name__})") from None


class StateStore:
    """Reads and writes the state directory; creates it (0700) on first write."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root if root is not None else DEFAULT_STATE_DIR).expanduser()

    # -- paths ----------------------------------------------------------------------------------

    @property
    def agent_path(self) -> Path:
        return self.root / "agent.json"

    def _dir(self, name: str) -> Path:
        return self.root / name

    def lock_path(self, address: str) -> Path:
        return self._dir("locks") / f"{normalize_address(address)}.json"

    def cursor_path(self, address: str) -> Path:
        return self._dir("cursors") / f"{normalize_address(address)}.json"

    def outbox_path(self, job_id: int) -> Path:
        return self._dir("outbox") / f"{int(job_id)}.json"

    def journal_path(self, job_id: int) -> Path:
        return self._dir("journal") / f"{int(job_id)}.json"

    def ensure_dirs(self) -> None:
        """Create the directory tree with mode 0700 (tightening it if it already exists)."""
        names = ("locks", "cursors", "outbox", "journal")
        for directory in (self.root, *(self._dir(n) for n in names)):
            directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            os.chmod(directory, DIR_MODE)

    # -- agent ----------------------------------------------------------------------------------

    def save_agent(self, config: AgentConfig) -> None:
        self.ensure_dirs()
        write_private_json(self.agent_path, config.to_json())

    def load_agent(self) -> AgentConfig:
        try:
            data = read_json(self.agent_path)
        except FileNotFoundError:
            raise NotEnrolled(f"{self.agent_path} not found: enroll the agent first") from None
        if not isinstance(data, dict):
            raise StateError(f"{self.agent_path} is not a JSON object")
        return AgentConfig.from_json(data)

    # -- locks ----------------------------------------------------------------------------------

    def save_lock(self, record: LockRecord) -> None:
        self.ensure_dirs()
        write_private_json(self.lock_path(record.address), record.to_json())

    def load_lock(self, address: str) -> LockRecord | None:
        try:
            data = read_json(self.lock_path(address))
        except FileNotFoundError:
            return None
        if not isinstance(data, dict):
            raise StateError(f"{self.lock_path(address)} is not a JSON object")
        return LockRecord.from_json(data)

    def list_locks(self) -> list[LockRecord]:
        """Every readable lock file; a damaged one is logged and skipped, not fatal."""
        directory = self._dir("locks")
        if not directory.is_dir():
            return []
        records = []
        for path in sorted(directory.glob("*.json")):
            try:
                data = read_json(path)
                records.append(LockRecord.from_json(data))
            except (StateError, ValueError, OSError) as exc:
                logger.error("skipping %s: %s", path.name, exc)
        return records

    # -- log cursors ----------------------------------------------------------------------------

    def load_cursor(self, address: str) -> int | None:
        """Highest log index already reported for this lock, or None before the first read."""
        try:
            data = read_json(self.cursor_path(address))
            return int(data["last_index"])
        except FileNotFoundError:
            return None
        except (StateError, KeyError, TypeError, ValueError) as exc:
            logger.warning("log cursor of %s unreadable (%s): starting over", address, exc)
            return None

    def save_cursor(self, address: str, last_index: int) -> None:
        self.ensure_dirs()
        write_private_json(self.cursor_path(address), {"last_index": int(last_index)})

    # -- result outbox --------------------------------------------------------------------------

    def put_result(self, job_id: int, body: dict[str, Any]) -> None:
        self.ensure_dirs()
        write_private_json(self.outbox_path(job_id), {"job_id": int(job_id), "body": body})

    def has_result(self, job_id: int) -> bool:
        return self.outbox_path(job_id).exists()

    def pending_result(self, job_id: int) -> dict[str, Any] | None:
        """The stored result of one job, or None."""
        try:
            data = read_json(self.outbox_path(job_id))
            return dict(data["body"])
        except FileNotFoundError:
            return None
        except (StateError, KeyError, TypeError, ValueError) as exc:
            logger.error("unreadable outbox entry for job %d: %s", job_id, exc)
            return None

    def pending_results(self) -> list[tuple[int, dict[str, Any]]]:
        """Results waiting for the portal, oldest job first."""
        directory = self._dir("outbox")
        if not directory.is_dir():
            return []
        pending = []
        for path in directory.glob("*.json"):
            try:
                data = read_json(path)
                pending.append((int(data["job_id"]), dict(data["body"])))
            except (StateError, KeyError, TypeError, ValueError) as exc:
                logger.error("dropping unreadable outbox entry %s: %s", path.name, exc)
                with contextlib.suppress(OSError):
                    path.unlink()
        return sorted(pending, key=lambda item: item[0])

    def drop_result(self, job_id: int) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.outbox_path(job_id).unlink()

    # -- job journal ----------------------------------------------------------------------------

    def start_job(self, job_id: int, raw: dict[str, Any]) -> None:
        """Note a job before the lock is touched (removed by `finish_job`)."""
        self.ensure_dirs()
        write_private_json(self.journal_path(job_id), {"job_id": int(job_id), "job": raw})

    def finish_job(self, job_id: int) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.journal_path(job_id).unlink()

    def unfinished_jobs(self) -> list[dict[str, Any]]:
        """Jobs started but never finished (the agent died mid-job), oldest first."""
        directory = self._dir("journal")
        if not directory.is_dir():
            return []
        jobs = []
        for path in directory.glob("*.json"):
            try:
                data = read_json(path)
                jobs.append(dict(data["job"]))
            except (StateError, KeyError, TypeError, ValueError) as exc:
                logger.error("dropping unreadable journal entry %s: %s", path.name, exc)
                with contextlib.suppress(OSError):
                    path.unlink()
        return sorted(jobs, key=lambda job: int(job.get("id") or 0))
