"""Cheap formatting for long tables: Django's `date` filter re-reads the locale's formats on
every call, which was a third of the Today page's time with a few hundred rows."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _lazy

register = template.Library()


@lru_cache(maxsize=4096)
def _day(value: dt.date, language: str) -> str:
    return date_format(value, "D j M")


@register.filter
def day(value) -> str:
    """ "Mon 23 Nov" in the current language."""
    if not value:
        return "—"
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value).date()
    return _day(value, get_language() or "en")


@register.filter
def stamp(value) -> str:
    """ "2026-11-23 14:05" in the current time zone (numeric: the same in every language)."""
    if not value:
        return "—"
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")


_DAYS = (
    (64, _lazy("Mon")),
    (32, _lazy("Tue")),
    (16, _lazy("Wed")),
    (8, _lazy("Thu")),
    (4, _lazy("Fri")),
    (2, _lazy("Sat")),
    (1, _lazy("Sun")),
)


@register.filter
def weekdays(mask) -> str:
    """Nuki's weekday bitmask (Monday = 64 … Sunday = 1) as "Mon, Wed, Fri"."""
    mask = int(mask or 0) & 127
    if mask in (0, 127):
        return str(_lazy("every day"))
    return ", ".join(str(label) for bit, label in _DAYS if mask & bit)


_ALERT_PAGES = {"lock": "lock-page", "booking": "stay-page", "bridge": "integrations"}


@register.simple_tag
def alert_link(alert, slug: str) -> str:
    """The page an alert is about, from its subject ("lock:12", "booking:7"), or ""."""
    kind, _, pk = (alert.subject or "").partition(":")
    name = _ALERT_PAGES.get(kind)
    if name is None and kind == "ical_feed":
        name = "integrations"
    if name is None or not pk.isdigit():
        return ""
    if name == "integrations":
        return reverse(name, kwargs={"slug": slug})
    return reverse(name, kwargs={"slug": slug, "pk": int(pk)})


ALERT_TITLES = {
    "backup_code_given": _lazy("Backup code given out"),
    "no_backup_code": _lazy("No backup code left"),
    "lock_full": _lazy("Lock full: no room for new codes"),
    "lock_nearly_full": _lazy("Lock nearly full"),
    "foreign_codes": _lazy("Codes Latchkey did not create"),
    "code_failed": _lazy("Code not on the lock"),
    "code_not_set": _lazy("Code not on the lock"),
    "ical_feed_failing": _lazy("Calendar feed failing"),
    "ical_stay_vanished": _lazy("Stay gone from the calendar"),
    "bridge_error": _lazy("Bridge problem"),
    "nuki_web": _lazy("Nuki Web connection"),
    "nuki_web_reconnect": _lazy("Nuki Web connection"),
}


@register.filter
def alert_title(kind: str) -> str:
    """A short headline in the manager's language above an alert's (English) details."""
    title = ALERT_TITLES.get(kind)
    return str(title) if title else ""
