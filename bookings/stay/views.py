"""The guest's stay page: public by token, thin views over bookings.stay.page (reads) and
bookings.stay.access (opening the door).

Every answer is private and uncacheable, and sends no Referer: the token is in the URL and
house instructions may link elsewhere. Unknown tokens are counted per client address (429 past
the limit), known links per link: guessing from the guest's address cannot lock the guest out.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.dateformat import format as date_format
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from bookings.models import StayLink
from bookings.stay.access import (
    CHALLENGE_TTL,
    OpenRefused,
    StepUpStarted,
    opening_ref,
    opening_status,
    stay_open,
)
from bookings.stay.page import guest_language, stay_link_for_page, stay_page_for
from bookings.stay.texts import DATETIME_FORMATS, message
from portal.throttling import client_ip, rate_exceeded


def _private(response: HttpResponse) -> HttpResponse:
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _gone(request, reason: str, status: int, language: str | None = None) -> HttpResponse:
    language = language or (
        request.LANGUAGE_CODE if getattr(request, "LANGUAGE_CODE", "") in ("en", "de") else "en"
    )
    with translation.override(language):
        response = render(request, f"stay/gone.{language}.html", {"reason": reason}, status=status)
    return _private(response)


def _link_or_response(request, token: str) -> StayLink | HttpResponse:
    """The token's link, or the answer instead of the page.

    Unknown tokens count per client address and past the limit answer 429. A real link is
    never refused for someone else's misses (a stranger on the guest's Wi-Fi or behind the
    same proxy guessing tokens must not lock the guest out): it counts per link instead. That
    a valid token still answers 200 from a throttled address teaches a guesser nothing useful:
    a token is 256 random bits, the miss limit bounds the load of guessing, not its odds.
    """
    link, state = stay_link_for_page(token=token)
    if state == "not_found":
        miss_key = f"stay-miss:{client_ip(request)}"
        if rate_exceeded(key=miss_key, rate=settings.LATCHKEY_STAY_MISS_RATE):
            return _gone(request, "throttled", 429)
        return _gone(request, "not_found", 404)
    if rate_exceeded(key=f"stay-view:{link.pk}", rate=settings.LATCHKEY_STAY_VIEW_RATE):
        return _gone(request, "throttled", 429, guest_language(link))
    if state == "expired":
        return _gone(request, "expired", 410, guest_language(link))
    return link


def _page(request, link: StayLink, *, language: str, status: int = 200, **extra) -> HttpResponse:
    page = stay_page_for(link=link, language=language)
    prop_tz = link.grant.booking.property.tz
    with translation.override(language), timezone.override(prop_tz):
        response = render(
            request,
            f"stay/page.{language}.html",
            {
                "page": page,
                "token": request.resolver_match.kwargs["token"],
                "datetime_format": DATETIME_FORMATS[language],
                "step_up_minutes": int(CHALLENGE_TTL.total_seconds() // 60),
                **extra,
            },
            status=status,
        )
    return _private(response)


def _language(request, link: StayLink) -> str:
    return guest_language(link, request.GET.get("lang") or request.POST.get("lang"))


@never_cache
@require_GET
def stay_page(request, token: str):
    link = _link_or_response(request, token)
    if isinstance(link, HttpResponse):
        return link
    return _page(request, link, language=_language(request, link))


@never_cache
@require_POST
def stay_open_door(request, token: str):
    """ "Open the door": refused outside the stay, rate-limited per link and per address, and
    behind the property's step-up verification when its policy asks for it."""
    link = _link_or_response(request, token)
    if isinstance(link, HttpResponse):
        return link
    language = _language(request, link)
    ip = client_ip(request)
    over_link = rate_exceeded(key=f"stay-open:{link.pk}", rate=settings.LATCHKEY_STAY_OPEN_RATE)
    over_ip = rate_exceeded(key=f"stay-open-ip:{ip}", rate=settings.LATCHKEY_STAY_IP_RATE)
    if over_link or over_ip:
        return _page(
            request, link, language=language, status=429, error=message(language, "throttled")
        )
    door_ref = request.POST.get("door", "")[:64]
    answer = request.POST.get("answer", "").strip()[:32] or None
    try:
        result = stay_open(link=link, door_ref=door_ref, answer=answer, ip=ip)
    except OpenRefused as exc:
        params = dict(exc.params)
        if exc.reason == "too_early":
            with translation.override(language):
                local = link.grant.valid_from.astimezone(link.grant.booking.property.tz)
                params["valid_from"] = date_format(local, DATETIME_FORMATS[language])
        extra = {"error": message(language, exc.reason, **params)}
        if exc.reason == "wrong_answer":  # let the guest try again in the same form
            extra.update(step_up_door=door_ref, step_up_retry=True)
        return _page(request, link, language=language, status=exc.status, **extra)
    if isinstance(result, StepUpStarted):
        return _page(request, link, language=language, step_up=result, step_up_door=door_ref)
    ref = opening_ref(link=link, command=result)
    url = reverse("stay-opening", kwargs={"token": token, "ref": ref})
    response = HttpResponseRedirect(f"{url}?lang={language}")
    response.status_code = 303  # see the result with a GET; a reload does not open again
    return _private(response)


@never_cache
@require_GET
def stay_opening(request, token: str, ref: str):
    """How an opening went, in plain words; refreshes itself while the lock is working."""
    link = _link_or_response(request, token)
    if isinstance(link, HttpResponse):
        return link
    language = _language(request, link)
    found = opening_status(link=link, ref=ref)
    if found is None:
        return _gone(request, "not_found", 404, language)
    state, door = found
    return _page(
        request,
        link,
        language=language,
        opening=state,
        opening_message=message(language, state, door=door),
    )
