"""The driver registry: drivers register at start-up, and the models, the engine and the queues
ask the registry, never an integration's module; services send tasks by name."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.conf import settings

from locks.dispatch import task_named
from locks.integrations import registry
from locks.integrations.base import Capability, Driver, DriverError
from locks.integrations.bridge.driver import BridgeHttpDriver
from locks.integrations.bridge.services import BRIDGE_CONNECT
from locks.integrations.nuki_web.connection import NUKI_WEB_SETUP
from locks.models import Lock
from locks.sync.commands import RUN_COMMAND, RUN_COMMANDS


class StandIn(Driver):
    kind = "stand_in_test"
    capabilities = frozenset({Capability.STATE})
    queue = "bridge"


@pytest.fixture
def stand_in():
    registry.register(StandIn)
    try:
        yield StandIn
    finally:
        registry.unregister(StandIn.kind)


def test_every_builtin_driver_is_registered_at_start_up():
    assert registry.available_kinds() == ["ble_agent", "bridge_http", "nuki_web", "virtual"]
    assert registry.driver_class("bridge_http") is BridgeHttpDriver
    for path in registry.BUILTIN_DRIVERS:
        module = path.rpartition(".")[0]
        assert module.startswith("locks.integrations.") and module.endswith(".driver")


def test_a_lock_asks_the_registry_for_its_capabilities(stand_in):
    lock = Lock(name="Side door", driver=stand_in.kind)
    assert lock.capabilities == frozenset({Capability.STATE})
    assert stand_in.kind in registry.available_kinds()


def test_an_unregistered_kind_fails_in_plain_words_and_queues_on_codes():
    with pytest.raises(DriverError) as failure:
        registry.driver_class("gone_test")
    assert failure.value.permanent and "not available" in failure.value.reason
    assert registry.queue_for("gone_test") == settings.LATCHKEY_QUEUES["codes"]


def test_commands_go_to_their_drivers_channel(stand_in):
    assert registry.queue_for(stand_in.kind) == settings.LATCHKEY_QUEUES["bridge"]
    assert registry.queue_for("ble_agent") == settings.LATCHKEY_QUEUES["agent"]
    assert registry.queue_for("virtual") == settings.LATCHKEY_QUEUES["codes"]


def test_a_later_registration_of_a_kind_replaces_it(stand_in):
    class Newer(StandIn):
        capabilities = frozenset({Capability.LOGS})

    registry.register(Newer)
    assert registry.driver_class(StandIn.kind) is Newer


def test_tasks_sent_by_name_exist_under_that_name():
    for name in (RUN_COMMAND, RUN_COMMANDS, BRIDGE_CONNECT, NUKI_WEB_SETUP):
        assert task_named(name).name == name


def test_the_registry_and_the_engine_import_no_integration():
    """Only LocksConfig.ready() loads the drivers: importing the registry, the models' driver
    interface or the dispatcher pulls in no integration's module (no circle through them)."""
    code = (
        "import sys; import locks.integrations.registry, locks.integrations.base; "
        "loaded = [m for m in sys.modules if m.startswith('locks.integrations.') "
        "and m not in ('locks.integrations.registry', 'locks.integrations.base')]; "
        "print(loaded); sys.exit(1 if loaded else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
