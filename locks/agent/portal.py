"""The agent's side of the portal protocol (`/agent/v1/...`), over HTTPS, outbound only.

The agent never listens on a port: it enrolls once, then reports its locks, long-polls for
jobs and posts results, all as requests it starts itself, so it works behind any NAT. Every
request after enrollment carries `Authorization: Bearer <agent_token>`.

Errors are sorted by what the caller should do:

* `PortalUnavailable`: network trouble, timeouts, 5xx, 408, 429. Try again later (with
  backoff; `retry_after` when the portal said so).
* `PortalAuthError`: 401/403. The token was revoked or the agent deleted; retrying quickly
  cannot help, so the loop backs off to its longest delay and says so in the log.
* `PortalRejected`: any other 4xx. This request will never succeed as it is (the job is
  unknown, the result was already posted); drop it.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any
from urllib.parse import urlsplit

import httpx2

from . import AGENT_VERSION
from .state import AgentConfig

logger = logging.getLogger(__name__)

API = "/agent/v1"
DEFAULT_TIMEOUT = 15.0
USER_AGENT = f"latchkey-agent/{AGENT_VERSION}"


class PortalError(Exception):
    """Base of everything the portal client raises on purpose."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class PortalUnavailable(PortalError):
    """Worth retrying later: the portal is down, slow, overloaded or briefly broken."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class PortalAuthError(PortalError):
    """The portal does not accept our token (401/403)."""


class PortalRejected(PortalError):
    """The portal refused this particular request for good (4xx other than 401/403/408/429)."""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_portal_url(url: str, *, allow_http: bool = False) -> str:
    """The portal base URL without a trailing slash; https only (http for loopback hosts, for
    development and tests, or when `allow_http`), because the bearer token travels with every
    request."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"portal URL must look like https://portal.example.com, got {url!r}")
    if parts.scheme == "http" and not (allow_http or _is_loopback(parts.hostname)):
        raise ValueError("the portal must be reached over https (the agent token is a secret)")
    if parts.query or parts.fragment:
        raise ValueError("the portal URL takes no query or fragment")
    return url.strip().rstrip("/")


def _retry_after(response: httpx2.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare from our portal, the backoff copes


def _raise_for_status(response: httpx2.Response, what: str) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    message = f"{what}: portal answered {status}"
    if status in (401, 403):
        raise PortalAuthError(message, status=status)
    if status >= 500 or status in (408, 429):
        raise PortalUnavailable(message, status=status, retry_after=_retry_after(response))
    raise PortalRejected(message, status=status)


def _json(response: httpx2.Response, what: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise PortalUnavailable(f"{what}: portal answered something that is not JSON") from None


async def enroll(
    portal_url: str,
    enrollment_token: str,
    name: str = "",
    *,
    http: httpx2.AsyncClient | None = None,
    allow_http: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
) -> AgentConfig:
    """POST {portal}/agent/v1/enroll {"token", "name"} -> 201 {"agent_id", "agent_token"}.

    The enrollment token is single-use on the portal side and is not stored here.
    """
    base = check_portal_url(portal_url, allow_http=allow_http)
    what = "enrollment"
    owned = http is None
    client = http or httpx2.AsyncClient(timeout=timeout, headers={"User-Agent": USER_AGENT})
    try:
        try:
            response = await client.post(
                f"{base}{API}/enroll", json={"token": enrollment_token, "name": name}
            )
        except httpx2.HTTPError as exc:
            raise PortalUnavailable(f"{what}: cannot reach the portal ({exc})") from exc
        _raise_for_status(response, what)
        data = _json(response, what)
    finally:
        if owned:
            await client.aclose()
    try:
        agent_id = int(data["agent_id"])
        agent_token = str(data["agent_token"])
    except (KeyError, TypeError, ValueError):
        raise PortalRejected(f"{what}: answer lacks agent_id or agent_token") from None
    if not agent_token:
        raise PortalRejected(f"{what}: empty agent_token")
    return AgentConfig(portal_url=base, agent_id=agent_id, agent_token=agent_token, name=name)


class PortalClient:
    """The authenticated calls after enrollment. One instance per run; `aclose()` at the end."""

    def __init__(
        self,
        portal_url: str,
        agent_token: str,
        *,
        http: httpx2.AsyncClient | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        allow_http: bool = False,
    ) -> None:
        self.base = check_portal_url(portal_url, allow_http=allow_http)
        self.timeout = timeout
        self._owned = http is None
        self._http = http or httpx2.AsyncClient(timeout=timeout)
        self._headers = {"Authorization": f"Bearer {agent_token}", "User-Agent": USER_AGENT}

    @classmethod
    def from_config(cls, config: AgentConfig, **kwargs: Any) -> PortalClient:
        return cls(config.portal_url, config.agent_token, **kwargs)

    async def aclose(self) -> None:
        if self._owned:
            await self._http.aclose()

    async def _request(
        self,
        method: str,
        path: str,
        what: str,
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> httpx2.Response:
        try:
            response = await self._http.request(
                method,
                f"{self.base}{API}{path}",
                json=body,
                params=params,
                headers=self._headers,
                timeout=self.timeout if timeout is None else timeout,
            )
        except httpx2.HTTPError as exc:
            raise PortalUnavailable(f"{what}: cannot reach the portal ({exc!r})") from exc
        _raise_for_status(response, what)
        return response

    async def report_locks(self, locks: list[dict[str, Any]]) -> None:
        """POST /agent/v1/locks {"locks": [...]}: what this agent can reach and how it is."""
        await self._request("POST", "/locks", "lock report", body={"locks": locks})

    async def poll_jobs(self, wait: int = 25) -> list[dict[str, Any]]:
        """GET /agent/v1/jobs?wait=N: the portal holds the request up to N seconds until a job
        is there. The read timeout leaves room for that wait."""
        what = "job poll"
        response = await self._request(
            "GET", "/jobs", what, params={"wait": wait}, timeout=wait + self.timeout
        )
        if response.status_code == 204 or not response.content:
            return []
        data = _json(response, what)
        jobs = data.get("jobs") if isinstance(data, dict) else None
        if not isinstance(jobs, list):
            raise PortalUnavailable(f"{what}: answer has no jobs list")
        return jobs

    async def post_result(self, job_id: int, body: dict[str, Any]) -> None:
        """POST /agent/v1/jobs/{id}/result {"ok": true, "result": {...}} or
        {"ok": false, "error": {"message", "permanent", "code"?}}."""
        await self._request("POST", f"/jobs/{int(job_id)}/result", "job result", body=body)

    async def post_event(self, body: dict[str, Any]) -> None:
        """POST /agent/v1/events {"address", "entries", "state"}: news the portal did not ask
        for (the state after a lock action)."""
        await self._request("POST", "/events", "event", body=body)
