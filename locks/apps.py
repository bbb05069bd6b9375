from importlib import import_module

from django.apps import AppConfig

from locks.integrations import registry
from locks.integrations.ble_agent.wake import connect

# Modules whose @receiver functions listen to the locks app's own signals, loaded once the
# models are ready (by dotted path, like the drivers).
RECEIVERS = ("locks.backup",)


class LocksConfig(AppConfig):
    name = "locks"

    def ready(self) -> None:
        registry.load()  # the drivers of locks/integrations/<kind>/, by dotted path
        for module in RECEIVERS:
            import_module(module)
        connect()  # a new AgentJob wakes its agent's long-poll
