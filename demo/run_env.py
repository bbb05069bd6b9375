"""python -m demo.run_env PORT: the environment of one `make run`, as `VAR=value` lines that the
Makefile sources before seed_demo and honcho.

- The stand-ins' ports (demo/ports.py): derived from PORT or free, so two checkouts both run.
- The Nuki Web stand-in's OAuth client: its secret is kept with the demo's credentials (the
  Procfile passes it to the stand-in), and the portal's OAuth client and API base point at the
  stand-in, so "Connect / Reconnect Nuki Web" signs in there instead of failing with "not set
  up". A portal given a real NUKI_WEB_CLIENT_ID keeps its real Nuki Web settings.

A clash exits with status 2 and one line that names the variable to set.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path

from demo import credentials
from demo.ports import PortClash, choose_ports, parse_port

# The stand-in's default client id (locks/simulators/nukiweb/__main__.py --client-id).
NUKIWEB_CLIENT_ID = "latchkey-nukiweb-sim"


def run_env(web_port: int, env: Mapping[str, str], var_dir: Path) -> dict[str, str]:
    """The variables a demo run adds to its environment."""
    ports = choose_ports(web_port, env)
    out = {variable: str(port) for variable, port in ports.items()}
    secret = credentials.remembered(
        credentials.credentials_path(var_dir),
        "nukiweb_client_secret",
        lambda: secrets.token_urlsafe(24),
    )
    out["LATCHKEY_DEMO_NUKIWEB_CLIENT_SECRET"] = secret
    if not env.get("NUKI_WEB_CLIENT_ID"):
        stand_in = f"http://127.0.0.1:{ports['LATCHKEY_DEMO_NUKIWEB_PORT']}"
        out.update(
            NUKI_WEB_CLIENT_ID=NUKIWEB_CLIENT_ID,
            NUKI_WEB_CLIENT_SECRET=secret,
            NUKI_WEB_OAUTH_URL=f"{stand_in}/oauth",
            NUKI_WEB_API_URL=stand_in,
        )
    return out


def main(argv: list[str], env: Mapping[str, str], var_dir: Path = credentials.VAR_DIR) -> int:
    try:
        web_port = parse_port("PORT", argv[0] if argv else env.get("PORT", "8000"))
        values = run_env(web_port, env, var_dir)
    except PortClash as clash:
        print(f"make run: {clash}", file=sys.stderr)
        return 2
    for variable, value in values.items():
        print(f"{variable}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
