"""The simulated Nuki Web API's OAuth2 server and bearer auth, over loopback HTTP (no mocks)."""

import base64
import hashlib
import re
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest

from locks.simulators.nukiweb import NukiWebSimulator

CLIENT_ID, CLIENT_SECRET = "latchkey-test", "s3cret-value"
SCOPE = "account smartlock smartlock.auth webhook.decentral"


class CallbackServer:
    """The integrator's redirect_uri: records the query of every GET."""

    def __init__(self):
        self.queries = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.queries.append(parse_qs(urlsplit(self.path).query))
                body = b"connected"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/oauth/callback"

    def close(self):
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def callback():
    server = CallbackServer()
    yield server
    server.close()


@pytest.fixture
def sim(callback):
    with NukiWebSimulator(
        api_tokens=["static-api-token"],
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uris=[callback.url],
        apply_delay=0.05,
    ) as simulator:
        yield simulator


@pytest.fixture
def http(sim):
    with httpx2.Client(base_url=sim.url, trust_env=False, timeout=5) as client:
        yield client


def pkce_pair():
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def consent(http, callback, *, challenge=None, state="state-0123456789", **extra):
    """GET the authorize page, press Allow; answers the 302 to the redirect_uri."""
    params = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": callback.url,
        "scope": SCOPE,
        "state": state,
        **extra,
    }
    if challenge:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    page = http.get("/oauth/authorize", params=params)
    assert page.status_code == 200, page.text
    assert "text/html" in page.headers["content-type"]
    assert "Allow" in page.text
    form_action = re.search(r"<form method='post' action='([^']+)'", page.text).group(1)
    consent_id = re.search(r"name='consent_challenge' value='([^']+)'", page.text).group(1)
    answer = http.post(form_action, data={"consent_challenge": consent_id, "decision": "allow"})
    assert answer.status_code == 302
    return answer


def code_from(answer):
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    return query["code"][0]


def exchange(http, code, verifier, *, redirect_uri, auth=(CLIENT_ID, CLIENT_SECRET)):
    return http.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
        auth=auth,
    )


def refresh(http, refresh_token):
    return http.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
    )


def api_get(http, token, path="/smartlock"):
    return http.get(path, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def tokens(http, callback):
    verifier, challenge = pkce_pair()
    answer = consent(http, callback, challenge=challenge)
    response = exchange(http, code_from(answer), verifier, redirect_uri=callback.url)
    assert response.status_code == 200, response.text
    return response.json()


def test_full_dance_without_a_browser(sim, http, callback):
    verifier, challenge = pkce_pair()
    answer = consent(http, callback, challenge=challenge, state="xyzzy-state-42")

    # Follow the redirect to the integrator's callback, as the browser would.
    landed = http.get(answer.headers["location"])
    assert landed.status_code == 200
    assert landed.text == "connected"
    query = callback.queries[-1]
    assert query["state"] == ["xyzzy-state-42"]
    assert query["scope"] == [SCOPE]

    token = exchange(http, query["code"][0], verifier, redirect_uri=callback.url)
    assert token.status_code == 200, token.text
    assert token.headers["cache-control"] == "no-store"
    body = token.json()
    assert body["token_type"].lower() == "bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == SCOPE
    assert body["access_token"] and body["refresh_token"]

    smartlocks = api_get(http, body["access_token"])
    assert smartlocks.status_code == 200
    assert [lock["smartlockId"] for lock in smartlocks.json()] == sim.smartlock_ids
    assert sim.counters["oauth_code_exchanges"] == 1


def test_wrong_pkce_verifier_is_rejected(http, callback):
    verifier, challenge = pkce_pair()
    code = code_from(consent(http, callback, challenge=challenge))

    wrong = exchange(http, code, secrets.token_urlsafe(48), redirect_uri=callback.url)
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    missing = http.post(
        "/oauth/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": callback.url},
        auth=(CLIENT_ID, CLIENT_SECRET),
    )
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_grant"
    # A failed verifier does not burn the code for its rightful owner.
    assert exchange(http, code, verifier, redirect_uri=callback.url).status_code == 200


def test_code_is_single_use_and_reuse_revokes_its_tokens(http, callback):
    verifier, challenge = pkce_pair()
    code = code_from(consent(http, callback, challenge=challenge))
    first = exchange(http, code, verifier, redirect_uri=callback.url)
    assert first.status_code == 200
    access = first.json()["access_token"]
    assert api_get(http, access).status_code == 200

    again = exchange(http, code, verifier, redirect_uri=callback.url)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    assert api_get(http, access).status_code == 401
    assert refresh(http, first.json()["refresh_token"]).json()["error"] == "invalid_grant"


def test_redirect_uri_must_match_at_exchange(http, callback):
    verifier, challenge = pkce_pair()
    code = code_from(consent(http, callback, challenge=challenge))
    other = exchange(http, code, verifier, redirect_uri=callback.url + "/elsewhere")
    assert other.status_code == 400
    assert other.json()["error"] == "invalid_grant"


def test_client_authentication(http, callback):
    verifier, challenge = pkce_pair()
    code = code_from(consent(http, callback, challenge=challenge))
    bad = exchange(http, code, verifier, redirect_uri=callback.url, auth=(CLIENT_ID, "nope"))
    assert bad.status_code == 401
    assert bad.json()["error"] == "invalid_client"
    anonymous = http.post(
        "/oauth/token",
        data={"grant_type": "authorization_code", "code": code, "code_verifier": verifier},
    )
    assert anonymous.status_code == 401
    as_json = http.post(
        "/oauth/token",
        json={"grant_type": "authorization_code", "code": code},
        auth=(CLIENT_ID, CLIENT_SECRET),
    )
    assert as_json.status_code == 400
    assert as_json.json()["error"] == "invalid_request"
    unknown_grant = http.post(
        "/oauth/token", data={"grant_type": "password"}, auth=(CLIENT_ID, CLIENT_SECRET)
    )
    assert unknown_grant.json()["error"] == "unsupported_grant_type"


def test_refresh_rotates_and_an_old_refresh_token_is_refused(http, tokens):
    first = refresh(http, tokens["refresh_token"])
    assert first.status_code == 200, first.text
    new = first.json()
    assert new["refresh_token"] != tokens["refresh_token"]
    assert new["access_token"] != tokens["access_token"]
    assert api_get(http, new["access_token"]).status_code == 200
    # The access token that came with the used refresh token is revoked by the refresh.
    assert api_get(http, tokens["access_token"]).status_code == 401

    second = refresh(http, new["refresh_token"])
    assert second.status_code == 200
    newest = second.json()

    reused = refresh(http, tokens["refresh_token"])
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"
    # Reuse means theft to Hydra: the whole grant is gone, the user must connect again.
    assert api_get(http, newest["access_token"]).status_code == 401
    assert refresh(http, newest["refresh_token"]).json()["error"] == "invalid_grant"


def test_refresh_reuse_without_grant_revocation(callback):
    with (
        NukiWebSimulator(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            redirect_uris=[callback.url],
            revoke_grant_on_reuse=False,
        ) as sim,
        httpx2.Client(base_url=sim.url, trust_env=False) as http,
    ):
        verifier, challenge = pkce_pair()
        code = code_from(consent(http, callback, challenge=challenge))
        tokens = exchange(http, code, verifier, redirect_uri=callback.url).json()
        new = refresh(http, tokens["refresh_token"]).json()
        assert refresh(http, tokens["refresh_token"]).status_code == 400
        assert api_get(http, new["access_token"]).status_code == 200
        assert refresh(http, new["refresh_token"]).status_code == 200


def test_access_token_expiry_gives_401_and_refresh_recovers(sim, http, tokens):
    assert api_get(http, tokens["access_token"]).status_code == 200
    sim.expire_all_access_tokens()
    expired = api_get(http, tokens["access_token"])
    assert expired.status_code == 401
    assert "invalid_token" in expired.headers["www-authenticate"]
    assert "expired" in expired.json()["detailMessage"]

    renewed = refresh(http, tokens["refresh_token"])
    assert renewed.status_code == 200
    assert api_get(http, renewed.json()["access_token"]).status_code == 200


def test_short_access_token_ttl(sim, http, callback):
    sim.access_token_ttl = 0.3
    verifier, challenge = pkce_pair()
    tokens = exchange(
        http,
        code_from(consent(http, callback, challenge=challenge)),
        verifier,
        redirect_uri=callback.url,
    ).json()
    assert api_get(http, tokens["access_token"]).status_code == 200
    threading.Event().wait(0.4)
    assert api_get(http, tokens["access_token"]).status_code == 401


def test_revoked_refresh_tokens_force_reauthentication(sim, http, tokens):
    sim.revoke_refresh_tokens()
    answer = refresh(http, tokens["refresh_token"])
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"


def test_static_api_token(http):
    assert api_get(http, "static-api-token").status_code == 200
    assert api_get(http, "wrong-token").status_code == 401
    anonymous = http.get("/smartlock")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")


def test_authorize_refuses_bad_client_or_redirect_without_redirecting(http, callback):
    base = {"response_type": "code", "scope": SCOPE, "state": "state-0123456789"}
    unknown_client = http.get(
        "/oauth/authorize", params={**base, "client_id": "evil", "redirect_uri": callback.url}
    )
    assert unknown_client.status_code == 400
    unregistered = http.get(
        "/oauth/authorize",
        params={**base, "client_id": CLIENT_ID, "redirect_uri": "https://evil.example/cb"},
    )
    assert unregistered.status_code == 400
    assert "location" not in unregistered.headers


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"state": "short"}, "invalid_state"),
        ({"scope": "smartlock teleport"}, "invalid_scope"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"code_challenge_method": "S256"}, "invalid_request"),
    ],
)
def test_authorize_errors_redirect_back(http, callback, change, error):
    params = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": callback.url,
        "scope": SCOPE,
        "state": "state-0123456789",
        **change,
    }
    answer = http.get("/oauth/authorize", params=params)
    assert answer.status_code == 302
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    assert query["error"] == [error]
    assert "code" not in query


def test_deny_redirects_with_access_denied(http, callback):
    params = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": callback.url,
        "scope": SCOPE,
        "state": "state-0123456789",
    }
    page = http.get("/oauth/authorize", params=params)
    consent_id = re.search(r"name='consent_challenge' value='([^']+)'", page.text).group(1)
    answer = http.post(
        "/oauth/authorize", data={"consent_challenge": consent_id, "decision": "deny"}
    )
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    assert query["error"] == ["access_denied"]
    assert query["state"] == ["state-0123456789"]
    # A consent challenge is single use.
    again = http.post(
        "/oauth/authorize", data={"consent_challenge": consent_id, "decision": "allow"}
    )
    assert again.status_code == 400
