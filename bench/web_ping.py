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

Run: .venv/bin/python bench/web_ping.py          (~40 s)
"""

from __future__ import annotations

import http.client
import sys
import time

import _common as common
from db_probe import PROBE_HEADER
from noisy_neighbour import ACCESS_LOG_FORMAT, compose_command, server_ping_times

DATABASE = "latchkey_bench_web_ping"
BROKER_DB, CACHE_DB = 3, 4
WARM_UP, PINGS, EVERY_S = 50, 450, 0.05


def percentiles(values: list[float]) -> dict:
    return {
        "p50_ms": round(1000 * common.percentile(values, 50), 2),
        "p99_ms": round(1000 * common.percentile(values, 99), 2),
    }


def ping_server(port: int, key: str) -> tuple[list[float], float]:
    """Client times of the measured pings, and the wall-clock time the first was sent."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    took, first = [], 0.0
    for n in range(WARM_UP + PINGS):
        if n == WARM_UP:
            first = time.time()
        started = time.monotonic()
        headers = {"Authorization": f"Bearer {key}", PROBE_HEADER: f"{time.time():.3f}"}
        conn.request("GET", "/api/v1/ping/", headers=headers)
        answer = conn.getresponse()
        answer.read()
        if answer.status != 200:
            raise RuntimeError(f"ping answered {answer.status}")
        if n >= WARM_UP:
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
    return common.finish("web_ping", figures, [])


if __name__ == "__main__":
    sys.exit(main())
