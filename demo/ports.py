"""The ports `make run` listens on: the web's PORT and the auxiliary servers the demo starts
beside it (the Procfile's Nuki Web stand-in), so that two checkouts on one machine both run.

An auxiliary port the person did not set is derived from PORT (PORT + its offset: 8090 beside
8000, 8821 beside 8731) and, when that one is taken, any free port the system hands out. A
port the person set and that is taken stops the run before anything starts, with a message
that names the variable to change; so does a taken PORT (gunicorn would otherwise retry for a
while, then honcho would take the worker, beat and stand-ins down with it).

No Django here: demo/run_env.py (which the Makefile runs before anything else) calls it.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping

LOOPBACK = "127.0.0.1"
# Variable → offset from PORT. The Procfile, settings and demo/nukiweb.py read the variable.
AUXILIARY = {"LATCHKEY_DEMO_NUKIWEB_PORT": 90}


class PortClash(Exception):
    """A port that must be this one is taken; the message names the variable to set."""


def is_free(port: int, host: str = LOOPBACK) -> bool:
    """Whether a server could listen on host:port now (what gunicorn and the stand-in do)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the servers bind: a port held by a listener (on this or the wildcard address)
        # is refused, one in TIME_WAIT from an earlier run is not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def any_free_port(host: str = LOOPBACK) -> int:
    """A port the system says is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def choose_ports(
    web_port: int,
    env: Mapping[str, str],
    *,
    free: Callable[[int], bool] = is_free,
    fallback: Callable[[], int] = any_free_port,
) -> dict[str, int]:
    """The auxiliary ports for a run whose web listens on `web_port`. Raises PortClash when
    PORT or a port set in `env` is taken."""
    if not free(web_port):
        raise PortClash(
            f"Port {web_port} is taken (PORT): another program or another `make run` listens "
            f"there. Set PORT to a free port, e.g. `PORT={web_port + 1} make run`."
        )
    chosen: dict[str, int] = {}
    used = {web_port}
    for variable, offset in AUXILIARY.items():
        wanted = env.get(variable, "").strip()
        if wanted:
            port = parse_port(variable, wanted)
            if port in used or not free(port):
                raise PortClash(
                    f"Port {port} is taken ({variable}): set {variable} to a free port, or "
                    f"leave it unset and `make run` picks one."
                )
        else:
            port = web_port + offset
            if not 0 < port < 65536 or port in used or not free(port):
                port = fallback()
        used.add(port)
        chosen[variable] = port
    return chosen


def parse_port(variable: str, value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise PortClash(f"{variable}={value!r} is not a port number.") from None
    if not 0 < port < 65536:
        raise PortClash(f"{variable}={port} is not a port number (1 to 65535).")
    return port
