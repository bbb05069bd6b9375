"""Smartlock routes: listing and reading locks, lock actions, sync."""

from __future__ import annotations

from .. import model as m
from ..cloud import Cloud
from ..model import Invalid
from ..reply import Reply, api_error, json_reply, no_content
from .request import Request, Route


def list_smartlocks(cloud: Cloud, r: Request) -> Reply:
    wanted_type = r.int_param("type")
    with cloud.mutex:
        data = [
            lock.to_json()
            for lock in cloud.locks.values()
            if wanted_type is None or lock.type == wanted_type
        ]
    return json_reply(200, data)


def get_smartlock(cloud: Cloud, r: Request, smartlock_id: str) -> Reply:
    with cloud.mutex:
        lock = cloud.lock_by_id(smartlock_id)
        if lock is None:
            return api_error(404, "smartlock not found")
        return json_reply(200, lock.to_json())


def sync(cloud: Cloud, r: Request, smartlock_id: str) -> Reply:
    if cloud.lock_by_id(smartlock_id) is None:
        return api_error(404, "smartlock not found")
    return no_content()


def action(cloud: Cloud, r: Request, smartlock_id: str) -> Reply:
    lock = cloud.lock_by_id(smartlock_id)
    if lock is None:
        return api_error(404, "smartlock not found")
    body = r.json()
    if not isinstance(body, dict):
        raise Invalid("the body must be a JSON object with 'action'")
    wanted = body.get("action")
    if isinstance(wanted, bool) or wanted not in range(1, 6):
        raise Invalid("'action' must be 1 unlock, 2 lock, 3 unlatch, 4 lock 'n' go or 5")
    option = body.get("option", 0)
    if isinstance(option, bool) or option not in range(8):
        raise Invalid("'option' must be between 0 and 7")
    return cloud.web_action(lock, wanted)


def action_lock(cloud: Cloud, r: Request, smartlock_id: str) -> Reply:
    lock = cloud.lock_by_id(smartlock_id)
    if lock is None:
        return api_error(404, "smartlock not found")
    return cloud.web_action(lock, m.ACTION_LOCK)


def action_unlock(cloud: Cloud, r: Request, smartlock_id: str) -> Reply:
    lock = cloud.lock_by_id(smartlock_id)
    if lock is None:
        return api_error(404, "smartlock not found")
    return cloud.web_action(lock, m.ACTION_UNLOCK)


ROUTES: list[Route] = [
    ("GET", "/smartlock", list_smartlocks, True),
    ("GET", "/smartlock/{smartlockId}", get_smartlock, True),
    ("POST", "/smartlock/{smartlockId}/action", action, True),
    ("POST", "/smartlock/{smartlockId}/action/lock", action_lock, True),
    ("POST", "/smartlock/{smartlockId}/action/unlock", action_unlock, True),
    ("POST", "/smartlock/{smartlockId}/sync", sync, True),
]
