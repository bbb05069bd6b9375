from django.apps import AppConfig


class BookingsConfig(AppConfig):
    name = "bookings"

    def ready(self) -> None:
        # Receivers of the locks app's signals; the stay link's receiver; the email verifier.
        from bookings import receivers, stay_links, verifiers  # noqa: F401
