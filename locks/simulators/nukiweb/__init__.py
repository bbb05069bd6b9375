"""A stand-in for the Nuki Web API (api.nuki.io), over real HTTP, stdlib only.

Command line (a long-running server for the dev stack, demos or a third-party client):

    python -m locks.simulators.nukiweb --port 8090 --api-token TOKEN [--smartlocks 2]
        [--client-id ID --client-secret SECRET --redirect-uri URI] [--apply-delay 2]

In tests:

    with NukiWebSimulator(port=0, api_tokens=["t"], client_id="c", client_secret="s",
                          apply_delay=0.05, smartlocks=2) as sim:
        sim.url, sim.smartlock_ids, sim.counters, sim.max_concurrent_seen, ...

Where things are: `server.py` HTTP (server, bearer tokens, routing), `routes/` the API one
module per resource (oauth, account, smartlocks, auths, logs, webhooks), `cloud.py` the account
at work (locks, authorizations, the queue the bridge applies, lock actions, events),
`controls.py` the test controls (hooks and /__sim__/), `model.py` constants, dates, ids and
smartlocks, `records.py` authorizations, account users and log entries, `oauth.py` the OAuth2
server, `webhooks.py` delivery, `receiver.py` the test receiver, `reply.py` what a route answers.

OAuth2 (authorization code flow, details in oauth.py)
  GET  /oauth/authorize  response_type=code, client_id, redirect_uri, scope (space separated),
       state (>= 8 chars), code_challenge + code_challenge_method (S256|plain, optional).
       Answers an HTML consent page whose form POSTs consent_challenge + decision=allow|deny
       to /oauth/authorize, which redirects to redirect_uri?code=...&scope=...&state=...
       (auto_consent=True redirects at once). Errors: bad client_id/redirect_uri -> 400 page;
       otherwise redirect with error (unsupported_response_type, invalid_state,
       invalid_scope, invalid_request, access_denied).
  POST /oauth/token      form-encoded; client via HTTP Basic or client_id/client_secret fields.
       grant_type=authorization_code (code, redirect_uri if it was sent, code_verifier if PKCE)
       grant_type=refresh_token (refresh_token[, scope])
       -> 200 {access_token, token_type: "bearer", expires_in, refresh_token, scope}
       Errors as RFC 6749: 400 {error: invalid_request | invalid_grant | invalid_scope |
       unsupported_grant_type, error_description}, 401 invalid_client. Codes are single use
       (reuse revokes their tokens); refresh tokens rotate (reuse -> invalid_grant and, by
       default, the whole grant is revoked); a refresh revokes the previous access token.
  redirect_uris=None accepts any https URI (http only on loopback); a list must match exactly.

API authentication: "Authorization: Bearer <token>", an OAuth access token or one of
`api_tokens` (never expire). Missing, unknown, expired or revoked -> 401 with
WWW-Authenticate: Bearer error="invalid_token". API errors answer JSON
{"detailMessage": "...", "stackTrace": [], "suppressedExceptions": []}.

Endpoints (status codes as documented; 204 = accepted, empty body)
  GET    /account                                  -> MyAccount (accountId, name, email, ...)
  GET    /account/user[?email=&offset=&limit=]     -> [AccountUser] (email matched exactly,
         case-insensitive)
  PUT    /account/user   AccountUserCreate {email, name, language?, type?} -> 200 AccountUser
         {accountUserId, accountId, type, email, name, language, creationDate, updateDate}
         | 400 "Invalid E-Mail address or name supplied" | 409 email exists (our choice)
  GET    /account/user/{accountUserId}             -> AccountUser | 404
  POST   /account/user/{accountUserId}  AccountUserUpdate -> 204 | 400 | 404 | 409
  DELETE /account/user/{accountUserId}             -> 204 (their authorizations are queued
         for deletion) | 404 | 423
  GET    /smartlock[?type=]                        -> [Smartlock]
  GET    /smartlock/{smartlockId}                  -> Smartlock | 404
  POST   /smartlock/{smartlockId}/action           {action 1-5, option 0-7} -> 204 | 400 | 404
  POST   /smartlock/{smartlockId}/action/lock      -> 204;   .../action/unlock -> 204
  POST   /smartlock/{smartlockId}/sync             -> 204 (no-op)
  GET    /smartlock/{smartlockId}/auth[?types=0,2,13] -> [SmartlockAuth] (applied ones only)
  PUT    /smartlock/{smartlockId}/auth             SmartlockAuthCreate -> 204 | 400 | 404 | 409
  GET    /smartlock/{smartlockId}/auth/{id}        -> SmartlockAuth | 404
  POST   /smartlock/{smartlockId}/auth/{id}        SmartlockAuthUpdate -> 204 | 400|404|409|423
  DELETE /smartlock/{smartlockId}/auth/{id}        -> 204 | 404 | 423
  GET    /smartlock/auth[?types=&accountUserId=]   -> [SmartlockAuth] of every lock
  PUT    /smartlock/auth   SmartlockAuthCreate + smartlockIds [..] -> 204 | 400 | 404 | 409
  POST   /smartlock/auth   [SmartlockAuthUpdate + id] -> 204 | 400 | 404 | 409 | 423
  DELETE /smartlock/auth   ["id", ...]             -> 204 | 404 | 423
  GET    /smartlock/{smartlockId}/log  ?fromDate&toDate (RFC 3339) &authId&action&accountUserId
         &id (entries older than this id) &limit (1-50, default 20; else 400) -> newest first
  GET    /smartlock/log    same filters, every lock
  PUT    /api/decentralWebhook  {webhookUrl (https; http only on loopback), webhookFeatures}
         -> 200 {id, secret, webhookUrl, webhookFeatures} | 400
  GET    /api/decentralWebhook  -> [{id, webhookUrl, webhookFeatures}] (no secrets)
  DELETE /api/decentralWebhook/{id} -> 204 | 404

Smartlock: smartlockId (device type in hex then the 8-hex-digit nukiId: type 4, nukiId
0x1A2B3C01 -> 0x41A2B3C01 = 17612881921), accountId, type (4 = Smart Lock 3.0/4), authId, name,
favorite, config {name, latitude, longitude, autoUnlatch, liftUpHandle, pairingEnabled,
buttonEnabled, ledEnabled, ledBrightness, timezoneOffset, daylightSavingMode, fobPaired,
fobAction1-3, singleLock, advertisingMode, keypadPaired, keypad2Paired, homekitState,
matterState, timezoneId, deviceType, wifiEnabled}, advancedConfig {lngTimeout,
singleButtonPressAction, doubleButtonPressAction, automaticBatteryTypeDetection, unlatchDuration,
totalDegrees, ...PositionOffsetDegrees, detachedCylinder, batteryType, autoLock,
autoLockTimeout, autoUpdateEnabled}, state {mode, state, trigger, lastAction, batteryCritical,
batteryCharging, batteryCharge, keypadBatteryCritical, doorsensorBatteryCritical, doorState,
ringToOpenTimer, nightMode}, firmwareVersion / hardwareVersion (ints), serverState (0 ok,
4 offline), adminPinState, virtualDevice, creationDate, updateDate.

SmartlockAuth: id (24 hex digits), smartlockId, authId (int, given by the lock when applied),
type (0 app, 2 fob, 13 keypad code), name, code (type 13), enabled, remoteAllowed, lockCount,
allowedFromDate / allowedUntilDate (UTC, "2024-05-01T14:00:00.000Z"), allowedWeekDays
(Monday 64 ... Sunday 1; default 127), allowedFromTime / allowedUntilTime (minutes after
midnight), accountUserId, lastActiveDate, smartActionsEnabled, creationDate, updateDate, and
operationId while an update or delete of it is queued. Absent values are left out.
  Create rules (400 otherwise): name 1-32 chars (required, also on update); remoteAllowed
  required; type 0/2/13; accountUserId required unless type 13 (404 when no such account
  user; 1 is the owner); code required for type 13,
  an int or digit string, 6 digits 1-9 not starting with 12; dates with a UTC offset, from
  before until; weekdays 0-127; times 0-1439; type cannot change.
  Queue: 204 only means queued; the change reaches the lock `apply_delay` seconds later (never
  while the lock is offline), then GET shows it and DEVICE_AUTHS is sent. 409 "Parameter
  'code' exists already" when the code is on the lock or queued for it; 423 for an update or
  delete while an earlier change of that authorization is still queued (its creation too).

SmartlockLog: id, smartlockId, deviceType, name, action, trigger (4 web, 255 keypad,
1 manual, 0 system), state (0 success, 224 wrong keypad code: our choice), autoUnlock, date,
source (1 keypad code), authId (the SmartlockAuth id string), accountUserId.

Lock actions run in the background (`action_seconds` per movement) through the documented
states (unlock: unlocking -> unlocked; unlatch: unlatching -> unlatched -> unlocked; lock 'n'
go: ... -> unlocked (lock 'n' go) -> locking -> locked); the log entry is written when the first
movement ends. Actions for an offline lock answer 204 and are dropped (our choice).

Webhooks (webhooks.py): every registration whose features include the event's gets a POST with
X-Nuki-Signature-SHA256 = hex HMAC-SHA256(secret, raw body), retried after each of
`webhook_retry_delays`. Bodies (the `feature` field as documented; the rest is our choice):
  DEVICE_STATUS  {feature, smartlockId, type, name, serverState, adminPinState, state{..},
                 updateDate}: every lock state change, door / battery change, online/offline
  DEVICE_LOGS    {feature, smartlockId, smartlockLog{..}}: every new log entry
  DEVICE_AUTHS   {feature, smartlockId, smartlockAuth{..}, deleted}: a queued change applied,
                 or an authorization changed outside the integration
  DEVICE_CONFIG  {feature, smartlockId, config{..}, advancedConfig{..}}: set_config()
  DEVICE_MASTERDATA {feature, smartlockId, type, name, firmwareVersion, hardwareVersion}

Weekdays and times of an authorization are read on the lock's clock, in its timezone
(`timezone=` / --timezone, an IANA name, UTC by default; our choice of naming it), dates are
instants. app_open(smartlockId, email) is a person opening with their Nuki app.

Test hooks: expire_all_access_tokens(), app_open(), account_users(), revoke_refresh_tokens(),
oauth.revoke_all_grants(),
set_offline(), set_door(), set_battery(), set_config(), rename(), add_foreign_auth(),
edit_auth_outside(), remove_auth_outside(), keypad_entry(), physical_action(), auths(),
pending(), logs(), wait_applied(), endpoint_calls(), reset_counters(), webhooks.wait_idle(),
webhooks.deliveries; attributes apply_delay, action_seconds, access_token_ttl, latency,
api_tokens, outage_status (e.g. 503: every request, OAuth included, answers it until None).
Over HTTP (not counted as API calls): GET /__sim__/state; POST /__sim__/outage {status},
/__sim__/offline {smartlockId, offline}, /__sim__/keypad {smartlockId, code}, /__sim__/door
{smartlockId, doorState}, /__sim__/foreign-auth {smartlockId, name, type, code, ...},
/__sim__/expire-access-tokens, /__sim__/revoke-refresh-tokens.
"""

from .model import (
    ACTION_LNG,
    ACTION_LNG_UNLATCH,
    ACTION_LOCK,
    ACTION_UNLATCH,
    ACTION_UNLOCK,
    AUTH_APP,
    AUTH_FOB,
    AUTH_KEYPAD_CODE,
    DOOR_CLOSED,
    DOOR_OPENED,
    LOCKED,
    LOCKING,
    UNLATCHED,
    UNLATCHING,
    UNLOCKED,
    UNLOCKED_LNG,
    UNLOCKING,
    WEBHOOK_FEATURES,
    smartlock_id_for,
)
from .oauth import s256
from .receiver import WebhookReceiver
from .server import NukiWebSimulator
from .webhooks import SIGNATURE_HEADER, sign

__all__ = [
    "ACTION_LNG",
    "ACTION_LNG_UNLATCH",
    "ACTION_LOCK",
    "ACTION_UNLATCH",
    "ACTION_UNLOCK",
    "AUTH_APP",
    "AUTH_FOB",
    "AUTH_KEYPAD_CODE",
    "DOOR_CLOSED",
    "DOOR_OPENED",
    "LOCKED",
    "LOCKING",
    "SIGNATURE_HEADER",
    "UNLATCHED",
    "UNLATCHING",
    "UNLOCKED",
    "UNLOCKED_LNG",
    "UNLOCKING",
    "WEBHOOK_FEATURES",
    "NukiWebSimulator",
    "WebhookReceiver",
    "s256",
    "sign",
    "smartlock_id_for",
]
