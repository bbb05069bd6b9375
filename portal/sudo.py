"""Re-authentication ("sudo"): a short window, kept in the session, opened by typing the
password again. It guards what a stolen or borrowed session should not be able to do quietly:
reveal a secret, change a credential, change who belongs to the organization.

The pages (web/access.py) and session-authenticated API calls share the same window, so a
browser script riding a signed-in session meets the same wall as a click. API keys are not
affected: their scope decides (a key is already a credential the owner chose to hand out).
"""

from __future__ import annotations

import time

from rest_framework import exceptions

from portal.tenancy import Tenant

SUDO_SECONDS = 10 * 60
SUDO_KEY = "sudo_until"


def sudo_active(request) -> bool:
    session = getattr(request, "session", None)
    if session is None:
        return False
    return float(session.get(SUDO_KEY, 0)) > time.time()


def sudo_grant(request) -> None:
    request.session[SUDO_KEY] = time.time() + SUDO_SECONDS


class SudoRequired(exceptions.PermissionDenied):
    default_detail = (
        "Confirm your password first: this action needs a recent password re-entry. Open "
        "/account/confirm/ in this browser session, then send the request again (the "
        "confirmation lasts 10 minutes). API keys are not asked."
    )
    default_code = "sudo_required"


def api_require_sudo(request) -> None:
    """For API views: raise 403 `sudo_required` when a session caller is outside the window.

    Called after the tenant, permission and object checks, so outsiders still get 404 and
    read-only callers 403 for their role, learning nothing about the window."""
    if isinstance(request.auth, Tenant) or sudo_active(request):  # an API key, or confirmed
        return
    raise SudoRequired()
