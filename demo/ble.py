"""The demo's Bluetooth half: a property whose doors are served by an on-site agent with
simulated Smart Locks, so `make run` shows the BLE path next to the virtual locks.

`seed_ble_demo()` (called by `manage.py seed_demo`) prepares, idempotently:

* the property "Lakeside Cabin" with two `ble_agent` locks and two stays;
* the agent "Demo agent" of the organization, and the agent's state directory `var/agent/`:
  if the agent there is not enrolled with this database (fresh clone, or the database was
  reset), a new one-time enrollment token goes to `var/agent/enrollment-token` (mode 0600);
* the simulated locks' identities (`var/agent/simulated/fleet.json`), so their addresses are
  known and the locks can join the property before the agent first runs.

The Procfile's `agent:` line then runs `python -m locks.agent run --simulate 2` on that state
directory: it enrolls with the token (deleting the file), pairs the simulated locks, reports
them and serves their jobs. Rerunning `seed_demo` changes nothing that works; the agent keeps
its locks, keys and codes across restarts.

About the Procfile line: honcho gives the n-th process PORT = base + 100 * (n - 1), so the
agent (4th line) reaches the web process at `$((PORT-300))`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from pathlib import Path
from typing import TextIO

from django.conf import settings
from django.utils import timezone

from bookings.services import BookingData, booking_upsert
from locks.agent.state import StateError, StateStore
from locks.integrations.ble_agent.enrollment import (
    agent_create,
    agent_enrollment_renew,
    agent_for_token,
)
from locks.models import Agent, Lock
from locks.services import lock_create, lock_update
from locks.simulators.fleet import SimulatedFleet
from portal.models import Organization
from properties.models import Property

AGENT_NAME = "Demo agent"
SIMULATED_LOCKS = 2
LOCK_NAMES = ("Studio entrance (Bluetooth)", "Studio door (Bluetooth)")
STAYS = [
    ("demo-3001", "Eva Lindqvist", "eva@example.com", "en", 0, 3, "confirmed"),
    ("demo-3002", "Farid Haddad", "farid@example.com", "en", 3, 6, "confirmed"),
]


def agent_state_dir() -> Path:
    return Path(settings.VAR_DIR) / "agent"


def token_path() -> Path:
    return agent_state_dir() / "enrollment-token"


def _enrolled_here(store: StateStore, agent: Agent) -> bool:
    """The state directory holds a token this database accepts, for this agent."""
    try:
        config = store.load_agent()
    except StateError:
        return False
    found = agent_for_token(config.agent_token)
    return found is not None and found.pk == agent.pk


def _write_token(path: Path, token: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")


def seed_ble_demo(*, organization: Organization, stdout: TextIO | None = None) -> Property:
    """Create or refresh the Bluetooth part of the demo (see the module docstring)."""
    prop, _ = Property.objects.get_or_create(
        organization=organization,
        external_ref="lakeside-cabin",
        defaults={
            "name": "Lakeside Cabin",
            "timezone": "Europe/Vienna",
            "address": "Hafenstraße 7\n1020 Wien",
            "house_instructions": "Both doors have a keypad: type your code, then the Nuki key.",
            "lead_minutes": 30,
            "lag_minutes": 30,
        },
    )
    agent = Agent.objects.filter(organization=organization, name=AGENT_NAME).first()
    if agent is None:
        agent, _ = agent_create(organization=organization, name=AGENT_NAME)
    store = StateStore(agent_state_dir())
    if _enrolled_here(store, agent):
        with contextlib.suppress(FileNotFoundError):
            token_path().unlink()
    else:
        with contextlib.suppress(FileNotFoundError):
            store.agent_path.unlink()  # enrolled with a database that is gone
        _write_token(token_path(), agent_enrollment_renew(agent=agent))

    _, identities = SimulatedFleet(store, SIMULATED_LOCKS).plan()
    for identity, name in zip(identities, LOCK_NAMES, strict=False):
        lock = Lock.objects.filter(
            organization=organization, driver="ble_agent", ble_address=identity.address
        ).first()
        if lock is None:
            lock_create(
                organization=organization,
                property=prop,
                name=name,
                driver="ble_agent",
                ble_address=identity.address,
                nuki_id=identity.nuki_id,
                agent=agent,
            )
        elif lock.agent_id != agent.pk:
            lock_update(lock=lock, agent=agent)

    today = timezone.localdate(timezone=prop.tz)
    for ext, name, email, lang, start, end, status in STAYS:
        booking_upsert(
            organization=organization,
            source="demo",
            data=BookingData(
                external_id=ext,
                property=prop,
                status=status,
                check_in=today + dt.timedelta(days=start),
                check_out=today + dt.timedelta(days=end),
                guest_name=name,
                guest_email=email,
                guest_language=lang,
            ),
        )
    if stdout is not None:
        stdout.write(
            f"Bluetooth demo: {prop.name} with {SIMULATED_LOCKS} simulated locks served by the "
            f"agent in {agent_state_dir()} (Procfile 'agent')."
        )
    return prop
