"""Writes for PMS connections: create them, receive deliveries (verify, store raw, queue),
and apply each stored event to its booking, idempotently and in the PMS's own order."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext

from bookings import dispatch
from bookings.codes import NoCodeAvailable
from bookings.models import BookingStatus
from bookings.pms.adapters import ADAPTERS, Rejected, Reservation
from bookings.pms.models import (
    PmsConnection,
    PmsEvent,
    PmsEventOutcome,
    PmsKind,
    PmsListingMapping,
    PmsReservation,
    new_secret,
)
from bookings.services import BookingData, booking_upsert, stay_dates_check
from portal.jsonparse import JSONError, loads
from portal.models import Alert, Organization
from portal.services import ServiceError, alert_raise, alert_resolve
from properties.models import Property

UNMAPPED_ALERT = "pms_unmapped"
PENDING_GRACE = dt.timedelta(minutes=2)  # a pending event older than this lost its message
MIN_SECRET_LEN = 16


# ---------------------------------------------------------------- connections


def connection_create(
    *, organization: Organization, kind: str, name: str, secret: str | None = None
) -> PmsConnection:
    """One connection per organization and PMS kind. The secret is ours unless the PMS issues
    its own signing secret (Lodgify, Hospitable, Guesty), which the manager pastes in."""
    if kind not in PmsKind.values:
        raise ServiceError(
            gettext("Unknown PMS; choose one of %(kinds)s.") % {"kinds": ", ".join(PmsKind.values)},
            field="kind",
        )
    name = (name or "").strip() or PmsKind(kind).label
    if secret is not None:
        _check_secret(secret)
    try:
        with transaction.atomic():
            return PmsConnection.objects.create(
                organization=organization, kind=kind, name=name[:80], secret=secret or new_secret()
            )
    except IntegrityError:
        raise ServiceError(
            gettext("This organization already has a %(kind)s connection.")
            % {"kind": PmsKind(kind).label},
            field="kind",
        ) from None


def _check_secret(secret: str) -> None:
    if len(secret.strip()) < MIN_SECRET_LEN or secret != secret.strip():
        raise ServiceError(
            gettext("A secret needs at least %(n)d characters and no surrounding spaces.")
            % {"n": MIN_SECRET_LEN},
            field="secret",
        )


def connection_secret_set(*, connection: PmsConnection, secret: str | None = None) -> str:
    """Replace the secret: with the one the PMS issued, or a fresh random one (rotation)."""
    if secret is not None:
        _check_secret(secret)
    connection.secret = secret or new_secret()
    connection.save(update_fields=["secret"])
    return connection.secret


@transaction.atomic
def connection_delete(*, connection: PmsConnection) -> None:
    """Remove the connection with its events and mappings; its bookings stay (they are the
    organization's stays), and its open "map this listing" alerts are closed."""
    Alert.objects.filter(
        organization_id=connection.organization_id,
        kind=UNMAPPED_ALERT,
        subject__startswith=f"pms:{connection.pk}:",
        resolved_at__isnull=True,
    ).update(resolved_at=timezone.now())
    connection.delete()


# ---------------------------------------------------------------- mappings


def resolve_property(*, connection: PmsConnection, listing_id: str) -> Property | None:
    """Explicit mapping first; else the property whose external_ref is the listing id.
    One query: this runs for every event."""
    if not listing_id:
        return None
    mapped = PmsListingMapping.objects.filter(
        connection=connection, listing_id=listing_id, property=OuterRef("pk")
    )
    found = (
        Property.objects.filter(organization_id=connection.organization_id)
        .filter(Q(external_ref=listing_id) | Exists(mapped))
        .annotate(mapped=Exists(mapped))
        .order_by("-mapped", "pk")
        .first()
    )
    if found is None and connection.kind == PmsKind.GENERIC and listing_id.isdigit():
        # Our own JSON names the property as POST /api/v1/bookings/ does: external_ref or id.
        found = Property.objects.filter(
            organization_id=connection.organization_id, pk=int(listing_id)
        ).first()
    return found


@transaction.atomic
def mapping_set(
    *, connection: PmsConnection, listing_id: str, property: Property | None
) -> PmsListingMapping | None:
    """Link a listing to a property (None removes the link), then apply the events that were
    waiting for it."""
    listing_id = (listing_id or "").strip()
    if not listing_id:
        raise ServiceError(gettext("Give the PMS listing id."), field="listing_id")
    if property is not None and property.organization_id != connection.organization_id:
        raise ServiceError(gettext("No such property."), field="property")
    if property is None:
        PmsListingMapping.objects.filter(connection=connection, listing_id=listing_id).delete()
        return None
    mapping, _ = PmsListingMapping.objects.update_or_create(
        connection=connection,
        listing_id=listing_id,
        defaults={"property": property, "organization_id": connection.organization_id},
    )
    requeue_unmapped(connection=connection, listing_id=listing_id)
    alert_resolve(
        organization=connection.organization,
        kind=UNMAPPED_ALERT,
        subject=_unmapped_subject(connection, listing_id),
    )
    return mapping


def requeue_unmapped(*, connection: PmsConnection, listing_id: str) -> int:
    ids = list(
        PmsEvent.objects.filter(
            connection=connection, outcome=PmsEventOutcome.UNMAPPED, listing_id=listing_id
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for pk in ids:
        dispatch.send_on_commit(dispatch.PROCESS_PMS_EVENT, pk)
    return len(ids)


def _unmapped_subject(connection: PmsConnection, listing_id: str) -> str:
    return f"pms:{connection.pk}:{listing_id}"[:80]


# ---------------------------------------------------------------- receiving


def delivery_throttled(*, key: str, rate: str, window_seconds: float) -> None:
    """A delivery refused for going over the connection's rate (LATCHKEY_PMS_HOOK_RATE): count
    it on the connection, and tell the manager, once per window, not once per refused request,
    that deliveries are being refused (so nothing is dropped without anyone knowing)."""
    connection = (
        PmsConnection.objects.select_related("organization").filter(webhook_key=key).first()
        if key
        else None
    )
    if connection is None:
        return  # an unknown URL: nothing to count it on
    PmsConnection.objects.filter(pk=connection.pk).update(throttled_count=F("throttled_count") + 1)
    if not cache.add(f"latchkey:pms-throttled:{connection.pk}", 1, int(window_seconds) + 1):
        return
    cache.set(f"latchkey:pms-throttled-open:{connection.pk}", 1, None)  # see throttling_over
    alert_raise(
        organization=connection.organization,
        kind="pms_throttled",
        subject=f"pms:{connection.pk}",
        code="pms_throttled",
        params={
            "system": str(connection.get_kind_display()),
            "name": connection.name,
            "rate": rate,
        },
    )


def throttling_over(*, connection: PmsConnection) -> None:
    """A delivery was let through: once a whole window passed without a refusal, the
    "deliveries refused" alert is over. Two cache reads per delivery, no query."""
    open_key = f"latchkey:pms-throttled-open:{connection.pk}"
    if not cache.get(open_key) or cache.get(f"latchkey:pms-throttled:{connection.pk}"):
        return
    alert_resolve(
        organization=connection.organization, kind="pms_throttled", subject=f"pms:{connection.pk}"
    )
    cache.delete(open_key)


def event_receive(*, key: str, body: bytes, headers: Mapping[str, str]) -> tuple[PmsEvent, bool]:
    """Verify a delivery and store it raw; its processing is queued after commit.

    Returns (event, created): a byte-identical repeat (PMS retry) is not stored again.
    Raises Rejected: 404 unknown URL, 401 bad credentials (nothing stored, a counter bumped),
    400 unreadable body (kept as an `invalid` event so the manager can see what came).
    """
    connection = (
        PmsConnection.objects.select_related("organization").filter(webhook_key=key).first()
        if key
        else None
    )
    if connection is None:
        raise Rejected("Unknown webhook.", 404)
    adapter = ADAPTERS[connection.kind]
    try:
        adapter.verify(secret=connection.secret, body=body, headers=headers)
    except Rejected:
        PmsConnection.objects.filter(pk=connection.pk).update(
            rejected_count=F("rejected_count") + 1
        )
        raise
    throttling_over(connection=connection)
    try:
        text = body.decode("utf-8")
        if "\x00" in text:
            raise Rejected("Body contains NUL bytes.", 400)
        first = _parse(connection, text)
        problem = ""
    except UnicodeDecodeError:
        text, first, problem = body.decode("utf-8", "replace"), None, "Body is not UTF-8."
    except Rejected as exc:
        text, first, problem = body.decode("utf-8", "replace"), None, str(exc)
    text = text.replace("\x00", "\ufffd")  # PostgreSQL text cannot hold NUL
    kept = {name: headers[name] for name in adapter.kept_headers if headers.get(name)}
    digest = hashlib.sha256(body).hexdigest()
    try:
        with transaction.atomic():
            event = PmsEvent.objects.create(
                organization_id=connection.organization_id,
                connection=connection,
                digest=digest,
                body=text,
                headers=kept,
                outcome=PmsEventOutcome.INVALID if problem else PmsEventOutcome.PENDING,
                error=problem,
                processed_at=timezone.now() if problem else None,
                external_id=first.external_id[:120] if first else "",
                listing_id=first.listing_id[:120] if first else "",
                version=first.version[:80] if first else "",
            )
            PmsConnection.objects.filter(pk=connection.pk).update(last_event_at=timezone.now())
            if not problem:
                dispatch.send_on_commit(dispatch.PROCESS_PMS_EVENT, event.pk)
    except IntegrityError:
        PmsConnection.objects.filter(pk=connection.pk).update(
            duplicate_count=F("duplicate_count") + 1
        )
        original = PmsEvent.objects.get(connection=connection, digest=digest)
        if original.outcome == PmsEventOutcome.INVALID:  # the same unreadable body again
            raise Rejected(original.error, 400) from None
        return original, False
    if problem:
        raise Rejected(problem, 400)
    return event, True


def _parse(connection: PmsConnection, text: str) -> Reservation | None:
    """Read a body with its adapter; Rejected(400) naming what is wrong."""
    try:
        reservations = ADAPTERS[connection.kind].parse(loads(text))
    except JSONError as exc:  # malformed, nested too deep, numbers too long
        raise Rejected(f"Body is not JSON: {exc}", 400) from None
    except KeyError as exc:
        raise Rejected(f"Missing field {exc.args[0]!r}.", 400) from None
    except (ValueError, TypeError, AttributeError) as exc:
        raise Rejected(f"Unreadable payload: {exc}", 400) from None
    return reservations[0] if reservations else None


# ---------------------------------------------------------------- processing


def event_process(*, event_id: int) -> str:
    """Apply one stored event. Safe to run twice and in any order relative to other events:
    each reservation remembers the (version, event id) it last applied, and an event that is
    not newer changes nothing (outcome `stale`)."""
    with transaction.atomic():
        # The event row is locked: two deliveries of its task (a re-queue racing the first)
        # run one after the other, and the second sees the first's outcome.
        event = (
            PmsEvent.objects.select_for_update(of=("self",))
            .select_related("connection", "organization")
            .filter(pk=event_id)
            .first()
        )
        if event is None:
            return "missing"
        if event.outcome not in (PmsEventOutcome.PENDING, PmsEventOutcome.UNMAPPED):
            return event.outcome
        return _process(event)


def _process(event: PmsEvent) -> str:
    try:
        reservations = ADAPTERS[event.connection.kind].parse(loads(event.body))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return _finish(event, PmsEventOutcome.INVALID, f"Unreadable payload: {exc!r}")
    if not reservations:
        return _finish(event, PmsEventOutcome.IGNORED)
    outcomes, errors = [], []
    for reservation in reservations:
        try:
            outcomes.append(_apply(event, reservation))
        except ServiceError as exc:
            outcomes.append(PmsEventOutcome.INVALID)
            errors.append(str(exc))
        except NoCodeAvailable as exc:  # permanent until the manager frees codes: no retry
            outcomes.append(PmsEventOutcome.FAILED)
            errors.append(str(exc))
        # Anything else (database gone, deadlock) propagates: the event stays pending and
        # the sweep re-queues it.
    for outcome in (
        PmsEventOutcome.UNMAPPED,
        PmsEventOutcome.FAILED,
        PmsEventOutcome.INVALID,
        PmsEventOutcome.APPLIED,
        PmsEventOutcome.UNCHANGED,
    ):
        if outcome in outcomes:
            return _finish(event, outcome, "; ".join(errors))
    return _finish(event, PmsEventOutcome.STALE)


def _finish(event: PmsEvent, outcome: str, error: str = "") -> str:
    """One UPDATE with everything learnt: outcome, error, listing and booking."""
    PmsEvent.objects.filter(pk=event.pk).update(
        outcome=outcome,
        error=error[:2000],
        processed_at=timezone.now(),
        listing_id=event.listing_id,
        booking_id=event.booking_id,
    )
    return outcome


def _effective_status(reservation: Reservation, organization: Organization) -> str:
    """A confirmed stay the PMS reports as unpaid waits (tentative: no code) unless the
    organization gives codes before payment. A PMS that says nothing about payment counts as
    paid: the PMS's own confirmation is then all we know."""
    if (
        reservation.status == BookingStatus.CONFIRMED
        and reservation.paid is False
        and not organization.codes_before_payment
    ):
        return BookingStatus.TENTATIVE
    return reservation.status


def _booking_data(reservation: Reservation, prop: Property, status: str) -> BookingData:
    stay_dates_check(check_in=reservation.check_in, check_out=reservation.check_out)
    if reservation.check_in_at and reservation.check_out_at:
        ok = reservation.check_out_at > reservation.check_in_at
    else:
        ok = reservation.check_out > reservation.check_in
    if not ok:
        raise ServiceError(gettext("check_out must be after check_in."), field="check_out")
    email = reservation.guest_email
    try:
        validate_email(email) if email else None
    except ValidationError:
        email = ""  # a channel's masked or broken address: keep the stay, drop the email
    return BookingData(
        external_id=reservation.external_id,
        property=prop,
        status=status,
        check_in=reservation.check_in,
        check_out=reservation.check_out,
        check_in_time=reservation.check_in_time,
        check_out_time=reservation.check_out_time,
        check_in_at=reservation.check_in_at,
        check_out_at=reservation.check_out_at,
        guest_name=reservation.guest_name[:120],
        guest_email=email,
        guest_phone=reservation.guest_phone[:40],
        guest_language=reservation.guest_language,
    )


def _apply(event: PmsEvent, reservation: Reservation) -> str:
    connection, organization = event.connection, event.organization
    if not reservation.external_id or len(reservation.external_id) > 120:
        raise ServiceError(
            gettext("The reservation id is missing or too long."), field="external_id"
        )
    if len(reservation.listing_id) > 120 or len(reservation.version) > 80:
        raise ServiceError(
            gettext("The listing id or the version is too long."), field="listing_id"
        )
    prop = resolve_property(connection=connection, listing_id=reservation.listing_id)
    event.listing_id = reservation.listing_id[:120]
    if prop is None:
        alert_raise(
            organization=organization,
            kind=UNMAPPED_ALERT,
            subject=_unmapped_subject(connection, reservation.listing_id),
            code="pms_unmapped",
            params={
                "system": str(connection.get_kind_display()),
                "listing": reservation.listing_id,
            },
        )
        return PmsEventOutcome.UNMAPPED
    if event.outcome == PmsEventOutcome.UNMAPPED:  # it waited: the alert asking to map can go
        alert_resolve(
            organization=organization,
            kind=UNMAPPED_ALERT,
            subject=_unmapped_subject(connection, reservation.listing_id),
        )
    data = _booking_data(reservation, prop, _effective_status(reservation, organization))
    with transaction.atomic():
        state = _reservation_state(connection, reservation.external_id)
        if (reservation.version, event.pk) <= (state.version, state.event_pk):
            return (
                PmsEventOutcome.UNCHANGED if state.event_pk == event.pk else PmsEventOutcome.STALE
            )
        booking, _created, changed = booking_upsert(
            organization=organization, source=connection.source, data=data
        )
        state.version, state.event_pk, state.booking = reservation.version, event.pk, booking
        state.updated_at = timezone.now()
        state.save(update_fields=["version", "event_pk", "booking", "updated_at"])
        event.booking_id = booking.pk
    return PmsEventOutcome.APPLIED if changed else PmsEventOutcome.UNCHANGED


def _reservation_state(connection: PmsConnection, external_id: str) -> PmsReservation:
    """The reservation's ordering row, locked for this transaction (created on first sight;
    ON CONFLICT DO NOTHING, so two workers meeting a new reservation do not collide)."""
    PmsReservation.objects.bulk_create(
        [PmsReservation(connection=connection, external_id=external_id)], ignore_conflicts=True
    )
    return PmsReservation.objects.select_for_update().get(
        connection=connection, external_id=external_id
    )


MAX_ATTEMPTS = 5


def events_sweep(*, now: dt.datetime | None = None) -> int:
    """Re-queue what would otherwise wait forever: pending events whose message was lost or
    whose processing crashed (given up after MAX_ATTEMPTS sweeps, outcome `failed`), and
    unmapped events whose listing now matches a property's external_ref."""
    now = now or timezone.now()
    stuck = PmsEvent.objects.filter(
        outcome=PmsEventOutcome.PENDING, received_at__lt=now - PENDING_GRACE
    )
    stuck.filter(sweeps__gte=MAX_ATTEMPTS).update(
        outcome=PmsEventOutcome.FAILED,
        processed_at=now,
        error="Processing kept failing; see the worker log.",
    )
    ids = list(stuck.values_list("pk", flat=True)[:1000])
    PmsEvent.objects.filter(pk__in=ids).update(sweeps=F("sweeps") + 1)
    waiting = (
        PmsEvent.objects.filter(outcome=PmsEventOutcome.UNMAPPED)
        .values_list("connection_id", "listing_id")
        .distinct()
    )
    for connection_id, listing_id in waiting:
        connection = PmsConnection.objects.get(pk=connection_id)
        if resolve_property(connection=connection, listing_id=listing_id) is not None:
            ids += list(
                PmsEvent.objects.filter(
                    connection_id=connection_id,
                    outcome=PmsEventOutcome.UNMAPPED,
                    listing_id=listing_id,
                ).values_list("pk", flat=True)
            )
    for pk in sorted(ids):
        dispatch.send_now(dispatch.PROCESS_PMS_EVENT, pk)
    return len(ids)
