"""`{% load labels %}`: a value's words in the reader's language (web/labels.py)."""

from __future__ import annotations

from django import template

from web import labels
from web.advice import advice as advice_text

register = template.Library()


@register.filter
def label(value, kind: str) -> str:
    """`{{ ac.state|label:"code_state" }}`: "gesetzt" for `set` in German."""
    return labels.label(value, kind)


@register.filter
def source_label(value) -> str:
    """`{{ stay.source|source_label }}`: "calendar feed (iCal)" for `ical:3`."""
    return labels.source_label(str(value or ""))


@register.filter
def advice(value) -> str:
    """`{{ cmd.fix|advice }}`: a stored reason or "what to do" in the reader's language."""
    return advice_text(str(value or ""))
