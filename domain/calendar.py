"""When a promise's clock runs: add a duration under a clock kind, or measure how much clock ran.

Pure (no I/O, no "now"): callers pass aware datetimes and get aware UTC datetimes back. China's
statutory holidays and 调休 working days come from the chinesecalendar package, topped up by the
operator's extra_* lists; for years the package doesn't know, Mon-Fri are the working days.

SERVICE_HOURS and WORKING_DAYS are computed as a sequence of "open" intervals (one per day, bounded
by local wall times, in UTC), so add() and elapsed() walk days, never minutes, and are exact
inverses of each other.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo

import chinese_calendar

ZERO = timedelta(0)
ONE_DAY = timedelta(days=1)


class ClockKind(StrEnum):
    ALWAYS = "always"  # wall-clock time: 40 minutes is 40 minutes, day or night
    SERVICE_HOURS = "service_hours"  # only within daily service hours, on the days they apply
    WORKING_DAYS = "working_days"  # only on statutory working days, whole local days


@dataclass(frozen=True)
class CalendarSettings:
    timezone: str = "Asia/Shanghai"
    service_start: time = time(8, 0)
    service_end: time = time(20, 0)
    service_days: Literal["every_day", "working_days"] = "every_day"  # days the service clock runs
    extra_holidays: tuple[date, ...] = ()  # operator additions, e.g. next year's schedule early
    extra_workdays: tuple[date, ...] = ()  # operator-declared 调休 working days

    def __post_init__(self) -> None:
        if not self.service_start < self.service_end:
            raise ValueError("service_start must be before service_end (same day)")
        if self.service_days not in ("every_day", "working_days"):
            raise ValueError(f"service_days must be 'every_day' or 'working_days', not {self.service_days!r}")
        clash = set(self.extra_holidays) & set(self.extra_workdays)
        if clash:  # otherwise which one wins would be an accident of lookup order
            raise ValueError(f"dates both extra holiday and extra workday: {sorted(clash)}")


class BusinessCalendar:
    def __init__(self, settings: CalendarSettings):
        self.settings = settings
        self._zone = ZoneInfo(settings.timezone)  # a typo fails here, at start, not on first use
        self._holidays = frozenset(settings.extra_holidays)
        self._workdays = frozenset(settings.extra_workdays)

    def is_working_day(self, d: date) -> bool:
        if d in self._workdays:
            return True
        if d in self._holidays:
            return False
        try:
            return chinese_calendar.is_workday(d)
        except NotImplementedError:  # the package has no schedule for this year
            return d.weekday() < 5

    def covers(self, year: int) -> bool:
        """Whether holiday data (package or operator lists) knows this year, i.e. no Mon-Fri guess."""
        if any(d.year == year for d in self._holidays | self._workdays):
            return True
        try:
            chinese_calendar.is_workday(date(year, 1, 1))
        except NotImplementedError:
            return False
        return True

    def add(self, start: datetime, duration: timedelta, kind: ClockKind) -> datetime:
        """The instant (UTC) at which `duration` of `kind` clock has run since `start`."""
        start, kind = _utc(start, "start"), ClockKind(kind)
        if duration < ZERO:
            raise ValueError(f"duration must not be negative: {duration}")
        if kind is ClockKind.ALWAYS or duration == ZERO:  # zero means "now", even off-hours
            return start + duration
        left = duration
        for open_, close in self._open_intervals(start, kind):
            begin = max(open_, start)
            if begin + left <= close:  # "<=": 19:00 + 1h ends at 20:00 today, not 08:00 tomorrow
                return begin + left
            left -= close - begin
        raise AssertionError("unreachable: _open_intervals never ends")

    def elapsed(self, start: datetime, end: datetime, kind: ClockKind) -> timedelta:
        """How much `kind` clock ran in [start, end); zero if end <= start."""
        start, end, kind = _utc(start, "start"), _utc(end, "end"), ClockKind(kind)
        if end <= start:
            return ZERO
        if kind is ClockKind.ALWAYS:
            return end - start
        total = ZERO
        for open_, close in self._open_intervals(start, kind):
            if open_ >= end:
                break
            total += min(close, end) - max(open_, start)
        return total

    def _open_intervals(self, start: datetime, kind: ClockKind) -> Iterator[tuple[datetime, datetime]]:
        """The clock's running intervals (UTC) that end after `start`, in order, without end.

        Terminates in practice: past the package's years every Mon-Fri is a working day again.
        """
        day = start.astimezone(self._zone).date()
        while True:
            interval = self._open_interval(day, kind)
            if interval is not None and interval[1] > start:
                yield interval
            day += ONE_DAY

    def _open_interval(self, day: date, kind: ClockKind) -> tuple[datetime, datetime] | None:
        if kind is ClockKind.WORKING_DAYS:
            if not self.is_working_day(day):
                return None
            return self._at(day, time(0)), self._at(day + ONE_DAY, time(0))
        s = self.settings
        if s.service_days == "working_days" and not self.is_working_day(day):
            return None
        return self._at(day, s.service_start), self._at(day, s.service_end)

    def _at(self, day: date, t: time) -> datetime:
        """Local wall time on `day`, as UTC."""
        return datetime.combine(day, t, tzinfo=self._zone).astimezone(timezone.utc)


def _utc(dt: datetime, name: str) -> datetime:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {dt!r}")
    return dt.astimezone(timezone.utc)
