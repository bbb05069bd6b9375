"""What each alert says, in the reader's language.

An alert row stores a `code` (a key of ALERT_TEXTS) and the `params` that fill its templates,
not a finished English sentence: the page renders title, body and advice when it is read, in
the language of whoever reads it. One kind of alert (the dedup key, `Alert.kind`) may have
several codes, one per state, so that the advice says what is true now: "the portal is still
trying" while it is, "it stopped: press Retry" once it gave up; "no backup code left" only
where a pool exists.

Params are plain JSON values (names, numbers, dates as "YYYY-MM-DD" strings). A few params
carry text that comes from outside in English (a driver's reason, a bridge's error): those
are shown as they are. Rows written before codes existed have no code and show their stored
`message` and `fix`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import override

from portal.stored_errors import stored_error


@dataclass(frozen=True)
class AlertText:
    """The templates of one alert code ("%(name)s" placeholders, filled from params).

    `extras` are (param, template) pairs appended to the body when the param is given and
    not empty (e.g. "Last error: …")."""

    title: Promise
    body: Promise
    advice: Promise | str = ""
    extras: tuple[tuple[str, Promise], ...] = field(default=())


_LAST_ERROR = ("errors", _("Last error: %(errors)s"))

ALERT_TEXTS: dict[str, AlertText] = {
    # A stay's code is not on a door 24 hours before check-in (bookings/alerts.py).
    "code_not_set.retrying": AlertText(
        _("Code not on the lock yet"),
        _(
            "The code for %(guest)s (check-in %(check_in)s at %(property)s) is not yet on: "
            "%(locks)s."
        ),
        _(
            "Nothing to do yet: the portal is still trying. If the lock is offline, check its "
            "power and connection."
        ),
        (_LAST_ERROR,),
    ),
    "code_not_set.gave_up": AlertText(
        _("Code not on the lock"),
        _(
            "The code for %(guest)s (check-in %(check_in)s at %(property)s) is not on: "
            "%(locks)s. The portal stopped trying."
        ),
        _(
            "Check that the lock is online, then press Retry on the lock's page; or give the "
            "guest another way in."
        ),
        (_LAST_ERROR,),
    ),
    # A code command failed for good (locks/sync/runner.py).
    "code_failed.gave_up": AlertText(
        _("Code not on the lock"),
        _("Could not set the code “%(name)s” on %(lock)s: %(reason)s"),
        _(
            "The portal stopped trying. Check the lock's batteries and connection, then press "
            "Retry on the lock's page (it also tries again by itself when the lock answers)."
        ),
    ),
    "code_failed.remove_gave_up": AlertText(
        _("Code not removed from the lock"),
        _("Could not remove the code “%(name)s” from %(lock)s: %(reason)s"),
        _(
            "The portal stopped trying. Check the lock's batteries and connection, then press "
            "Retry on the lock's page (it also tries again by itself when the lock answers)."
        ),
    ),
    "code_failed.refused": AlertText(
        _("Code not on the lock"),
        _("Could not set the code “%(name)s” on %(lock)s: %(reason)s"),
        "%(fix)s",
    ),
    "code_failed.remove_refused": AlertText(
        _("Code not removed from the lock"),
        _("Could not remove the code “%(name)s” from %(lock)s: %(reason)s"),
        "%(fix)s",
    ),
    # Backup codes (bookings/backup.py).
    "no_backup_code.pool_empty": AlertText(
        _("No backup code left"),
        _(
            "%(doors)s cannot be reached and has no backup code left for %(guest)s "
            "(check-in %(check_in)s at %(property)s)."
        ),
        _(
            "Bring the lock back online, or give the guest another way in. Make the lock's "
            "backup pool larger so this does not happen again."
        ),
    ),
    "no_backup_code.no_pool": AlertText(
        _("Door unreachable before check-in"),
        _(
            "%(doors)s cannot be reached, so the code for %(guest)s (check-in %(check_in)s at "
            "%(property)s) is not on it. The lock has no backup pool to fall back on."
        ),
        _(
            "Bring the lock back online (power, Wi-Fi, bridge), or give the guest another way "
            "in. Set a backup pool on the lock so this does not happen again."
        ),
    ),
    "backup_code_given": AlertText(
        _("Backup code given out"),
        _(
            "%(guest)s got a backup code because %(doors)s could not be reached in time. Until "
            "the lock answers again the code also works after check-out (%(until)s); it is "
            "narrowed to the stay, or removed, as soon as the lock is reachable."
        ),
        _("Bring the lock back online (power, Wi-Fi, bridge); the portal does the rest."),
    ),
    # Lock memory (locks/sync).
    "lock_full": AlertText(
        _("Lock full: no room for new codes"),
        _("%(lock)s has no room left for another keypad code."),
        _(
            "Remove codes that are no longer needed from this lock; codes of ended stays are "
            "removed automatically."
        ),
        (("reason", _("The lock says: %(reason)s")),),
    ),
    "lock_nearly_full": AlertText(
        _("Lock nearly full"),
        _("%(lock)s holds %(held)s of the %(capacity)s keypad codes it can store."),
        _(
            "Remove codes that are no longer needed from this lock; codes of ended stays are "
            "removed automatically."
        ),
    ),
    "foreign_codes": AlertText(
        _("Codes Latchkey did not create"),
        _(
            "%(lock)s holds %(count)s keypad code(s) Latchkey did not create: %(names)s. They "
            "are kept and their digits are never given to a guest."
        ),
        _(
            "If they are not needed, remove them at the lock, or let Latchkey remove codes it "
            "did not create (organization setting)."
        ),
    ),
    # Calendar feeds (bookings/ical).
    "ical_feed_failing": AlertText(
        _("Calendar feed failing"),
        _(
            "The calendar feed “%(feed)s” of %(property)s could not be read %(failures)s times "
            "in a row. %(error)s Stays from this feed are kept as they were; new bookings and "
            "changes will not arrive until the feed works again."
        ),
        _(
            "Open the calendar's export page at the channel (Airbnb, Booking.com, VRBO…), copy "
            "the export link again and compare it with this feed; if it changed, remove this "
            "feed and add the new link. Meanwhile, check new bookings by hand."
        ),
        (("since", _("Last good fetch: %(since)s.")),),
    ),
    "ical_feed_failing.empty": AlertText(
        _("Calendar feed empty"),
        _(
            "The calendar feed “%(feed)s” of %(property)s came back empty %(failures)s times in "
            "a row. %(error)s Stays from this feed are kept as they were."
        ),
        _(
            "Check the listing at the channel: if its calendar really is empty now, cancel the "
            "stays that were dropped by hand (the feed then works again by itself)."
        ),
        (("since", _("Last good fetch: %(since)s.")),),
    ),
    "ical_feed_capped": AlertText(
        _("Calendar feed over the cap"),
        _(
            "The calendar feed “%(feed)s” of %(property)s lists %(coming)s future stays, more "
            "than the cap of %(cap)s per feed: the %(cap)s soonest were imported, the other "
            "%(rest)s were not."
        ),
        _(
            "Check that this is the right calendar link (one listing rarely has that many "
            "bookings ahead). If it is, ask the administrator to raise LATCHKEY_ICAL_MAX_STAYS."
        ),
    ),
    "ical_stay_vanished": AlertText(
        _("Stay gone from the calendar"),
        _(
            "The stay of %(guest)s at %(property)s (check-out %(check_out)s) is under way but "
            "no longer in the calendar feed “%(feed)s”. Its code keeps working until check-out."
        ),
        _("If the guest has left early, cancel the stay; otherwise nothing to do."),
    ),
    # Integrations.
    "bridge_error": AlertText(_("Bridge problem"), _("Bridge “%(bridge)s”: %(error)s"), "%(fix)s"),
    "agent_locks_capped": AlertText(
        _("Too many locks for one agent"),
        _(
            "The on-site agent “%(agent)s” reported %(count)s more locks than the %(cap)s one "
            "agent may serve; they were not added: %(shown)s."
        ),
        _(
            "Unpair the locks this agent should not serve, or serve them with a second agent "
            "near them (LATCHKEY_AGENT_MAX_LOCKS is the cap)."
        ),
    ),
    "nuki_web_reconnect": AlertText(
        _("Nuki Web connection"),
        _("Nuki Web needs reconnecting: %(why)s"),
        _("Open Integrations → Nuki Web and connect again; codes wait until then."),
    ),
    "pms_unmapped": AlertText(
        _("PMS listing without a property"),
        _(
            "%(system)s sent a booking for its listing “%(listing)s”, which is not linked to "
            "any of your properties. The booking is kept and waits."
        ),
        _(
            "Link the listing to a property (PMS connection → listing mappings), or give the "
            "property the external reference “%(listing)s”. Waiting bookings are applied as "
            "soon as it is linked."
        ),
    ),
    "pms_throttled": AlertText(
        _("PMS deliveries refused"),
        _(
            "The %(system)s connection “%(name)s” sent more than %(rate)s deliveries, the most "
            "allowed per connection: the extra ones were refused with “retry later” (most "
            "systems send them again)."
        ),
        _(
            "Check that the latest bookings from this system arrived. If it really sends this "
            "many, ask the administrator to raise LATCHKEY_PMS_HOOK_RATE; if not, someone may "
            "know the webhook URL: create a new connection."
        ),
    ),
}

# Titles for rows written before codes existed (they have a kind, no code).
_LEGACY_TITLES: dict[str, Promise] = {
    "backup_code_given": _("Backup code given out"),
    "lock_full": _("Lock full: no room for new codes"),
    "lock_nearly_full": _("Lock nearly full"),
    "foreign_codes": _("Codes Latchkey did not create"),
    "ical_feed_failing": _("Calendar feed failing"),
    "ical_stay_vanished": _("Stay gone from the calendar"),
    "bridge_error": _("Bridge problem"),
    "nuki_web_reconnect": _("Nuki Web connection"),
    "pms_unmapped": _("PMS listing without a property"),
    "code_failed": _("Code not on the lock"),
    "code_not_set": _("Code not on the lock"),
    "no_backup_code": _("No backup code left"),
    "nuki_web": _("Nuki Web connection"),
}


class _Params(dict):
    """Missing params render as "?" rather than failing the page."""

    def __missing__(self, key: str) -> str:
        return "?"


def _fill(template: Promise | str, params: dict) -> str:
    text = str(template)
    return text % _Params(params) if "%(" in text else text


def alert_text(*, kind: str, code: str, params: dict) -> tuple[str, str, str] | None:
    """(title, body, advice) in the active language, or None for an unknown code."""
    entry = ALERT_TEXTS.get(code)
    if entry is None:
        return None
    params = params or {}
    if params.get("error"):  # an error stored in English (a feed's): in this language
        params = {**params, "error": stored_error(str(params["error"]))}
    body = _fill(entry.body, params)
    for name, template in entry.extras:
        if params.get(name):
            body = f"{body} {_fill(template, params)}"
    return _fill(entry.title, params), body, _fill(entry.advice, params)


def alert_title_for(*, kind: str, code: str = "") -> str:
    """The headline of an alert: its code's title, else a title known for its kind, else ""."""
    entry = ALERT_TEXTS.get(code) or ALERT_TEXTS.get(kind)
    if entry is not None:
        return str(entry.title)
    legacy = _LEGACY_TITLES.get(kind)
    return str(legacy) if legacy else ""


def alert_text_english(*, kind: str, code: str, params: dict) -> tuple[str, str]:
    """(body, advice) in English: stored in `message`/`fix` for the admin, logs and exports."""
    with override("en"):
        rendered = alert_text(kind=kind, code=code, params=params)
    if rendered is None:
        raise KeyError(f"unknown alert code {code!r}")
    return rendered[1], rendered[2]
