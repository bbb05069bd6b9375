"""gunicorn's access log without tokens: `--logger-class portal.access_log.MaskingGunicornLogger`.

Every URL field of the access log goes through portal.log_masking.mask (stay links, invitation
links, webhook secrets, query credentials), and `%(h)s` is the client address by the portal's one
rule (portal.client_address), so the log and the throttles agree on who a client is. Imported by
gunicorn's master before Django is set up: nothing here needs settings.
"""

from __future__ import annotations

from gunicorn.glogging import Logger

from portal import config
from portal.client_address import client_address, parse_networks
from portal.log_masking import MASK, MaskTokensFilter, mask


def _trusted_proxies() -> tuple:
    try:
        return parse_networks(config.get_list("LATCHKEY_TRUSTED_PROXIES", []))
    except ValueError:
        return ()  # settings refuse to start with a bad value; the log just uses REMOTE_ADDR


class MaskingGunicornLogger(Logger):
    """gunicorn's logger with URLs masked in every access log field that can carry them, and
    the client address (`%(h)s`) taken by the portal's one rule (portal.client_address)."""

    _URL_ATOMS = ("r", "U", "q", "f", "{referer}i")
    _SECRET_HEADERS = ("{authorization}i", "{cookie}i", "{x-api-key}i")

    def __init__(self, cfg):
        super().__init__(cfg)
        self._trusted = _trusted_proxies()
        # gunicorn's own error lines name the URL too ("Error handling request /stay/...").
        if not any(isinstance(f, MaskTokensFilter) for f in self.error_log.filters):
            self.error_log.addFilter(MaskTokensFilter())

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for name in self._URL_ATOMS:
            value = atoms.get(name)
            if isinstance(value, str):
                atoms[name] = mask(value)
        for name in self._SECRET_HEADERS:
            if name in atoms:
                atoms[name] = MASK
        atoms["h"] = client_address(
            remote_addr=environ.get("REMOTE_ADDR"),
            forwarded_for=environ.get("HTTP_X_FORWARDED_FOR"),
            trusted=self._trusted,
        )
        return atoms
