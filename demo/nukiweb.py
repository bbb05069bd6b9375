"""The `make run` demo's Nuki Web part: the demo organization connected (with an API token) to
the local Nuki Web stand-in that the Procfile starts (`nukiweb:` line), its two smartlocks on a
second demo property that offers app access, and a stay there whose keypad code and app access
go through the stand-in like through the real cloud (queued → DEVICE_AUTHS webhook → set).

Called once from seed_demo, before the stand-in runs: it writes the connection and the lock
rows (the stand-in's smartlock ids are fixed), and the worker registers the webhook and
imports the locks when the stand-in answers (retried until then). Safe to run again.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone

from bookings.services import BookingData, booking_upsert
from locks.integrations.nuki_web.connection import connection_from_api_token
from locks.models import Lock
from locks.simulators.nukiweb.model import TYPE_SMARTLOCK3, smartlock_id_for
from portal.models import Organization
from properties.models import Property

# Only ever used against the stand-in on 127.0.0.1 (the Procfile passes the same token).
DEMO_API_TOKEN = "latchkey-demo-nukiweb-token"
FIRST_NUKI_ID = 0x1A2B3C01  # the stand-in's default, so its smartlock ids are known
LOCK_NAMES = ("Harbour entrance", "Harbour studio door")


def demo_api_url() -> str:
    return f"http://127.0.0.1:{settings.LATCHKEY_DEMO_NUKIWEB_PORT}"


def demo_nukiweb_seed(*, organization: Organization) -> list[Lock]:
    """Connect the demo organization to the stand-in and give it a property with a stay on
    the stand-in's locks. Returns the Nuki Web locks."""
    # Every time: the stand-in keeps nothing between runs, so the worker registers the
    # webhook again, imports the locks and reads them back (codes set last run are put back).
    connection_from_api_token(
        organization=organization, api_token=DEMO_API_TOKEN, api_url=demo_api_url()
    )
    prop, _ = Property.objects.get_or_create(
        organization=organization,
        external_ref="harbour-studio",
        defaults={
            "name": "Harbour Studio",
            "timezone": "Europe/Vienna",
            "address": "Hafenstraße 3\n1020 Wien",
            "house_instructions": "Nuki Web locks (the local stand-in): code or Nuki app.",
            "app_access": True,
        },
    )
    locks = []
    for i, name in enumerate(LOCK_NAMES):
        lock, _ = Lock.objects.get_or_create(
            organization=organization,
            driver="nuki_web",
            nuki_id=smartlock_id_for(TYPE_SMARTLOCK3, FIRST_NUKI_ID + i),
            defaults={"name": name, "property": prop, "device_type": TYPE_SMARTLOCK3},
        )
        locks.append(lock)
    today = timezone.localdate(timezone=prop.tz)
    booking_upsert(
        organization=organization,
        source="demo",
        data=BookingData(
            external_id="demo-2001",
            property=prop,
            status="confirmed",
            check_in=today,
            check_out=today + dt.timedelta(days=3),
            guest_name="Hana Sato",
            guest_email="hana@example.com",
            guest_nuki_email="hana.nuki@example.com",
            guest_language="en",
        ),
    )
    return locks
