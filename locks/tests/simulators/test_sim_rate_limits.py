"""The simulators' request limits, over real HTTP: a request over the limit answers 429 with a
Retry-After (whole seconds or an HTTP date), is counted in counters["rate_limited"] and not
served; the test endpoints and OAuth do not count; the window frees up again."""

from __future__ import annotations

import email.utils
import time

import httpx2

from locks.simulators.bridge import BridgeSimulator
from locks.simulators.nukiweb import NukiWebSimulator
from locks.simulators.ratelimit import WindowLimit


def test_window_limit_is_a_sliding_window():
    now = [100.0]
    limit = WindowLimit(2, 10.0, clock=lambda: now[0])
    assert limit.admit() is None and limit.admit() is None
    assert limit.admit() == 10.0  # the oldest leaves the window in 10 s
    now[0] += 4
    assert limit.admit() == 6.0
    now[0] += 6
    assert limit.admit() is None  # the first left; the second (t=100) is still in


def test_nuki_web_stand_in_answers_429_with_retry_after_over_its_limit():
    with NukiWebSimulator(port=0, api_tokens=["t"], rate_limit=2, rate_window=30) as sim:
        headers = {"Authorization": "Bearer t"}
        with httpx2.Client(base_url=sim.url, headers=headers, trust_env=False) as http:
            assert [http.get("/smartlock").status_code for _ in range(2)] == [200, 200]
            refused = http.get("/smartlock")
            assert refused.status_code == 429
            assert 29 <= int(refused.headers["Retry-After"]) <= 30
            assert http.get("/__sim__/state").status_code == 200  # test endpoints not limited
        assert sim.counters["rate_limited"] == 1
        assert sim.endpoint_calls("GET", "/smartlock") == 2  # the refused one was not served


def test_nuki_web_stand_in_can_say_retry_after_as_an_http_date():
    with NukiWebSimulator(
        port=0, api_tokens=["t"], rate_limit=1, rate_window=20, retry_after_date=True
    ) as sim:
        headers = {"Authorization": "Bearer t"}
        with httpx2.Client(base_url=sim.url, headers=headers, trust_env=False) as http:
            http.get("/smartlock")
            refused = http.get("/smartlock")
        when = email.utils.parsedate_to_datetime(refused.headers["Retry-After"])
        assert 15 <= when.timestamp() - time.time() <= 23


def test_bridge_simulator_answers_429_over_its_limit_and_frees_up_again():
    with BridgeSimulator(locks=1, token="tok", rate_limit=1, rate_window=0.5) as sim:
        with httpx2.Client(base_url=sim.url, trust_env=False) as http:
            assert http.get("/list", params={"token": "tok"}).status_code == 200
            refused = http.get("/list", params={"token": "tok"})
            assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
            assert refused.json() == {"success": False, "message": "too many requests"}
            time.sleep(0.6)
            assert http.get("/list", params={"token": "tok"}).status_code == 200
        assert sim.counters["rate_limited"] == 1
        assert sim.counters["endpoint:/list"] == 2
