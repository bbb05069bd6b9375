"""The private link to a guest's stay page (`/stay/<token>/`).

The token is derived from a random per-grant nonce with the installation's key, so the portal
can put the same link into every email of a stay (re-sent, updated) without storing it: the
database holds the nonce and a SHA-256 of the token, and the stored copy of each email holds a
placeholder that is replaced only in the message handed to the mail server. Cancelling the
stay rotates the nonce, which kills every copy of the link.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import secrets

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone

from bookings.models import AccessGrant, StayLink
from portal.crypto import keyed_digest

# Stands for the token in the stored copy of a guest email (see emails._deliver).
TOKEN_MARK = "[private-link]"
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{43}")


def _token_for(nonce: str) -> str:
    digest = keyed_digest("stay-link", nonce.encode())
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _fresh() -> tuple[str, str]:
    nonce = secrets.token_hex(16)
    return nonce, token_hash(_token_for(nonce))


def stay_link_token(*, grant: AccessGrant) -> str:
    """The stay's link token, created on first use and stable afterwards."""
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
                )
        except IntegrityError:  # created concurrently (two emails at once): use that one
            link = StayLink.objects.get(grant=grant)
    return _token_for(link.nonce)


def stay_url(token: str) -> str:
    return f"{settings.SITE_URL.rstrip('/')}/stay/{token}/"


def stay_link_rotate(*, grant_id: int) -> bool:
    """Give the stay a new token: every link sent so far stops working."""
    nonce, hashed = _fresh()
    return bool(
        StayLink.objects.filter(grant_id=grant_id).update(
            nonce=nonce, token_hash=hashed, rotated_at=timezone.now()
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


@receiver(post_save, sender=AccessGrant, dispatch_uid="stay-link-rotate-on-cancel")
def _rotate_when_cancelled(sender, instance: AccessGrant, update_fields=None, **kwargs) -> None:
    if instance.active or (update_fields is not None and "active" not in update_fields):
        return
    stay_link_rotate(grant_id=instance.pk)
