"""The API's records: authorizations and account users (validation, stored form, JSON) and
log entries (their shape and the GET .../log filters).

Pure data and validation, no threads and no HTTP; field names and rules follow Nuki's published
OpenAPI description (schemas SmartlockAuth, SmartlockAuthCreate/Update, AccountUser,
SmartlockLog) and FACTS.md, our choices say so.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo

from .model import (
    AUTH_APP,
    AUTH_KEYPAD_CODE,
    CREATABLE_AUTH_TYPES,
    DEFAULT_LOG_LIMIT,
    LOG_SUCCESS,
    MAX_AUTH_NAME,
    MAX_LOG_LIMIT,
    MINUTES_PER_DAY,
    SOURCE_DEFAULT,
    TYPE_OPENER,
    Invalid,
    SimSmartlock,
    iso,
    normalize_iso,
    parse_iso,
)

_CODE = re.compile(r"[1-9]{6}")

# Authorizations ------------------------------------------------------------------------------

AUTH_OPTIONAL_FIELDS = (
    "accountUserId",
    "code",
    "allowedFromDate",
    "allowedUntilDate",
    "lastActiveDate",
    "smartActionsEnabled",
)


def auth_json(record: dict[str, Any], operation_id: str | None = None) -> dict[str, Any]:
    """A stored authorization as the API shows it (absent optional fields left out)."""
    data = {key: value for key, value in record.items() if value is not None}
    if operation_id:
        data["operationId"] = operation_id
    return data


def _int(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(f"'{name}' must be an integer")
    if not low <= value <= high:
        raise Invalid(f"'{name}' must be between {low} and {high}")
    return value


def _bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise Invalid(f"'{name}' must be true or false")
    return value


def keypad_code(value: Any) -> int:
    """A keypad code: 6 digits 1-9, not starting with 12 (an int, or a string of digits)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise Invalid("'code' must be a 6-digit number")
    text = str(value).strip()
    if not _CODE.fullmatch(text):
        raise Invalid("'code' must have 6 digits, each 1-9 (no 0)")
    if text.startswith("12"):
        raise Invalid("'code' must not start with 12")
    return int(text)


def validate_auth(
    body: Any, *, existing: dict[str, Any] | None = None, require_name: bool = True
) -> dict[str, Any]:
    """Check a SmartlockAuthCreate (existing is None) or SmartlockAuthUpdate body.

    Returns the fields to store (for an update: only the ones that change, None clears an
    optional date). Raises Invalid for anything the API answers 400 to. Following the
    published schema: `name` is required in both, `remoteAllowed` when creating, and
    `accountUserId` when creating anything but a keypad code (type 13)."""
    if not isinstance(body, dict):
        raise Invalid("the body must be a JSON object")
    creating = existing is None
    out: dict[str, Any] = {}

    if "name" in body or require_name:
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise Invalid("'name' is required")
        if len(name) > MAX_AUTH_NAME:
            raise Invalid(f"'name' must be at most {MAX_AUTH_NAME} characters")
        out["name"] = name

    if creating:
        auth_type = body.get("type", AUTH_APP)
        if isinstance(auth_type, bool) or auth_type not in CREATABLE_AUTH_TYPES:
            raise Invalid("'type' must be 0 (app), 2 (fob) or 13 (keypad code)")
        out["type"] = auth_type
    else:
        auth_type = existing["type"]
        if "type" in body and body["type"] != auth_type:
            raise Invalid("'type' of an authorization cannot be changed")

    if "accountUserId" in body and body["accountUserId"] is not None:
        out["accountUserId"] = _int(body["accountUserId"], "accountUserId", 1, 2**31 - 1)
    elif creating and auth_type != AUTH_KEYPAD_CODE:
        raise Invalid("'accountUserId' is required unless type is 13 (keypad code)")

    if auth_type == AUTH_KEYPAD_CODE:
        if "code" in body:
            out["code"] = keypad_code(body["code"])
        elif creating:
            raise Invalid("'code' is required for a keypad code (type 13)")
    elif body.get("code") is not None:
        raise Invalid("'code' is only for keypad codes (type 13)")

    if "remoteAllowed" in body:
        out["remoteAllowed"] = _bool(body["remoteAllowed"], "remoteAllowed")
    elif creating:
        raise Invalid("'remoteAllowed' is required")

    for name in ("enabled", "smartActionsEnabled"):
        if name in body and body[name] is not None:
            out[name] = _bool(body[name], name)

    for name in ("allowedFromDate", "allowedUntilDate"):
        if name in body:
            out[name] = None if body[name] is None else normalize_iso(body[name], name)

    if body.get("allowedWeekDays") is not None:
        out["allowedWeekDays"] = _int(body["allowedWeekDays"], "allowedWeekDays", 0, 127)
    for name in ("allowedFromTime", "allowedUntilTime"):
        if body.get(name) is not None:
            out[name] = _int(body[name], name, 0, MINUTES_PER_DAY - 1)

    merged = {**(existing or {}), **out}
    start, end = merged.get("allowedFromDate"), merged.get("allowedUntilDate")
    if start and end and parse_iso(start, "allowedFromDate") >= parse_iso(end, "allowedUntilDate"):
        raise Invalid("'allowedFromDate' must be before 'allowedUntilDate'")

    if not creating:
        out = {key: value for key, value in out.items() if existing.get(key) != value}
    return out


def new_auth_record(
    auth_id: str, smartlock_id: int, fields: dict[str, Any], now: float
) -> dict[str, Any]:
    """A full stored authorization from validated create fields (authId set when applied)."""
    record: dict[str, Any] = {
        "id": auth_id,
        "smartlockId": smartlock_id,
        "authId": None,
        "type": fields["type"],
        "name": fields["name"],
        "enabled": fields.get("enabled", True),
        "remoteAllowed": fields.get("remoteAllowed", False),
        "lockCount": 0,
        "allowedWeekDays": fields.get("allowedWeekDays", 127),
        "allowedFromTime": fields.get("allowedFromTime", 0),
        "allowedUntilTime": fields.get("allowedUntilTime", 0),
        "creationDate": iso(now),
        "updateDate": iso(now),
    }
    for name in AUTH_OPTIONAL_FIELDS:
        record[name] = fields.get(name)
    return record


def auth_allows(record: dict[str, Any], when: float, tz: str = "UTC") -> bool:
    """Whether an authorization lets its holder in at `when`. The dates are instants (UTC);
    the weekday bitmask (Monday=64 ... Sunday=1, 0 or 127 every day) and the from/until times
    (minutes after midnight, 0/0 the whole day) are read on the lock's own clock, in its
    timezone `tz` (IANA name; our choice of how the stand-in names a lock's timezone)."""
    if not record.get("enabled", True):
        return False
    start, end = record.get("allowedFromDate"), record.get("allowedUntilDate")
    if start and when < parse_iso(start, "allowedFromDate"):
        return False
    if end and when > parse_iso(end, "allowedUntilDate"):
        return False
    moment = dt.datetime.fromtimestamp(when, tz=ZoneInfo(tz))
    days = record.get("allowedWeekDays") or 127
    if not days & (64 >> moment.weekday()):
        return False
    start_min, end_min = record.get("allowedFromTime") or 0, record.get("allowedUntilTime") or 0
    if start_min or end_min:
        minute = moment.hour * 60 + moment.minute
        if not start_min <= minute <= (end_min or MINUTES_PER_DAY - 1):
            return False
    return True


# Account users -------------------------------------------------------------------------------

ACCOUNT_USER_LANGUAGES = frozenset({"en", "de", "es", "fr", "it", "nl", "cs", "sk"})
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def validate_account_user(body: Any, *, creating: bool) -> dict[str, Any]:
    """AccountUserCreate / AccountUserUpdate: email and name required when creating (400
    "Invalid E-Mail address or name supplied" otherwise), language one of Nuki's codes,
    type 0 user / 1 company."""
    if not isinstance(body, dict):
        raise Invalid("the body must be a JSON object")
    out: dict[str, Any] = {}
    if "email" in body or creating:
        email = body.get("email")
        if not isinstance(email, str) or not _EMAIL.fullmatch(email.strip()):
            raise Invalid("Invalid E-Mail address or name supplied")
        out["email"] = email.strip()
    if "name" in body or creating:
        name = body.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 64:
            raise Invalid("Invalid E-Mail address or name supplied")
        out["name"] = name.strip()
    if body.get("language") is not None:
        if body["language"] not in ACCOUNT_USER_LANGUAGES:
            raise Invalid("'language' must be one of " + ", ".join(sorted(ACCOUNT_USER_LANGUAGES)))
        out["language"] = body["language"]
    if body.get("type") is not None:
        out["type"] = _int(body["type"], "type", 0, 1)
    return out


# Logs ----------------------------------------------------------------------------------------


def log_entry(
    *,
    log_id: str,
    lock: SimSmartlock,
    action: int,
    trigger: int,
    when: float,
    name: str,
    auth: dict[str, Any] | None = None,
    state: int = LOG_SUCCESS,
    source: int = SOURCE_DEFAULT,
    account_user_id: int | None = None,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": log_id,
        "smartlockId": lock.smartlock_id,
        "deviceType": 2 if lock.type == TYPE_OPENER else 0,
        "name": name,
        "action": action,
        "trigger": trigger,
        "state": state,
        "autoUnlock": False,
        "date": iso(when),
        "source": source,
    }
    if auth is not None:
        entry["authId"] = auth["id"]
        if auth.get("accountUserId"):
            entry["accountUserId"] = auth["accountUserId"]
    if account_user_id is not None:
        entry["accountUserId"] = account_user_id
    return entry


def filter_logs(entries: list[dict[str, Any]], params: dict[str, str]) -> list[dict[str, Any]]:
    """GET .../log filters on entries stored oldest first; answers newest first."""
    try:
        limit = int(params.get("limit", DEFAULT_LOG_LIMIT))
    except ValueError:
        raise Invalid("'limit' must be an integer") from None
    if not 1 <= limit <= MAX_LOG_LIMIT:
        raise Invalid(f"'limit' must be between 1 and {MAX_LOG_LIMIT}")
    start = parse_iso(params["fromDate"], "fromDate") if params.get("fromDate") else None
    end = parse_iso(params["toDate"], "toDate") if params.get("toDate") else None
    action = None
    if params.get("action"):
        try:
            action = int(params["action"])
        except ValueError:
            raise Invalid("'action' must be an integer") from None
    account_user = None
    if params.get("accountUserId"):
        try:
            account_user = int(params["accountUserId"])
        except ValueError:
            raise Invalid("'accountUserId' must be an integer") from None
    auth_id, older_than = params.get("authId"), params.get("id")

    out = []
    for entry in reversed(entries):
        if older_than and entry["id"] >= older_than:
            continue
        when = parse_iso(entry["date"], "date")
        if start is not None and when < start:
            continue
        if end is not None and when > end:
            continue
        if action is not None and entry["action"] != action:
            continue
        if auth_id and entry.get("authId") != auth_id:
            continue
        if account_user is not None and entry.get("accountUserId") != account_user:
            continue
        out.append(entry)
        if len(out) >= limit:
            break
    return out
