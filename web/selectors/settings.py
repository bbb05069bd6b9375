"""The Settings page: backup pools, step-up properties, API keys and members."""

from __future__ import annotations

from django.db.models import Count

from locks.models import BackupCode, Lock
from portal.models import ApiKey, Membership, Organization
from properties.models import Property
from web.selectors.common import LIST_LIMIT


def settings_for(*, organization: Organization) -> dict:
    pools = list(
        Lock.objects.filter(organization=organization, backup_pool_size__gt=0)
        .select_related("property")
        .order_by("property__name", "name", "pk")[:LIST_LIMIT]
    )
    available = dict(
        BackupCode.objects.filter(
            lock__in=[lock.pk for lock in pools], status=BackupCode.Status.AVAILABLE
        )
        .values_list("lock_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for lock in pools:
        lock.backup_available = available.get(lock.pk, 0)
    return {
        "backup_pools": pools,
        "step_up_properties": list(
            Property.objects.filter(organization=organization)
            .exclude(step_up_verifier="")
            .order_by("name", "pk")[:LIST_LIMIT]
        ),
        "api_keys": list(
            ApiKey.objects.filter(organization=organization).order_by("revoked_at", "-created_at")[
                :100
            ]
        ),
        "members": list(
            Membership.objects.filter(organization=organization)
            .select_related("user")
            .order_by("user__username")[:200]
        ),
    }
