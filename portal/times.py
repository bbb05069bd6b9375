"""How a moment is shown to a person: one format, in a named IANA time zone.

Times are stored in UTC (DESIGN.md, invariant 6); a manager reads them in the property's zone,
or the organization's where no property applies (a bridge, an API key, an invitation). Every
manager page, alert and log line uses `STAMP_FORMAT`, so "14:30" never means two things on one
screen. Lives on the floor (portal) so that alerts raised in bookings and locks format their
moments the same way as the pages (web) do.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

# A new organization's zone until its owner sets one: most properties of the product's first
# users are in Central Europe, and the property form proposes the same zone.
DEFAULT_ZONE = "Europe/Vienna"

# Numeric, the same in every language: what the tables, alerts and activity log show.
STAMP_FORMAT = "%Y-%m-%d %H:%M"


@lru_cache(maxsize=1)
def zone_names() -> tuple[str, ...]:
    """Every IANA zone a person may choose, sorted (the choices of the forms and the API)."""
    return tuple(sorted(available_timezones() - {"Factory", "localtime"}))


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """The zone called `name`; ValueError for a name that is not one."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"{name!r} is not an IANA time zone such as {DEFAULT_ZONE}.") from None


def local_stamp(value: dt.datetime, zone_name: str, *, named: bool = True) -> str:
    """`value` as "2026-12-03 14:30" in `zone_name`, followed by the zone's name unless
    `named` is False (where the page or column already names it)."""
    text = value.astimezone(zone(zone_name)).strftime(STAMP_FORMAT)
    return f"{text} ({zone_name})" if named else text
