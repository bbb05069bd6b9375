"""The errors feeds and PMS deliveries store in English read in the reader's language
(portal/stored_errors.py): every template reads back from its English sentence into German with
its parameters, names are never translated, unknown text is shown as stored, and every sentence
the code can store is listed (a new one fails here until it is added and translated)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.utils import translation
from django.utils.translation import gettext

from portal.stored_errors import PARAM, TEMPLATES, stored_error

ROOT = Path(__file__).resolve().parents[2]

SAMPLES = {
    "reason": "The URL has no host name.",
    "detail": "[Errno 111] Connection refused",
    "status": "404",
    "count": "12",
    "feed": "Airbnb Loft",
    "property": "Alpine Loft",
    "coming": "2,400",
    "cap": "2,000",
    "rest": "400",
    "host": "cal.example.com",
    "address": "10.0.0.7",
    "peer": "10.0.0.8",
    "limit": "5,000,000",
    "size": "7,000,000",
    "field": "check_in",
    "first": "2000-01-01",
    "last": "2199-12-31",
}


@pytest.mark.parametrize("template", TEMPLATES)
def test_each_template_reads_back_into_german(template):
    names = set(PARAM.findall(template))
    params = {name: SAMPLES[name] for name in names}
    english = template % params if names else template
    with translation.override("de"):
        german = stored_error(english)
        if "reason" in params:  # a sentence inside: read in turn
            params["reason"] = gettext(params["reason"])
        wanted = gettext(template) % params if names else gettext(template)
    assert german == wanted
    assert german != english, "translate it in locale/de/LC_MESSAGES/django.po"
    for name in names - {"reason"}:
        assert SAMPLES[name] in german  # the parameter is carried over as stored


def test_english_stays_english_and_unknown_text_is_shown_as_stored():
    text = "The calendar was not found (HTTP 404): the link may be outdated."
    with translation.override("en"):
        assert stored_error(text) == text
    with translation.override("de"):
        assert stored_error("Something odd (code 7).") == "Something odd (code 7)."
        assert stored_error("") == ""


def test_names_inside_are_not_translated():
    """A feed called "Today" keeps its name; only sentence parameters are read in turn."""
    text = (
        "The calendar feed “Today” of Failed lists 3 future stays, more than the cap of 2 per "
        "feed: the 2 soonest were imported, the other 1 were not."
    )
    with translation.override("de"):
        german = stored_error(text)
    assert "„Today“ von Failed" in german and german != text


def test_errors_joined_by_semicolons_are_read_one_by_one():
    """A PMS delivery with several reservations stores their errors joined by "; "."""
    text = "check_out must be after check_in.; Body is not UTF-8."
    with translation.override("de"):
        assert stored_error(text) == (
            "check_out muss nach check_in liegen.; Der Inhalt ist nicht in UTF-8."
        )


# Where feeds and PMS deliveries get their stored errors from.
SOURCES = (
    "bookings/ical/services.py",
    "bookings/ical/parse.py",
    "bookings/ical/caps.py",
    "bookings/pms/services.py",
    "bookings/services.py",
    "locks/keypad.py",
    "portal/netguard.py",
)
# Calls whose text argument can end up in IcalFeed.last_error or PmsEvent.error.
CARRIERS = {
    "UnsafeURL",
    "FetchError",
    "NotICalendar",
    "Rejected",
    "NoCodeAvailable",
    "ServiceError",
    "_failed",
    "_finish",
}
RETURNING = {"_http_problem", "cap_report"}  # functions whose returned text is stored
NEVER_STORED = {
    "Unknown webhook.",  # the webhook's 404 answer: nothing is stored
    # A bridge's address (check_lan_host), shown on the bridge form, not in a feed:
    "Give the bridge's IP address or host name.",
    "The address {} points to {}; give the bridge's LAN address.",
    "The address {} is the portal's own {} server; give the bridge's LAN address.",
}


def _shape(node: ast.AST) -> str | None:
    """A text's constant parts with "{}" for each value put in; None for other expressions."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return None


def stored_shapes() -> dict[str, str]:
    found: dict[str, str] = {}

    def keep(node: ast.AST, where: str) -> None:
        text = _shape(node)
        if text and (text[0].isupper() or text.startswith("{}")):
            found.setdefault(text, where)

    for name in SOURCES:
        tree = ast.parse((ROOT / name).read_text())
        for node in ast.walk(tree):
            where = f"{name}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Call):
                func = node.func
                called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                if called in CARRIERS:
                    for arg in node.args:
                        keep(arg, where)
                for kw in node.keywords:
                    if kw.arg == "error":
                        keep(kw.value, where)
            elif isinstance(node, ast.FunctionDef) and node.name in RETURNING:
                for sub in ast.walk(node):
                    if isinstance(sub, ast.Return) and sub.value is not None:
                        keep(sub.value, where)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                        for t, v in zip(target.elts, node.value.elts, strict=False):
                            if isinstance(t, ast.Name) and t.id == "problem":
                                keep(v, where)
    return found


def test_every_stored_error_is_listed_for_translation():
    found = stored_shapes()
    assert len(found) > 25  # the scan sees the fetch guard, the feed and the webhook code
    listed = {PARAM.sub("{}", t) for t in TEMPLATES}
    # Messages translated where they are raised (gettext) are in the catalogue already.
    missing = {
        text: where
        for text, where in found.items()
        if text not in listed and text not in NEVER_STORED
    }
    assert missing == {}, "add these to portal/stored_errors.py, then make messages"
