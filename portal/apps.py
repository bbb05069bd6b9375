from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_in

from portal.middleware import stamp_session


class PortalConfig(AppConfig):
    name = "portal"

    def ready(self) -> None:
        user_logged_in.connect(stamp_session, dispatch_uid="portal.session_idle")
