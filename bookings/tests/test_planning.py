"""Stay windows in the property's timezone, DST days included (Europe/Vienna, America/New_York)."""

import datetime as dt
from zoneinfo import ZoneInfo

from bookings.planning import local_to_utc, stay_window

VIENNA = ZoneInfo("Europe/Vienna")
NEW_YORK = ZoneInfo("America/New_York")
UTC = dt.UTC


def window(tz, check_in, check_out, t_in=dt.time(15), t_out=dt.time(11), lead=0, lag=0):
    return stay_window(
        tz=tz,
        check_in=check_in,
        check_out=check_out,
        check_in_time=t_in,
        check_out_time=t_out,
        lead_minutes=lead,
        lag_minutes=lag,
    )


def test_plain_winter_stay_in_vienna():
    start, end = window(VIENNA, dt.date(2026, 1, 10), dt.date(2026, 1, 12))
    assert start == dt.datetime(2026, 1, 10, 14, tzinfo=UTC)  # CET = UTC+1
    assert end == dt.datetime(2026, 1, 12, 10, tzinfo=UTC)


def test_stay_across_spring_forward_in_vienna_is_an_hour_shorter():
    # Clocks go 02:00 -> 03:00 on 2026-03-29.
    start, end = window(VIENNA, dt.date(2026, 3, 28), dt.date(2026, 3, 29))
    assert start == dt.datetime(2026, 3, 28, 14, tzinfo=UTC)  # CET
    assert end == dt.datetime(2026, 3, 29, 9, tzinfo=UTC)  # CEST = UTC+2
    assert end - start == dt.timedelta(hours=19)


def test_stay_across_fall_back_in_vienna_is_an_hour_longer():
    # Clocks go 03:00 -> 02:00 on 2026-10-25.
    start, end = window(VIENNA, dt.date(2026, 10, 24), dt.date(2026, 10, 25))
    assert start == dt.datetime(2026, 10, 24, 13, tzinfo=UTC)  # CEST
    assert end == dt.datetime(2026, 10, 25, 10, tzinfo=UTC)  # CET
    assert end - start == dt.timedelta(hours=21)


def test_spring_forward_in_new_york():
    # Clocks go 02:00 -> 03:00 on 2026-03-08.
    start, end = window(NEW_YORK, dt.date(2026, 3, 7), dt.date(2026, 3, 8), lead=60, lag=30)
    assert start == dt.datetime(2026, 3, 7, 19, tzinfo=UTC)  # 15:00 EST (UTC-5) minus 1 h
    assert end == dt.datetime(2026, 3, 8, 15, 30, tzinfo=UTC)  # 11:00 EDT (UTC-4) plus 30 min


def test_fall_back_in_new_york():
    # Clocks go 02:00 -> 01:00 on 2026-11-01.
    start, end = window(NEW_YORK, dt.date(2026, 10, 31), dt.date(2026, 11, 1))
    assert start == dt.datetime(2026, 10, 31, 19, tzinfo=UTC)  # EDT
    assert end == dt.datetime(2026, 11, 1, 16, tzinfo=UTC)  # EST


def test_time_in_the_spring_gap_lands_after_the_jump():
    # 02:30 does not exist in Vienna on 2026-03-29: the guest gets 03:30 summer time.
    at = local_to_utc(dt.date(2026, 3, 29), dt.time(2, 30), VIENNA)
    assert at == dt.datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert at.astimezone(VIENNA).time() == dt.time(3, 30)


def test_ambiguous_time_in_the_fall_means_earlier_for_start_later_for_end():
    # 02:30 happens twice in Vienna on 2026-10-25.
    start, end = window(
        VIENNA,
        dt.date(2026, 10, 25),
        dt.date(2026, 10, 25),
        t_in=dt.time(2, 30),
        t_out=dt.time(2, 30),
    )
    assert start == dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # the first 02:30 (CEST)
    assert end == dt.datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # the second 02:30 (CET)


def test_exact_moments_win_over_dates():
    given_in = dt.datetime(2026, 7, 1, 16, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    given_out = dt.datetime(2026, 7, 3, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    start, end = stay_window(
        tz=VIENNA,
        check_in=given_in.date(),
        check_out=given_out.date(),
        check_in_time=dt.time(15),
        check_out_time=dt.time(11),
        lead_minutes=15,
        check_in_at=given_in,
        check_out_at=given_out,
    )
    assert start == dt.datetime(2026, 7, 1, 13, 45, tzinfo=UTC)
    assert end == dt.datetime(2026, 7, 3, 7, tzinfo=UTC)
