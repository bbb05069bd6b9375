"""The private link to a guest's stay page (`/stay/<token>/`).

The token is derived from a random per-grant nonce with the installation's key, so the portal
can put the same link into every email of a stay (re-sent, updated) without storing it: the
database holds the nonce and a SHA-256 of the token, and the stored copy of each email holds a
placeholder that is replaced only in the message handed to the mail server. Cancelling the
stay rotates the nonce, which kills every copy of the link.

Key rotation: each link records the id of the ring key its token was derived with and keeps
that key while LATCHKEY_ENCRYPTION_KEY lists it, so a rotated key never breaks a link already
in a guest's email (the page is found by the token's hash, which no key enters); new links use
the newest key. Only when an operator drops a key from the ring is a link that needs it issued
anew, with the next email (`manage.py rotate_secrets` says which links still need which key).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import secrets

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Max
from django.utils import timezone

from bookings.models import AccessGrant, StayLink
from portal.crypto import Key, candidate_keys, find_key, keyed_digest, newest_key

# Stands for the token in the stored copy of a guest email (see emails._deliver).
TOKEN_MARK = "[private-link]"
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{43}")


def _token_for(nonce: str, key: Key | None = None) -> str:
    digest = keyed_digest("stay-link", nonce.encode(), key=key)
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _fresh() -> tuple[str, str]:
    """A new nonce and its token's hash, under the newest key."""
    nonce = secrets.token_hex(16)
    return nonce, token_hash(_token_for(nonce, newest_key()))


def stay_link_key(*, link: StayLink) -> Key | None:
    """The key the link's token was derived with, while the ring (or, for links made before
    LATCHKEY_ENCRYPTION_KEY was set, SECRET_KEY or a fallback) still holds it."""
    if link.key_id:
        return find_key(link.key_id)
    return next(  # made before key ids: the key whose token matches the stored hash
        (k for k in candidate_keys() if token_hash(_token_for(link.nonce, k)) == link.token_hash),
        None,
    )


def stay_link_token(*, grant: AccessGrant) -> str:
    """The stay's link token, created on first use and stable afterwards (across key rotations
    too, while the link's key is listed)."""
    link = StayLink.objects.filter(grant=grant).first()
    if link is None:
        nonce, hashed = _fresh()
        try:
            with transaction.atomic():
                link = StayLink.objects.create(
                    organization_id=grant.organization_id,
                    grant=grant,
                    nonce=nonce,
                    token_hash=hashed,
                    key_id=newest_key().kid,
                )
        except IntegrityError:  # created concurrently (two emails at once): use that one
            link = StayLink.objects.get(grant=grant)
    key = stay_link_key(link=link)
    if key is None:
        # Its key was dropped from the ring: the old token cannot be derived any more, so the
        # link is issued anew under the newest key (the copies already sent stop working).
        nonce, hashed = _fresh()
        StayLink.objects.filter(pk=link.pk, nonce=link.nonce).update(
            nonce=nonce, token_hash=hashed, key_id=newest_key().kid, rotated_at=timezone.now()
        )
        link.refresh_from_db()
        key = stay_link_key(link=link)
    elif not link.key_id:  # made before key ids: record the key it turned out to use
        StayLink.objects.filter(pk=link.pk, nonce=link.nonce).update(key_id=key.kid)
    return _token_for(link.nonce, key)


def stay_link_key_ids_backfill(*, batch_size: int = 500) -> int:
    """Record the key of every link made before key ids (found by trying each candidate key),
    so the links that still need an old key can be counted. Returns how many were recorded."""
    done = 0
    last_pk = 0
    while True:
        batch = list(
            StayLink.objects.filter(key_id="", pk__gt=last_pk)
            .order_by("pk")
            .only("pk", "nonce", "token_hash")[:batch_size]
        )
        if not batch:
            return done
        last_pk = batch[-1].pk
        for link in batch:
            key = stay_link_key(link=link)
            if key is not None:
                done += StayLink.objects.filter(pk=link.pk, nonce=link.nonce, key_id="").update(
                    key_id=key.kid
                )


def stay_links_on_old_keys(*, now: dt.datetime | None = None) -> dict[str, tuple[int, dt.datetime]]:
    """Links still open (not yet past check-out and grace) whose token was derived with a key
    other than the newest: key id → (how many, when the last of them expires). An old key must
    stay in LATCHKEY_ENCRYPTION_KEY until then, or those guests' next email gets a new link."""
    now = now or timezone.now()
    grace = dt.timedelta(hours=settings.LATCHKEY_STAY_LINK_GRACE_HOURS)
    rows = (
        StayLink.objects.exclude(key_id=newest_key().kid)
        .filter(grant__active=True, grant__valid_until__gt=now - grace)
        .values("key_id")
        .annotate(links=Count("pk"), last_until=Max("grant__valid_until"))
    )
    return {row["key_id"]: (row["links"], row["last_until"] + grace) for row in rows}


def stay_url(token: str) -> str:
    return f"{settings.SITE_URL.rstrip('/')}/stay/{token}/"


def stay_link_rotate(*, grant_id: int) -> bool:
    """Give the stay a new token: every link sent so far stops working."""
    nonce, hashed = _fresh()
    return bool(
        StayLink.objects.filter(grant_id=grant_id).update(
            nonce=nonce, token_hash=hashed, key_id=newest_key().kid, rotated_at=timezone.now()
        )
    )


def stay_link_rotated_since(*, grant: AccessGrant, moment: dt.datetime) -> bool:
    return StayLink.objects.filter(grant=grant, rotated_at__gt=moment).exists()


def stay_link_resolve(*, token: str) -> StayLink | None:
    """The link a token names, with everything the page shows, or None. The lookup is by
    the token's hash (an index hit), so its timing tells nothing about other tokens."""
    if not TOKEN_RE.fullmatch(token):
        return None
    return (
        StayLink.objects.select_related("grant__booking__property")
        .filter(token_hash=token_hash(token))
        .first()
    )


def stay_link_expires_at(*, grant: AccessGrant) -> dt.datetime:
    """Check-out (the code's end, lag included) plus a small grace, so a guest who looks up
    the address after leaving still finds it; after that the link answers 410."""
    return grant.valid_until + dt.timedelta(hours=settings.LATCHKEY_STAY_LINK_GRACE_HOURS)


def expand_token(*, booking_id: int, text: str) -> str:
    """Put the stay's real token into an email about to be handed to the mail server."""
    if TOKEN_MARK not in text:
        return text
    grant = AccessGrant.objects.filter(booking_id=booking_id).first()
    if grant is None:
        return text
    return text.replace(TOKEN_MARK, stay_link_token(grant=grant))
