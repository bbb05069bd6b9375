"""Errors the bookings integrations store for a manager to read, in the reader's language: an
iCal feed's `last_error` and a PMS delivery's `error`.

They are written in English where they arise (the fetch guard in portal/netguard.py, the feed
parser, the webhook adapters) and kept so in the database, where the API, the admin and the
logs read them. The pages show them through `stored_error()`, which recognises each sentence
by its template below: the template is the sentence's code (its msgid) and the "%(name)s"
parts its parameters, read back from the stored text and filled into the translation (no
column for a code and its parameters is needed, and the API keeps its English sentence). Rows
written before this module are recognised the same way, so old rows are translated too; text
that matches no template (a new sentence, an exception's own words inside a parameter) is
shown as stored. A parameter that holds a sentence ("The address is refused: The URL has no
host name.") is translated in turn.

Lives on the floor (portal) so that an alert's "%(error)s" parameter (portal/alertkinds.py)
reads the same in German as the feed's status on the page. portal/tests/test_stored_errors.py
finds every such sentence in the code that writes them and fails until it is listed here.
"""

from __future__ import annotations

import re
from functools import lru_cache

from django.utils.translation import gettext, gettext_noop

TEMPLATES: tuple[str, ...] = (
    # An iCal feed's fetch (bookings/ical/services.py) ...
    gettext_noop("The address is refused: %(reason)s"),
    gettext_noop(
        "The calendar server refused access (HTTP %(status)s): the link may have been reset."
    ),
    gettext_noop("The calendar was not found (HTTP %(status)s): the link may be outdated."),
    gettext_noop("The calendar server had a problem (HTTP %(status)s)."),
    gettext_noop("The calendar server answered HTTP %(status)s instead of the calendar."),
    gettext_noop(
        "The feed suddenly has no events at all, while it had %(count)s at the last fetch; "
        "nothing was cancelled."
    ),
    # ... over the cap (bookings/ical/caps.py) ...
    gettext_noop(
        "The calendar feed “%(feed)s” of %(property)s lists %(coming)s future stays, more than "
        "the cap of %(cap)s per feed: the %(cap)s soonest were imported, the other %(rest)s "
        "were not."
    ),
    # ... its parser (bookings/ical/parse.py) ...
    gettext_noop("The answer is not an iCalendar file (it does not start with BEGIN:VCALENDAR)."),
    gettext_noop("The iCalendar file could not be read: %(detail)s"),
    # ... and the fetch guard (portal/netguard.py).
    gettext_noop("The URL is too long."),
    gettext_noop("The URL must not contain spaces or control characters."),
    gettext_noop("The URL is not valid: %(detail)s."),
    gettext_noop("Only http:// and https:// URLs can be fetched."),
    gettext_noop("The URL must not contain a user name or password."),
    gettext_noop("The URL has no host name."),
    gettext_noop("The host %(host)s could not be found (%(detail)s)."),
    gettext_noop("The host %(host)s could not be found."),
    gettext_noop(
        "The host %(host)s points to a private or local network address (%(address)s); only "
        "addresses on the public internet can be fetched."
    ),
    gettext_noop("Connected to %(peer)s, not the checked address %(address)s."),
    gettext_noop("Too many redirects (more than %(limit)s)."),
    gettext_noop("The server took too long to answer."),
    gettext_noop("The server could not be reached: %(detail)s."),
    gettext_noop("The answer is too large (%(size)s bytes; the limit is %(limit)s)."),
    gettext_noop("The answer is too large (more than %(limit)s bytes)."),
    gettext_noop("The answer broke off: %(detail)s."),
    # A PMS delivery (bookings/pms/services.py) ...
    gettext_noop("Body is not UTF-8."),
    gettext_noop("Body contains NUL bytes."),
    gettext_noop("Body is not JSON: %(detail)s"),
    gettext_noop("Missing field %(field)s."),
    gettext_noop("Unreadable payload: %(detail)s"),
    gettext_noop("Processing kept failing; see the worker log."),
    # ... and the booking it carries (bookings/services.py).
    gettext_noop("%(field)s must be between %(first)s and %(last)s."),
    gettext_noop("Could not find a free keypad code for this stay."),
    gettext_noop("Could not draw a free keypad code."),
)

PARAM = re.compile(r"%\((\w+)\)s")
# Parameters that hold a sentence of their own (a refusal's reason, an exception's words):
# read in turn. Names (a feed's, a property's) are never looked up, so a feed called "Today"
# stays "Today".
_SENTENCES = {"reason", "detail"}


def _pattern(template: str) -> re.Pattern[str]:
    """The stored sentences `template` makes: its text as is, each parameter any text (a
    parameter named twice must read the same both times)."""
    parts = PARAM.split(template)
    seen: set[str] = set()
    out = []
    for index, part in enumerate(parts):
        if index % 2 == 0:
            out.append(re.escape(part))
        elif part in seen:
            out.append(f"(?P={part})")
        else:
            seen.add(part)
            out.append(f"(?P<{part}>.+?)")
    return re.compile("".join(out), re.DOTALL)


@lru_cache(maxsize=1)
def _patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    # The longest first: a sentence with more fixed text is the more specific reading.
    ordered = sorted(TEMPLATES, key=lambda t: len(PARAM.sub("", t)), reverse=True)
    return tuple((template, _pattern(template)) for template in ordered)


def stored_error(text: str) -> str:
    """`text` in the active language: a known sentence or template filled with the stored
    parameters, several joined by "; " (a PMS delivery with more than one reservation), or
    anything else as stored."""
    if not text:
        return text
    translated = gettext(text)
    if translated != text:
        return translated
    for template, pattern in _patterns():
        match = pattern.fullmatch(text)
        if match is not None:
            params = {
                name: stored_error(value) if name in _SENTENCES else value
                for name, value in match.groupdict().items()
            }
            return gettext(template) % params
    if "; " in text:
        parts = text.split("; ")
        read = [stored_error(part) for part in parts]
        if read != parts:
            return "; ".join(read)
    return text
