"""The demo's credentials, kept in var/demo-credentials.json (mode 0600) so every `make run`
prints the same logins and API key: a key tried yesterday in a script still works today, and
the printed one is the one that works (the database keeps only hashes, so the raw values live
here, beside the SQLite database of the same checkout). `make clean` forgets them.

No Django here: seed_demo (the logins, the API key) and demo.run_env (the Nuki Web stand-in's
OAuth client secret, which the Procfile passes to the stand-in and the portal uses) share it.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path

VAR_DIR = Path(__file__).resolve().parents[1] / "var"
FILENAME = "demo-credentials.json"
FILE_MODE = 0o600


def credentials_path(var_dir: Path | None = None) -> Path:
    return (var_dir or VAR_DIR) / FILENAME


def load(path: Path) -> dict[str, str]:
    """The stored credentials; an unreadable or damaged file counts as none (new ones are made)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def save(path: Path, credentials: dict[str, str]) -> None:
    """Write readable by the owner only (0600), also when the file existed with wider rights."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        os.fchmod(out.fileno(), FILE_MODE)
        json.dump(credentials, out, indent=2, sort_keys=True)
        out.write("\n")


def remembered(path: Path, name: str, make: Callable[[], str] | None = None) -> str:
    """The stored value of `name`, made (by `make`, default a random token) and stored once."""
    credentials = load(path)
    value = credentials.get(name, "")
    if not value:
        value = make() if make is not None else secrets.token_urlsafe(12)
        remember(path, name, value)
    return value


def remember(path: Path, name: str, value: str) -> None:
    credentials = load(path)
    credentials[name] = value
    save(path, credentials)
