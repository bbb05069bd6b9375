"""What the guest's stay page shows (a selector): the stay's own data only. Nothing about
other stays, the organization, or lock ids; doors appear by name and opaque reference."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

from bookings.models import BookingStatus, StayLink
from bookings.stay.access import Door, stay_doors, window_state
from bookings.stay.links import stay_link_expires_at, stay_link_resolve


@dataclass(frozen=True)
class StayPage:
    language: str
    guest_name: str
    property_name: str
    address: str
    house_instructions: str
    code: str
    valid_from: dt.datetime  # local time at the property
    valid_until: dt.datetime
    timezone: str
    window: str  # before / during / after
    doors: list[Door]
    step_up_verifier: str
    step_up_from: dt.time | None
    step_up_until: dt.time | None
    step_up_now: bool


def stay_link_for_page(
    *, token: str, now: dt.datetime | None = None
) -> tuple[StayLink | None, str]:
    """The link a token opens, with 'ok', 'not_found' (unknown, cancelled) or 'expired'."""
    now = now or timezone.now()
    link = stay_link_resolve(token=token)
    if link is None:
        return None, "not_found"
    grant = link.grant
    if not grant.active or grant.booking.status != BookingStatus.CONFIRMED:
        return None, "not_found"
    if now >= stay_link_expires_at(grant=grant):
        return link, "expired"
    return link, "ok"


def guest_language(link: StayLink, wanted: str | None = None) -> str:
    if wanted in ("en", "de"):
        return wanted
    language = link.grant.booking.guest_language
    return language if language in ("en", "de") else "en"


def stay_page_for(*, link: StayLink, language: str, now: dt.datetime | None = None) -> StayPage:
    now = now or timezone.now()
    grant = link.grant
    booking = grant.booking
    prop = booking.property
    tz = prop.tz
    return StayPage(
        language=language,
        guest_name=booking.guest_name,
        property_name=prop.name,
        address=prop.address,
        house_instructions=prop.house_instructions,
        code=grant.code,
        valid_from=grant.valid_from.astimezone(tz),
        valid_until=grant.valid_until.astimezone(tz),
        timezone=prop.timezone,
        window=window_state(grant=grant, now=now),
        doors=stay_doors(link=link),
        step_up_verifier=prop.step_up_verifier,
        step_up_from=prop.step_up_from if prop.step_up_verifier else None,
        step_up_until=prop.step_up_until if prop.step_up_verifier else None,
        step_up_now=prop.step_up_required(now),
    )
