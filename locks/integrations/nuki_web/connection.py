"""Nuki Web connections: OAuth2 (Authlib) or a pasted API token, token refresh with rotation,
importing smartlocks, registering the decentral webhook (received in `webhooks`), reading logs.

Integrator rules kept here: the code is exchanged on the server; the newest refresh token is
kept and the old one discarded at every refresh; a request failing on an expired token is
refreshed and retried once (NukiWebClient); a failed refresh marks the connection "needs
reconnecting" and tells the manager what to do.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import secrets
from urllib.parse import urlsplit

from authlib.integrations.httpx_client import OAuth2Client
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from locks.budgets import nuki_web_budget
from locks.dispatch import task_send_on_commit
from locks.models import (
    CommandKind,
    CommandStatus,
    Lock,
    LockCommand,
    LockEvent,
    NukiWebConnection,
)
from locks.nuki.web import NukiWebClient, NukiWebError
from locks.nuki.web.client import TokenRejected
from locks.sync.commands import command_retry
from locks.sync.schedule import reconcile_now
from portal.models import Organization
from portal.services import alert_raise, alert_resolve

NUKI_WEB_SETUP = "locks.tasks.nuki_web_setup"  # sent by name: see locks/dispatch.py
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
    task_send_on_commit(NUKI_WEB_SETUP, conn.pk)
    _retry_failed(organization)
    return conn


def _retry_failed(organization: Organization) -> None:
    """Changes that failed while the connection was broken get a fresh start."""
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
    return NukiWebClient(
        conn.api_url or settings.NUKI_WEB_API_URL,
        token_provider(conn.pk),
        budget=nuki_web_budget(connection_id=conn.pk),  # every call within the account's limit
    )


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
    reconcile_now(locks=locks)
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


def nuki_web_log_sync(*, lock: Lock) -> int:
    """Read the lock's newest log entries from Nuki Web into LockEvent; entries already
    stored (same Nuki log id) are skipped, so overlapping reads add nothing twice."""

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
