"""Opening the door from the guest's stay page: only during the stay, only doors that can be
operated remotely, with the property's step-up verification when its policy asks for one,
and every attempt recorded in the lock's activity log.

Refusals carry a key (`reason`) that the page turns into plain words in the guest's language;
nothing here talks to a lock directly: an accepted opening is a LockCommand in the outbox, run
by a worker through the lock's driver, like every other remote action.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.core import signing
from django.db import transaction
from django.utils import timezone

from bookings.models import AccessGrant, StayLink, StepUpChallenge
from locks.actions import lock_action_request
from locks.integrations.base import Capability
from locks.models import CommandStatus, Lock, LockCommand, LockEvent
from portal import verifiers
from portal.crypto import Key, keyed_digest, keyring
from portal.verifiers import Prompt, VerificationUnavailable

OPEN_ACTION = "unlatch"  # Nuki's "open": unlocks and pulls the latch
CHALLENGE_TTL = dt.timedelta(minutes=10)
CHALLENGE_ATTEMPTS = 5
# An opening still pending this long after it expired will never run (the runner cancels late
# actions): the page says it failed instead of waiting for ever (e.g. no worker is running).
STALE_AFTER = dt.timedelta(seconds=15)


class OpenRefused(Exception):
    """The door is not opened. `status` is the HTTP status the page answers with."""

    def __init__(self, reason: str, *, status: int = 403, **params):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.params = params


@dataclass(frozen=True)
class Door:
    """A door as the guest sees it: a name and an opaque reference (never the lock's id)."""

    ref: str
    name: str
    lock: Lock = field(repr=False, compare=False)


@dataclass(frozen=True)
class StepUpStarted:
    verifier: str
    prompt: Prompt


def stay_doors(*, link: StayLink) -> list[Door]:
    """The stay's doors that can be opened remotely (the driver says so, not its kind)."""
    locks = Lock.objects.filter(property_id=link.grant.booking.property_id).order_by("name", "pk")
    return [
        Door(ref=_door_ref(link, lock), name=lock.name, lock=lock)
        for lock in locks
        if Capability.ACTIONS in lock.capabilities
    ]


def _door_ref(link: StayLink, lock: Lock, key: Key | None = None) -> str:
    return keyed_digest("stay-door", f"{link.nonce}:{lock.pk}".encode(), key=key).hex()[:16]


def _door_matches(link: StayLink, door: Door, ref: str) -> bool:
    """A page rendered before a key rotation still opens its doors: every ring key is tried."""
    return door.ref == ref or any(_door_ref(link, door.lock, key) == ref for key in keyring()[1:])


def window_state(*, grant: AccessGrant, now: dt.datetime) -> str:
    """'before', 'during' or 'after' the stay's window (the code's validity, in UTC)."""
    if now < grant.valid_from:
        return "before"
    if now >= grant.valid_until:
        return "after"
    return "during"


def stay_open(
    *, link: StayLink, door_ref: str, answer: str | None, ip: str, now: dt.datetime | None = None
) -> LockCommand | StepUpStarted:
    """Ask the door to open, or start the step-up verification first.

    Returns the queued command, or StepUpStarted when the guest must answer a challenge
    (then call again with the answer). Raises OpenRefused otherwise; nothing reaches the lock.
    """
    now = now or timezone.now()
    grant = link.grant
    prop = grant.booking.property
    door = next((d for d in stay_doors(link=link) if _door_matches(link, d, door_ref)), None)
    if door is None:
        raise OpenRefused("unknown_door", status=404)
    state = window_state(grant=grant, now=now)
    if state != "during":
        _refused(link, door, "too_early" if state == "before" else "too_late", ip)
        raise OpenRefused("too_early" if state == "before" else "too_late")
    verified_by = ""
    challenge = None
    if prop.step_up_required(now):
        if not answer:
            return step_up_start(link=link, now=now)
        challenge = _step_up_check(link=link, answer=answer, now=now)
        if isinstance(challenge, OpenRefused):
            _refused(link, door, challenge.reason, ip)
            raise challenge
        verified_by = challenge.verifier
    with transaction.atomic():
        if challenge is not None:
            used = StepUpChallenge.objects.filter(
                pk=challenge.pk, status=StepUpChallenge.Status.PENDING
            ).update(status=StepUpChallenge.Status.PASSED, passed_at=now)
            if not used:  # the same answer sent twice at once: one opening only
                raise OpenRefused("no_challenge")
        command = lock_action_request(lock=door.lock, action=OPEN_ACTION)
        booking = grant.booking
        LockEvent.objects.create(
            organization_id=grant.organization_id,
            lock=door.lock,
            kind="guest_open",
            source="stay_page",
            message=f"Opened from the stay page by {booking.guest_name or 'the guest'}"[:200],
            detail={
                "action": OPEN_ACTION,
                "holder": grant.holder,
                "booking": booking.pk,
                "command": command.pk,
                "step_up": verified_by,
                "ip": ip,
            },
        )
    return command


def step_up_start(*, link: StayLink, now: dt.datetime | None = None) -> StepUpStarted:
    """Start a fresh challenge with the property's verifier; earlier pending ones die."""
    now = now or timezone.now()
    grant = link.grant
    name = grant.booking.property.step_up_verifier
    try:
        verifier = verifiers.get(name)
    except LookupError:
        raise OpenRefused("step_up_unavailable", status=503) from None
    with transaction.atomic():
        StepUpChallenge.objects.filter(grant=grant, status=StepUpChallenge.Status.PENDING).update(
            status=StepUpChallenge.Status.SUPERSEDED
        )
        challenge = StepUpChallenge.objects.create(
            organization_id=grant.organization_id,
            grant=grant,
            verifier=name,
            created_at=now,
            expires_at=now + CHALLENGE_TTL,
        )
    try:
        prompt = verifier.start(challenge)
    except VerificationUnavailable as exc:
        StepUpChallenge.objects.filter(pk=challenge.pk).update(status=StepUpChallenge.Status.FAILED)
        raise OpenRefused(f"step_up_{exc.reason}", status=503) from None
    challenge.save(update_fields=["secret_hash", "data"])
    return StepUpStarted(verifier=name, prompt=prompt)


def _step_up_check(
    *, link: StayLink, answer: str, now: dt.datetime
) -> StepUpChallenge | OpenRefused:
    """Check the answer against the newest pending challenge; count a wrong one (committed
    even though the opening is refused) and end the challenge after too many."""
    with transaction.atomic():
        challenge = (
            StepUpChallenge.objects.select_for_update()
            .filter(grant=link.grant, status=StepUpChallenge.Status.PENDING)
            .order_by("-created_at", "-pk")
            .first()
        )
        if challenge is None:
            return OpenRefused("no_challenge")
        if now >= challenge.expires_at:
            challenge.status = StepUpChallenge.Status.FAILED
            challenge.save(update_fields=["status"])
            return OpenRefused("challenge_expired")
        try:
            verifier = verifiers.get(challenge.verifier)
        except LookupError:
            return OpenRefused("step_up_unavailable", status=503)
        if verifier.check(challenge, answer):
            return challenge
        challenge.attempts += 1
        left = CHALLENGE_ATTEMPTS - challenge.attempts
        if left <= 0:
            challenge.status = StepUpChallenge.Status.FAILED
        challenge.save(update_fields=["attempts", "status"])
    if left <= 0:
        return OpenRefused("too_many_answers")
    return OpenRefused("wrong_answer", left=left)


def _refused(link: StayLink, door: Door, reason: str, ip: str) -> None:
    """Keep refused attempts in the lock's log: a run of wrong codes at night is worth a look."""
    grant = link.grant
    LockEvent.objects.create(
        organization_id=grant.organization_id,
        lock=door.lock,
        kind="guest_open_refused",
        source="stay_page",
        message=f"Stay page: opening refused ({reason.replace('_', ' ')})",
        detail={"holder": grant.holder, "booking": grant.booking_id, "reason": reason, "ip": ip},
    )


# The guest follows an opening on the page by a signed reference to its command; the link's
# nonce is in the salt, so a reference dies with the link and cannot be used on another stay.
def opening_ref(*, link: StayLink, command: LockCommand) -> str:
    return signing.Signer(salt=f"stay-opening:{link.nonce}").sign(str(command.pk))


def opening_status(*, link: StayLink, ref: str) -> tuple[str, str] | None:
    """('pending' | 'opened' | 'failed', door name) for a reference made by `opening_ref`."""
    try:
        pk = int(signing.Signer(salt=f"stay-opening:{link.nonce}").unsign(ref))
    except (signing.BadSignature, ValueError):
        return None
    command = (
        LockCommand.objects.select_related("lock")
        .filter(pk=pk, lock__property_id=link.grant.booking.property_id)
        .first()
    )
    if command is None:
        return None
    if command.status == CommandStatus.SUCCEEDED:
        return "opened", command.lock.name
    if command.status == CommandStatus.FAILED:
        return "failed", command.lock.name
    if command.expires_at and timezone.now() > command.expires_at + STALE_AFTER:
        return "failed", command.lock.name
    return "pending", command.lock.name
