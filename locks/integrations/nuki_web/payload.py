"""The fields of a Nuki Web webhook that the portal reads, checked before anything is stored.

Nuki Web signs its webhooks, but a signature proves who sent a body, not that its fields have
the types the handlers expect: `"state": "x"` used to reach `.get()` on a string (a 500), a
battery charge of 10**9 the database. A payload of the wrong shape is refused whole (400 naming
the field), so nothing is half-applied and a corrected resend is not taken for a duplicate.
"""

from __future__ import annotations

import datetime as dt


class WebhookFieldError(ValueError):
    """A signed webhook whose field has the wrong type or range (the message names it)."""


def _optional_int(container: dict, name: str, low: int, high: int) -> None:
    value = container.get(name)
    if value is not None and (
        not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high
    ):
        raise WebhookFieldError(f"{name} must be an integer from {low} to {high}.")


def webhook_fields(data) -> dict:
    """Check the fields a signed webhook's handlers read, before anything is stored: a
    payload of the wrong shape is a 400 naming the field and changes nothing (not even the
    duplicate record, so a corrected resend is processed)."""
    if not isinstance(data, dict):
        raise WebhookFieldError("body must be a JSON object.")
    if not isinstance(data.get("feature"), str):
        raise WebhookFieldError("feature must be a string.")
    raw_id = data.get("smartlockId") or 0
    if isinstance(raw_id, str) and raw_id.isascii() and raw_id.isdigit() and len(raw_id) < 19:
        raw_id = int(raw_id)
    if not isinstance(raw_id, int) or isinstance(raw_id, bool) or not 0 <= raw_id < 2**63:
        raise WebhookFieldError("smartlockId must be a Nuki smart lock id (an integer).")
    feature = data["feature"]
    if feature == "DEVICE_STATUS":
        state = data.get("state") or {}
        if not isinstance(state, dict):
            raise WebhookFieldError("state must be an object.")
        _optional_int(state, "state", 0, 255)
        _optional_int(state, "doorState", 0, 255)
        _optional_int(state, "batteryCharge", 0, 100)
        if state.get("batteryCritical") is not None and not isinstance(
            state["batteryCritical"], bool
        ):
            raise WebhookFieldError("batteryCritical must be true or false.")
    elif feature == "DEVICE_LOGS":
        name = "smartlockLog" if data.get("smartlockLog") else "log"
        entry = data.get(name) or {}
        if not isinstance(entry, dict):
            raise WebhookFieldError(f"{name} must be an object.")
        when = entry.get("date")
        if when:
            try:
                moment = dt.datetime.fromisoformat(when.replace("Z", "+00:00"))
                moment = moment.astimezone(dt.UTC) if moment.tzinfo else None
            except (AttributeError, ValueError, OverflowError):
                moment = None
            if moment is None or not 2000 <= moment.year < 2200:
                raise WebhookFieldError(f"{name}.date must be an ISO 8601 time with an offset.")
    elif feature == "DEVICE_AUTHS" and not isinstance(data.get("smartlockAuth") or {}, dict):
        raise WebhookFieldError("smartlockAuth must be an object.")
    return {**data, "smartlockId": raw_id}
