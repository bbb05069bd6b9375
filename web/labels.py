"""Words for the values the pages show: every stored value (a code's state, a capability, a
stay's source, a remote action) has a label in the reader's language, so no raw value such as
`set` or `ical:3` reaches a page. Model choices carry their own lazy labels
(`get_FOO_display`); these are the values that have no model field of their own, or whose
chip on a page is shorter than the choice's label.
"""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from bookings.pms.models import PmsKind

# The chip beside a lock's name: lower case, as short as the English values they replace.
CODE_STATES: dict[str, Promise] = {
    "planned": pgettext_lazy("code state", "planned"),
    "setting": pgettext_lazy("code state", "setting"),
    "set": pgettext_lazy("code state", "set"),
    "removing": pgettext_lazy("code state", "removing"),
    "removed": pgettext_lazy("code state", "removed"),
    "failed": pgettext_lazy("code state", "failed"),
}

# What a lock's connection can do (locks.integrations.base.Capability), as the lock page lists them.
CAPABILITIES: dict[str, Promise] = {
    "codes": _("keypad codes"),
    "actions": _("remote lock and unlock"),
    "state": _("reports state, battery and door"),
    "logs": _("reads its activity log"),
    "offline": _("works without internet"),
    "app_access": _("access in the guest's Nuki app"),
    "schedules": _("weekday and time limits"),
}

# Remote actions (locks.integrations.base.ACTIONS), as a command's payload names them.
LOCK_ACTIONS: dict[str, Promise] = {
    "unlock": _("unlock"),
    "lock": _("lock"),
    "unlatch": _("unlatch"),
    "lock_n_go": _("Lock 'n' Go"),
}

LABELS: dict[str, dict[str, Promise]] = {
    "code_state": CODE_STATES,
    "capability": CAPABILITIES,
    "lock_action": LOCK_ACTIONS,
}


def label(value: object, kind: str) -> str:
    """The label of `value` in the table `kind`; an unknown value is shown as it is (a new
    value should get a label here, and the German page test finds those that do not)."""
    text = LABELS[kind].get(str(value))
    return str(text) if text is not None else str(value)


def source_label(source: str) -> str:
    """Where a stay came from, from Booking.source ("manual", "api", "ical:3", "hostaway")."""
    if source == "manual":
        return str(_("entered by hand"))
    if source == "api":
        return str(_("API"))
    if source.startswith("ical:"):
        return str(_("calendar feed (iCal)"))
    if source in PmsKind.values:
        return str(PmsKind(source).label)
    return source
