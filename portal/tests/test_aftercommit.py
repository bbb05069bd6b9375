"""after_commit: a hook that cannot reach the broker, or fails otherwise, stops nothing after it."""

from __future__ import annotations

import logging

import pytest
from django.db import transaction
from kombu.exceptions import OperationalError

from portal.aftercommit import after_commit

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_later_hook_runs_when_an_earlier_send_cannot_reach_the_broker(caplog):
    ran = []

    def send():
        raise OperationalError("Error 111 connecting to 127.0.0.1:1. Connection refused.")

    with caplog.at_level(logging.WARNING, logger="latchkey.aftercommit"), transaction.atomic():
        after_commit(send, what="run_commands([7, 8])")
        transaction.on_commit(lambda: ran.append("a plain hook"))
        after_commit(lambda: ran.append("another send"), what="send_access_email(3)")

    assert ran == ["a plain hook", "another send"]
    (record,) = caplog.records
    assert record.levelname == "WARNING"
    assert record.getMessage().startswith(
        "run_commands([7, 8]) not queued: the broker cannot be reached (OperationalError)."
    )


def test_any_other_failure_is_logged_and_later_hooks_still_run(on_commit_errors):
    ran = []

    def broken():
        raise RuntimeError("a bug in a receiver")

    with transaction.atomic():
        after_commit(broken, what="access_code_state_changed(5)")
        after_commit(lambda: ran.append("next"), what="send_access_email(5)")

    assert ran == ["next"]
    assert len(on_commit_errors) == 1
    assert "after_commit[access_code_state_changed(5)]" in on_commit_errors[0].getMessage()
    on_commit_errors.clear()  # expected here; anywhere else the fixture fails the test


def test_outside_a_transaction_it_runs_at_once_and_robustly():
    ran = []

    def send():
        raise OperationalError("refused")

    after_commit(send, what="fetch_feed(1)")
    after_commit(lambda: ran.append("ran"), what="fetch_feed(2)")
    assert ran == ["ran"]
