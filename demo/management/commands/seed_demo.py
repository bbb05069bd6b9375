"""manage.py seed_demo: a demo organization with a property, two virtual locks and a few stays,
plus the Nuki Web (demo/nukiweb.py) and Bluetooth (demo/ble.py) parts.

Safe to run again: it reuses what exists. The logins and the API key stay the same from run to
run (demo/credentials.py keeps them in var/, mode 0600) and are printed every time.
"""

import datetime as dt

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from bookings.models import AccessGrant
from bookings.services import BookingData, booking_upsert
from bookings.stay.links import stay_link_token, stay_url
from demo import credentials
from demo.ble import seed_ble_demo
from demo.nukiweb import demo_nukiweb_seed
from locks.integrations.registry import driver_for
from locks.models import Lock
from locks.observed import lock_status_record
from locks.services import lock_create
from portal.models import ApiKey, Organization, Role
from portal.services import api_key_create, membership_add, organization_create
from properties.models import Property

DEMO_EMAIL = "manager@demo.latchkey.local"
OWNER_EMAIL = "owner@demo.latchkey.local"


class Command(BaseCommand):
    help = "Create (or refresh) the demo organization and print a manager login."

    @transaction.atomic
    def handle(self, *args, **options):
        stored = credentials.credentials_path(settings.VAR_DIR)
        org = Organization.objects.filter(slug="demo-rentals").first()
        if org is None:
            org, _, _ = organization_create(name="Demo Rentals", owner_email=OWNER_EMAIL)
        owner_password = _demo_login(OWNER_EMAIL, credentials.remembered(stored, "owner_password"))
        password = _demo_login(DEMO_EMAIL, credentials.remembered(stored, "manager_password"))
        manager = get_user_model().objects.get(username=DEMO_EMAIL)
        membership_add(organization=org, user=manager, role=Role.MANAGER)

        prop, _ = Property.objects.get_or_create(
            organization=org,
            external_ref="alpine-loft",
            defaults={
                "name": "Alpine Loft",
                "timezone": "Europe/Vienna",
                "address": "Mariahilfer Straße 1\n1060 Wien",
                "house_instructions": "The building door is on the left. Flat 4, second floor.",
                "lead_minutes": 30,
                "lag_minutes": 30,
                # The stay page asks for an emailed code before opening at night.
                "step_up_verifier": "email_code",
                "step_up_from": dt.time(22, 0),
                "step_up_until": dt.time(6, 0),
            },
        )
        if not Lock.objects.filter(property=prop).exists():
            lock_create(
                organization=org,
                property=prop,
                name="Building door",
                driver="virtual",
                config={"delay_ms": 700},
            )
            lock_create(
                organization=org,
                property=prop,
                name="Flat door",
                driver="virtual",
                config={"delay_ms": 1200, "failure_rate": 0.3},
            )
        for lock in Lock.objects.filter(property=prop, driver="virtual"):
            # Like a real lock, each reports its bolt, battery and door when first seen.
            lock_status_record(lock=lock, status=driver_for(lock).status(), source="virtual")
        today = timezone.localdate(timezone=prop.tz)
        stays = [
            ("demo-1001", "Anna Gruber", "anna@example.com", "de", 0, 2, "confirmed"),
            ("demo-1002", "Ben Carter", "ben@example.com", "en", 2, 5, "confirmed"),
            ("demo-1003", "Chloé Martin", "chloe@example.com", "en", 9, 12, "confirmed"),
            ("demo-1004", "Dev Patel", "dev@example.com", "en", 5, 7, "tentative"),
        ]
        for ext, name, email, lang, start, end, status in stays:
            booking_upsert(
                organization=org,
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
        demo_nukiweb_seed(organization=org)  # Nuki Web stand-in (Procfile `nukiweb:`)
        seed_ble_demo(organization=org, stdout=self.stdout)
        api_key = _demo_api_key(org, credentials.load(stored).get("api_key", ""))
        credentials.remember(stored, "api_key", api_key)
        self.stdout.write(self.style.SUCCESS("Demo ready. Sign in as the manager:"))
        self.stdout.write(f"email: {DEMO_EMAIL}")
        self.stdout.write(f"password: {password}")
        self.stdout.write("Or as the owner (API keys, invitations, members):")
        self.stdout.write(f"email: {OWNER_EMAIL}")
        self.stdout.write(f"password: {owner_password}")
        self.stdout.write(f"API key (write): {api_key}")
        self.stdout.write(f"(The same every run; kept in {stored}. `make clean` forgets them.)")
        first = AccessGrant.objects.filter(
            booking__organization=org, booking__external_id="demo-1001"
        )
        if first.exists():
            self.stdout.write(
                f"Guest stay page (Anna): {stay_url(stay_link_token(grant=first.get()))}"
            )


def _demo_login(email: str, password: str) -> str:
    """The demo user `email` (made if missing) signs in with `password`: set every run, so the
    printed password works even after someone changed it in the app."""
    user, _ = get_user_model().objects.get_or_create(username=email, defaults={"email": email})
    if not user.check_password(password):
        user.set_password(password)
        user.save(update_fields=["password"])
    return password


def _demo_api_key(org: Organization, raw: str) -> str:
    """The stored demo key while it is still live in this database; otherwise (first run, the
    key revoked, the database reset) a new one."""
    prefix = ApiKey.split(raw) if raw else None
    key = (
        ApiKey.objects.filter(organization=org, prefix=prefix, revoked_at__isnull=True).first()
        if prefix
        else None
    )
    if key is not None and key.matches(raw):
        return raw
    _, raw = api_key_create(organization=org, scope="write", name="demo")
    return raw
