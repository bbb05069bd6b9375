"""Account routes: the account itself and its account users (people invited by email)."""

from __future__ import annotations

import time

from .. import model as m
from .. import records as rec
from ..cloud import Cloud
from ..reply import Reply, api_error, json_reply, no_content
from .request import Request, Route


def account(cloud: Cloud, r: Request) -> Reply:
    created = min((lock.creation_date for lock in cloud.locks.values()), default=time.time())
    return json_reply(
        200,
        {
            "accountId": cloud.account_id,
            "type": 0,
            "email": "owner@latchkey.invalid",
            "emailVerified": True,
            "name": cloud.account_name,
            "language": "en",
            "creationDate": m.iso(created),
            "updateDate": m.iso(created),
        },
    )


def list_users(cloud: Cloud, r: Request) -> Reply:
    email = (r.params.get("email") or "").strip().lower()
    offset = r.int_param("offset") or 0
    limit = r.int_param("limit") or 100
    with cloud.mutex:
        users = [dict(u) for u in cloud.users.values() if not email or u["email"].lower() == email]
    return json_reply(200, users[offset : offset + limit])


def create_user(cloud: Cloud, r: Request) -> Reply:
    values = rec.validate_account_user(r.json(), creating=True)
    with cloud.mutex:
        if cloud.user_by_email(values["email"]) is not None:
            return api_error(409, "E-Mail address already exists")
        now = m.iso(time.time())
        user = {
            "accountUserId": next(cloud.user_ids),
            "accountId": cloud.account_id,
            "type": values.get("type", 0),
            "email": values["email"],
            "name": values["name"],
            "language": values.get("language", "en"),
            "creationDate": now,
            "updateDate": now,
        }
        cloud.users[user["accountUserId"]] = user
        cloud.invitations.append({"email": user["email"], "name": user["name"]})
        cloud.webhooks.emit("ACCOUNT_USER", {"accountUser": dict(user), "deleted": False})
    return json_reply(200, dict(user))


def get_user(cloud: Cloud, r: Request, account_user_id: str) -> Reply:
    with cloud.mutex:
        user = cloud.users.get(int(account_user_id))
        if user is None:
            return api_error(404, "account user not found")
        return json_reply(200, dict(user))


def update_user(cloud: Cloud, r: Request, account_user_id: str) -> Reply:
    values = rec.validate_account_user(r.json(), creating=False)
    with cloud.mutex:
        user = cloud.users.get(int(account_user_id))
        if user is None:
            return api_error(404, "account user not found")
        other = cloud.user_by_email(values.get("email", user["email"]))
        if other is not None and other is not user:
            return api_error(409, "E-Mail address already exists")
        user.update(values)
        user["updateDate"] = m.iso(time.time())
        cloud.webhooks.emit("ACCOUNT_USER", {"accountUser": dict(user), "deleted": False})
    return no_content()


def delete_user(cloud: Cloud, r: Request, account_user_id: str) -> Reply:
    """Removes the account user and (queued, as any change) their authorizations."""
    uid = int(account_user_id)
    with cloud.mutex:
        user = cloud.users.get(uid)
        if user is None:
            return api_error(404, "account user not found")
        theirs = [
            (smartlock_id, auth_id)
            for smartlock_id, auths in cloud.lock_auths.items()
            for auth_id, record in auths.items()
            if record.get("accountUserId") == uid
        ]
        if any(auth_id in cloud.ops for _, auth_id in theirs):
            cloud.count("locked")
            return api_error(423, "an operation is still pending on this account user")
        del cloud.users[uid]
        for smartlock_id, auth_id in theirs:
            cloud.queue("delete", smartlock_id, auth_id)
        cloud.webhooks.emit("ACCOUNT_USER", {"accountUser": dict(user), "deleted": True})
    return no_content()


ROUTES: list[Route] = [
    ("GET", "/account", account, True),
    ("GET", "/account/user", list_users, True),
    ("PUT", "/account/user", create_user, True),
    ("GET", "/account/user/{accountUserId}", get_user, True),
    ("POST", "/account/user/{accountUserId}", update_user, True),
    ("DELETE", "/account/user/{accountUserId}", delete_user, True),
]
