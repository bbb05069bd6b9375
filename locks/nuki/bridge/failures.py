"""What a failed bridge call tells the manager: one plain sentence per HTTP status, and one
for every way a connection can fail, each a `BridgeError` saying whether a retry can help."""

from __future__ import annotations

import httpx2

from .errors import BridgeError
from .tokens import TokenMode

# One sentence for every way a connection can fail (refused, timed out, reset, a TLS or
# other non-HTTP answer, an answer that is not a bridge's JSON): a tenant types the host, and
# the worker must not tell them whether something listens there (Redis at :6379, PostgreSQL
# at :5432, a metadata service), nor how long it took. The cause stays in `detail`, for logs.
UNREACHABLE = "No Nuki bridge answered at this address."
UNREACHABLE_FIX = (
    "Check that the bridge is powered and on the network, that its IP address and port are "
    "right, and that its HTTP API is enabled in the Nuki app."
)


def unreachable(endpoint: str, detail: str) -> BridgeError:
    return BridgeError(
        UNREACHABLE, fix=UNREACHABLE_FIX, permanent=False, endpoint=endpoint, detail=detail
    )


def rate_limited(key: str, endpoint: str, seconds: float, *, status: int | None = None):
    """Not sent (the budget for this bridge is spent) or refused with 429: ask again in
    `seconds`. Transient, and says nothing about the lock."""
    return BridgeError(
        "Waiting for the bridge's request limit.",
        fix="Nothing to do: the portal sends it when the limit allows.",
        permanent=False,
        status=status,
        endpoint=endpoint,
        detail=f"bridge {key} rate limited{f' (HTTP {status})' if status else ''}: "
        f"retry in {seconds:.1f}s",
        retry_after=seconds,
    )


def body_excerpt(response: httpx2.Response) -> str:
    return f"HTTP {response.status_code}: {response.text[:300]!r}"


def status_error(
    response: httpx2.Response,
    endpoint: str,
    params: dict[str, str] | None,
    *,
    key: str,
    token_mode: TokenMode,
) -> BridgeError:
    """The BridgeError, in plain words, for a bridge's answer other than 200."""
    status = response.status_code
    params = params or {}
    common = {"status": status, "endpoint": endpoint, "detail": body_excerpt(response)}
    device = (
        f"the device with Nuki ID {params['nukiId']} (device type {params.get('deviceType')})"
        if "nukiId" in params
        else None
    )
    if status == 401:
        if token_mode is TokenMode.PLAIN:
            return BridgeError(
                f"The bridge at {key} refused the API token: the token is wrong.",
                fix="Copy the current token from the Nuki app (Manage bridge, HTTP API) or "
                "get one with /auth; it changes when the bridge is reset.",
                permanent=True,
                **common,
            )
        return BridgeError(
            f"The bridge at {key} refused the request's {token_mode.value} "
            "token. The likely cause is clock skew: this server's clock and the bridge's "
            "differ by more than about a minute. Otherwise the token is wrong"
            + (
                ", or the bridge's firmware is too old for encrypted tokens."
                if token_mode is TokenMode.ENCRYPTED
                else "."
            ),
            fix="Check that this server keeps time (NTP) and compare with the bridge's "
            "time (currentTime in /info, via a plain token). If both clocks are right, "
            "check the token in the Nuki app.",
            permanent=True,
            **common,
        )
    if status == 400:
        return BridgeError(
            f"The bridge at {key} refused the request to {endpoint} as invalid.",
            fix="This is a fault in Latchkey or an unsupported bridge firmware; report it.",
            permanent=True,
            **common,
        )
    if status == 403:
        return BridgeError(
            f"The bridge at {key} has /auth switched off, so it does not hand out its token.",
            fix="Turn it on in the Nuki app (Manage bridge), or copy the token from there.",
            permanent=True,
            **common,
        )
    if status == 404:
        if device:
            return BridgeError(
                f"The bridge at {key} does not know {device}.",
                fix="It may have been unpaired from the bridge, or the ID is wrong. Check "
                "the lock list in the Nuki app.",
                permanent=True,
                **common,
            )
        return BridgeError(
            f"The bridge at {key} does not offer {endpoint}.",
            fix="Its firmware may be too old, or it is a software bridge; update it.",
            permanent=True,
            **common,
        )
    if status == 410:
        return BridgeError(
            f"The bridge at {key} has not heard from {device or 'the device'} for a long time.",
            fix="Check the lock's batteries and that it is within Bluetooth range of the bridge.",
            permanent=False,
            **common,
        )
    if status >= 500:
        return BridgeError(
            f"The bridge at {key} failed with an internal error (HTTP {status}).",
            fix="Try again; if it keeps happening, reboot the bridge.",
            permanent=False,
            **common,
        )
    return BridgeError(
        f"The bridge at {key} gave an unexpected answer to {endpoint} (HTTP {status}).",
        fix="Try again; if it keeps happening, report it.",
        permanent=False,
        **common,
    )
