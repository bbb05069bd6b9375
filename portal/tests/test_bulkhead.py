"""One organization cannot hold the web process's database pool (portal/bulkhead.py): past its
share of requests at work it waits, then gets 429, while another organization is served."""

from __future__ import annotations

import datetime as dt
import time
from types import SimpleNamespace

import pytest
import time_machine

from portal import bulkhead
from portal.throttling import OrganizationRateThrottle

pytestmark = pytest.mark.django_db


def _request() -> SimpleNamespace:
    return SimpleNamespace()


def test_an_organization_gets_its_share_and_no_more(world, settings):
    settings.LATCHKEY_ORG_WEB_CONCURRENCY = 2
    settings.LATCHKEY_ORG_WEB_WAIT_SECONDS = 0.2
    a, b = world.org.pk, world.other_org.pk
    first, second, third = _request(), _request(), _request()
    assert bulkhead.take(first, organization_id=a)
    assert bulkhead.take(second, organization_id=a)
    started = time.monotonic()
    assert not bulkhead.take(third, organization_id=a)  # waited for a slot, none came
    assert time.monotonic() - started >= 0.2
    assert bulkhead.take(_request(), organization_id=b)  # the other organization: served
    bulkhead.release(first)
    assert bulkhead.take(third, organization_id=a)  # a slot came back
    for request in (second, third):
        bulkhead.release(request)


def test_a_request_takes_one_slot_and_gives_it_back(world, settings):
    settings.LATCHKEY_ORG_WEB_CONCURRENCY = 1
    settings.LATCHKEY_ORG_WEB_WAIT_SECONDS = 0.1
    request = _request()
    assert bulkhead.take(request, organization_id=world.org.pk)
    assert bulkhead.take(request, organization_id=world.org.pk)  # the same request: no second
    bulkhead.release(request)
    bulkhead.release(request)  # twice is harmless
    other = _request()
    assert bulkhead.take(other, organization_id=world.org.pk)
    bulkhead.release(other)


def test_the_api_answers_429_past_the_share_and_serves_the_others(world, settings):
    settings.LATCHKEY_ORG_WEB_CONCURRENCY = 1
    settings.LATCHKEY_ORG_WEB_WAIT_SECONDS = 0.1
    api_a, api_b = world.api(world.write_key), world.api(world.outsider_key)
    # Sequential requests each give their slot back (the middleware): never refused.
    for _ in range(3):
        assert api_a.get("/api/v1/ping/").status_code == 200
    busy = _request()  # another request of A's at work in this process
    assert bulkhead.take(busy, organization_id=world.org.pk)
    try:
        refused = api_a.get("/api/v1/ping/")
        assert refused.status_code == 429
        assert refused["Retry-After"] == "1"
        assert api_b.get("/api/v1/ping/").status_code == 200  # B is not behind A
    finally:
        bulkhead.release(busy)
    assert api_a.get("/api/v1/ping/").status_code == 200


def test_no_cap_when_set_to_zero(world, settings):
    settings.LATCHKEY_ORG_WEB_CONCURRENCY = 0
    held = [_request() for _ in range(50)]
    assert all(bulkhead.take(r, organization_id=world.org.pk) for r in held)


def test_writes_have_a_smaller_share_of_their_own(world, settings):
    settings.LATCHKEY_ORG_WEB_CONCURRENCY = 2
    settings.LATCHKEY_ORG_WEB_WRITE_CONCURRENCY = 1
    settings.LATCHKEY_ORG_WEB_WAIT_SECONDS = 0.1
    a = world.org.pk
    writing = _request()
    assert bulkhead.take(writing, organization_id=a, write=True)
    assert not bulkhead.take(_request(), organization_id=a, write=True)  # past the write share
    reads = [_request(), _request()]
    assert all(bulkhead.take(r, organization_id=a) for r in reads)  # reads: their own share
    assert not bulkhead.take(_request(), organization_id=a)  # ... and no more than it
    assert bulkhead.take(_request(), organization_id=world.other_org.pk, write=True)
    bulkhead.release(writing)
    again = _request()
    assert bulkhead.take(again, organization_id=a, write=True)
    for request in (again, *reads):
        bulkhead.release(request)


def test_the_api_caps_writes_apart_from_reads(world, settings):
    """A POST past the write share gets 429 and changes nothing; a GET of the same
    organization is still served."""
    settings.LATCHKEY_ORG_WEB_CONCURRENCY = 4
    settings.LATCHKEY_ORG_WEB_WRITE_CONCURRENCY = 1
    settings.LATCHKEY_ORG_WEB_WAIT_SECONDS = 0.1
    api_a = world.api(world.write_key)
    busy = _request()  # another write of A's at work in this process
    assert bulkhead.take(busy, organization_id=world.org.pk, write=True)
    try:
        before = world.org.properties.count()
        refused = {"name": "Refused", "timezone": "Europe/Vienna"}  # valid: only the share stops it
        posted = api_a.post("/api/v1/properties/", refused, format="json")
        assert posted.status_code == 429 and world.org.properties.count() == before
        assert api_a.get("/api/v1/ping/").status_code == 200
    finally:
        bulkhead.release(busy)
    served = {"name": "Served", "timezone": "Europe/Vienna"}
    posted = api_a.post("/api/v1/properties/", served, format="json")
    assert posted.status_code == 201, posted.content


def test_a_request_the_rate_refused_does_not_wait_for_a_slot(world, settings, monkeypatch):
    """DRF asks every throttle, even after one has refused: the bulkhead (asked last) must not
    then hold a request for its wait before the 429 the request gets anyway. Before, an
    organization over its API rate still had its refused requests parked on threads, up to
    LATCHKEY_ORG_WEB_WAIT_SECONDS each, whenever its share was busy."""
    settings.LATCHKEY_ORG_WEB_CONCURRENCY = 1
    settings.LATCHKEY_ORG_WEB_WAIT_SECONDS = 3.0
    monkeypatch.setitem(OrganizationRateThrottle.THROTTLE_RATES, "organization", "2/min")
    api_a = world.api(world.write_key)
    # Mid-minute, the clock stopped: every request below falls in one rate window.
    with time_machine.travel(dt.datetime(2030, 1, 7, 9, 0, 30, tzinfo=dt.UTC), tick=False):
        assert [api_a.get("/api/v1/ping/").status_code for _ in range(2)] == [200, 200]
        busy = _request()  # another request of A's at work in this process: its share is full
        assert bulkhead.take(busy, organization_id=world.org.pk)
        try:
            started = time.monotonic()
            refused = api_a.get("/api/v1/ping/")
            took = time.monotonic() - started
        finally:
            bulkhead.release(busy)
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) == 30  # the rate's window, not the bulkhead's second
    assert took < 1.5, f"the refused request waited {took:.1f} s for a slot"
