"""Nuki Web connections: OAuth2 (Authlib) or a pasted API token, token refresh with rotation,
importing smartlocks, the decentral webhook and what its events change.

Integrator rules kept here: the code is exchanged on the server; the newest refresh token is
kept and the old one discarded at every refresh; a request failing on an expired token is
refreshed and retried once (NukiWebClient); a failed refresh marks the connection "needs
reconnecting" and tells the manager what to do.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import json
import secrets

from authlib.integrations.httpx_client import OAuth2Client
from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from locks.models import CommandKind, Lock, NukiWebConnection, WebhookDelivery
from locks.nuki.web import NukiWebClient, NukiWebError
from locks.nuki.web.client import TokenRejected
from locks.nukiweb_payload import webhook_fields
from locks.sync.outbox import command_enqueue
from portal.aftercommit import after_commit
from portal.jsonparse import loads
from portal.models import Organization
from portal.services import alert_raise, alert_resolve

WEBHOOK_FEATURES = ["DEVICE_STATUS", "DEVICE_LOGS", "DEVICE_AUTHS", "DEVICE_CONFIG"]


def oauth_client(**kwargs) -> OAuth2Client:
    return OAuth2Client(
        client_id=settings.NUKI_WEB_CLIENT_ID,
        client_secret=settings.NUKI_WEB_CLIENT_SECRET,
        scope=settings.NUKI_WEB_SCOPES,
        code_challenge_method="S256",
        trust_env=False,
        **kwargs,
    )


def callback_url() -> str:
    return settings.SITE_URL.rstrip("/") + reverse("nuki-web-callback")


class NotConfigured(ValueError):
    """Connect Nuki Web cannot start: the reason is shown to the manager as written."""


def redirect_uri_problem(uri: str) -> str:
    """Nuki's rule: the redirect URI is pre-registered and uses HTTPS. Plain http is allowed
    only on loopback (development, the stand-in)."""
    from urllib.parse import urlsplit

    parts = urlsplit(uri)
    if parts.scheme == "https":
        return ""
    if parts.scheme == "http" and parts.hostname in ("localhost", "127.0.0.1", "::1"):
        return ""
    return (
        f"The sign-in return address {uri} must use HTTPS (Nuki accepts no other): set "
        "LATCHKEY_SITE_URL to the portal's https:// address and register its "
        "/integrations/nuki-web/callback/ with Nuki."
    )


def authorization_start() -> tuple[str, str, str]:
    """(authorize URL, state, PKCE code verifier); state and verifier go in the session."""
    if not settings.NUKI_WEB_CLIENT_ID:
        raise NotConfigured(
            "Connect Nuki Web is not set up on this portal (NUKI_WEB_CLIENT_ID is empty); "
            "paste a Nuki Web API token instead, or ask the operator to configure it."
        )
    problem = redirect_uri_problem(callback_url())
    if problem:
        raise NotConfigured(problem)
    verifier = secrets.token_urlsafe(48)
    client = oauth_client(redirect_uri=callback_url())
    url, state = client.create_authorization_url(
        settings.NUKI_WEB_OAUTH_URL.rstrip("/") + "/authorize", code_verifier=verifier
    )
    return url, state, verifier


def _store_token(conn: NukiWebConnection, token: dict) -> None:
    conn.access_token = token["access_token"]
    if token.get("refresh_token"):
        conn.refresh_token = token["refresh_token"]  # rotation: the old one is discarded
    expires_in = int(token.get("expires_in") or 3600)
    conn.expires_at = timezone.now() + dt.timedelta(seconds=expires_in)
    conn.status = NukiWebConnection.Status.OK
    conn.last_error = ""


@transaction.atomic
def connection_from_code(*, organization: Organization, code: str, verifier: str):
    client = oauth_client(redirect_uri=callback_url())
    token = client.fetch_token(
        settings.NUKI_WEB_OAUTH_URL.rstrip("/") + "/token",
        grant_type="authorization_code",
        code=code,
        code_verifier=verifier,
    )
    return _connection_save(organization=organization, kind="oauth", token=token)


@transaction.atomic
def connection_from_api_token(*, organization: Organization, api_token: str, api_url: str = ""):
    """`api_url` is for the portal's own use (the demo's stand-in), never a tenant's input."""
    token = {"access_token": api_token, "expires_in": 10 * 365 * 86400}
    return _connection_save(
        organization=organization, kind="api_token", token=token, api_url=api_url
    )


def _connection_save(
    *, organization: Organization, kind: str, token: dict, api_url: str = ""
) -> NukiWebConnection:
    from locks.tasks import nuki_web_setup

    conn = NukiWebConnection.objects.filter(organization=organization).first()
    if conn is None:
        conn = NukiWebConnection(organization=organization, webhook_key=secrets.token_urlsafe(24))
    conn.kind = kind
    conn.api_url = api_url
    if kind == "api_token":
        conn.refresh_token = ""
    _store_token(conn, token)
    conn.save()
    alert_resolve(organization=organization, kind="nuki_web_reconnect", subject="nuki_web")
    after_commit(lambda: nuki_web_setup.delay(conn.pk), what=f"nuki_web_setup({conn.pk})")
    _retry_failed(organization)
    return conn


def _retry_failed(organization: Organization) -> None:
    """Changes that failed while the connection was broken get a fresh start."""
    from locks.models import CommandStatus, LockCommand
    from locks.sync.runner import command_retry

    failed = LockCommand.objects.filter(
        organization=organization,
        lock__driver="nuki_web",
        status=CommandStatus.FAILED,
        kind=CommandKind.SYNC_CODE,
        access_code__wanted__isnull=False,
    )
    for command in failed.select_related("lock"):
        command_retry(command=command)


def _needs_reconnect(conn: NukiWebConnection, why: str) -> None:
    NukiWebConnection.objects.filter(pk=conn.pk).update(
        status=NukiWebConnection.Status.NEEDS_RECONNECT, last_error=why
    )
    alert_raise(
        organization=conn.organization,
        kind="nuki_web_reconnect",
        subject="nuki_web",
        severity="critical",
        code="nuki_web_reconnect",
        params={"why": why},
    )


def token_provider(connection_id: int):
    """A callable for NukiWebClient: the current access token, refreshed when asked (after a
    401) or when it is about to expire. The row lock makes workers refresh one at a time, so a
    rotated refresh token is never used twice."""
    used: dict[str, str] = {}

    def provide(refresh: bool) -> str:
        failure = None
        with transaction.atomic():
            conn = (
                NukiWebConnection.objects.select_for_update()
                .select_related("organization")
                .get(pk=connection_id)
            )
            if conn.status == NukiWebConnection.Status.NEEDS_RECONNECT:
                raise TokenRejected(
                    "Nuki Web needs reconnecting.",
                    fix="Reconnect Nuki Web in the portal's integrations.",
                    permanent=True,
                )
            soon = timezone.now() + dt.timedelta(seconds=60)
            stale = conn.expires_at is None or conn.expires_at <= soon
            someone_else_refreshed = refresh and used.get("token") != conn.access_token
            if (refresh or stale) and not someone_else_refreshed:
                if conn.kind != NukiWebConnection.Kind.OAUTH or not conn.refresh_token:
                    if refresh:
                        failure = "the API token was refused."
                else:
                    try:
                        token = oauth_client().refresh_token(
                            settings.NUKI_WEB_OAUTH_URL.rstrip("/") + "/token",
                            refresh_token=conn.refresh_token,
                        )
                    except Exception as exc:  # OAuthError, HTTP errors: either way, reconnect
                        failure = f"refreshing the login failed ({exc})."
                    else:
                        _store_token(conn, token)
                        conn.save()
            used["token"] = conn.access_token
        if failure is not None:  # recorded outside the transaction, so it sticks
            _needs_reconnect(conn, failure)
            raise TokenRejected(
                "Nuki Web refused the login.",
                fix="Reconnect Nuki Web in the portal's integrations.",
                permanent=True,
            )
        return used["token"]

    return provide


def client_for(organization_id: int) -> NukiWebClient:
    conn = NukiWebConnection.objects.filter(organization_id=organization_id).first()
    if conn is None:
        raise TokenRejected(
            "This organization is not connected to Nuki Web.",
            fix="Connect Nuki Web in the portal's integrations.",
            permanent=True,
        )
    return NukiWebClient(conn.api_url or settings.NUKI_WEB_API_URL, token_provider(conn.pk))


def webhook_url(conn: NukiWebConnection) -> str:
    return settings.SITE_URL.rstrip("/") + reverse(
        "nuki-web-webhook", kwargs={"key": conn.webhook_key}
    )


def nuki_web_setup(*, connection: NukiWebConnection) -> list[Lock]:
    """Register the decentral webhook (replacing ours) and import the smartlocks."""
    with client_for(connection.organization_id) as client:
        if connection.webhook_id:
            with contextlib.suppress(NukiWebError):  # an old webhook already gone is fine
                client.webhook_delete(connection.webhook_id)
        hook = client.webhook_register(webhook_url(connection), WEBHOOK_FEATURES)
        NukiWebConnection.objects.filter(pk=connection.pk).update(
            webhook_id=str(hook.get("id", "")), webhook_secret=str(hook.get("secret", ""))
        )
        locks = smartlocks_import(connection=connection, client=client)
    # After a (re)connection, compare what the account's locks hold with what they should:
    # codes we believe set may be missing (another account, a reset lock, a fresh stand-in).
    with transaction.atomic():
        for lock in locks:
            command_enqueue(lock=lock, kind=CommandKind.RECONCILE)
    return locks


def smartlocks_import(*, connection: NukiWebConnection, client: NukiWebClient) -> list[Lock]:
    imported = []
    for smartlock in client.smartlocks():
        lock, _ = Lock.objects.get_or_create(
            organization=connection.organization,
            driver="nuki_web",
            nuki_id=smartlock.smartlock_id,
            defaults={"name": smartlock.name, "device_type": smartlock.type},
        )
        config = {**lock.config, "keypad": smartlock.keypad}
        if config != lock.config:
            lock.config = config
            lock.save(update_fields=["config"])
        imported.append(lock)
    return imported


class WebhookRejected(ValueError):
    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def webhook_receive(*, key: str, body: bytes, signature: str) -> str:
    """Verify and apply a Nuki Web webhook. Returns what was done ("duplicate", "auths", ...).

    The signature (hex HMAC-SHA256 of the raw body, keyed with the webhook's secret) is checked
    in constant time before anything is parsed; a bad or missing one changes nothing.
    """
    conn = NukiWebConnection.objects.filter(webhook_key=key).first() if key else None
    if conn is None or not conn.webhook_secret:
        raise WebhookRejected("Unknown webhook.", 404)
    expected = hmac.new(conn.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
    if not signature or not hmac.compare_digest(expected, signature.strip().lower()):
        raise WebhookRejected("Bad signature.", 401)
    try:
        data = webhook_fields(loads(body))
    except ValueError as exc:  # JSONError, WebhookFieldError
        raise WebhookRejected(f"Malformed webhook: {exc}", 400) from None
    feature, smartlock_id = data["feature"], data["smartlockId"]
    try:
        with transaction.atomic():
            WebhookDelivery.objects.create(
                organization_id=conn.organization_id,
                key=hashlib.sha256(key.encode() + body).hexdigest(),
            )
    except IntegrityError:
        return "duplicate"
    lock = Lock.objects.filter(
        organization=conn.organization, driver="nuki_web", nuki_id=smartlock_id
    ).first()
    if lock is None:
        return "unknown-lock"
    if feature == "DEVICE_AUTHS":
        # The signed payload names the authorization that changed: when it is exactly what
        # we sent, it confirms the change without another API call. Anything else (someone
        # else's change, a payload without the authorization) is read back once.
        if _auth_confirm(lock, data.get("smartlockAuth"), deleted=bool(data.get("deleted"))):
            return "auths-confirmed"
        with transaction.atomic():
            command_enqueue(lock=lock, kind=CommandKind.RECONCILE)
        return "auths"
    if feature == "DEVICE_STATUS":
        _apply_status(lock, data.get("state") or {})
        return "status"
    if feature == "DEVICE_LOGS":
        _record_log(lock, data.get("smartlockLog") or data.get("log") or {})
        return "logs"
    if feature == "DEVICE_CONFIG":
        return "config"
    return "ignored"


def _auth_confirm(lock: Lock, payload, *, deleted: bool) -> bool:
    """Confirm one of our queued changes from a DEVICE_AUTHS payload. True when it did."""
    from locks.drivers.nuki_web import lock_code_from
    from locks.models import AccessCode, CodeState, ObservedCode
    from locks.nuki.web.client import NukiWebAuth
    from locks.sync.desired import is_due
    from locks.sync.reconcile import _confirm, _signal

    if not isinstance(payload, dict) or not payload.get("id"):
        return False
    try:
        observed = lock_code_from(NukiWebAuth.from_json(payload))
    except (TypeError, ValueError):
        return False
    if observed.remote_id and payload.get("type") not in (0, 13):
        return False
    now = timezone.now()
    with transaction.atomic():
        ours = AccessCode.objects.select_for_update().filter(lock=lock)
        ac = ours.filter(remote_id=observed.remote_id).first()
        if ac is None and not deleted:  # a queued creation has no id yet
            ac = ours.filter(
                remote_id="",
                state=CodeState.SETTING,
                kind=observed.kind,
                name=observed.name,
                code=observed.code or "",
            ).first()
        if ac is None:
            return False
        if ac.commands.filter(status="running").exists():
            return False  # its command is still recording: the serialized read-back decides
        snapshot = ac.desired_snapshot()
        if deleted:
            if ac.state != CodeState.REMOVING or is_due(ac, now):
                return False  # gone although wanted: the read-back repairs it
            ac.state = CodeState.PLANNED if ac.wanted else CodeState.REMOVED
            ac.remote_id, ac.applied = "", None
            ac.save(update_fields=["state", "remote_id", "applied"])
            ObservedCode.objects.filter(lock=lock, remote_id=observed.remote_id).delete()
            _signal(ac)
            return True
        # Only after the runner recorded what it sent (applied), so its bookkeeping cannot
        # overwrite this confirmation; earlier webhooks fall back to the (serialized) read-back.
        sent = ac.state == CodeState.SETTING and ac.applied == snapshot
        if not (sent and is_due(ac, now) and observed.matches(ac.spec())):
            return False
        _confirm(ac, observed.remote_id, snapshot, now)
        ObservedCode.objects.update_or_create(
            lock=lock,
            remote_id=observed.remote_id,
            defaults={
                "organization_id": lock.organization_id,
                "kind": observed.kind,
                "code": observed.code or "",
                "name": observed.name,
                "valid_from": observed.valid_from,
                "valid_until": observed.valid_until,
                "weekdays": observed.weekdays,
                "from_minute": observed.from_minute,
                "until_minute": observed.until_minute,
                "access_code": ac,
                "seen_at": now,
            },
        )
    return True


STATE_NAMES = {1: "locked", 2: "unlocking", 3: "unlocked", 4: "locking", 5: "unlatched",
               6: "unlocked (lock 'n' go)", 7: "unlatching", 254: "motor blocked"}  # fmt: skip
DOOR_NAMES = {1: "deactivated", 2: "door closed", 3: "door opened", 4: "door state unknown"}


def _apply_status(lock: Lock, state: dict) -> None:
    from locks.drivers import LockStatus
    from locks.observed import lock_status_record

    code = state.get("state")
    status = LockStatus(
        state=STATE_NAMES.get(code, "unknown") if code is not None else lock.state,
        battery_percent=state.get("batteryCharge"),
        battery_critical=state.get("batteryCritical"),
        door_state=DOOR_NAMES.get(state.get("doorState")),
    )
    lock_status_record(lock=lock, status=status, source="nuki web")


def _record_log(lock: Lock, entry: dict) -> None:
    from locks.models import LockEvent

    key = hashlib.sha256(json.dumps(entry, sort_keys=True).encode()).hexdigest()
    when = entry.get("date")
    occurred = dt.datetime.fromisoformat(when.replace("Z", "+00:00")) if when else timezone.now()
    LockEvent.objects.bulk_create(
        [
            LockEvent(
                organization_id=lock.organization_id,
                lock=lock,
                kind="log:nuki_web",
                source="nuki web",
                message=str(entry.get("name") or entry.get("action") or "")[:200],
                detail=entry,
                occurred_at=occurred,
                external_key=key,
            )
        ],
        ignore_conflicts=True,
    )


def nuki_web_log_sync(*, lock: Lock) -> int:
    """Read the lock's newest log entries from Nuki Web into LockEvent; entries already
    stored (same Nuki log id) are skipped, so overlapping reads add nothing twice."""
    from locks.models import LockEvent

    with client_for(lock.organization_id) as client:
        entries = client.logs(lock.nuki_id, limit=50)
    events = []
    for entry in entries:
        when = entry.get("date")
        if not when or not entry.get("id"):
            continue
        events.append(
            LockEvent(
                organization_id=lock.organization_id,
                lock=lock,
                kind=f"log:action:{entry.get('action', '')}"[:32],
                source="nuki web log",
                message=str(entry.get("name") or "")[:200],
                detail=entry,
                occurred_at=dt.datetime.fromisoformat(when.replace("Z", "+00:00")),
                external_key=f"nukiweb:{entry['id']}"[:64],
            )
        )
    before = LockEvent.objects.filter(lock=lock).count()
    LockEvent.objects.bulk_create(events, ignore_conflicts=True)
    return LockEvent.objects.filter(lock=lock).count() - before
