"""The community's promises as data: how long each milestone may take, on which clock, which
categories are complex, what an emergency changes, and the escalation ladder once a deadline has
passed. Built once from config.yaml (bot/config.py) and passed to every move and to the sweep."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from domain.calendar import BusinessCalendar, CalendarSettings, ClockKind
from domain.states import Milestone, Priority

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|min|h|d|w)\s*$")
_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """"40m", "3h", "2d", "1w" -> timedelta (ValueError names the accepted forms)."""
    m = _DURATION.match(str(text))
    if not m:
        raise ValueError(f"'{text}' is not a duration like 40m, 3h, 2d or 1w")
    return timedelta(**{_UNITS[m.group(2)]: float(m.group(1))})


def say_duration(d: timedelta) -> str:
    """40分钟, 3小时, 2天 (for residents and staff)."""
    minutes = int(d.total_seconds() // 60)
    if minutes == 0:
        return "立即"
    if minutes % 1440 == 0:
        return f"{minutes // 1440}天"
    if minutes % 60 == 0:
        return f"{minutes // 60}小时"
    return f"{minutes}分钟"


@dataclass(frozen=True)
class Promise:
    within: timedelta
    clock: ClockKind = ClockKind.ALWAYS


@dataclass(frozen=True)
class Step:
    """One rung of the escalation ladder: `after` the deadline, tell `to` (grid_leader, assignee,
    committee, street, or parties: the ticket's referred parties)."""
    after: timedelta
    to: str


TARGETS = ("grid_leader", "assignee", "committee", "street", "parties")


@dataclass(frozen=True)
class Deadlines:
    due: dict[Milestone, datetime | None]
    fix_is_plan: bool
    immediate: bool          # an emergency: on site at once, no 40-minute line

    @property
    def onsite(self) -> datetime | None:
        return self.due.get(Milestone.ONSITE)

    @property
    def fix(self) -> datetime | None:
        return self.due.get(Milestone.PLAN if self.fix_is_plan else Milestone.FIX)


@dataclass(frozen=True)
class Policy:
    promises: dict[Milestone, Promise] = field(default_factory=lambda: dict(DEFAULT_PROMISES))
    complex_categories: frozenset[str] = frozenset({"illegal_build", "neighbor", "property_service", "security", "greenery"})
    # per category, promises that differ from the table (e.g. elevator: fix 4h)
    category_promises: dict[str, dict[Milestone, Promise]] = field(default_factory=dict)
    urgent_onsite: Promise | None = None            # urgent (not emergency) tickets: a shorter onsite line
    emergency_onsite: Promise = Promise(timedelta(minutes=10))   # shown as 立即; escalated after this
    warn_fraction: float = 0.25                     # warn when this share of the time is left
    ladder: tuple[Step, ...] = (Step(timedelta(0), "grid_leader"), Step(timedelta(minutes=30), "committee"),
                                Step(timedelta(hours=2), "street"))
    repeat_every: timedelta = timedelta(days=1)     # after the last rung, again this often
    visit_for: str = "all"                          # all | unhappy (only without a rating of 4-5)
    reopen_on_low_rating: bool = False              # a 1-2 rating reopens the ticket
    low_rating: int = 2
    category_party: dict[str, str] = field(default_factory=dict)   # category -> lead party code (一键派单)
    calendar: BusinessCalendar = field(default_factory=lambda: BusinessCalendar(CalendarSettings()))

    # -- deadlines ------------------------------------------------------------------------------
    def promise(self, milestone: Milestone, category: str | None = None) -> Promise:
        return (self.category_promises.get(category or "", {}).get(milestone) or self.promises[milestone])

    def is_complex(self, category: str) -> bool:
        return category in self.complex_categories

    def due(self, milestone: Milestone, start: datetime, category: str | None = None) -> datetime:
        p = self.promise(milestone, category)
        return self.calendar.add(start, p.within, p.clock)

    def deadlines(self, category: str, priority: str, emergency: str | None, start: datetime) -> Deadlines:
        """A round's deadlines, counted from `start` (the report, or the reopen)."""
        complex_ = self.is_complex(category)
        if emergency:
            onsite = self.calendar.add(start, self.emergency_onsite.within, self.emergency_onsite.clock)
        elif priority == Priority.URGENT and self.urgent_onsite is not None:
            onsite = self.calendar.add(start, self.urgent_onsite.within, self.urgent_onsite.clock)
        else:
            onsite = self.due(Milestone.ONSITE, start, category)
        due: dict[Milestone, datetime | None] = {Milestone.REGISTER: self.due(Milestone.REGISTER, start, category),
                                                 Milestone.ONSITE: onsite}
        if complex_:
            due[Milestone.PLAN] = self.due(Milestone.PLAN, start, category)
        elif not emergency:                # an emergency is handled at once; its fix has no 3-hour line
            due[Milestone.FIX] = self.due(Milestone.FIX, start, category)
        return Deadlines(due, complex_, bool(emergency))

    def late_by(self, milestone: Milestone, due: datetime | None, met: datetime, category: str | None = None) -> int:
        """Seconds of the milestone's clock past `due` when met at `met` (0: on time)."""
        if due is None or met <= due:
            return 0
        return int(self.calendar.elapsed(due, met, self.promise(milestone, category).clock).total_seconds())

    # -- warnings and the ladder ----------------------------------------------------------------
    def warn_at(self, milestone: Milestone, start: datetime, due: datetime) -> datetime | None:
        """When to warn before `due` (None: too short to be worth a warning)."""
        span = due - start
        if span < timedelta(minutes=20):
            return None
        return due - span * self.warn_fraction

    def step(self, n: int) -> Step:
        """The ladder's n-th rung (1-based); past the last, the last again every repeat_every."""
        if n <= len(self.ladder):
            return self.ladder[n - 1]
        last = self.ladder[-1]
        return Step(last.after + self.repeat_every * (n - len(self.ladder)), last.to)


DEFAULT_PROMISES = {
    Milestone.REGISTER: Promise(timedelta(minutes=5)),
    Milestone.ONSITE: Promise(timedelta(minutes=40)),
    Milestone.FIX: Promise(timedelta(hours=3)),
    Milestone.PLAN: Promise(timedelta(days=2)),
    Milestone.VISIT: Promise(timedelta(days=7)),
    Milestone.REPLY: Promise(timedelta(days=2)),
}
