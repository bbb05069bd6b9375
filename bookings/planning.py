"""Stay windows: planned in the property's local time, stored in UTC.

DST rules, chosen so the guest never gets less time than promised:
- a local time that does not exist (spring forward, e.g. 02:30) means the same wall-clock
  reading before the jump, which lands just after it (02:30 -> 03:30 summer time);
- a local time that happens twice (fall back) means the earlier one for the start of access and
  the later one for the end.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo


def local_to_utc(day: dt.date, at: dt.time, tz: ZoneInfo, *, later: bool = False) -> dt.datetime:
    local = dt.datetime.combine(day, at).replace(tzinfo=tz, fold=1 if later else 0)
    return local.astimezone(dt.UTC)


def stay_window(
    *,
    tz: ZoneInfo,
    check_in: dt.date,
    check_out: dt.date,
    check_in_time: dt.time,
    check_out_time: dt.time,
    lead_minutes: int = 0,
    lag_minutes: int = 0,
    check_in_at: dt.datetime | None = None,
    check_out_at: dt.datetime | None = None,
) -> tuple[dt.datetime, dt.datetime]:
    """(valid_from, valid_until) in UTC. Exact moments, when given, win over dates and times."""
    start = (
        check_in_at.astimezone(dt.UTC) if check_in_at else local_to_utc(check_in, check_in_time, tz)
    )
    end = (
        check_out_at.astimezone(dt.UTC)
        if check_out_at
        else local_to_utc(check_out, check_out_time, tz, later=True)
    )
    return start - dt.timedelta(minutes=lead_minutes), end + dt.timedelta(minutes=lag_minutes)


def turnover_window(
    *,
    start: dt.datetime,
    end: dt.datetime,
    lead_minutes: int,
    lag_minutes: int,
    cleaning_minutes: int,
    previous_end: dt.datetime | None = None,
    next_start: dt.datetime | None = None,
) -> tuple[dt.datetime, dt.datetime]:
    """The code's window for a stay with nominal (start, end), between the stay before it
    (which ends at `previous_end`) and the stay after it (which starts at `next_start`).

    Same-day turnover: the leaving guest's code ends before the arriving guest's begins, with
    the cleaning window between. Lag goes first to the leaving guest, as far as it leaves the
    cleaning window; the arriving guest's lead starts after the cleaning window. The guests'
    own check-out and check-in times are never cut: when they leave less than the cleaning
    window, the codes simply end at check-out and begin at check-in.
    Both neighbours compute the same boundary from the same inputs, so they agree.
    """
    lead = dt.timedelta(minutes=lead_minutes)
    lag = dt.timedelta(minutes=lag_minutes)
    cleaning = dt.timedelta(minutes=cleaning_minutes)
    valid_from, valid_until = start - lead, end + lag
    if next_start is not None and next_start >= end:
        valid_until = min(end + lag, max(end, next_start - cleaning))
    if previous_end is not None and previous_end <= start:
        previous_until = min(previous_end + lag, max(previous_end, start - cleaning))
        valid_from = max(start - lead, min(start, previous_until + cleaning))
    return valid_from, valid_until
