"""What the web costs one API request when nothing else runs: `GET /api/v1/ping/`.

Why: every tenant's requests pass one web process's event loop and threads, and under another
tenant's burst a request's latency grows with the work it needs (bench/noisy_neighbour.py: the
ping p99 is the figure that matters there). This measures that work alone, on a quiet machine:
the web as docker-compose.yml runs it (gunicorn with portal.asgi_worker.UvicornWorker, the
access log on), one worker process, B's ping every 50 ms on one kept-alive connection, as a PMS
client sends them. Next to it, the same ping through Django's test client in this process
(no server, no ASGI, no access log): the view and middleware's own share.

Figures: the client's p50/p99 and the web's own (from the access log, the `D` atom) p50/p99, in
ms, over PINGS pings after WARM_UP unmeasured ones. No target: a reference for the noisy one.

Then the cost of sharing the process (`shared`): the same pings in ROUNDS alternating rounds,
alone and while another organization posts bookings into the same web process at A_RATE a
second (each on a property with A_LOCKS on-site agent locks, as in A's burst in
bench/noisy_neighbour.py, whose 50 a second are spread there over three web processes; here
nearly all of them go to one), from a poster process of its own (its GIL is not the
pinger's). Nothing consumes the commands the bookings queue: the machine's other work stays
out, and what is left is what one process's interpreter and threads do to B's ping while A's
writes run in them.

Run: .venv/bin/python bench/web_ping.py          (~90 s)
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import subprocess
import sys
import time

import _common as common
from db_probe import PROBE_HEADER
from noisy_neighbour import (
    ACCESS_LOG_FORMAT,
    agent_doors,
    booking_body,
    compose_command,
    post_open_loop,
    server_ping_times,
)

DATABASE = "latchkey_bench_web_ping"
BROKER_DB, CACHE_DB = 3, 4
WARM_UP, PINGS, EVERY_S = 50, 450, 0.05
ROUNDS, ROUND_PINGS = 3, 150  # the shared part: rounds alone and with A's writes, in turn
A_RATE, A_PROPERTIES, A_LOCKS = 48.0, 16, 8


def percentiles(values: list[float]) -> dict:
    return {
        "p50_ms": round(1000 * common.percentile(values, 50), 2),
        "p99_ms": round(1000 * common.percentile(values, 99), 2),
    }


def ping_server(
    port: int, key: str, *, warm_up: int = WARM_UP, pings: int = PINGS
) -> tuple[list[float], float]:
    """Client times of the measured pings, and the wall-clock time the first was sent."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    took, first = [], 0.0
    for n in range(warm_up + pings):
        if n == warm_up:
            first = time.time()
        started = time.monotonic()
        headers = {"Authorization": f"Bearer {key}", PROBE_HEADER: f"{time.time():.3f}"}
        conn.request("GET", "/api/v1/ping/", headers=headers)
        answer = conn.getresponse()
        answer.read()
        if answer.status != 200:
            raise RuntimeError(f"ping answered {answer.status}")
        if n >= warm_up:
            took.append(time.monotonic() - started)
        time.sleep(EVERY_S)
    conn.close()
    return took, first


def ping_in_process(key: str) -> list[float]:
    from django.test import Client

    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}", HTTP_HOST="127.0.0.1")
    took = []
    for n in range(WARM_UP + PINGS):
        started = time.monotonic()
        if client.get("/api/v1/ping/").status_code != 200:
            raise RuntimeError("the test client's ping failed")
        if n >= WARM_UP:
            took.append(time.monotonic() - started)
    return took


def a_world() -> tuple[str, list[int]]:
    """Organization A: properties of A_LOCKS agent locks each; its write key and the ids."""
    from locks.integrations.ble_agent.enrollment import agent_create
    from portal.services import api_key_create, organization_create
    from properties.services import property_create

    org, _, _ = organization_create(name="Writes A", owner_email="a@bench.invalid")
    _, key = api_key_create(organization=org, scope="write", name="bench")
    agent, _ = agent_create(organization=org, name="A agent")
    props = []
    for n in range(A_PROPERTIES):
        prop = property_create(organization=org, name=f"A {n}", timezone="Europe/Vienna")
        agent_doors(prop, agent, n, A_LOCKS)
        props.append(prop.pk)
    return key, props


def post_bookings(port: int, key: str, props: list[int], rate: float, seconds: float, tag: str):
    """The poster process: A's bookings at `rate` a second (open loop) for `seconds`."""
    bodies = [
        booking_body(f"A-{tag}-{i}", props[i % len(props)], i) for i in range(round(rate * seconds))
    ]
    posted = asyncio.run(post_open_loop(f"http://127.0.0.1:{port}", key, bodies, rate))
    bad = [p.status for p in posted if p.status != 201]
    if bad:
        raise SystemExit(f"A's posts answered {bad[:5]}")


def shared_rounds(port: int, b_key: str, a_key: str, props: list[int], web) -> dict:
    """ROUNDS times: B's pings alone, then while A posts into the same web process."""
    seconds = ROUND_PINGS * EVERY_S * 1.1
    took = {"alone": [], "shared": []}
    inside = {"alone": [], "shared": []}
    for r in range(ROUNDS):
        for mode in ("alone", "shared"):
            poster = None
            if mode == "shared":
                argv = [sys.executable, __file__, "--poster", str(port), a_key, str(A_RATE),
                        str(seconds), f"r{r}", *map(str, props)]  # fmt: skip
                poster = subprocess.Popen(argv, start_new_session=True)
                time.sleep(1.0)  # A's posts under way before B's first measured ping
            try:
                pings, first = ping_server(port, b_key, warm_up=5, pings=ROUND_PINGS)
                ended = time.time()
                if poster is not None and poster.wait(timeout=120) != 0:
                    raise RuntimeError("A's poster failed")
            finally:
                if poster is not None and poster.poll() is None:
                    poster.kill()  # never left behind, whatever stopped the round
            took[mode] += pings
            inside[mode] += server_ping_times(web.log_path, first, ended)
    return {
        mode: {"client": percentiles(took[mode]), "web": percentiles(inside[mode])} for mode in took
    }


def main() -> int:
    common.exit_on_sigterm()
    env = common.bench_env(database=DATABASE, broker_db=BROKER_DB, cache_db=CACHE_DB)
    common.recreate_database(DATABASE)
    common.purge_redis(BROKER_DB, CACHE_DB)
    common.setup_django(env)
    common.migrate()
    from portal.services import api_key_create, organization_create

    org, _, _ = organization_create(name="Ping B", owner_email="b@bench.invalid")
    _, key = api_key_create(organization=org, scope="read", name="bench")
    a_key, a_props = a_world()
    common.close_django_connections()
    port = common.free_port()
    argv = compose_command("web", queue_prefix=env["LATCHKEY_QUEUE"], port=port)
    argv[argv.index("--workers") + 1] = "1"
    web = common.start_service("web", argv, {**env, "GUNICORN_CMD_ARGS": ACCESS_LOG_FORMAT})
    try:
        common.wait_http(web, f"http://127.0.0.1:{port}/api/v1/ping/",
                         headers={"Authorization": f"Bearer {key}"})  # fmt: skip
        took, first = ping_server(port, key)
        inside = server_ping_times(web.log_path, first, time.time())
        shared = shared_rounds(port, key, a_key, a_props, web)
    finally:
        web.stop()
    figures = {
        "client": percentiles(took),
        "web": percentiles(inside),
        "test_client": percentiles(ping_in_process(key)),
    }
    common.close_django_connections()
    common.purge_redis(BROKER_DB, CACHE_DB)
    common.print_header(f"GET /api/v1/ping/, one web process, every {EVERY_S * 1000:.0f} ms")
    for name, label in (
        ("client", "seen by the client"),
        ("web", "inside the web (access log)"),
        ("test_client", "Django's test client, in process"),
    ):
        f = figures[name]
        common.print_figure(label, f"p50 {f['p50_ms']} / p99 {f['p99_ms']}", "ms")
    figures["shared"] = shared
    common.print_header(
        f"the same ping, {ROUNDS} rounds of {ROUND_PINGS} alone and {ROUND_PINGS} while another "
        f"organization posts {A_RATE:g} bookings a second ({A_LOCKS} locks each) into the process"
    )
    for mode in ("alone", "shared"):
        for where in ("client", "web"):
            f = shared[mode][where]
            label = f"{mode}, {'seen by the client' if where == 'client' else 'inside the web'}"
            common.print_figure(label, f"p50 {f['p50_ms']} / p99 {f['p99_ms']}", "ms")
    return common.finish("web_ping", figures, [])


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--poster":
        parser = argparse.ArgumentParser()
        parser.add_argument("--poster", type=int, dest="port")
        parser.add_argument("key")
        parser.add_argument("rate", type=float)
        parser.add_argument("seconds", type=float)
        parser.add_argument("tag")
        parser.add_argument("props", type=int, nargs="+")
        a = parser.parse_args()
        post_bookings(a.port, a.key, a.props, a.rate, a.seconds, a.tag)
        sys.exit(0)
    sys.exit(main())
