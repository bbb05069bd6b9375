"""Keeping the bridge's token out of logs: httpx2 logs every request URL at INFO, and the token
travels in the query string. The client module calls `redaction_install()` when imported."""

from __future__ import annotations

import logging
import re

import httpx2

_SECRET_PARAMS = re.compile(r"(?<=[?&])(token|hash|ctoken|nonce|url)=[^&\s\"']*")


class RedactTokenFilter(logging.Filter):
    """httpx2 logs every request URL at INFO; the bridge's token travels in the query string.
    This filter, put on the "httpx2" logger at import, masks token/hash/ctoken/nonce values."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
            isinstance(arg, str | httpx2.URL) for arg in record.args
        ):
            record.args = tuple(
                _SECRET_PARAMS.sub(r"\1=***", str(arg))
                if isinstance(arg, str | httpx2.URL)
                else arg
                for arg in record.args
            )
        if isinstance(record.msg, str):
            record.msg = _SECRET_PARAMS.sub(r"\1=***", record.msg)
        return True


def redaction_install() -> None:
    """Put the filter on the "httpx2" logger, once per process."""
    if not any(isinstance(f, RedactTokenFilter) for f in logging.getLogger("httpx2").filters):
        logging.getLogger("httpx2").addFilter(RedactTokenFilter())
