"""Tokens never reach a log: masking for gunicorn's access log and for Django's log lines.

Many of the portal's credentials travel in URLs: the guest's stay link (`/stay/<token>/`), the
invitation link (`/invitations/<token>/`), webhook URLs whose path is their secret
(`/hooks/pms/<key>/`, `/hooks/nuki-web/<key>/`, `/hooks/bridge/<secret>/`), password reset
links, OAuth callbacks (`?code=`) and query credentials (`?token=`, `?key=`). An access log keeps
them for weeks in files, terminals and log shippers: whoever reads it could open a door. So the
access log (gunicorn, `--logger-class portal.access_log.MaskingGunicornLogger`) and the Django
log handlers (`MaskTokensFilter`: django.request's "Not Found: /stay/...", runserver's request
lines) write `***` in their place. The shape of each URL stays readable for debugging.

Django-free at import (gunicorn loads its logger class in the master process).
"""

from __future__ import annotations

import logging
import re

MASK = "***"
_SEGMENT = r"[^/?#\s\"']+"
_PATTERNS = [
    # /stay/<token>/..., /invitations/<token>/, /hooks/<kind>/<secret>/
    re.compile(rf"(/(?:stay|invitations|invitation|invite)/){_SEGMENT}"),
    re.compile(rf"(/hooks/[\w-]+/){_SEGMENT}"),
    # Django's password reset: /password/reset/<uidb64>/<token>/ (not .../set-password/)
    re.compile(rf"(/password/reset/{_SEGMENT}/)(?!set-password\b){_SEGMENT}"),
    # credentials in a query string (key=..., api_key=..., access_token=...)
    re.compile(
        r"((?:^|[?&;]|%3F|%26)[\w.-]*(?:token|key|secret|code|state|password|signature|sig)=)"
        r"[^&;#\s\"']+",
        re.IGNORECASE,
    ),
    # user:password@ in a URL
    re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/@\s:\"']+:[^/@\s\"']+(?=@)", re.IGNORECASE),
]
_HINTS = ("/stay/", "/invit", "/hooks/", "/password/reset/", "=", "://")


def mask(text: str) -> str:
    """`text` with every URL credential replaced by ***."""
    if not text or not any(hint in text for hint in _HINTS):
        return text
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK if m.group(1) else MASK, text)
    return text


class MaskTokensFilter(logging.Filter):
    """For Django's log handlers: masks the formatted message (and the exception text)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: the handler reports it
            return True
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


