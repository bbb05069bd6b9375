"""Guest emails as the manager pages show them: the door code and the stay page's link
masked, like every code in the pages. The full text is sent only on request, to someone who
may see codes (portal.tenancy.may_see_secrets), by `web.views.emails.email_body`."""

from __future__ import annotations

import re

from bookings.models import GuestEmail

MASK = "••••••"
# The stay page's link: its token opens the page that shows the code.
_STAY_LINK = re.compile(r"(/stay/)[^/\s\"'<>]+")


def masked_text(email: GuestEmail) -> str:
    """The email's text with its code and stay link replaced by dots."""
    text = email.body_text or ""
    if email.code:
        text = re.sub(rf"(?<!\d){re.escape(email.code)}(?!\d)", MASK, text)
    return _STAY_LINK.sub(rf"\g<1>{MASK}", text)
