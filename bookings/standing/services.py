"""Standing access: cleaning staff and owners on recurring weekday windows.

On a lock that stores weekday and time limits (`schedules` capability) the code is put once,
with the weekdays and local times, for the whole period (a year at a time when open-ended).
On other locks the code holds one occurrence's window at a time: when it ends, the planner
asks us (`access_code_ended`) and the window moves on to the next occurrence, so the lock
never holds more than the current or next window. Either way, the code's digits are reserved
on its locks for as long as the access stands.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from bookings.models import StandingAccess
from bookings.planning import local_to_utc
from locks.integrations.base import Capability
from locks.keypad import draw_code
from locks.models import AccessCode, Lock, ObservedCode
from locks.sync.desired import access_put, access_withdraw
from portal.models import Organization
from portal.services import ServiceError
from properties.models import Property

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
OPEN_ENDED = dt.timedelta(days=365)


def standing_reserved() -> QuerySet:
    """(code, property id) of every active standing access: reserved for good on the property,
    though their codes hold only one day's window at a time on most locks. The locks' engine
    unions this into its check of free codes (registered in BookingsConfig.ready, see
    locks/sync/reserved.py), so no guest draws a cleaner's code."""
    return StandingAccess.objects.filter(active=True).values_list("code", "property_id")


def weekday_bit(day: dt.date) -> int:
    """Nuki's bitmask: Monday = 64 ... Sunday = 1."""
    return 1 << (6 - day.weekday())


def weekdays_mask(names: Iterable[str]) -> int:
    return sum(1 << (6 - DAY_NAMES.index(name)) for name in set(names))


def weekdays_names(mask: int) -> list[str]:
    mask = mask or 127  # 0 means every day, as on the lock
    return [name for i, name in enumerate(DAY_NAMES) if mask & (1 << (6 - i))]


def _minutes(value: dt.time) -> int:
    return value.hour * 60 + value.minute


def next_window(
    access: StandingAccess, *, now: dt.datetime
) -> tuple[dt.datetime, dt.datetime] | None:
    """The current or next occurrence (UTC), or None when the access has no more."""
    tz = access.property.tz
    today = now.astimezone(tz).date()
    mask = access.weekdays or 127
    day = max(today - dt.timedelta(days=1), access.starts_on or today - dt.timedelta(days=1))
    for _ in range(9):
        if access.ends_on and day > access.ends_on:
            return None
        if mask & weekday_bit(day):
            start = local_to_utc(day, access.from_time, tz)
            end_day = day + dt.timedelta(days=1) if access.until_time <= access.from_time else day
            end = local_to_utc(end_day, access.until_time, tz, later=True)
            if end > now:
                return start, end
        day += dt.timedelta(days=1)
    return None


def _period(access: StandingAccess, *, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The whole period, for locks that apply weekdays and times themselves."""
    tz = access.property.tz
    start = (
        local_to_utc(access.starts_on, dt.time(0, 0), tz)
        if access.starts_on
        else access.created_at.replace(second=0, microsecond=0)
    )
    if access.ends_on:
        end = local_to_utc(access.ends_on + dt.timedelta(days=1), dt.time(0, 0), tz)
    else:
        end = max(now, start) + OPEN_ENDED
    return start, end


def standing_locks(access: StandingAccess) -> list[Lock]:
    chosen = list(access.locks.all()) if access.pk else []
    locks = chosen or list(Lock.objects.filter(property_id=access.property_id).order_by("pk"))
    return [lock for lock in locks if Capability.CODES in lock.capabilities]


def _name(access: StandingAccess) -> str:
    return f"LKS{access.pk} {access.name}".strip()[:20]


def _free_digits(locks: list[Lock]) -> str:
    """Digits not used on these locks at any time, by us or anyone else."""
    ids = [lock.pk for lock in locks]
    in_use = set(
        AccessCode.objects.filter(lock_id__in=ids, wanted=True).values_list("code", flat=True)
    ) | set(
        ObservedCode.objects.filter(lock_id__in=ids, access_code__isnull=True).values_list(
            "code", flat=True
        )
    )
    return draw_code(avoid=in_use)


@transaction.atomic(savepoint=False)
def standing_access_sync(*, access: StandingAccess, now: dt.datetime | None = None) -> list:
    """Make the locks hold what the standing access grants now (or take it off)."""
    now = now or timezone.now()
    if not access.active:
        return access_withdraw(holder=access.holder, now=now)
    locks = standing_locks(access)
    native = [lock for lock in locks if Capability.SCHEDULES in lock.capabilities]
    daily = [lock for lock in locks if lock not in native]
    result = []
    common = dict(organization=access.organization, holder=access.holder, code=access.code,
                  name=_name(access), now=now, only_these=False)  # fmt: skip
    if native:
        valid_from, valid_until = _period(access, now=now)
        result += access_put(
            locks=native,
            valid_from=valid_from,
            valid_until=valid_until,
            weekdays=access.weekdays or 127,
            from_minute=_minutes(access.from_time),
            until_minute=_minutes(access.until_time),
            **common,
        )
    window = next_window(access, now=now) if daily else None
    if window is not None:
        result += access_put(locks=daily, valid_from=window[0], valid_until=window[1], **common)
    kept = [ac.lock_id for ac in result]
    access_withdraw(
        holder=access.holder,
        queryset=AccessCode.objects.filter(holder=access.holder).exclude(lock_id__in=kept),
        now=now,
    )
    return result


def _check(*, property: Property, locks: list[Lock], fields: dict) -> None:
    for lock in locks:
        if lock.property_id != property.pk:
            raise ServiceError(
                gettext("The lock “%(lock)s” is not at this property.") % {"lock": lock.name},
                field="locks",
            )
    if fields.get("from_time") == fields.get("until_time"):
        raise ServiceError(gettext("from_time and until_time must differ."), field="until_time")
    starts, ends = fields.get("starts_on"), fields.get("ends_on")
    if starts and ends and ends < starts:
        raise ServiceError(gettext("ends_on must not be before starts_on."), field="ends_on")
    if not (fields.get("weekdays", 127) or 127) & 127:
        raise ServiceError(gettext("Choose at least one weekday."), field="weekdays")


@transaction.atomic
def standing_access_create(
    *, organization: Organization, property: Property, locks: list[Lock] | None = None, **fields
) -> StandingAccess:
    locks = list(locks or [])
    _check(property=property, locks=locks, fields=fields)
    access = StandingAccess(organization=organization, property=property, code="", **fields)
    access.save()
    access.locks.set(locks)
    list(
        Lock.objects.select_for_update(no_key=True).filter(
            pk__in=[k.pk for k in standing_locks(access)]
        )
    )
    access.code = _free_digits(standing_locks(access))
    access.save(update_fields=["code"])
    standing_access_sync(access=access)
    return access


@transaction.atomic
def standing_access_update(
    *, access: StandingAccess, locks: list[Lock] | None = None, **fields
) -> StandingAccess:
    access = StandingAccess.objects.select_for_update().get(pk=access.pk)
    current = list(access.locks.all()) if locks is None else list(locks)
    merged = {
        name: fields.get(name, getattr(access, name))
        for name in ("from_time", "until_time", "starts_on", "ends_on", "weekdays")
    }
    _check(property=access.property, locks=current, fields=merged)
    for name, value in fields.items():
        setattr(access, name, value)
    access.save()
    if locks is not None:
        access.locks.set(locks)
    standing_access_sync(access=access)
    return access


def standing_access_renew(*, access_code: AccessCode) -> None:
    """The planner says a standing code's window ended: move it on to the next one."""
    access_id = StandingAccess.id_from_holder(access_code.holder)
    access = (
        StandingAccess.objects.select_related("property", "organization")
        .filter(pk=access_id)
        .first()
    )
    if access is not None:
        standing_access_sync(access=access)
