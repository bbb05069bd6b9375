"""Cheap formatting for long tables: Django's `date` filter re-reads the locale's formats on
every call, which was a third of the Today page's time with a few hundred rows."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import get_language, gettext_lazy

from portal.alertkinds import alert_title_for
from portal.times import local_stamp, zone
from web.selectors.email_masking import masked_text

register = template.Library()


@lru_cache(maxsize=4096)
def _day(value: dt.date, language: str) -> str:
    return date_format(value, "D j M")


@register.filter
def day(value, row=None) -> str:
    """ "Mon 23 Nov" in the current language. A stay's dates are its property's: where `row`
    (its property, or a zone name) is in another zone than the page, the date names it,
    "Tue 24 Nov (Pacific/Auckland)", as `stamp` does, since that day is not the page's."""
    if not value:
        return "—"
    row_zone = row if isinstance(row, str) else getattr(row, "timezone", None)
    page_zone = timezone.get_current_timezone_name()
    named = bool(row_zone) and row_zone != page_zone
    if isinstance(value, dt.datetime):
        value = value.astimezone(zone(row_zone if named else page_zone)).date()
    text = _day(value, get_language() or "en")
    return f"{text} ({row_zone})" if named else text


@register.filter
def stamp(value, row=None) -> str:
    """ "2026-11-23 14:05" in the page's zone (web.zones; numeric, the same in every language),
    which the layout names once. A row in another zone than the page names its own:
    "2026-11-23 14:05 (Pacific/Auckland)"; `row` is its property (None: the organization's,
    the page's zone) or a zone name."""
    if not value:
        return "—"
    row_zone = row if isinstance(row, str) else getattr(row, "timezone", None)
    page_zone = timezone.get_current_timezone_name()
    named = bool(row_zone) and row_zone != page_zone
    shown = row_zone if named else page_zone
    # <time>: machine-readable with its offset, and never broken across lines on a phone.
    return format_html(
        '<time datetime="{}">{}</time>',
        value.astimezone(zone(shown)).isoformat(timespec="minutes"),
        local_stamp(value, shown, named=named),
    )


_DAYS = (
    (64, gettext_lazy("Mon")),
    (32, gettext_lazy("Tue")),
    (16, gettext_lazy("Wed")),
    (8, gettext_lazy("Thu")),
    (4, gettext_lazy("Fri")),
    (2, gettext_lazy("Sat")),
    (1, gettext_lazy("Sun")),
)


@register.filter
def weekdays(mask) -> str:
    """Nuki's weekday bitmask (Monday = 64 … Sunday = 1) as "Mon, Wed, Fri"."""
    mask = int(mask or 0) & 127
    if mask in (0, 127):
        return str(gettext_lazy("every day"))
    return ", ".join(str(label) for bit, label in _DAYS if mask & bit)


_ALERT_PAGES = {"lock": "lock-page", "booking": "stay-page", "bridge": "integrations"}


@register.simple_tag
def alert_link(alert, slug: str) -> str:
    """The page an alert is about, from its subject ("lock:12", "booking:7"), or ""."""
    kind, _, pk = (alert.subject or "").partition(":")
    if kind in ("ical_feed", "pms"):  # "ical_feed:3", "pms:<connection>:<listing>"
        anchor = "#pms-h" if kind == "pms" else "#ical-h"
        return reverse("integrations", kwargs={"slug": slug}) + anchor
    name = _ALERT_PAGES.get(kind)
    if name is None or not pk.isdigit():
        return ""
    if name == "integrations":
        return reverse(name, kwargs={"slug": slug})
    return reverse(name, kwargs={"slug": slug, "pk": int(pk)})


@register.filter
def alert_title(kind: str) -> str:
    """A short headline in the manager's language for an alert kind (see portal.alertkinds;
    an alert row's own `title` also knows its state)."""
    return alert_title_for(kind=kind)


@register.filter
def masked_email(email) -> str:
    """A guest email's text with its door code and stay link masked (web.selectors)."""
    return masked_text(email)
