"""Test helpers shared by every app: a tenancy world with owner, member, viewer and outsider."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from portal.models import Organization, Role
from portal.services import api_key_create, membership_add, organization_create


@dataclass
class World:
    org: Organization
    other_org: Organization
    owner: object
    member: object  # a manager: may write
    viewer: object  # read only
    outsider: object  # owner of another organization
    write_key: str
    read_key: str
    outsider_key: str

    def api(self, key: str | None = None) -> APIClient:
        client = APIClient()
        if key:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        return client


def make_world(name: str = "Acme Stays") -> World:
    org, owner, _ = organization_create(name=name, owner_email=f"owner@{name.split()[0]}.test")
    other, outsider, _ = organization_create(name=f"Other {name}", owner_email="outsider@x.test")
    users = get_user_model().objects
    member = users.create_user(
        username="member@acme.test", email="member@acme.test", password="pw-member-1"
    )
    viewer = users.create_user(
        username="viewer@acme.test", email="viewer@acme.test", password="pw-viewer-1"
    )
    membership_add(organization=org, user=member, role=Role.MANAGER)
    membership_add(organization=org, user=viewer, role=Role.VIEWER)
    _, write_key = api_key_create(organization=org, scope="write")
    _, read_key = api_key_create(organization=org, scope="read")
    _, outsider_key = api_key_create(organization=other, scope="write")
    return World(org, other, owner, member, viewer, outsider, write_key, read_key, outsider_key)


def days_from_now(days: int) -> dt.date:
    from django.utils import timezone

    return timezone.now().date() + dt.timedelta(days=days)
