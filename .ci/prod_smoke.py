"""Helpers for .ci/prod-smoke (standard library plus PyYAML, which drf-spectacular pulls in).

    prod_smoke.py env SERVICE             the service's environment from docker-compose.yml,
                                          interpolated as `docker compose` does (${VAR:-default},
                                          ${VAR:?message}, $$), one KEY=VALUE per line
    prod_smoke.py command SERVICE [--bind HOST:PORT]
                                          the service's command, one argument per line; --bind
                                          replaces only the 0.0.0.0:PORT argument
    prod_smoke.py healthcheck SERVICE --port PORT
                                          the service's healthcheck as an argv (CMD-SHELL: sh -c),
                                          its 127.0.0.1:8000 pointed at PORT
    prod_smoke.py workers                 the compose file's worker services (worker-*), one a
                                          line: one per queue, each started with its own command
    prod_smoke.py free-port               a free TCP port on loopback
    prod_smoke.py drive --base URL --mail-dir DIR --pids NAME=PID,...  (the key in SMOKE_API_KEY)
                                          the journey: a property, a virtual lock, a booking
                                          posted, its code `set`, the guest email written,
                                          /healthz all ok; fails at once when a process died

Why a file of its own: bash reads the compose file badly, and the journey's polling and JSON
are shorter in Python. It never imports the portal: the portal runs only in the fresh venv.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_VAR = re.compile(r"\$\$|\$\{(\w+)(?:(:?[-?])([^}]*))?\}|\$(\w+)")


class SmokeFailure(Exception):
    """The smoke's verdict: the message says what did not work."""


def interpolate(value: str, environ: dict[str, str]) -> str:
    """Compose's variable substitution, for the forms the compose file uses."""

    def sub(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1) or m.group(4)
        op, arg = m.group(2), m.group(3) or ""
        current = environ.get(name)
        unset = current is None or (current == "" and op and op.startswith(":"))
        if op in ("-", ":-"):
            return arg if unset else current
        if op in ("?", ":?"):
            if unset:
                raise SmokeFailure(f"docker-compose.yml requires {name}: {arg}")
            return current
        return current or ""

    return _VAR.sub(sub, value)


def service(name: str) -> dict:
    import yaml

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    try:
        return compose["services"][name]
    except KeyError:
        raise SmokeFailure(f"docker-compose.yml has no service {name!r}") from None


def service_env(name: str) -> dict[str, str]:
    env = service(name).get("environment") or {}
    if isinstance(env, list):  # the KEY=VALUE list form
        env = dict(item.split("=", 1) for item in env)
    out = {}
    for key, value in env.items():
        text = interpolate("" if value is None else str(value), dict(os.environ))
        if "\n" in text:
            raise SmokeFailure(f"{key} has a newline: not passed through a line")
        out[key] = text
    return out


def service_command(name: str, bind: str | None) -> list[str]:
    command = service(name).get("command")
    if not isinstance(command, list):
        raise SmokeFailure(f"{name}: expected the command as a list")
    argv = [interpolate(str(arg), dict(os.environ)) for arg in command]
    if bind:
        binds = [i for i, arg in enumerate(argv) if re.fullmatch(r"0\.0\.0\.0:\d+", arg)]
        if len(binds) != 1:
            raise SmokeFailure(f"{name}: expected one 0.0.0.0:PORT argument in {argv}")
        argv[binds[0]] = bind
    return argv


def service_healthcheck(name: str, port: int) -> list[str]:
    test = (service(name).get("healthcheck") or {}).get("test")
    if not isinstance(test, list) or test[0] not in ("CMD", "CMD-SHELL"):
        raise SmokeFailure(f"{name}: no CMD or CMD-SHELL healthcheck")
    args = [
        interpolate(str(a), dict(os.environ)).replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        for a in test[1:]
    ]
    return args if test[0] == "CMD" else ["sh", "-c", " ".join(args)]


def worker_services() -> list[str]:
    import yaml

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    names = sorted(name for name in compose["services"] if name.startswith("worker"))
    if not names:
        raise SmokeFailure("docker-compose.yml has no worker service")
    return names


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the journey -----------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


class Journey:
    def __init__(self, base: str, key: str, pids: dict[str, int]):
        self.base = base.rstrip("/")
        self.key = key
        self.pids = pids

    def check_processes(self) -> None:
        dead = [name for name, pid in self.pids.items() if not _alive(pid)]
        if dead:
            raise SmokeFailure(f"exited early: {', '.join(dead)} (see its log)")

    def request(self, method: str, path: str, body: dict | None = None, *, auth: bool = True):
        """One request as a TLS proxy would forward it (X-Forwarded-Proto: https)."""
        headers = {"X-Forwarded-Proto": "https", "Accept": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.key}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        url = self.base + path  # http on loopback, built here
        req = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(req, timeout=15) as res:  # noqa: S310
                return res.status, json.loads(res.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()[:500].decode(errors="replace")

    def wait(self, what: str, predicate, timeout: float):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            self.check_processes()
            try:
                value, last = predicate()
            except OSError as exc:  # not listening yet
                value, last = None, repr(exc)
            if value:
                return value
            time.sleep(0.5)
        raise SmokeFailure(f"timed out after {timeout:.0f}s waiting for {what}; last: {last}")

    def expect(self, what: str, status: int, answer, wanted: int):
        if status != wanted:
            raise SmokeFailure(f"{what}: HTTP {status} (wanted {wanted}): {answer}")
        return answer


def drive(args) -> None:
    pids = dict(item.split("=", 1) for item in args.pids.split(",")) if args.pids else {}
    key = os.environ["SMOKE_API_KEY"]  # not on the command line, where `ps` shows it
    j = Journey(args.base, key, {name: int(pid) for name, pid in pids.items()})
    t0 = time.monotonic()

    def health():
        status, body = j.request("GET", "/healthz", auth=False)
        return (status == 200 and isinstance(body, dict)), body

    j.wait("the web server to answer /healthz", health, 90)
    print(f"web answers ({time.monotonic() - t0:.1f}s)")

    prop = j.expect(
        "POST /api/v1/properties/",
        *j.request("POST", "/api/v1/properties/", {"name": "Smoke Loft", "timezone": "UTC"}),
        201,
    )
    j.expect(
        "POST /api/v1/locks/",
        *j.request(
            "POST",
            "/api/v1/locks/",
            {"name": "Smoke door", "property": prop["id"], "driver": "virtual"},
        ),
        201,
    )
    # Today to the day after tomorrow (UTC, the property's zone): within the preload horizon at
    # every hour, so the code goes to the lock at once.
    today = dt.datetime.now(dt.UTC).date()
    booking = j.expect(
        "POST /api/v1/bookings/",
        *j.request(
            "POST",
            "/api/v1/bookings/",
            {
                "external_id": "SMOKE-1",
                "property": prop["id"],
                "status": "confirmed",
                "check_in": str(today),
                "check_out": str(today + dt.timedelta(days=2)),
                "guest": {"name": "Sam Smoke", "email": "sam@example.com"},
            },
        ),
        201,
    )
    print(f"booking {booking['id']} stored, access {[a['state'] for a in booking['access']]}")

    def code_set():
        status, body = j.request("GET", f"/api/v1/bookings/{booking['id']}/")
        states = [a["state"] for a in body["access"]] if status == 200 else None
        return (states == ["set"]), f"HTTP {status} states {states}"

    j.wait("the booking's code to be `set` on the virtual lock", code_set, 60)
    print(f"code set ({time.monotonic() - t0:.1f}s)")

    mail = Path(args.mail_dir)
    j.wait(
        "the guest's access email",
        lambda: (any(mail.glob("*")) if mail.is_dir() else False, "no file yet"),
        60,
    )
    print(f"guest email written ({time.monotonic() - t0:.1f}s)")

    def all_ok():
        status, body = j.request("GET", "/healthz", auth=False)
        ok = status == 200 and isinstance(body, dict) and body and set(body.values()) == {"ok"}
        return ok, body

    j.wait("/healthz to say ok for every component", all_ok, 30)
    print(f"/healthz {json.dumps(j.request('GET', '/healthz', auth=False)[1])}")
    j.check_processes()
    if args.code_file:
        _, body = j.request("GET", f"/api/v1/bookings/{booking['id']}/")
        Path(args.code_file).write_text(body["access"][0].get("code") or "")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("env")
    p.add_argument("service")
    p = sub.add_parser("command")
    p.add_argument("service")
    p.add_argument("--bind")
    p = sub.add_parser("healthcheck")
    p.add_argument("service")
    p.add_argument("--port", type=int, required=True)
    sub.add_parser("workers")
    sub.add_parser("free-port")
    p = sub.add_parser("drive")
    p.add_argument("--base", required=True)
    p.add_argument("--mail-dir", required=True)
    p.add_argument("--pids", default="", help="name=pid,... that must stay alive")
    p.add_argument("--code-file", help="where to write the code (to look for it in the logs)")
    args = parser.parse_args(argv)
    try:
        if args.what == "env":
            for key, value in service_env(args.service).items():
                print(f"{key}={value}")
        elif args.what == "command":
            print("\n".join(service_command(args.service, args.bind)))
        elif args.what == "healthcheck":
            print("\n".join(service_healthcheck(args.service, args.port)))
        elif args.what == "workers":
            print("\n".join(worker_services()))
        elif args.what == "free-port":
            print(free_port())
        else:
            drive(args)
    except SmokeFailure as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
