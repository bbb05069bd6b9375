from django.apps import AppConfig


class BookingsConfig(AppConfig):
    name = "bookings"

    def ready(self) -> None:
        from bookings import receivers  # noqa: F401  (connects to the locks app's signals)
