"""The parts of the statistics' SQL that would otherwise differ between SQLite and PostgreSQL.

Weeks are the community's ISO weeks (Monday 00:00 local time). Rather than asking SQL for a date
in a time zone (SQLite has no time-zone database, PostgreSQL's date_trunc reads the session's zone),
the week boundaries are computed here as UTC instants and a timestamp is bucketed by a CASE over
them: the same SQL on both databases, exact across daylight-saving changes, and an index range
still filters the rows. Durations are the one thing each dialect spells its own way.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, literal
from sqlalchemy.orm import Session

from storage.models import UTCDateTime

_TICK = timedelta(microseconds=1)


def at(when: datetime):
    """A bound timestamp that goes through UTCDateTime (naive UTC in the database), so it compares
    with the columns on both dialects even where SQLAlchemy cannot infer the type."""
    return literal(when, UTCDateTime())


def monday_of(when: date | datetime, tz: str) -> date:
    """The Monday (local date) of the ISO week holding `when` (an aware instant or a local date)."""
    day = when.astimezone(ZoneInfo(tz)).date() if isinstance(when, datetime) else when
    return day - timedelta(days=day.weekday())


def local_midnight(day: date, tz: str) -> datetime:
    """00:00 of a local date, as an aware UTC instant."""
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(tz)).astimezone(timezone.utc)


def week_label(monday: date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def mondays(since: datetime, until: datetime, tz: str) -> list[date]:
    """The Mondays of every ISO week that overlaps [since, until). An `until` at exactly 00:00 on a
    Monday closes the week before it: that week has not begun."""
    first, last = monday_of(since, tz), monday_of(until - _TICK, tz)
    return [first + timedelta(weeks=i) for i in range((last - first).days // 7 + 1)]


def last_mondays(until: datetime, weeks: int, tz: str) -> list[date]:
    """The Mondays of the `weeks` ISO weeks ending with the one holding `until` (exclusive)."""
    last = monday_of(until - _TICK, tz)
    return [last - timedelta(weeks=weeks - 1 - i) for i in range(weeks)]


def edges(week_mondays: list[date], tz: str) -> list[datetime]:
    """The UTC instants that bound the weeks: one more than there are weeks."""
    days = week_mondays + [week_mondays[-1] + timedelta(weeks=1)]
    return [local_midnight(d, tz) for d in days]


def bucket(col, bounds: list[datetime]):
    """0 for a time in [bounds[0], bounds[1]), 1 for the next interval, …; the caller keeps rows
    before bounds[0] and from bounds[-1] on out with a WHERE (which an index can serve)."""
    return case(*((col < at(b), i) for i, b in enumerate(bounds[1:])), else_=None)


def seconds_between(session: Session, start, end):
    """end - start in seconds, as an SQL expression. SQLite keeps timestamps as text (julianday
    reads it). On PostgreSQL the difference of two timestamps without zone (UTC, as stored) is an
    interval; date_part gives its seconds as a double, exact to the microsecond, where extract
    would give numeric, several times slower to sum over the 100,000 rows of a month's figures."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date_part("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0
