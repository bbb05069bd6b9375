"""Writes for tenancy: organizations, members, API keys, alerts."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext

from portal.alertkinds import alert_text_english
from portal.models import (
    Alert,
    AlertSeverity,
    ApiKey,
    ApiKeyScope,
    Invitation,
    Membership,
    Organization,
    Role,
    hash_secret,
)
from portal.times import zone
from portal.validators import has_control_characters


class ServiceError(ValueError):
    """Bad input to a service, with the field it concerns."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


@transaction.atomic
def organization_create(
    *, name: str, owner_email: str, owner_password: str | None = None
) -> tuple[Organization, object, str | None]:
    """Create an organization and its owner. Returns (org, user, generated password or None).

    An existing user keeps their password; a new one gets a generated password that is returned
    once so the operator can hand it over.
    """
    slug = slugify(name)
    if not slug:
        raise ServiceError(gettext("The name must contain letters or digits."), field="name")
    if has_control_characters(name):  # invitation emails carry it in their subject
        raise ServiceError(gettext("Line breaks are not allowed in the name."), field="name")
    if Organization.objects.filter(slug=slug).exists():
        raise ServiceError(
            gettext("An organization with the slug %(slug)r exists already.") % {"slug": slug},
            field="name",
        )
    email = owner_email.strip().lower()
    user_model = get_user_model()
    user = user_model.objects.filter(username=email).first()
    password = None
    if user is None:
        password = owner_password or secrets.token_urlsafe(12)
        user = user_model.objects.create_user(username=email, email=email, password=password)
    org = Organization.objects.create(name=name, slug=slug)
    Membership.objects.create(organization=org, user=user, role=Role.OWNER)
    return org, user, password


def organization_settings_update(*, organization: Organization, **fields) -> Organization:
    """Change an organization's settings (preload horizon, foreign codes, backup lead, time
    zone)."""
    if "timezone" in fields:
        _check_zone(fields["timezone"])
    for name, value in fields.items():
        setattr(organization, name, value)
    organization.save(update_fields=list(fields) or None)
    return organization


def organization_retention_update(*, organization: Organization, **days: int) -> Organization:
    """Change how long the organization keeps raw deliveries, the locks' log and guests' data
    (any of Organization.RETENTION_FIELDS). Each is at least a day: nothing is kept forever,
    and nothing is deleted before it is seen. Refused as a whole when one is bad."""
    for name, value in days.items():
        if name not in Organization.RETENTION_FIELDS:
            raise ServiceError(gettext("Not a retention setting."), field=name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ServiceError(gettext("A whole number of days."), field=name)
        if not 1 <= value <= Organization.RETENTION_MAX_DAYS:
            raise ServiceError(
                gettext("Between 1 and %(n)d days.") % {"n": Organization.RETENTION_MAX_DAYS},
                field=name,
            )
    for name, value in days.items():
        setattr(organization, name, value)
    if days:
        organization.save(update_fields=list(days))
    return organization


def membership_add(*, organization: Organization, user, role: str) -> Membership:
    membership, _ = Membership.objects.update_or_create(
        organization=organization, user=user, defaults={"role": role}
    )
    return membership


def api_key_create(*, organization: Organization, scope: str, name: str = "") -> tuple[ApiKey, str]:
    """Create a key; the raw key is returned once and only its hash is stored."""
    if scope not in ApiKeyScope.values:
        raise ServiceError(gettext("Scope must be read or write."), field="scope")
    for _ in range(5):
        prefix, raw = ApiKey.generate()
        try:
            with transaction.atomic():
                key = ApiKey.objects.create(
                    organization=organization,
                    name=name,
                    prefix=prefix,
                    key_hash=hash_secret(raw),
                    scope=scope,
                )
            return key, raw
        except IntegrityError:  # prefix collision: draw again
            continue
    raise RuntimeError("Could not draw a unique API key prefix.")


def alert_raise(
    *,
    organization: Organization,
    kind: str,
    subject: str,
    message: str = "",
    fix: str = "",
    severity: str = AlertSeverity.WARNING,
    code: str = "",
    params: dict | None = None,
    covers: list[tuple[str, str]] | None = None,
) -> Alert:
    """Open an alert, or refresh the open one for the same kind and subject.

    Give `code` and `params` (see portal.alertkinds) so the alert is rendered in the reader's
    language; `message`/`fix` are then filled in English for the admin and exports. `covers`
    names the alerts ("kind", "subject") this one stands for, having the same cause: they are
    resolved, and not raised again while this one is open. An alert covered by an open one is
    not raised: the covering alert is returned instead."""
    params = params or {}
    if code:
        message, fix = alert_text_english(kind=kind, code=code, params=params)
    covered = [f"{k} {s}" for k, s in (covers or [])]
    # Looked up in Python, not with a JSON `contains` lookup: SQLite (`make run`) has none,
    # and an organization has few open alerts that cover others.
    me = f"{kind} {subject}"
    covering = next(
        (
            other
            for other in Alert.objects.filter(organization=organization, resolved_at__isnull=True)
            .exclude(covers=[])
            .exclude(kind=kind, subject=subject)
            .only("pk", "covers", "kind", "subject")
            if me in (other.covers or [])
        ),
        None,
    )
    if covering is not None:
        return covering
    for pair in covers or []:
        alert_resolve(organization=organization, kind=pair[0], subject=pair[1])
    alert = Alert.objects.filter(
        organization=organization, kind=kind, subject=subject, resolved_at__isnull=True
    ).first()
    fields = {
        "message": message,
        "fix": fix,
        "severity": severity,
        "code": code,
        "params": params,
        "covers": covered,
    }
    if alert is not None:
        changed = [name for name, value in fields.items() if getattr(alert, name) != value]
        if changed:
            for name in changed:
                setattr(alert, name, fields[name])
            alert.save(update_fields=changed)
        return alert
    try:
        with transaction.atomic():
            return Alert.objects.create(
                organization=organization, kind=kind, subject=subject, **fields
            )
    except IntegrityError:  # raised concurrently by another worker
        return Alert.objects.get(
            organization=organization, kind=kind, subject=subject, resolved_at__isnull=True
        )


def alert_resolve(*, organization: Organization | int, kind: str, subject: str) -> int:
    """Resolve open alerts on `subject`. `organization` may be an id: callers on hot paths
    (the worker recording a code) hold only the id and should not load the row for this."""
    return Alert.objects.filter(
        organization=organization, kind=kind, subject=subject, resolved_at__isnull=True
    ).update(resolved_at=timezone.now())


class LastOwner(ServiceError):
    """An organization must keep at least one owner."""


@transaction.atomic
def organization_update(
    *,
    organization: Organization,
    name: str,
    preload_hours: int,
    remove_foreign_codes: bool | None = None,
    backup_lead_minutes: int | None = None,
    timezone: str | None = None,
):
    """The settings form of the manager pages: name, preload horizon and, when given, the
    foreign-code, backup-lead and time zone settings (None leaves them as they are)."""
    if timezone is not None:
        _check_zone(timezone)
    if not 1 <= preload_hours <= 24 * 30:
        raise ServiceError(gettext("Between 1 hour and 30 days."), field="preload_hours")
    if backup_lead_minutes is not None and not 0 <= backup_lead_minutes <= 7 * 24 * 60:
        raise ServiceError(gettext("Between 0 minutes and 7 days."), field="backup_lead_minutes")
    if has_control_characters(name):  # invitation emails carry it in their subject
        raise ServiceError(gettext("Line breaks are not allowed in the name."), field="name")
    organization.name = name.strip() or organization.name
    organization.preload_hours = preload_hours
    fields = ["name", "preload_hours"]
    if remove_foreign_codes is not None:
        organization.remove_foreign_codes = remove_foreign_codes
        fields.append("remove_foreign_codes")
    if backup_lead_minutes is not None:
        organization.backup_lead_minutes = backup_lead_minutes
        fields.append("backup_lead_minutes")
    if timezone is not None:
        organization.timezone = timezone
        fields.append("timezone")
    organization.save(update_fields=fields)
    return organization


def _check_zone(name: object) -> None:
    try:
        zone(str(name))
    except ValueError as exc:
        raise ServiceError(str(exc), field="timezone") from None


def _other_owners(membership: Membership) -> bool:
    return (
        Membership.objects.select_for_update()
        .filter(organization_id=membership.organization_id, role=Role.OWNER)
        .exclude(pk=membership.pk)
        .exists()
    )


@transaction.atomic
def membership_set_role(*, membership: Membership, role: str) -> Membership:
    if role not in Role.values:
        raise ServiceError(gettext("Choose owner, manager or viewer."), field="role")
    if membership.role == Role.OWNER and role != Role.OWNER and not _other_owners(membership):
        raise LastOwner(gettext("The organization needs at least one owner."), field="role")
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership) -> None:
    """Remove a member. Invitations die with them: any still pending for their address (a
    link they kept cannot bring them back) and any they sent (a removed owner's invitee
    does not join on their word)."""
    if membership.role == Role.OWNER and not _other_owners(membership):
        raise LastOwner(gettext("The organization needs at least one owner."))
    user = membership.user
    Invitation.objects.filter(
        models.Q(email__iexact=user.get_username()) | models.Q(invited_by=user),
        organization_id=membership.organization_id,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
    ).update(revoked_at=timezone.now())
    membership.delete()


def api_key_revoke(*, key: ApiKey) -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    return key
