"""The OAuth2 authorization server of the simulated api.nuki.io (authorization code flow).

Nuki's OAuth server is ORY Hydra (its account integrations say version "HYDRA"), so where the
Nuki documents are silent this follows Hydra/fosite's behaviour:

- GET /oauth/authorize checks client_id and redirect_uri first (a bad one gets an error page,
  never a redirect); other problems redirect back with error=..., error_description and state:
  response_type must be "code", state must be at least 8 characters (invalid_state), every
  scope must be known (invalid_scope), PKCE code_challenge_method S256 or plain.
- The consent page has one form: POST /oauth/authorize with consent_challenge and
  decision=allow (or deny, which redirects with error=access_denied).
- Codes live `code_ttl` seconds and are single use; presenting a used code again is
  invalid_grant and revokes every token issued from it (RFC 6749 section 4.1.2).
- POST /oauth/token takes application/x-www-form-urlencoded only; the client authenticates with
  HTTP Basic (client_secret_basic) or client_id + client_secret in the form (client_secret_post),
  not both; a bad client is 401 invalid_client.
- Refresh tokens rotate: each refresh answers a new refresh token and uses up the old one. A
  used refresh token presented again is invalid_grant and, with `revoke_grant_on_reuse` (Hydra's
  default), revokes the whole grant: every access and refresh token descending from that
  consent, so the user must connect again. With `revoke_access_on_refresh` (fosite's default)
  a refresh also revokes the access token issued together with the old refresh token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
import ipaddress
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlsplit

from .reply import Reply, html_reply, json_reply, redirect, with_query

DEFAULT_SCOPES = frozenset(
    {
        "account",
        "notification",
        "smartlock",
        "smartlock.readOnly",
        "smartlock.action",
        "smartlock.auth",
        "smartlock.config",
        "smartlock.log",
        "webhook.decentral",
        "offline",
        "offline_access",
        "openid",
    }
)
MIN_STATE_LENGTH = 8
_VERIFIER_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def secure_url_problem(url: Any) -> str | None:
    """None for an https URL (or http on a loopback host, for tests), else what is wrong."""
    if not isinstance(url, str) or not url:
        return "a URL is required"
    parts = urlsplit(url)
    if not parts.hostname or parts.scheme not in ("http", "https"):
        return "must be an absolute http(s) URL"
    if parts.fragment:
        return "must not have a fragment"
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        return "must use https (http is accepted only on loopback)"
    return None


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass
class _Grant:
    """One consent: everything issued from one authorization code."""

    grant_id: str
    scope: tuple[str, ...]
    revoked: bool = False


@dataclass
class _Code:
    grant: _Grant
    client_id: str
    redirect_uri: str | None  # as sent in the authorization request (None if absent)
    challenge: str | None
    method: str | None
    expires_at: float
    used: bool = False


@dataclass
class _Access:
    grant: _Grant
    expires_at: float
    revoked: bool = False


@dataclass
class _Refresh:
    grant: _Grant
    client_id: str
    expires_at: float
    access_token: str
    used: bool = False
    revoked: bool = False


@dataclass
class _Consent:
    request: dict[str, Any]
    expires_at: float


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


class OAuthServer:
    """Thread-safe; every method returns a Reply or a plain value."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        redirect_uris: list[str] | None,
        scopes: frozenset[str] = DEFAULT_SCOPES,
        access_token_ttl: float = 3600.0,
        refresh_token_ttl: float = 30 * 86400.0,
        code_ttl: float = 600.0,
        auto_consent: bool = False,
        revoke_grant_on_reuse: bool = True,
        revoke_access_on_refresh: bool = True,
        app_name: str = "Latchkey",
        count: Callable[[str], None] = lambda name: None,
    ):
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uris = list(redirect_uris) if redirect_uris is not None else None
        self.scopes = frozenset(scopes)
        self.access_token_ttl = access_token_ttl
        self.refresh_token_ttl = refresh_token_ttl
        self.code_ttl = code_ttl
        self.auto_consent = auto_consent
        self.revoke_grant_on_reuse = revoke_grant_on_reuse
        self.revoke_access_on_refresh = revoke_access_on_refresh
        self.app_name = app_name
        self._count = count
        self._lock = threading.Lock()
        self._consents: dict[str, _Consent] = {}
        self._codes: dict[str, _Code] = {}
        self._access: dict[str, _Access] = {}
        self._refresh: dict[str, _Refresh] = {}

    # Test hooks ------------------------------------------------------------------------------

    def expire_all_access_tokens(self) -> None:
        with self._lock:
            for token in self._access.values():
                token.expires_at = 0.0

    def revoke_refresh_tokens(self) -> None:
        with self._lock:
            for token in self._refresh.values():
                token.revoked = True

    def revoke_all_grants(self) -> None:
        """As if the user removed the integration in Nuki Web: every token stops working."""
        with self._lock:
            for token in self._refresh.values():
                token.grant.revoked = True
            for token in self._access.values():
                token.grant.revoked = True

    def access_token_problem(self, token: str) -> str | None:
        """None if `token` is a live access token, else why not."""
        with self._lock:
            record = self._access.get(token)
            if record is None:
                return "unknown access token"
            if record.revoked or record.grant.revoked:
                return "access token revoked"
            if record.expires_at <= time.time():
                return "access token expired"
        return None

    # /oauth/authorize ------------------------------------------------------------------------

    def authorize_get(self, params: dict[str, str]) -> Reply:
        client_id = params.get("client_id", "")
        if not hmac.compare_digest(client_id.encode(), self.client_id.encode()):
            self._count("oauth_authorize_refused")
            return self._error_page("invalid_client", "Unknown client_id.")
        sent_uri = params.get("redirect_uri")
        target, problem = self._redirect_target(sent_uri)
        if problem:
            self._count("oauth_authorize_refused")
            return self._error_page("invalid_request", f"redirect_uri {problem}.")
        assert target is not None
        state = params.get("state", "")

        def back(error: str, description: str) -> Reply:
            self._count("oauth_authorize_refused")
            answer = {"error": error, "error_description": description}
            if state:
                answer["state"] = state
            return redirect(with_query(target, answer))

        if params.get("response_type") != "code":
            return back("unsupported_response_type", "Only response_type=code is supported.")
        if len(state) < MIN_STATE_LENGTH:
            return back(
                "invalid_state",
                f"The state parameter must be at least {MIN_STATE_LENGTH} characters long.",
            )
        scope = tuple(params.get("scope", "").split())
        unknown = sorted(set(scope) - self.scopes)
        if unknown:
            return back("invalid_scope", f"Unknown scope: {' '.join(unknown)}.")
        challenge = params.get("code_challenge") or None
        method = params.get("code_challenge_method") or None
        if method and not challenge:
            return back("invalid_request", "code_challenge_method without code_challenge.")
        if challenge:
            method = method or "plain"
            if method not in ("S256", "plain"):
                return back("invalid_request", "code_challenge_method must be S256 or plain.")
            if not 43 <= len(challenge) <= 128:
                return back("invalid_request", "code_challenge must be 43 to 128 characters.")
        request = {
            "redirect_uri": sent_uri,
            "target": target,
            "scope": scope,
            "state": state,
            "challenge": challenge,
            "method": method,
        }
        if self.auto_consent:
            return self._issue_code(request)
        consent_id = secrets.token_urlsafe(24)
        with self._lock:
            now = time.time()
            for key in [k for k, c in self._consents.items() if c.expires_at < now]:
                del self._consents[key]
            self._consents[consent_id] = _Consent(request, now + self.code_ttl)
        return html_reply(200, self._consent_page(consent_id, scope))

    def authorize_post(self, form: dict[str, str]) -> Reply:
        consent_id = form.get("consent_challenge", "")
        with self._lock:
            consent = self._consents.pop(consent_id, None)
        if consent is None or consent.expires_at < time.time():
            return self._error_page(
                "invalid_request", "This consent request is unknown or has expired."
            )
        request = consent.request
        if form.get("decision") != "allow":
            self._count("oauth_consent_denied")
            answer = {
                "error": "access_denied",
                "error_description": "The resource owner denied the request.",
            }
            if request["state"]:
                answer["state"] = request["state"]
            return redirect(with_query(request["target"], answer))
        return self._issue_code(request)

    def _redirect_target(self, sent: str | None) -> tuple[str | None, str | None]:
        if self.redirect_uris is not None:
            if sent is None:
                if len(self.redirect_uris) == 1:
                    return self.redirect_uris[0], None
                return None, "is required (several are registered)"
            if sent not in self.redirect_uris:
                return None, "is not registered for this client"
            return sent, None
        if sent is None:
            return None, "is required"
        problem = secure_url_problem(sent)
        return (None, problem) if problem else (sent, None)

    def _issue_code(self, request: dict[str, Any]) -> Reply:
        code = secrets.token_urlsafe(32)
        grant = _Grant(secrets.token_hex(8), request["scope"])
        with self._lock:
            self._codes[code] = _Code(
                grant=grant,
                client_id=self.client_id,
                redirect_uri=request["redirect_uri"],
                challenge=request["challenge"],
                method=request["method"],
                expires_at=time.time() + self.code_ttl,
            )
        self._count("oauth_codes_issued")
        answer = {"code": code, "scope": " ".join(request["scope"])}
        if request["state"]:
            answer["state"] = request["state"]
        return redirect(with_query(request["target"], answer))

    def _error_page(self, error: str, description: str) -> Reply:
        page = (
            "<!doctype html><html><head><title>Nuki Web (simulated): error</title></head>"
            f"<body><h1>Authorization failed</h1><p id='error'>{html.escape(error)}</p>"
            f"<p id='error_description'>{html.escape(description)}</p></body></html>"
        )
        return html_reply(400, page)

    def _consent_page(self, consent_id: str, scope: tuple[str, ...]) -> str:
        items = "".join(f"<li>{html.escape(s)}</li>" for s in scope) or "<li>(no scope)</li>"
        return (
            "<!doctype html><html><head><meta charset='utf-8'>"
            "<title>Nuki Web (simulated): allow access</title></head><body>"
            f"<h1>{html.escape(self.app_name)} wants to access your Nuki account</h1>"
            f"<ul id='scopes'>{items}</ul>"
            "<form method='post' action='/oauth/authorize'>"
            f"<input type='hidden' name='consent_challenge' value='{html.escape(consent_id)}'>"
            "<button type='submit' name='decision' value='allow'>Allow</button> "
            "<button type='submit' name='decision' value='deny'>Deny</button>"
            "</form></body></html>"
        )

    # /oauth/token ----------------------------------------------------------------------------

    def token(self, headers: dict[str, str], body: bytes) -> Reply:
        try:
            return self._token(headers, body)
        except OAuthError as exc:
            self._count(f"oauth_error:{exc.error}")
            extra = {"WWW-Authenticate": 'Basic realm="oauth"'} if exc.status == 401 else {}
            return json_reply(
                exc.status,
                {"error": exc.error, "error_description": exc.description},
                {"Cache-Control": "no-store", "Pragma": "no-cache", **extra},
            )

    def _token(self, headers: dict[str, str], body: bytes) -> Reply:
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            raise OAuthError(
                "invalid_request", "The body must be application/x-www-form-urlencoded."
            )
        try:
            parsed = parse_qs(body.decode(), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise OAuthError("invalid_request", "The body is not UTF-8.") from None
        if any(len(values) > 1 for values in parsed.values()):
            raise OAuthError("invalid_request", "A parameter was sent more than once.")
        form = {key: values[0] for key, values in parsed.items()}
        client_id = self._authenticate_client(headers.get("authorization", ""), form)
        grant_type = form.get("grant_type")
        if not grant_type:
            raise OAuthError("invalid_request", "grant_type is missing.")
        if grant_type == "authorization_code":
            return self._exchange_code(client_id, form)
        if grant_type == "refresh_token":
            return self._refresh_grant(client_id, form)
        raise OAuthError("unsupported_grant_type", f"grant_type {grant_type} is not supported.")

    def _authenticate_client(self, authorization: str, form: dict[str, str]) -> str:
        if authorization.lower().startswith("basic "):
            if "client_secret" in form:
                raise OAuthError(
                    "invalid_request", "Use one client authentication method, not several."
                )
            try:
                raw = base64.b64decode(authorization[6:].strip(), validate=True).decode()
                user, _, password = raw.partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise OAuthError("invalid_client", "Malformed Basic credentials.", 401) from None
            client_id, secret = unquote_plus(user), unquote_plus(password)
            if form.get("client_id") not in (None, client_id):
                raise OAuthError("invalid_request", "client_id differs from the Basic username.")
        elif "client_secret" in form:
            client_id, secret = form.get("client_id", ""), form["client_secret"]
        else:
            raise OAuthError("invalid_client", "Client authentication is missing.", 401)
        good_id = hmac.compare_digest(client_id.encode(), self.client_id.encode())
        good_secret = hmac.compare_digest(secret.encode(), self.client_secret.encode())
        if not (good_id and good_secret):
            raise OAuthError("invalid_client", "Client authentication failed.", 401)
        return client_id

    def _exchange_code(self, client_id: str, form: dict[str, str]) -> Reply:
        now = time.time()
        with self._lock:
            code = self._codes.get(form.get("code", ""))
            if code is None:
                raise OAuthError("invalid_grant", "The authorization code is unknown.")
            if code.used:
                self._revoke_grant(code.grant)
                self._count("oauth_code_reused")
                raise OAuthError(
                    "invalid_grant",
                    "The authorization code has already been used; its tokens are revoked.",
                )
            if code.expires_at <= now:
                raise OAuthError("invalid_grant", "The authorization code has expired.")
            if code.client_id != client_id:
                raise OAuthError("invalid_grant", "The code was issued to another client.")
            if code.redirect_uri is not None and form.get("redirect_uri") != code.redirect_uri:
                raise OAuthError(
                    "invalid_grant", "redirect_uri differs from the authorization request."
                )
            if code.challenge:
                self._check_verifier(code, form.get("code_verifier"))
            code.used = True
            self._count("oauth_code_exchanges")
            return self._issue_tokens(code.grant, client_id, now)

    @staticmethod
    def _check_verifier(code: _Code, verifier: str | None) -> None:
        if not verifier:
            raise OAuthError("invalid_grant", "The PKCE code_verifier is missing.")
        if not 43 <= len(verifier) <= 128 or not set(verifier) <= _VERIFIER_CHARS:
            raise OAuthError(
                "invalid_grant", "The PKCE code_verifier must be 43-128 unreserved characters."
            )
        expected = s256(verifier) if code.method == "S256" else verifier
        if not hmac.compare_digest(expected.encode(), (code.challenge or "").encode()):
            raise OAuthError("invalid_grant", "The PKCE code_verifier does not match.")

    def _refresh_grant(self, client_id: str, form: dict[str, str]) -> Reply:
        now = time.time()
        with self._lock:
            token = self._refresh.get(form.get("refresh_token", ""))
            if token is None:
                raise OAuthError("invalid_grant", "The refresh token is unknown.")
            if token.client_id != client_id:
                raise OAuthError("invalid_grant", "The refresh token belongs to another client.")
            if token.revoked or token.grant.revoked:
                raise OAuthError("invalid_grant", "The refresh token has been revoked.")
            if token.used:
                self._count("oauth_refresh_reused")
                if self.revoke_grant_on_reuse:
                    self._revoke_grant(token.grant)
                raise OAuthError(
                    "invalid_grant",
                    "The refresh token has already been used"
                    + ("; the whole grant is revoked." if self.revoke_grant_on_reuse else "."),
                )
            if token.expires_at <= now:
                raise OAuthError("invalid_grant", "The refresh token has expired.")
            asked = form.get("scope")
            if asked is not None and not set(asked.split()) <= set(token.grant.scope):
                raise OAuthError("invalid_scope", "A refresh cannot widen the scope.")
            token.used = True
            if self.revoke_access_on_refresh:
                old = self._access.get(token.access_token)
                if old is not None:
                    old.revoked = True
            self._count("oauth_refreshes")
            return self._issue_tokens(token.grant, client_id, now)

    def _issue_tokens(self, grant: _Grant, client_id: str, now: float) -> Reply:
        """Called with self._lock held."""
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self._access[access] = _Access(grant, now + self.access_token_ttl)
        self._refresh[refresh] = _Refresh(grant, client_id, now + self.refresh_token_ttl, access)
        self._count("oauth_tokens_issued")
        return json_reply(
            200,
            {
                "access_token": access,
                "token_type": "bearer",
                "expires_in": round(self.access_token_ttl),
                "refresh_token": refresh,
                "scope": " ".join(grant.scope),
            },
            {"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    def _revoke_grant(self, grant: _Grant) -> None:
        grant.revoked = True
