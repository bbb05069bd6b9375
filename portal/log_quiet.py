"""Client errors are one log line, not a traceback.

Django logs a refused request (PermissionDenied: 403, or a 400 from SuspiciousOperation) on
`django.request` with the exception attached, so every 403 printed a traceback in the demo's
and the production log: noise that buries the tracebacks of real faults (5xx), which keep
theirs. The line itself stays ("Forbidden (Permission denied): /o/...").
"""

from __future__ import annotations

import logging


class ClientErrorsWithoutTraceback(logging.Filter):
    """For the `django.request` logger: drop the exception of records about 4xx answers."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if isinstance(status, int) and 400 <= status < 500:
            record.exc_info = None
            record.exc_text = None
        return True
