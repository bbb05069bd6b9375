"""Cheap formatting for long tables: Django's `date` filter re-reads the locale's formats on
every call, which was a third of the Today page's time with a few hundred rows."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from django import template
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import get_language

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
