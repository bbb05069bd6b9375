"""manage.py seed_demo: a demo organization with a property, two virtual locks and a few stays,
plus the Nuki Web (demo/nukiweb.py) and Bluetooth (demo/ble.py) parts.

Safe to run again: it reuses what exists and gives the manager a fresh password each time
(passwords are stored hashed, so the old one cannot be shown).
"""

import datetime as dt
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from bookings.models import AccessGrant
from bookings.services import BookingData, booking_upsert
from bookings.stay.links import stay_link_token, stay_url
from demo.ble import seed_ble_demo
from demo.nukiweb import demo_nukiweb_seed
from locks.integrations.registry import driver_for
from locks.models import Lock
from locks.observed import lock_status_record
from locks.services import lock_create
from portal.models import Organization, Role
from portal.services import api_key_create, membership_add, organization_create
from properties.models import Property

DEMO_EMAIL = "manager@demo.latchkey.local"


class Command(BaseCommand):
    help = "Create (or refresh) the demo organization and print a manager login."

    @transaction.atomic
    def handle(self, *args, **options):
        org = Organization.objects.filter(slug="demo-rentals").first()
        if org is None:
            org, _, _ = organization_create(
                name="Demo Rentals", owner_email="owner@demo.latchkey.local"
            )
        user_model = get_user_model()
        manager, _ = user_model.objects.get_or_create(
            username=DEMO_EMAIL, defaults={"email": DEMO_EMAIL}
        )
        password = secrets.token_urlsafe(9)
        manager.set_password(password)
        manager.save()
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
        _, api_key = api_key_create(organization=org, scope="write", name="demo")
        self.stdout.write(self.style.SUCCESS("Demo ready. Sign in as the manager:"))
        self.stdout.write(f"email: {DEMO_EMAIL}")
        self.stdout.write(f"password: {password}")
        self.stdout.write(f"API key (write): {api_key}")
        first = AccessGrant.objects.filter(
            booking__organization=org, booking__external_id="demo-1001"
        )
        if first.exists():
            self.stdout.write(
                f"Guest stay page (Anna): {stay_url(stay_link_token(grant=first.get()))}"
            )
