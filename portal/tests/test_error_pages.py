"""Styled 403, 404 and 500 pages (with DEBUG off, as in the demo and production), a favicon,
and a 403 logged as one line instead of a traceback (portal/log_quiet.py)."""

from __future__ import annotations

import logging

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def errors(settings):
    settings.DEBUG = False
    settings.ROOT_URLCONF = "portal.tests.error_urls"


def styled(body: str) -> bool:
    return "latchkey/portal.css" in body and "latchkey/favicon.svg" in body


def test_404_page(errors, client) -> None:
    answer = client.get("/no-such-page/")
    assert answer.status_code == 404
    body = answer.content.decode()
    assert styled(body) and "This page does not exist" in body and "Error 404" in body


def test_403_page_says_why(errors, client) -> None:
    answer = client.get("/test-errors/403/")
    assert answer.status_code == 403
    body = answer.content.decode()
    assert styled(body) and "Only owners can do this." in body and "Error 403" in body


def test_500_page(errors) -> None:
    answer = Client(raise_request_exception=False).get("/test-errors/500/")
    assert answer.status_code == 500
    body = answer.content.decode()
    assert styled(body) and "Something went wrong on our side" in body
    assert "a fault in the portal" not in body


def test_a_403_is_one_log_line_a_500_keeps_its_traceback(errors, client, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="django.request"):
        client.get("/test-errors/403/")
        Client(raise_request_exception=False).get("/test-errors/500/")
    forbidden = [r for r in caplog.records if r.getMessage().startswith("Forbidden")]
    broken = [r for r in caplog.records if r.getMessage().startswith("Internal Server Error")]
    assert len(forbidden) == 1 and forbidden[0].exc_info is None
    assert "Traceback" not in logging.Formatter().format(forbidden[0])
    assert len(broken) == 1 and broken[0].exc_info is not None


def test_favicon(client) -> None:
    assert finders.find("latchkey/favicon.svg")
    answer = client.get("/favicon.ico")
    assert answer.status_code == 301
    assert answer["Location"].endswith("latchkey/favicon.svg")
    page = client.get("/accounts/login/").content.decode()
    assert 'rel="icon"' in page and "latchkey/favicon.svg" in page
