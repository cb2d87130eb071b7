"""The figures the committee's web desk shows: promises kept (54321), residents' satisfaction, the
week's turnover (周周转, handlers/stats_review.py) and the joint meeting's agenda (联席会).

Every figure is an SQL aggregate (GROUP BY) over the ticket tables, never a loop over tickets in
Python, so the desk answers as fast with a million tickets as with a hundred; Python only labels,
ranks and fills in the few rows that come back. Times in the database are UTC; the community's
time zone is used only to cut weeks (handlers/stats_sql.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session, aliased

from domain.states import DONE, ENDED, MILESTONE_NAMES, Milestone, Status
from handlers.directory import Directory
from handlers.stats_review import (Agenda, AgendaEvent, AgendaItem, CategoryChange, Heat, LongOpen, WeeklyReview,
                                   agenda, weekly_review)
from handlers.stats_sql import at, bucket, edges, last_mondays, mondays, seconds_between, week_label
from nlp import categories
from storage.models import Grid, Ticket, TicketMilestone, TicketParty, TicketRating

__all__ = ["on_time", "OnTime", "OnTimeRow", "satisfaction", "Satisfaction", "GroupScore", "weekly_review",
           "WeeklyReview", "LongOpen", "CategoryChange", "Heat", "agenda", "Agenda", "AgendaItem", "AgendaEvent"]

# Registration is written by the bot as the report arrives, so it is always "on time": counting it
# would only dilute the rates of the promises people keep.
MEASURED = tuple(str(m) for m in Milestone if m != Milestone.REGISTER)
NO_PARTY = "网格自办"          # milestones of a ticket no party leads: the grid's own staff keep them
SMALL_SAMPLE = "样本不足"


def _label_party(code: str, d: Directory | None) -> str:
    if not code:
        return NO_PARTY
    return d.party_name(code) if d else code


# --- 54321: promises kept ----------------------------------------------------------------------

@dataclass(frozen=True)
class OnTimeRow:
    key: str
    label: str
    on_time: int = 0           # met with late_seconds == 0
    late: int = 0              # met, past the deadline (on the promise's own clock)
    missed: int = 0            # the deadline has passed, still not met
    pending: int = 0           # not met, not yet due: left out of the rate
    avg_to_meet_seconds: float | None = None   # from the round's start to meeting it, over the met ones

    @property
    def met(self) -> int:
        return self.on_time + self.late

    @property
    def decided(self) -> int:
        return self.on_time + self.late + self.missed

    @property
    def rate(self) -> float | None:
        return self.on_time / self.decided if self.decided else None


@dataclass(frozen=True)
class OnTime:
    by: str
    since: datetime
    until: datetime
    rows: list[OnTimeRow]
    total: OnTimeRow


def _owed_when_due(m, t, nxt):
    """An unmet milestone counts as missed only if it was still owed when it fell due. A reopen
    (the next round's registration), a cancel or merge, or the fix before a party's answer came,
    ends what is owed; a deadline that fell after that was never missed. The return visit is owed
    until the round is closed."""
    visit = m.name == str(Milestone.VISIT)
    ended_at = case((t.status.in_([str(s) for s in ENDED]), t.updated_at),
                    (and_(visit, t.status == str(Status.CLOSED)), t.closed_at),
                    (and_(~visit, t.status.in_([str(s) for s in DONE])), t.resolved_at), else_=None)
    return and_(or_(nxt.met_at.is_(None), nxt.met_at > m.due_at),
                or_(m.round != t.round, ended_at.is_(None), ended_at > m.due_at))


def on_time(session: Session, since: datetime, until: datetime, by: str = "milestone", *, tz: str,
            now: datetime | None = None, d: Directory | None = None, grid_ids: list[int] | None = None) -> OnTime:
    """Promises met or due in [since, until): a milestone belongs to the period it was met in, or,
    while unmet, the one it falls due in. `by`: milestone | grid | community | party | week (ISO
    weeks in `tz`). `grid_ids`: only these grids' tickets (a community's staff see their own).
    `now` decides missed vs pending (default `until`: pass the clock's time for a period not yet
    over). A party's own answer counts for that party; other promises for the ticket's lead party.

    Two reads, each through an index on the period, so the cost follows the period, not the
    history: the promises met in it (ix_milestone_met), which need no other row (the round's
    start and the ticket's grid are copied on each: storage/models.py), and the few still unmet
    that fall due in it (ix_milestone_unmet_due), the only ones that need the ticket's state and
    the next round to tell whether they were still owed."""
    if by not in ("milestone", "grid", "community", "party", "week"):
        raise ValueError(f"on_time by {by!r}")
    if not since < until:
        raise ValueError("on_time needs since < until")
    now = now or until
    m, t = TicketMilestone, Ticket
    nxt, lead = aliased(TicketMilestone), aliased(TicketParty)
    weeks = mondays(since, until, tz) if by == "week" else []

    def keyed(q, ms, when, grid_id):
        """`q` (over milestones `ms`) with the group key and the join it needs."""
        if by in ("grid", "community"):  # by grid id, named (or folded into communities) below
            return q, grid_id
        if by == "party":      # at most one lead per ticket (written once, at intake): no row is doubled
            q = q.outerjoin(lead, and_(lead.ticket_id == ms.ticket_id, lead.role == "lead"))
            return q, func.coalesce(func.nullif(ms.party, ""), lead.party, "")
        return q, (ms.name if by == "milestone" else bucket(when, edges(weeks, tz)))

    met, key = keyed(select().select_from(m), m, m.met_at, m.grid_id)
    met = (met.add_columns(key.label("key"), func.sum(case((m.late_seconds == 0, 1), else_=0)),
                           func.sum(case((m.late_seconds > 0, 1), else_=0)),
                           func.avg(seconds_between(session, m.round_started_at, m.met_at)))
           .where(m.name.in_(MEASURED), m.due_at.is_not(None), m.met_at >= at(since), m.met_at < at(until),
                  *([m.grid_id.in_(grid_ids)] if grid_ids is not None else []))
           .group_by(key))
    # Materialized on PostgreSQL so that it is read through ix_milestone_unmet_due: left to the
    # planner, the joins below make it prefer reading every unmet milestone of the history.
    unmet_due = (select(m.ticket_id, m.round, m.name, m.party, m.due_at)
                 .where(m.name.in_(MEASURED), m.met_at.is_(None), m.due_at >= at(since), m.due_at < at(until))
                 .cte("unmet_due").prefix_with("MATERIALIZED", dialect="postgresql"))
    u = unmet_due.c
    unmet = (select().select_from(unmet_due).join(t, t.id == u.ticket_id)
             .outerjoin(nxt, and_(nxt.ticket_id == u.ticket_id, nxt.round == u.round + 1,
                                  nxt.name == str(Milestone.REGISTER))))
    unmet, key = keyed(unmet, u, u.due_at, t.grid_id)
    unmet = (unmet.add_columns(key.label("key"), func.sum(case((u.due_at <= at(now), 1), else_=0)),
                               func.sum(case((u.due_at > at(now), 1), else_=0)))
             .where(_owed_when_due(u, t, nxt), *([t.grid_id.in_(grid_ids)] if grid_ids is not None else []))
             .group_by(key))
    found: dict = {}           # key -> [on_time, late, missed, pending, avg seconds to meet]
    for k, on, late, avg in session.execute(met):
        found[k] = [int(on or 0), int(late or 0), 0, 0, None if avg is None else float(avg)]
    for k, missed, pending in session.execute(unmet):
        found.setdefault(k, [0, 0, 0, 0, None])[2:4] = [int(missed or 0), int(pending or 0)]

    def row(k, label: str, key: str | None = None) -> OnTimeRow:
        r = found.get(k)
        return OnTimeRow(key or str(k), label) if r is None else OnTimeRow(key or str(k), label, *r)

    if by == "milestone":
        out = [row(str(ms), MILESTONE_NAMES[ms]) for ms in Milestone if str(ms) in found]
    elif by == "week":                   # every week of the period, empty ones too (a chart's x axis)
        out = [row(i, week_label(mon), week_label(mon)) for i, mon in enumerate(weeks)]
    elif by == "party":
        out = [row(k, _label_party(k, d)) for k in sorted(found, key=lambda k: (k == "", k))]
    elif by == "community":              # a 街道 compares its communities: their grids summed
        grids = session.execute(select(Grid.id, Grid.community).order_by(Grid.id)).all()
        out = []
        for code in dict.fromkeys(c for _, c in grids):
            rows_ = [row(i, "") for i, c in grids if c == code and i in found]
            if rows_:
                total = _sum_rows(rows_)
                out.append(OnTimeRow(code, _community_name(code, d), total.on_time, total.late, total.missed,
                                     total.pending, total.avg_to_meet_seconds))
    else:                                # grids in config order (their ids), as everywhere else
        out = [row(i, name, name) for i, name in session.execute(select(Grid.id, Grid.name).order_by(Grid.id))
               if i in found]
    return OnTime(by, since, until, out, _sum_rows(out))


def _community_name(code: str, d: Directory | None) -> str:
    return (d.communities.get(code) if d is not None else None) or code


def _sum_rows(rows: list[OnTimeRow]) -> OnTimeRow:
    met = sum(r.met for r in rows)
    avg = sum(r.avg_to_meet_seconds * r.met for r in rows if r.avg_to_meet_seconds is not None) / met if met else None
    return OnTimeRow("", "合计", sum(r.on_time for r in rows), sum(r.late for r in rows),
                     sum(r.missed for r in rows), sum(r.pending for r in rows), avg)


# --- residents' satisfaction ---------------------------------------------------------------------

@dataclass(frozen=True)
class GroupScore:
    key: str
    label: str
    count: int
    mean: float
    low: float | None          # the 95% interval of the mean (Student's t); None with one rating
    high: float | None
    shrunk: float              # the mean pulled toward the overall mean: what the ranking uses
    ranked: bool               # False: fewer than min_count ratings, listed after the ranked ones
    note: str = ""             # SMALL_SAMPLE when not ranked
    trend: list[float | None] = field(default_factory=list)   # the mean per week, oldest first
    trend_counts: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Satisfaction:
    by: str
    weeks: list[str]           # ISO week labels of the trend, oldest first
    count: int
    overall_mean: float | None
    groups: list[GroupScore]   # ranked groups best first, then the small samples


def _t975(df: int) -> float:
    from scipy.stats import t      # scipy is already a dependency (the text model); loaded on first use
    return float(t.ppf(0.975, df))


def _interval(n: int, total: int, squares: int) -> tuple[float | None, float | None]:
    if n < 2:
        return None, None
    mean = total / n
    var = max(squares - n * mean * mean, 0.0) / (n - 1)
    half = _t975(n - 1) * math.sqrt(var / n)
    return max(1.0, mean - half), min(5.0, mean + half)


def satisfaction(session: Session, by: str, until: datetime, weeks: int = 12, *, tz: str, min_count: int = 5,
                 prior: float = 10.0, d: Directory | None = None, grid_ids: list[int] | None = None) -> Satisfaction:
    """Residents' 1-5 ratings over the `weeks` ISO weeks ending with the one holding `until`, per
    grid, lead party (how 闵行 ranks 物业) or category. Groups are ranked by a shrunk mean,
    (sum + prior × overall mean) / (count + prior): as if each had `prior` more ratings at the
    community's mean, so three 5s do not outrank three hundred ratings averaging 4.8. Groups with
    fewer than `min_count` ratings follow, marked 样本不足. Tickets no party leads have no party
    group (by="party")."""
    if by not in ("grid", "community", "party", "category"):
        raise ValueError(f"satisfaction by {by!r}")
    if weeks < 1:
        raise ValueError("satisfaction needs weeks >= 1")
    week_mondays = last_mondays(until, weeks, tz)
    bounds = edges(week_mondays, tz)
    r, t = TicketRating, Ticket
    key = {"grid": Grid.name, "community": Grid.community, "category": t.category, "party": TicketParty.party}[by]
    rows = (select(key.label("key"), bucket(r.rated_at, bounds).label("week"), r.score.label("score"))
            .select_from(r).join(t, t.id == r.ticket_id))
    rows = rows.join(Grid, Grid.id == t.grid_id) if by in ("grid", "community") else rows
    if grid_ids is not None:             # a community's staff see their own grids'
        rows = rows.where(t.grid_id.in_(grid_ids))
    if by == "party":
        rows = rows.join(TicketParty, and_(TicketParty.ticket_id == t.id, TicketParty.role == "lead"))
    rows = rows.where(r.score.is_not(None), r.rated_at >= at(bounds[0]), r.rated_at < at(until)).subquery()
    q = (select(rows.c.key, rows.c.week, func.count(), func.sum(rows.c.score), func.sum(rows.c.score * rows.c.score))
         .group_by(rows.c.key, rows.c.week))
    per: dict[str, dict[int, tuple[int, int, int]]] = {}
    for k, week, n, total, squares in session.execute(q):
        per.setdefault(k, {})[int(week)] = (int(n), int(total), int(squares))
    n_all = sum(n for weeks_ in per.values() for n, _, _ in weeks_.values())
    overall = sum(s for weeks_ in per.values() for _, s, _ in weeks_.values()) / n_all if n_all else None

    def score(k: str, by_week: dict[int, tuple[int, int, int]]) -> GroupScore:
        n, total, squares = (sum(v[i] for v in by_week.values()) for i in range(3))
        low, high = _interval(n, total, squares)
        label = {"grid": k, "community": _community_name(k, d), "category": categories.name_of(k) if k else k,
                 "party": _label_party(k, d)}[by]
        trend = [by_week[i][1] / by_week[i][0] if i in by_week else None for i in range(weeks)]
        counts = [by_week[i][0] if i in by_week else 0 for i in range(weeks)]
        ranked = n >= min_count
        return GroupScore(k, label, n, total / n, low, high, (total + prior * overall) / (n + prior), ranked,
                          "" if ranked else SMALL_SAMPLE, trend, counts)

    groups = [score(k, v) for k, v in per.items()]
    ranked = sorted((g for g in groups if g.ranked), key=lambda g: (-g.shrunk, -g.count, g.key))
    small = sorted((g for g in groups if not g.ranked), key=lambda g: (-g.count, -g.mean, g.key))
    return Satisfaction(by, [week_label(mon) for mon in week_mondays], n_all, overall, ranked + small)
