"""Authorization routes: per lock (/smartlock/{smartlockId}/auth...) and account-wide
(/smartlock/auth, several locks at once). Every change is queued: 204 means accepted, the
lock gets it `apply_delay` seconds later."""

from __future__ import annotations

from .. import records as rec
from ..cloud import Cloud
from ..model import Invalid
from ..reply import Reply, api_error, json_reply, no_content
from .request import Request, Route


def list_auths(cloud: Cloud, r: Request, smartlock_id: str) -> Reply:
    types = r.types_param()
    with cloud.mutex:
        lock = cloud.lock_by_id(smartlock_id)
        if lock is None:
            return api_error(404, "smartlock not found")
        data = [
            cloud.auth_view(a)
            for a in cloud.lock_auths[lock.smartlock_id].values()
            if types is None or a["type"] in types
        ]
    return json_reply(200, data)


def get_auth(cloud: Cloud, r: Request, smartlock_id: str, auth_id: str) -> Reply:
    with cloud.mutex:
        lock = cloud.lock_by_id(smartlock_id)
        record = cloud.lock_auths[lock.smartlock_id].get(auth_id) if lock else None
        if record is None:
            return api_error(404, "smartlock authorization not found")
        return json_reply(200, cloud.auth_view(record))


def create_auth(cloud: Cloud, r: Request, smartlock_id: str) -> Reply:
    lock = cloud.lock_by_id(smartlock_id)
    if lock is None:
        return api_error(404, "smartlock not found")
    values = rec.validate_auth(r.json())
    with cloud.mutex:
        conflict = cloud.create_auths(lock.smartlock_id, [values])
    return conflict or no_content()


def update_auth(cloud: Cloud, r: Request, smartlock_id: str, auth_id: str) -> Reply:
    lock = cloud.lock_by_id(smartlock_id)
    if lock is None:
        return api_error(404, "smartlock not found")
    body = r.json()
    with cloud.mutex:
        return cloud.update_auth(lock.smartlock_id, auth_id, body) or no_content()


def delete_auth(cloud: Cloud, r: Request, smartlock_id: str, auth_id: str) -> Reply:
    lock = cloud.lock_by_id(smartlock_id)
    if lock is None:
        return api_error(404, "smartlock not found")
    with cloud.mutex:
        _, refused = cloud.find_for_change(lock.smartlock_id, auth_id)
        if refused:
            return refused
        cloud.queue("delete", lock.smartlock_id, auth_id)
    return no_content()


# Account-wide (several locks at once)


def list_account_auths(cloud: Cloud, r: Request) -> Reply:
    types = r.types_param()
    user = r.int_param("accountUserId")
    with cloud.mutex:
        data = [
            cloud.auth_view(a)
            for auths in cloud.lock_auths.values()
            for a in auths.values()
            if (types is None or a["type"] in types)
            and (
                user is None
                or (user > 0 and a.get("accountUserId") == user)
                or (user < 0 and not a.get("accountUserId"))
            )
        ]
    return json_reply(200, data)


def create_account_auths(cloud: Cloud, r: Request) -> Reply:
    body = r.json()
    values = rec.validate_auth(body)
    ids = body.get("smartlockIds")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, int) for i in ids):
        raise Invalid("'smartlockIds' must be a non-empty list of smartlock ids")
    with cloud.mutex:
        unknown = [i for i in ids if i not in cloud.locks]
        if unknown:
            return api_error(404, f"smartlock not found: {unknown}")
        if "code" in values and any(cloud.code_taken(i, values["code"]) for i in ids):
            cloud.count("conflicts")
            return api_error(409, "Parameter 'code' exists already")
        for smartlock_id in dict.fromkeys(ids):
            cloud.create_auths(smartlock_id, [values])
    return no_content()


def update_account_auths(cloud: Cloud, r: Request) -> Reply:
    items = r.json()
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise Invalid("the body must be a list of authorization updates with 'id'")
    with cloud.mutex:
        planned = []
        for item in items:
            smartlock_id = cloud.where(item.get("id"))
            if smartlock_id is None:
                return api_error(404, f"smartlock authorization not found: {item.get('id')}")
            record, refused = cloud.find_for_change(smartlock_id, item["id"])
            if refused:
                return refused
            assert record is not None
            body = {k: v for k, v in item.items() if k != "id"}
            changes = rec.validate_auth(body, existing=record)
            code = changes.get("code")
            if code is not None and cloud.code_taken(smartlock_id, code, exclude=item["id"]):
                cloud.count("conflicts")
                return api_error(409, "Parameter 'code' exists already")
            planned.append((smartlock_id, item["id"], changes))
        for smartlock_id, auth_id, changes in planned:
            cloud.queue("update", smartlock_id, auth_id, changes=changes)
    return no_content()


def delete_account_auths(cloud: Cloud, r: Request) -> Reply:
    ids = r.json()
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise Invalid("the body must be a list of authorization ids")
    with cloud.mutex:
        planned = []
        for auth_id in dict.fromkeys(ids):
            smartlock_id = cloud.where(auth_id)
            if smartlock_id is None:
                return api_error(404, f"smartlock authorization not found: {auth_id}")
            _, refused = cloud.find_for_change(smartlock_id, auth_id)
            if refused:
                return refused
            planned.append((smartlock_id, auth_id))
        for smartlock_id, auth_id in planned:
            cloud.queue("delete", smartlock_id, auth_id)
    return no_content()


ROUTES: list[Route] = [
    ("GET", "/smartlock/auth", list_account_auths, True),
    ("PUT", "/smartlock/auth", create_account_auths, True),
    ("POST", "/smartlock/auth", update_account_auths, True),
    ("DELETE", "/smartlock/auth", delete_account_auths, True),
    ("GET", "/smartlock/{smartlockId}/auth", list_auths, True),
    ("PUT", "/smartlock/{smartlockId}/auth", create_auth, True),
    ("GET", "/smartlock/{smartlockId}/auth/{id}", get_auth, True),
    ("POST", "/smartlock/{smartlockId}/auth/{id}", update_auth, True),
    ("DELETE", "/smartlock/{smartlockId}/auth/{id}", delete_auth, True),
]
