"""gunicorn's access log without tokens: `--logger-class portal.access_log.MaskingGunicornLogger`.

Every URL field of the access log goes through portal.log_masking.mask (stay links, invitation
links, webhook secrets, query credentials), and `%(h)s` is the client address by the portal's one
rule (portal.client_address), so the log and the throttles agree on who a client is. Imported by
gunicorn's master before Django is set up: nothing here needs settings.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

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
    the client address (`%(h)s`) taken by the portal's one rule (portal.client_address).

    The atoms are worked out one by one as the format asks for them (`LazyAtoms`): gunicorn
    builds every one of them for each request (every request and response header, every
    environ entry, each escaped) and a format names five or ten. Under the uvicorn workers
    that work ran on the event loop every request of the process passes through, and took
    about half as long as Django's own work for an API ping (py-spy, bench/noisy_neighbour.py)."""

    _URL_ATOMS = frozenset(("r", "U", "q", "f", "{referer}i"))
    _SECRET_HEADERS = frozenset(("{authorization}i", "{cookie}i", "{x-api-key}i"))

    def __init__(self, cfg):
        super().__init__(cfg)
        self._trusted = _trusted_proxies()
        # gunicorn's own error lines name the URL too ("Error handling request /stay/...").
        if not any(isinstance(f, MaskTokensFilter) for f in self.error_log.filters):
            self.error_log.addFilter(MaskTokensFilter())

    @staticmethod
    def atoms_wrapper_class(atoms: LazyAtoms) -> LazyAtoms:
        return atoms  # LazyAtoms already does what gunicorn's SafeAtoms does

    def atoms(self, resp, req, environ, request_time) -> LazyAtoms:
        return LazyAtoms(self, resp, req, environ, request_time)

    def atom(self, key: str, resp, req, environ, request_time):
        """One atom of gunicorn's access log format, masked; "-" for one it does not know."""
        if key in self._SECRET_HEADERS:
            return MASK
        if key == "h":
            return client_address(
                remote_addr=environ.get("REMOTE_ADDR"),
                forwarded_for=environ.get("HTTP_X_FORWARDED_FOR"),
                trusted=self._trusted,
            )
        if key.startswith("{") and key[-2:-1] == "}":
            value = _named(key[1:-2].lower(), key[-1], resp, req, environ)
        else:
            value = self._plain_atom(key, resp, environ, request_time)
        if key in self._URL_ATOMS and isinstance(value, str):
            return mask(value)
        return value

    def _plain_atom(self, key: str, resp, environ, request_time):
        """gunicorn's one-letter atoms (Logger.atoms), each only when asked for."""
        took = request_time
        if key == "r":
            return "{} {} {}".format(
                environ["REQUEST_METHOD"], environ["RAW_URI"], environ["SERVER_PROTOCOL"]
            )
        if key == "s":
            status = resp.status
            return status.split(None, 1)[0] if isinstance(status, str) else status
        if key == "t":
            return self.now()
        if key == "u":
            return self._get_user(environ) or "-"
        if key in ("b", "B"):
            sent = getattr(resp, "sent", None)
            return sent if key == "B" else ("-" if sent is None else str(sent))
        if key == "D":
            return took.seconds * 1_000_000 + took.microseconds
        if key == "M":
            return took.seconds * 1000 + took.microseconds // 1000
        if key == "T":
            return took.seconds
        if key == "L":
            return f"{took.seconds}.{took.microseconds:06d}"
        if key == "p":
            return f"<{os.getpid()}>"
        if key == "l":
            return "-"
        if key in _ENVIRON_ATOMS:
            name, default = _ENVIRON_ATOMS[key]
            return environ.get(name, default)
        return "-"


# gunicorn's atoms read straight from the environ: atom -> (key, value when absent).
_ENVIRON_ATOMS = {
    "m": ("REQUEST_METHOD", None),
    "U": ("PATH_INFO", None),
    "q": ("QUERY_STRING", None),
    "H": ("SERVER_PROTOCOL", None),
    "f": ("HTTP_REFERER", "-"),
    "a": ("HTTP_USER_AGENT", "-"),
}


def _named(name: str, kind: str, resp, req, environ):
    """`{name}i` (a request header), `{name}o` (a response header), `{name}e` (an environ
    entry), matched without regard to case as gunicorn does; the last one of a repeated name."""
    if kind == "i":
        pairs = getattr(req, "headers", req)
    elif kind == "o":
        pairs = resp.headers
    elif kind == "e":
        pairs = environ
    else:
        return "-"
    if hasattr(pairs, "items"):
        pairs = pairs.items()
    found = "-"
    for key, value in pairs:
        if key.lower() == name:
            found = value
    return found


class LazyAtoms(Mapping):
    """The access log's atoms as the mapping `%`-formatting reads: each one worked out (and its
    quotes escaped, as gunicorn's SafeAtoms does) when the format names it."""

    __slots__ = ("_args", "_logger")

    def __init__(self, logger: MaskingGunicornLogger, *args):
        self._logger, self._args = logger, args

    def __getitem__(self, key: str):
        value = self._logger.atom(key, *self._args)
        return value.replace('"', '\\"') if isinstance(value, str) else value

    def __iter__(self):
        return iter(())  # no list of atoms: a format names the ones it wants

    def __len__(self) -> int:
        return 1  # never empty: logging formats with a mapping only when it is not
