"""domain.calendar: when a promise's clock runs. Holiday facts are the chinesecalendar 1.11.0 data for
2026 (国庆 10-01..07 with 调休 working days Sun 09-20 and Sat 10-10); 2027 is not in that package."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings, strategies as st

from domain.calendar import BusinessCalendar, CalendarSettings, ClockKind

SH = ZoneInfo("Asia/Shanghai")
UTC = timezone.utc
H = timedelta(hours=1)
DAY = timedelta(days=1)
ZERO = timedelta(0)


def local(*args: int) -> datetime:
    """A Shanghai wall time as the aware UTC instant callers would pass."""
    return datetime(*args, tzinfo=SH).astimezone(UTC)


@pytest.fixture
def cal() -> BusinessCalendar:
    return BusinessCalendar(CalendarSettings())


@pytest.fixture
def cal_wd() -> BusinessCalendar:
    return BusinessCalendar(CalendarSettings(service_days="working_days"))


# --- which days are working days -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 10, 1), False),  # 国庆 (Thu)
        (date(2026, 10, 7), False),
        (date(2026, 10, 8), True),  # Thu after 国庆
        (date(2026, 10, 10), True),  # 调休: a Saturday worked
        (date(2026, 9, 20), True),  # 调休: a Sunday worked
        (date(2026, 10, 11), False),  # ordinary Sunday
        (date(2026, 11, 23), True),  # ordinary Monday
        (date(2026, 2, 14), True),  # 春节 调休 Saturday
        (date(2026, 2, 16), False),  # 春节 (Mon)
    ],
)
def test_is_working_day_follows_the_statutory_schedule(cal, day, working):
    assert cal.is_working_day(day) is working


def test_years_the_package_does_not_know_fall_back_to_weekdays(cal):
    assert cal.covers(2026) and cal.covers(2004)
    assert not cal.covers(2027) and not cal.covers(2003)
    assert cal.is_working_day(date(2027, 1, 1))  # a Friday: no data, so Mon-Fri says working
    assert not cal.is_working_day(date(2027, 1, 2))  # Saturday
    assert not cal.is_working_day(date(1999, 10, 2))  # Saturday before the package's first year
    # and the clocks run there without crashing
    assert cal.add(local(2027, 1, 1, 15), 2 * DAY, ClockKind.WORKING_DAYS) == local(2027, 1, 5, 15)


def test_operator_lists_come_first_and_count_as_coverage():
    cal = BusinessCalendar(
        CalendarSettings(
            extra_holidays=(date(2027, 1, 1), date(2026, 11, 23)),
            extra_workdays=(date(2027, 2, 6), date(2026, 10, 3)),
        )
    )
    assert not cal.is_working_day(date(2027, 1, 1))
    assert not cal.is_working_day(date(2026, 11, 23))  # overrides the package's ordinary Monday
    assert cal.is_working_day(date(2027, 2, 6))  # a Saturday
    assert cal.is_working_day(date(2026, 10, 3))  # overrides the package's 国庆
    assert cal.covers(2027) and not cal.covers(2028)
    assert cal.add(local(2026, 12, 31, 12), DAY, ClockKind.WORKING_DAYS) == local(2027, 1, 4, 12)


# --- ALWAYS --------------------------------------------------------------------------------------


def test_always_is_plain_addition(cal):
    start = local(2026, 10, 1, 23, 50)  # a holiday night: irrelevant to this clock
    assert cal.add(start, timedelta(minutes=40), ClockKind.ALWAYS) == start + timedelta(minutes=40)
    assert cal.add(start, ZERO, ClockKind.ALWAYS) == start
    assert cal.elapsed(start, start + 5 * H, ClockKind.ALWAYS) == 5 * H


# --- SERVICE_HOURS (08:00-20:00) -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (local(2026, 11, 23, 23, 0), local(2026, 11, 24, 11, 0)),  # at night: from 08:00 tomorrow
        (local(2026, 11, 23, 19, 0), local(2026, 11, 24, 10, 0)),  # 1h today + 2h tomorrow
        (local(2026, 11, 23, 7, 0), local(2026, 11, 23, 11, 0)),  # before opening: from 08:00
        (local(2026, 11, 23, 0, 30), local(2026, 11, 23, 11, 0)),  # after local midnight (UTC prev day)
        (local(2026, 11, 23, 9, 15), local(2026, 11, 23, 12, 15)),  # within hours: plain
        (local(2026, 11, 23, 17, 0), local(2026, 11, 23, 20, 0)),  # ends exactly at closing, today
        (local(2026, 11, 23, 20, 0), local(2026, 11, 24, 11, 0)),  # at closing: nothing left today
        (local(2026, 10, 3, 19, 0), local(2026, 10, 4, 10, 0)),  # every_day: holidays count
    ],
)
def test_service_hours_add(cal, start, expected):
    assert cal.add(start, 3 * H, ClockKind.SERVICE_HOURS) == expected


def test_service_hours_zero_is_now_even_off_hours(cal):
    night = local(2026, 11, 23, 23, 0)
    assert cal.add(night, ZERO, ClockKind.SERVICE_HOURS) == night
    assert cal.add(night, ZERO, ClockKind.WORKING_DAYS) == night


def test_service_hours_on_working_days_skip_holidays_and_work_tiao_xiu(cal_wd):
    # Wed 09-30 19:00: 1h, then 国庆 10-01..07, then Thu 10-08 from 08:00
    assert cal_wd.add(local(2026, 9, 30, 19), 3 * H, ClockKind.SERVICE_HOURS) == local(2026, 10, 8, 10)
    # a report during the holiday starts at 08:00 of the first working day
    assert cal_wd.add(local(2026, 10, 2, 12), 3 * H, ClockKind.SERVICE_HOURS) == local(2026, 10, 8, 11)
    # Fri 10-09 19:00: Saturday 10-10 is a 调休 working day, so the clock runs on it
    assert cal_wd.add(local(2026, 10, 9, 19), 3 * H, ClockKind.SERVICE_HOURS) == local(2026, 10, 10, 10)
    # ...but not on the ordinary weekend after: Sat 10-10 19:00 -> Mon 10-12
    assert cal_wd.add(local(2026, 10, 10, 19), 3 * H, ClockKind.SERVICE_HOURS) == local(2026, 10, 12, 10)


def test_custom_service_hours_and_other_timezone():
    cal = BusinessCalendar(CalendarSettings(timezone="Asia/Urumqi", service_start=time(9), service_end=time(18)))
    start = datetime(2026, 11, 23, 17, tzinfo=ZoneInfo("Asia/Urumqi"))
    assert cal.add(start, 3 * H, ClockKind.SERVICE_HOURS) == datetime(
        2026, 11, 24, 11, tzinfo=ZoneInfo("Asia/Urumqi")
    )


# --- WORKING_DAYS --------------------------------------------------------------------------------


def test_working_days_skip_the_weekend(cal):
    # Fri 11-20 15:00 + 2 days: Fri 9h, Mon 24h, Tue 15h
    assert cal.add(local(2026, 11, 20, 15), 2 * DAY, ClockKind.WORKING_DAYS) == local(2026, 11, 24, 15)


def test_working_days_skip_a_statutory_holiday(cal):
    # Wed 09-30 15:00 + 2 days: Wed 9h, (国庆 10-01..07), Thu 10-08 24h, Fri 10-09 15h
    assert cal.add(local(2026, 9, 30, 15), 2 * DAY, ClockKind.WORKING_DAYS) == local(2026, 10, 9, 15)


def test_working_days_start_on_a_holiday_runs_from_next_working_midnight(cal):
    assert cal.add(local(2026, 10, 3, 10), DAY, ClockKind.WORKING_DAYS) == local(2026, 10, 9, 0)
    assert cal.add(local(2026, 10, 3, 10), 12 * H, ClockKind.WORKING_DAYS) == local(2026, 10, 8, 12)


def test_working_days_count_tiao_xiu_weekend_days(cal):
    # Fri 10-09 15:00 + 1 day: Saturday 10-10 is worked
    assert cal.add(local(2026, 10, 9, 15), DAY, ClockKind.WORKING_DAYS) == local(2026, 10, 10, 15)
    # Fri 09-18 15:00 + 1 day: Sat 09-19 off, Sunday 09-20 worked
    assert cal.add(local(2026, 9, 18, 15), DAY, ClockKind.WORKING_DAYS) == local(2026, 9, 20, 15)


def test_a_week_of_working_days_steps_by_day_not_minute(cal, monkeypatch):
    calls = []
    real = cal.is_working_day
    monkeypatch.setattr(cal, "is_working_day", lambda d: calls.append(d) or real(d))
    # Wed 09-30 9h, (国庆), 10-08, 10-09, Sat 10-10 (调休), (Sun), 10-12..10-14, Thu 10-15 15h
    assert cal.add(local(2026, 9, 30, 15), 7 * DAY, ClockKind.WORKING_DAYS) == local(2026, 10, 15, 15)
    assert 0 < len(calls) <= 20  # one look-up per calendar day (16 here), not thousands


# --- elapsed -------------------------------------------------------------------------------------


def test_elapsed_counts_only_running_clock(cal, cal_wd):
    # "how late": due Mon 11:00, now Tue 09:00 -> late by 9h (20:00 close) + 1h (from 08:00)
    assert cal.elapsed(local(2026, 11, 23, 11), local(2026, 11, 24, 9), ClockKind.SERVICE_HOURS) == 10 * H
    # across 国庆, the service clock on working days runs only 09-30 and 10-08
    start, end = local(2026, 9, 30, 18), local(2026, 10, 8, 9)
    assert cal_wd.elapsed(start, end, ClockKind.SERVICE_HOURS) == 3 * H
    assert cal.elapsed(start, end, ClockKind.WORKING_DAYS) == 6 * H + 9 * H
    # a span lying wholly off the clock
    assert cal.elapsed(local(2026, 11, 23, 21), local(2026, 11, 24, 7), ClockKind.SERVICE_HOURS) == ZERO
    assert cal.elapsed(local(2026, 10, 2), local(2026, 10, 5), ClockKind.WORKING_DAYS) == ZERO


@pytest.mark.parametrize("kind", list(ClockKind))
def test_elapsed_is_zero_when_end_is_not_after_start(cal, kind):
    t = local(2026, 11, 23, 12)
    assert cal.elapsed(t, t, kind) == ZERO
    assert cal.elapsed(t, t - H, kind) == ZERO


# --- inputs --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(ClockKind))
def test_naive_datetimes_are_rejected(cal, kind):
    naive, aware = datetime(2026, 11, 23, 12), local(2026, 11, 23, 12)
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.add(naive, H, kind)
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.elapsed(naive, aware, kind)
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.elapsed(aware, naive, kind)


def test_negative_duration_is_rejected(cal):
    with pytest.raises(ValueError, match="negative"):
        cal.add(local(2026, 11, 23, 12), -H, ClockKind.ALWAYS)


def test_other_aware_zones_in_utc_out_and_kind_as_string(cal):
    start = datetime(2026, 11, 20, 15, tzinfo=SH)  # aware but not UTC
    end = cal.add(start, 2 * DAY, "working_days")
    assert end.tzinfo is UTC and end == local(2026, 11, 24, 15)
    with pytest.raises(ValueError):
        cal.add(start, H, "overnight")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"service_start": time(20), "service_end": time(8)},
        {"service_start": time(8), "service_end": time(8)},
        {"service_days": "weekends"},
        {"extra_holidays": (date(2027, 1, 1),), "extra_workdays": (date(2027, 1, 1),)},
    ],
)
def test_inconsistent_settings_are_rejected(kwargs):
    with pytest.raises(ValueError):
        CalendarSettings(**kwargs)


def test_unknown_timezone_fails_at_construction():
    with pytest.raises(Exception):  # ZoneInfoNotFoundError (a KeyError) or ValueError
        BusinessCalendar(CalendarSettings(timezone="Asia/Nowhere"))


# --- properties ----------------------------------------------------------------------------------

starts = st.datetimes(
    min_value=datetime(2025, 12, 1), max_value=datetime(2027, 2, 1), timezones=st.just(UTC)
)  # 2026 with its holidays, plus the edges of 2025 (known) and 2027 (weekday fallback)
durations = st.timedeltas(min_value=ZERO, max_value=timedelta(days=20))
calendars = st.sampled_from(
    [BusinessCalendar(CalendarSettings()), BusinessCalendar(CalendarSettings(service_days="working_days"))]
)


@settings(max_examples=400, deadline=None)
@given(cal=calendars, start=starts, duration=durations, kind=st.sampled_from(list(ClockKind)))
def test_elapsed_inverts_add(cal, start, duration, kind):
    due = cal.add(start, duration, kind)
    assert due >= start
    assert due.tzinfo is UTC
    assert cal.elapsed(start, due, kind) == duration


@settings(max_examples=300, deadline=None)
@given(cal=calendars, start=starts, span=durations, kind=st.sampled_from(list(ClockKind)))
def test_add_of_elapsed_lands_no_later_than_end(cal, start, span, kind):
    end = start + span
    ran = cal.elapsed(start, end, kind)
    assert ZERO <= ran <= span
    back = cal.add(start, ran, kind)
    assert back <= end  # equal unless `end` lies off the clock
    assert cal.elapsed(back, end, kind) == ZERO
