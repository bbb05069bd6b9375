"""An httpx2 client for the parts of the Nuki Web API the portal uses.

Authentication is a bearer token from a `token_provider` callable, so the caller decides where
tokens live and how they are refreshed: on a 401 the client asks the provider for a fresh
token once (`refresh=True`) and retries, as Nuki's integrator rules require.

Every failure is a `NukiWebError` with a plain-words message, a fix and a `permanent` flag.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import httpx2

from ..ratelimit import RequestBudget, retry_after_seconds, shared_tls_context

TokenProvider = Callable[[bool], str]  # refresh -> access token


class AuthType(IntEnum):
    APP = 0
    BRIDGE = 1
    FOB = 2
    KEYPAD = 13


class NukiWebError(Exception):
    """`retry_after`: seconds before the next request may go (a rate limit), else None."""

    def __init__(
        self,
        message: str,
        *,
        fix: str = "",
        permanent: bool = False,
        status: int | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.permanent = permanent
        self.status = status
        self.retry_after = retry_after


class TokenRejected(NukiWebError):
    """The cloud refused our token even after a refresh: the manager must reconnect."""


def rate_limited(seconds: float, *, status: int | None = None) -> NukiWebError:
    """Nothing sent (our budget) or refused with 429: try again in `seconds`. Transient, and
    not the lock's fault: the command waits, its attempt is not counted."""
    return NukiWebError(
        "Waiting for Nuki Web's request limit for this account.",
        fix="Nothing to do: the portal sends it when the limit allows.",
        status=status,
        retry_after=seconds,
    )


@dataclass(frozen=True)
class Smartlock:
    smartlock_id: int
    name: str
    type: int
    keypad: bool
    state: dict[str, Any]
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Smartlock:
        config = data.get("config") or {}
        advanced = data.get("advancedConfig") or {}
        keypad = bool(
            config.get("keypadPaired")
            or config.get("keypad2Paired")
            or advanced.get("keypadPaired")
            or data.get("keypadPaired")
        )
        return cls(
            smartlock_id=int(data["smartlockId"]),
            name=str(data.get("name") or f"Nuki {data['smartlockId']}"),
            type=int(data.get("type", 0)),
            keypad=keypad,
            state=dict(data.get("state") or {}),
            raw=dict(data),
        )


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _parse(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass(frozen=True)
class NukiWebAuth:
    """An authorization on a smartlock (type 13 = keypad code)."""

    auth_id: str
    smartlock_id: int
    type: int
    name: str
    code: str | None
    enabled: bool
    allowed_from: dt.datetime | None
    allowed_until: dt.datetime | None
    weekdays: int = 127
    from_minute: int = 0
    until_minute: int = 0
    account_user_id: int | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NukiWebAuth:
        code = data.get("code")
        return cls(
            auth_id=str(data.get("id", "")),
            smartlock_id=int(data.get("smartlockId", 0)),
            type=int(data.get("type", 0)),
            name=str(data.get("name", "")),
            code=str(code) if code not in (None, "") else None,
            enabled=bool(data.get("enabled", True)),
            allowed_from=_parse(data.get("allowedFromDate")),
            allowed_until=_parse(data.get("allowedUntilDate")),
            weekdays=_int(data.get("allowedWeekDays"), 127),
            from_minute=_int(data.get("allowedFromTime"), 0),
            until_minute=_int(data.get("allowedUntilTime"), 0),
            account_user_id=_int(data.get("accountUserId"), 0) or None,
            raw=dict(data),
        )


def _int(value: Any, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except (TypeError, ValueError):
        return default


@dataclass(frozen=True)
class AccountUser:
    """A person invited to the Nuki account by email (AccountUser); an app authorization
    (type 0) is given to an account user, who sees it in their own Nuki app."""

    account_user_id: int
    email: str
    name: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AccountUser:
        return cls(
            account_user_id=int(data["accountUserId"]),
            email=str(data.get("email", "")),
            name=str(data.get("name", "")),
        )


def auth_body(
    *,
    name: str,
    valid_from: dt.datetime,
    valid_until: dt.datetime,
    code: str = "",
    account_user_id: int | None = None,
    weekdays: int = 127,
    from_minute: int = 0,
    until_minute: int = 0,
    creating: bool = True,
) -> dict[str, Any]:
    """A SmartlockAuthCreate / SmartlockAuthUpdate body: a keypad code (type 13) when `code`
    is given, else an app authorization (type 0) for `account_user_id`. Weekdays are Nuki's
    bitmask (Monday 64 ... Sunday 1), times minutes after midnight in the lock's local time."""
    body: dict[str, Any] = {
        "name": name[:32],
        "allowedFromDate": _iso(valid_from),
        "allowedUntilDate": _iso(valid_until),
        "allowedWeekDays": weekdays or 127,
        "allowedFromTime": from_minute,
        "allowedUntilTime": until_minute,
        "enabled": True,
        "remoteAllowed": False,  # required on create; guests open at the door, not remotely
    }
    if code:
        body["code"] = int(code)
        if creating:
            body["type"] = int(AuthType.KEYPAD)
    else:
        if account_user_id is None:
            raise ValueError("an app authorization needs an account user")
        body["accountUserId"] = account_user_id
        if creating:
            body["type"] = int(AuthType.APP)
    return body


def keypad_body(
    *, name: str, code: str, valid_from: dt.datetime, valid_until: dt.datetime
) -> dict[str, Any]:
    return auth_body(name=name, code=code, valid_from=valid_from, valid_until=valid_until)


class NukiWebClient:
    def __init__(
        self,
        base_url: str,
        token_provider: TokenProvider,
        *,
        timeout: float = 15.0,
        transport: httpx2.BaseTransport | None = None,
        budget: RequestBudget | None = None,
    ):
        """`budget`: taken before every request (the account's shared rate limit)."""
        self.base_url = base_url.rstrip("/")
        self.token_provider = token_provider
        self.budget = budget
        self.calls = 0
        self._http = httpx2.Client(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            trust_env=False,
            verify=shared_tls_context(),
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> NukiWebClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # Plumbing --------------------------------------------------------------------------------
    def _request(self, method: str, path: str, **kwargs) -> httpx2.Response:
        for refresh in (False, True):
            token = self.token_provider(refresh)
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            if self.budget is not None:
                wait = self.budget.take()
                if wait > 0:
                    raise rate_limited(wait)
            try:
                self.calls += 1
                response = self._http.request(method, path, headers=headers, **kwargs)
            except httpx2.TimeoutException:
                raise NukiWebError(
                    "Nuki Web did not answer in time.", fix="Nothing to do: the portal retries."
                ) from None
            except httpx2.HTTPError as exc:
                raise NukiWebError(
                    f"Nuki Web could not be reached ({exc.__class__.__name__}).",
                    fix="Nothing to do: the portal retries.",
                ) from None
            if response.status_code != 401:
                break
        return self._check(response)

    def _check(self, response: httpx2.Response) -> httpx2.Response:
        status = response.status_code
        if status < 400:
            return response
        if status == 429:
            seconds = retry_after_seconds(response.headers.get("Retry-After"))
            if self.budget is not None:
                seconds = max(seconds, self.budget.hold(seconds))
            raise rate_limited(seconds, status=status)
        if status == 401:
            raise TokenRejected(
                "Nuki Web no longer accepts this connection's token.",
                fix="Reconnect Nuki Web in the portal's integrations.",
                permanent=True,
                status=status,
            )
        if status == 403:
            raise NukiWebError(
                "Nuki Web refused this: the account lacks the permission for this lock.",
                fix="Check in Nuki Web that the account may manage this lock, then reconnect.",
                permanent=True,
                status=status,
            )
        if status == 404:
            raise NukiWebError(
                "Nuki Web does not know this lock or authorization.", permanent=True, status=status
            )
        if status == 409:
            raise NukiWebError(
                "This keypad code already exists on the lock.", permanent=True, status=status
            )
        if status == 423:
            raise NukiWebError(
                "The lock is still busy with an earlier change.",
                fix="Nothing to do: the portal retries.",
                status=status,
            )
        if status == 402:
            raise NukiWebError(
                "Nuki Web requires a paid plan for this.",
                fix="Check the Nuki Web subscription of this account.",
                permanent=True,
                status=status,
            )
        if status == 400:
            raise NukiWebError(
                f"Nuki Web refused the request: {response.text[:200]}",
                permanent=True,
                status=status,
            )
        raise NukiWebError(
            f"Nuki Web answered with an error ({status}).",
            fix="Nothing to do: the portal retries.",
            status=status,
        )

    # Smartlocks ------------------------------------------------------------------------------
    def smartlocks(self) -> list[Smartlock]:
        return [Smartlock.from_json(item) for item in self._request("GET", "/smartlock").json()]

    def action(self, smartlock_id: int, action: int) -> None:
        self._request("POST", f"/smartlock/{smartlock_id}/action", json={"action": action})

    def logs(self, smartlock_id: int, *, limit: int = 50, **filters) -> list[dict[str, Any]]:
        params = {"limit": min(limit, 50), **filters}
        return list(self._request("GET", f"/smartlock/{smartlock_id}/log", params=params).json())

    # Authorizations --------------------------------------------------------------------------
    def auths(self, smartlock_id: int) -> list[NukiWebAuth]:
        data = self._request("GET", f"/smartlock/{smartlock_id}/auth").json()
        return [NukiWebAuth.from_json(item) for item in data]

    def auth_create(self, smartlock_id: int, body: dict[str, Any]) -> None:
        """204 means queued: the cloud pushes it to the lock; confirm by webhook or read-back."""
        self._request("PUT", f"/smartlock/{smartlock_id}/auth", json=body)

    def auth_update(self, smartlock_id: int, auth_id: str, body: dict[str, Any]) -> None:
        self._request("POST", f"/smartlock/{smartlock_id}/auth/{auth_id}", json=body)

    def auth_delete(self, smartlock_id: int, auth_id: str) -> None:
        self._request("DELETE", f"/smartlock/{smartlock_id}/auth/{auth_id}")

    # Account users (people invited by email, who get app authorizations) ------------------
    def account_users(self, *, email: str | None = None) -> list[AccountUser]:
        params = {"email": email} if email else None
        data = self._request("GET", "/account/user", params=params).json()
        return [AccountUser.from_json(item) for item in data]

    def account_user_create(self, *, email: str, name: str, language: str = "en") -> AccountUser:
        body = {"email": email, "name": name[:32] or email, "language": language}
        return AccountUser.from_json(self._request("PUT", "/account/user", json=body).json())

    def account_user_for(self, *, email: str, name: str, language: str = "en") -> AccountUser:
        """The account user with this email, invited if there is none yet."""
        wanted = email.strip().lower()
        for user in self.account_users(email=wanted):
            if user.email.lower() == wanted:
                return user
        return self.account_user_create(email=wanted, name=name, language=language)

    # Webhooks --------------------------------------------------------------------------------
    def webhook_register(self, url: str, features: list[str]) -> dict[str, Any]:
        body = {"webhookUrl": url, "webhookFeatures": features}
        return dict(self._request("PUT", "/api/decentralWebhook", json=body).json())

    def webhook_delete(self, webhook_id: int | str) -> None:
        self._request("DELETE", f"/api/decentralWebhook/{webhook_id}")
