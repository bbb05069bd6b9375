"""`{% load labels %}`: a value's words in the reader's language. Stays' sources, code states
and stored advice come from web/labels.py and web/advice.py; the raw values locks and drivers
report ("unlocked (lock 'n' go)", "door closed", "code_added", "virtual") are labelled here, and
lock states get a tone (a state nobody reported is grey, never a green "OK")."""

from __future__ import annotations

from django import template
from django.utils.translation import gettext_lazy as _

from portal.stored_errors import stored_error as stored_error_text
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
def stored_error(value) -> str:
    """`{{ feed.last_error|stored_error }}`: an error a feed or a PMS delivery stored in
    English, in the reader's language (portal/stored_errors.py)."""
    return stored_error_text(str(value or ""))


@register.filter
def advice(value) -> str:
    """`{{ cmd.fix|advice }}`: a stored reason or "what to do" in the reader's language."""
    return advice_text(str(value or ""))


def _key(value) -> str:
    """ "unlocked (lock 'n' go)" and "unlocked_lock_n_go" are the same key."""
    text = str(value or "").strip().lower().replace("'", "")
    for sep in (" (", ")", " ", "-"):
        text = text.replace(sep, "_")
    return text.strip("_")


LOCK_STATES = {
    "unknown": _("not reported yet"),
    "undefined": _("not reported yet"),
    "uncalibrated": _("not calibrated"),
    "locked": _("locked"),
    "unlocking": _("unlocking"),
    "unlocked": _("unlocked"),
    "locking": _("locking"),
    "unlatched": _("unlatched"),
    "unlocked_lock_n_go": _("unlocked (Lock 'n' Go)"),
    "unlatching": _("unlatching"),
    "motor_blocked": _("motor blocked"),
}
# Grey: nothing reported (or nothing the lock can vouch for). Red: needs someone.
_GREY = {"unknown", "undefined", "uncalibrated"}
_BAD = {"motor_blocked"}

DOOR_STATES = {
    "unknown": _("not reported"),
    "door_state_unknown": _("not reported"),
    "deactivated": _("no door sensor"),
    "door_closed": _("closed"),
    "door_opened": _("open"),
    "calibrating": _("calibrating"),
}

EVENT_KINDS = {
    "code_added": _("Code added"),
    "code_updated": _("Code changed"),
    "code_removed": _("Code removed"),
    "lock_action": _("Remote action"),
    "state": _("State reported"),
    "drift": _("Difference found"),
    "foreign_code_found": _("Unknown code found"),
    "foreign_code_removed": _("Unknown code removed"),
    "backup_code_given": _("Backup code given out"),
    "guest_open": _("Opened by the guest"),
    "guest_open_refused": _("Guest opening refused"),
    "log": _("Lock log entry"),
}

SOURCES = {
    "virtual": _("Virtual lock"),
    "nuki_web": _("Nuki Web"),
    "nuki web": _("Nuki Web"),
    "nuki_web_log": _("Nuki Web log"),
    "bridge_http": _("Nuki Bridge"),
    "bridge": _("Nuki Bridge"),
    "bridge_callback": _("Nuki Bridge (callback)"),
    "bridge_log": _("Nuki Bridge log"),
    "ble_agent": _("On-site agent"),
    "agent": _("On-site agent"),
    "reconcile": _("Check of the lock"),
    "portal": _("Portal"),
    "stay_page": _("Guest's stay page"),
}


def _fallback(value) -> str:
    text = str(value or "").replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text else "—"


@register.filter
def lock_state_label(value) -> str:
    label = LOCK_STATES.get(_key(value))
    return str(label) if label else _fallback(value)


@register.filter
def lock_state_tone(value) -> str:
    """The badge class of a lock state: "unknown" (grey), "bad" or "ok"."""
    key = _key(value)
    if key in _GREY or key not in LOCK_STATES:
        return "unknown"
    return "bad" if key in _BAD else "ok"


@register.filter
def door_state_label(value) -> str:
    label = DOOR_STATES.get(_key(value))
    return str(label) if label else _fallback(value)


@register.filter
def event_kind_label(value) -> str:
    """ "code_added" → "Code added"; entries of a lock's own log ("log:…") read as such."""
    key = str(value or "")
    if key.startswith("log:"):
        return f"{EVENT_KINDS['log']}: {key[4:].replace('_', ' ')}"
    label = EVENT_KINDS.get(key)
    return str(label) if label else _fallback(value)


@register.filter
def event_source_label(value) -> str:
    """Who reported an event: a driver ("virtual"), the portal, the guest's page…"""
    label = SOURCES.get(str(value or "")) or SOURCES.get(_key(value))
    return str(label) if label else _fallback(value)


# Messages the virtual lock (and the demo) stores in its activity log, in English: shown in
# the reader's language; the name after the colon is the code's, kept as it is.
EVENT_MESSAGES = {
    "Keypad code added": _("Keypad code added"),
    "Keypad code changed": _("Keypad code changed"),
    "Keypad code removed": _("Keypad code removed"),
}


@register.filter
def event_message(value) -> str:
    """ "Keypad code added: Greta Gast" → "Tastencode hinzugefügt: Greta Gast" in German."""
    text = str(value or "")
    head, sep, rest = text.partition(": ")
    label = EVENT_MESSAGES.get(head)
    if label is None:
        return text
    return f"{label}{sep}{rest}"
