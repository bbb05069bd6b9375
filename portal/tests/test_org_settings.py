"""The organization's own settings: read by every member, changed only with write access,
bad values refused per field, and never another organization's."""

import pytest
from rest_framework.test import APIClient

URL = "/api/v1/organization/"


@pytest.mark.django_db
def test_settings_read_and_changed_only_with_write_access(world):
    body = world.api(world.read_key).get(URL).json()
    assert body["slug"] == world.org.slug
    assert body["remove_foreign_codes"] is False and body["backup_lead_minutes"] == 120
    assert world.api(world.read_key).patch(URL, {"remove_foreign_codes": True}).status_code == 403
    viewer = APIClient()
    viewer.force_login(world.viewer)
    assert viewer.patch(URL, {"remove_foreign_codes": True}).status_code == 403
    assert APIClient().get(URL).status_code == 401
    world.org.refresh_from_db()
    assert world.org.remove_foreign_codes is False

    changed = world.api(world.write_key).patch(
        URL,
        {"remove_foreign_codes": True, "backup_lead_minutes": 90, "codes_before_payment": True},
        format="json",
    )
    assert changed.status_code == 200
    world.org.refresh_from_db()
    assert world.org.remove_foreign_codes is True and world.org.backup_lead_minutes == 90
    assert world.org.codes_before_payment is True
    # The outsider's key reaches only its own organization, which is unchanged.
    other = world.api(world.outsider_key).get(URL).json()
    assert other["slug"] == world.other_org.slug and other["remove_foreign_codes"] is False


@pytest.mark.django_db
def test_bad_values_are_refused_per_field(world):
    bad = world.api(world.write_key).patch(
        URL, {"backup_lead_minutes": -5, "preload_hours": 0}, format="json"
    )
    assert bad.status_code == 400
    assert set(bad.json()) == {"backup_lead_minutes", "preload_hours"}
    world.org.refresh_from_db()
    assert world.org.backup_lead_minutes == 120 and world.org.preload_hours == 72
