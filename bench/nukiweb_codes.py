"""Keypad codes set per minute through Nuki Web (the stand-in), with webhook confirmation.

Why: most bridged locks get their codes through Nuki's cloud, which only queues a change (204)
and confirms it later. This measures the whole path: 100 bookings POSTed to the API across 20
locks (one lock per property), gunicorn, the outbox, two Celery workers, the nuki_web driver,
the stand-in applying each change after 0.5 s and signing a DEVICE_AUTHS webhook back to the
portal, which marks the code `set` when the signed payload is exactly what was sent (else it
reads the lock back). Reported beside it: Nuki Web API calls per code (fewer is better;
counted by the stand-in, set-up calls excluded). A new code costs one PUT: no listing before
it (a repeat answers 409, only then is the lock read) and no read-back after it.

Run: .venv/bin/python bench/nukiweb_codes.py
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time

import _common as common
import httpx2

DATABASE = "latchkey_bench_nukiweb"
BROKER_DB = 11
CACHE_DB = 12
LOCKS = 20
BOOKINGS = 100
APPLY_DELAY = 0.5


def main() -> int:
    common.exit_on_sigterm()
    sys.path.insert(0, str(common.ROOT))
    from locks.simulators.nukiweb import NukiWebSimulator

    sim = NukiWebSimulator(
        port=0, api_tokens=["bench-api-token-1"], apply_delay=APPLY_DELAY, smartlocks=LOCKS
    ).start()
    port = common.free_port()
    env = common.bench_env(
        database=DATABASE,
        broker_db=BROKER_DB,
        cache_db=CACHE_DB,
        NUKI_WEB_API_URL=sim.url,
        LATCHKEY_SITE_URL=f"http://127.0.0.1:{port}",
    )
    common.recreate_database(DATABASE)
    common.purge_redis(BROKER_DB, CACHE_DB)
    common.setup_django(env)
    common.migrate()
    services = []
    try:
        from portal.services import api_key_create, organization_create
        from properties.services import property_create

        org, _, _ = organization_create(
            name="Bench Nuki Web", owner_email="owner@bench.invalid", owner_password="bench-123456"
        )
        org.preload_hours = 30 * 24  # every stay of the run is inside the preload horizon
        org.save(update_fields=["preload_hours"])
        _, key = api_key_create(organization=org, scope="write")
        props = [
            property_create(organization=org, name=f"Flat {i}", timezone="Europe/Vienna")
            for i in range(LOCKS)
        ]
        common.close_django_connections()
        services.append(common.start_gunicorn(env, port=port, workers=2, threads=4))
        for n in range(2):
            argv = [
                str(common.BIN / "celery"),
                "-A",
                "portal",
                "worker",
                "--concurrency",
                "2",
                "-l",
                "warning",
                "--hostname",
                f"nw{n}@%h",
            ]
            services.append(common.start_service(f"worker{n}", argv, env))
        base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {key}"}
        common.wait_http(services[0], f"{base}/api/v1/ping/", headers=headers)
        api = httpx2.Client(base_url=base, headers=headers, timeout=30)
        api.post("/api/v1/nuki-web/", json={"api_token": "bench-api-token-1"}).raise_for_status()
        deadline = time.monotonic() + 60
        locks = []
        while time.monotonic() < deadline and len(locks) < LOCKS:
            locks = [
                lk
                for lk in api.get("/api/v1/locks/", params={"limit": 100}).json()["results"]
                if lk["driver"] == "nuki_web"
            ]
            time.sleep(0.3)
        for lock, prop in zip(locks, props, strict=True):
            api.patch(f"/api/v1/locks/{lock['id']}/", json={"property": prop.pk}).raise_for_status()
        time.sleep(2)
        sim.reset_counters()
        from django.utils import timezone

        today = timezone.now().date()
        started = time.time()
        ids = []
        for i in range(BOOKINGS):
            day = today + dt.timedelta(days=(i // LOCKS) * 2)
            res = api.post(
                "/api/v1/bookings/",
                json={
                    "external_id": f"NW-{i}",
                    "property": props[i % LOCKS].pk,
                    "status": "confirmed",
                    "check_in": str(day),
                    "check_out": str(day + dt.timedelta(days=1)),
                },
            )
            res.raise_for_status()
            ids.append(res.json()["id"])
        from locks.models import AccessCode

        holders = None
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            from bookings.models import AccessGrant

            holders = [
                f"grant:{g}"
                for g in AccessGrant.objects.filter(booking_id__in=ids).values_list("pk", flat=True)
            ]
            done = AccessCode.objects.filter(holder__in=holders, state="set").count()
            if done == BOOKINGS:
                break
            time.sleep(0.5)
        rows = list(AccessCode.objects.filter(holder__in=holders).values_list("state", "set_at"))
        set_rows = [at for state, at in rows if state == "set"]
        last = max(at.timestamp() for at in set_rows)
        minutes = (last - started) / 60
        calls = sum(
            v
            for k, v in sim.counters.items()
            if k.split(" ")[0] in {"GET", "PUT", "POST", "DELETE"} and "/oauth" not in k
        )
        per_code = calls / BOOKINGS
        breakdown = {
            k: v
            for k, v in sim.counters.items()
            if k.split(" ")[0] in {"GET", "PUT", "POST", "DELETE"}
        }
        print(f"codes set (confirmed):   {len(set_rows)} of {BOOKINGS} across {LOCKS} locks")
        print(
            f"codes per minute:        {len(set_rows) / minutes:.0f} (cloud applies after "
            f"{APPLY_DELAY} s)"
        )
        print(f"API calls per code:      {per_code:.2f}  {json.dumps(breakdown)}")
        print(
            json.dumps(
                {
                    "codes_per_minute": round(len(set_rows) / minutes, 1),
                    "api_calls_per_code": round(per_code, 2),
                    "set": len(set_rows),
                }
            )
        )
        return 0 if len(set_rows) == BOOKINGS else 1
    finally:
        for service in services:
            service.stop()
        sim.stop()
        common.purge_redis(BROKER_DB, CACHE_DB)


if __name__ == "__main__":
    sys.exit(main())
