"""Log routes: one lock's log and every lock's, with the documented filters."""

from __future__ import annotations

from .. import records as rec
from ..cloud import Cloud
from ..reply import Reply, api_error, json_reply
from .request import Request, Route


def lock_logs(cloud: Cloud, r: Request, smartlock_id: str) -> Reply:
    with cloud.mutex:
        lock = cloud.lock_by_id(smartlock_id)
        if lock is None:
            return api_error(404, "smartlock not found")
        entries = list(cloud.lock_logs[lock.smartlock_id])
    return json_reply(200, rec.filter_logs(entries, r.params))


def account_logs(cloud: Cloud, r: Request) -> Reply:
    with cloud.mutex:
        entries = sorted((e for es in cloud.lock_logs.values() for e in es), key=lambda e: e["id"])
    return json_reply(200, rec.filter_logs(entries, r.params))


ROUTES: list[Route] = [
    ("GET", "/smartlock/log", account_logs, True),
    ("GET", "/smartlock/{smartlockId}/log", lock_logs, True),
]
