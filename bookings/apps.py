from django.apps import AppConfig

from locks.sync import reserved


class BookingsConfig(AppConfig):
    name = "bookings"

    def ready(self) -> None:
        # Receivers (the locks app's signals, a grant cancelled); the email verifier; the
        # tasks, registered so that bookings.dispatch can queue them by name in any process.
        from bookings import receivers, tasks, verifiers  # noqa: F401
        from bookings.standing.services import standing_reserved

        # Standing access codes are never drawn for a stay: the locks' engine asks bookings.
        reserved.register(standing_reserved)
