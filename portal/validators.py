"""Validators shared by the API serializers, the page forms and the models' clean()."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# Control characters (C0, DEL, C1: CR, LF, NUL, ESC, ...) and the Unicode line and paragraph
# separators: a name holding one breaks every email header it appears in (Django refuses to
# send a subject with a line break) or the terminal and log lines that print it.
# (Unicode categories Cc, Zl and Zp, as one character class.)
_REFUSED = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def has_control_characters(value: str) -> bool:
    return _REFUSED.search(value) is not None


def refuse_control_characters(value: str) -> None:
    """For names that end up in email subjects and headers (property, organization, guest)."""
    if isinstance(value, str) and has_control_characters(value):
        raise ValidationError(
            _("Line breaks and other control characters are not allowed here."),
            code="control_characters",
        )
