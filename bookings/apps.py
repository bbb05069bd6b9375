from django.apps import AppConfig


class BookingsConfig(AppConfig):
    name = "bookings"

    def ready(self) -> None:
        # Receivers of the locks app's signals; the stay link's receiver; the email verifier;
        # the tasks, registered so that bookings.dispatch can queue them by name in any process.
        from bookings import receivers, tasks, verifiers  # noqa: F401
        from bookings.stay import links  # noqa: F401
