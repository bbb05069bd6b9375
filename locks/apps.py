from django.apps import AppConfig

from locks.agent_wake import connect


class LocksConfig(AppConfig):
    name = "locks"

    def ready(self) -> None:
        connect()  # a new AgentJob wakes its agent's long-poll
