"""Step-up verification as an interface: before a sensitive action (a guest opening the door at
night) the portal asks a verifier to challenge the person and later to check their answer.

The built-in verifier emails a one-time code (bookings/verifiers.py). An external one
(biometric, SMS) implements the same two methods and registers itself; properties name the
verifier they want by its `name`. Nothing here imports a model: a challenge is whatever object
the caller passes (in practice bookings.models.StepUpChallenge), and a verifier may keep its own
state in `challenge.secret_hash` (never a secret in clear) and `challenge.data` (a JSON dict).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol


@dataclass(frozen=True)
class Prompt:
    """What the person is asked after `start`: where the answer was sent (masked) and, for
    verifiers that work on another page or device, a URL to open first."""

    sent_to: str = ""
    url: str = ""


class VerificationUnavailable(Exception):
    """The verifier cannot challenge this person now (no email address, provider down).
    `reason` is a key the caller turns into words in the person's language."""

    def __init__(self, reason: str, *, detail: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


class Verifier(Protocol):
    name: ClassVar[str]
    label: ClassVar[str]

    def start(self, challenge: Any) -> Prompt:
        """Send or set up the challenge; may store state on the challenge (the caller saves)."""

    def check(self, challenge: Any, answer: str) -> bool:
        """True when `answer` proves the challenge. Attempts and expiry are counted by the
        caller, so a verifier only compares."""


_VERIFIERS: dict[str, Verifier] = {}


def register(verifier: Verifier) -> Verifier:
    _VERIFIERS[verifier.name] = verifier
    return verifier


def get(name: str) -> Verifier:
    try:
        return _VERIFIERS[name]
    except KeyError:
        raise LookupError(f"No verifier named {name!r} is installed.") from None


def names() -> list[str]:
    return sorted(_VERIFIERS)
