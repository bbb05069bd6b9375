"""Today's "today" is each property's own date: an organization in Los Angeles with a property
in Auckland sees Auckland's arrivals of Auckland's today, not of Los Angeles' today, and the
rows of that property name its zone (their dates are not the page's).

The clock is frozen at 2026-12-03 20:00 UTC: 12:00 on 3 Dec in Los Angeles, 09:00 on 4 Dec in
Auckland, so the two zones' dates differ."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.urls import reverse

from bookings.stay.services import stay_create
from properties.services import property_create
from web.selectors.today import today_for

pytestmark = pytest.mark.django_db

MOMENT = dt.datetime(2026, 12, 3, 20, 0, tzinfo=dt.UTC)
DEC = {n: dt.date(2026, 12, n) for n in range(1, 10)}


@pytest.fixture
def clock():
    with time_machine.travel(MOMENT, tick=False):
        yield


@pytest.fixture
def scene(world, clock):
    org = world.org
    org.timezone = "America/Los_Angeles"
    org.save(update_fields=["timezone"])
    harbour = property_create(
        organization=org, name="Harbour", timezone="Pacific/Auckland", external_ref="h"
    )
    beach = property_create(
        organization=org, name="Beach", timezone="America/Los_Angeles", external_ref="b"
    )

    def stay(prop, guest: str, check_in: int, check_out: int):
        return stay_create(
            organization=org,
            property=prop,
            check_in=DEC[check_in],
            check_out=DEC[check_out],
            guest_name=guest,
        )

    return {
        # Auckland's today is 4 Dec: Aroha arrives today there (Los Angeles' tomorrow).
        "aroha": stay(harbour, "Aroha Today", 4, 6),
        # Tane left on 3 Dec, Auckland's yesterday (Los Angeles' today): no longer moving.
        "tane": stay(harbour, "Tane Gone", 1, 3),
        # Mere arrives on 5 Dec: Auckland's tomorrow (Los Angeles' day after).
        "mere": stay(harbour, "Mere Tomorrow", 5, 7),
        # Los Angeles' today is 3 Dec: Bea arrives today at the beach.
        "bea": stay(beach, "Bea Today", 3, 5),
        "ben": stay(beach, "Ben Tomorrow", 4, 8),
    }


def names(stays) -> list[str]:
    return sorted(s.guest_name for s in stays)


def test_each_property_has_its_own_today(world, scene, clock):
    data = today_for(organization=world.org)
    assert data.today == DEC[3]  # the page's (organization's) date
    assert names(data.arrivals["today"]) == ["Aroha Today", "Bea Today"]
    assert names(data.arrivals["tomorrow"]) == ["Ben Tomorrow", "Mere Tomorrow"]
    assert names(data.departures["today"]) == []  # Tane left on Auckland's yesterday
    assert names(data.departures["tomorrow"]) == []
    assert names(data.upcoming) == []


def test_departures_and_upcoming_follow_the_property_date(world, scene, clock):
    stay_create(
        organization=world.org,
        property=scene["aroha"].property,
        check_in=DEC[2],
        check_out=DEC[4],
        guest_name="Kiri Leaving",
    )
    stay_create(
        organization=world.org,
        property=scene["aroha"].property,
        check_in=DEC[6],
        check_out=DEC[8],
        guest_name="Later Auckland",
    )
    stay_create(
        organization=world.org,
        property=scene["bea"].property,
        check_in=DEC[5],
        check_out=DEC[8],
        guest_name="Later Beach",
    )
    data = today_for(organization=world.org)
    assert names(data.departures["today"]) == ["Kiri Leaving"]  # 4 Dec is Auckland's today
    # 6 Dec is after Auckland's tomorrow; 5 Dec is after Los Angeles' tomorrow.
    assert names(data.upcoming) == ["Later Auckland", "Later Beach"]


def _section(html: str, heading_id: str, day: str) -> str:
    """The stay table under `day` ("Today"/"Tomorrow") of the section `heading_id`."""
    section = html.split(f'<h2 id="{heading_id}">', 1)[1].split("</section>", 1)[0]
    parts = re.split(r"<h3>[^<]*</h3>", section)
    return parts[1] if day == "Today" else parts[2]


def test_today_page_lists_by_property_date_and_names_other_zones(client, world, scene, clock):
    client.force_login(world.owner)
    html = client.get(reverse("dashboard", kwargs={"slug": world.org.slug})).content.decode()
    today = _section(html, "arrivals", "Today")
    assert "Aroha Today" in today and "Bea Today" in today
    assert "Mere Tomorrow" not in today
    assert "Tane Gone" not in _section(html, "departures", "Today")
    # The Auckland stay's dates are Auckland's, so they name it; the Beach's are the page's.
    aroha_row = today.split("Aroha Today", 1)[1].split("</tr>", 1)[0]
    assert "Fri 4 Dec (Pacific/Auckland)" in aroha_row
    assert "Sun 6 Dec (Pacific/Auckland)" in aroha_row
    bea_row = today.split("Bea Today", 1)[1].split("</tr>", 1)[0]
    assert "Thu 3 Dec" in bea_row
    assert "America/Los_Angeles" not in bea_row


def test_today_page_in_german_names_the_zone_too(client, world, scene, clock):
    client.force_login(world.owner)
    client.post(reverse("set_language"), {"language": "de", "next": "/"})
    html = client.get(reverse("dashboard", kwargs={"slug": world.org.slug})).content.decode()
    assert 'lang="de"' in html
    aroha_row = _section(html, "arrivals", "Today").split("Aroha Today", 1)[1]
    assert "4 Dez (Pacific/Auckland)" in aroha_row.split("</tr>", 1)[0]
