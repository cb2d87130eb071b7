"""周周转 (the week's turnover, per grid or for the community) and the 联席会 agenda (the tickets the
three parties should talk about), as plain data for the web desk. Counts are SQL aggregates;
the lists are bounded (what a screen or a printed page can take), so their cost does not grow with
the history. Re-exported by handlers/stats.py."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from domain.states import ENDED, EVENT_NAMES, EventKind, status_name
from handlers.directory import Directory
from handlers.stats_sql import at, local_midnight, monday_of, seconds_between, week_label
from nlp import categories, mask_pii
from storage.models import Grid, Ticket, TicketEvent, TicketParty, TicketRating
from storage.repositories import ACTIVE_STATES, ACTIVE_TICKET

LONG_OPEN_DAYS = 30            # 周周转: open longer than this is listed by name
STUCK_DAYS = 14                # 联席会: open longer than this is on the agenda
TOP_CATEGORIES = 5
HEAT_BUILDINGS = 10
LIST_LIMIT = 50                # tickets on a page
EVENTS_PER_TICKET = 20
# the sweep's warnings and escalations repeat daily on a stuck ticket and would crowd the page:
# they are counted, not listed
REMINDERS = (str(EventKind.WARNED), str(EventKind.ESCALATED))


def _count(*where):
    return select(func.count()).select_from(Ticket).where(*where).scalar_subquery()


def _building_order(b: str):
    return (0, int(b), "") if b.isdigit() else (1, 0, b)


# --- 周周转 ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LongOpen:
    code: str
    category: str
    category_name: str
    grid: str
    days: int                  # whole days since it was reported
    status: str


@dataclass(frozen=True)
class CategoryChange:
    category: str
    name: str
    this_week: int
    last_week: int

    @property
    def change(self) -> int:
        return self.this_week - self.last_week


@dataclass(frozen=True)
class Heat:
    """Tickets reported in the week by building (rows, most first) and category (columns)."""
    buildings: list[str]
    categories: list[str]
    cells: dict[tuple[str, str], int]

    def count(self, building: str, category: str) -> int:
        return self.cells.get((building, category), 0)


@dataclass(frozen=True)
class WeeklyReview:
    week: str                  # 2026-W49
    start: datetime            # Monday 00:00 local, as UTC
    end: datetime
    grid: str | None           # None: the whole community
    found: int                 # reported in the week
    done: int                  # resolved in the week (and not reopened since)
    still_open: int            # being worked now
    overdue: int               # being worked and past the fix (or plan) deadline
    long_open_count: int
    long_open: list[LongOpen]  # the oldest LIST_LIMIT of them, oldest first
    top: list[CategoryChange]
    heat: Heat
    ratings: int               # ratings given in the week
    mean_rating: float | None


def weekly_review(session: Session, week_start: date | datetime, tz: str, grid_id: int | None = None, *,
                  now: datetime | None = None, grid_ids: list[int] | None = None) -> WeeklyReview:
    """The ISO week holding `week_start` (a local date or an aware instant). "Still open", overdue
    and long-standing describe the tickets as they are at `now` (the clock's time; default: the
    week's end, when the Monday review is made). `done` reads resolved_at as the robot summary
    (handlers/promises.py) does, so the desk and the group read the same figure."""
    monday = monday_of(week_start, tz)
    start, end = local_midnight(monday, tz), local_midnight(monday + timedelta(weeks=1), tz)
    prev = local_midnight(monday - timedelta(weeks=1), tz)
    now = now or end
    t = Ticket
    # one grid; else the grids in scope (a community's, in a deployment serving several); else all
    mine = ((t.grid_id == grid_id,) if grid_id is not None
            else (t.grid_id.in_(grid_ids),) if grid_ids is not None else ())
    active = ACTIVE_TICKET
    long_ago = at(now - timedelta(days=LONG_OPEN_DAYS))
    # the open tickets counted three ways in one pass (FILTER), beside the week's two counts
    open_now = select(func.count().label("still"), func.count().filter(t.due_fix_at < at(now)).label("late"),
                      func.count().filter(t.created_at < long_ago).label("long")).where(*mine, active).subquery()
    found, done, still, late, n_long = session.execute(select(
        _count(*mine, t.created_at >= at(start), t.created_at < at(end)),
        _count(*mine, t.resolved_at >= at(start), t.resolved_at < at(end)),
        open_now.c.still, open_now.c.late, open_now.c.long)).one()
    long_rows = session.execute(
        select(t.code, t.category, t.created_at, t.status, Grid.name).join(Grid, Grid.id == t.grid_id)
        .where(*mine, active, t.created_at < long_ago).order_by(t.created_at, t.id).limit(LIST_LIMIT)).all()
    long_open = [LongOpen(code, cat, categories.name_of(cat), grid, (now - created).days, status_name(st))
                 for code, cat, created, st, grid in long_rows]
    # this week and last by category, and this week's building x category cells, from one pass over
    # the two weeks (an index-only scan at a million tickets, migration 0016)
    this = case((t.created_at >= at(start), 1), else_=0)
    this_week: dict[str, int] = {}
    last_week: dict[str, int] = {}
    cells: dict[tuple[str, str], int] = {}
    for cat, building, is_this, n in session.execute(
            select(t.category, t.building, this, func.count())
            .where(*mine, t.created_at >= at(prev), t.created_at < at(end)).group_by(t.category, t.building, this)):
        week = this_week if is_this else last_week
        week[cat] = week.get(cat, 0) + n
        if is_this and building is not None:
            cells[(building, cat)] = n
    top = sorted((CategoryChange(c, categories.name_of(c), n, last_week.get(c, 0)) for c, n in this_week.items()),
                 key=lambda x: (-x.this_week, -x.change, x.category))[:TOP_CATEGORIES]
    r = TicketRating
    rated = select(func.count(r.score), func.avg(r.score)).where(
        r.score.is_not(None), r.rated_at >= at(start), r.rated_at < at(end))
    if mine:                           # the grid by index-only lookups (migration 0016); none: no join
        rated = rated.join(t, t.id == r.ticket_id).where(*mine)
    n_ratings, mean = session.execute(rated).one()
    return WeeklyReview(week_label(monday), start, end, _grid_name(session, grid_id), found, done, still, late,
                        n_long, long_open, top, _heat(cells), int(n_ratings),
                        None if mean is None else float(mean))


def _grid_name(session: Session, grid_id: int | None) -> str | None:
    return None if grid_id is None else session.scalar(select(Grid.name).where(Grid.id == grid_id))


def _heat(cells: dict[tuple[str, str], int]) -> Heat:
    """The top buildings of an already aggregated (building, category) table: a few dozen cells."""
    per_building: dict[str, int] = {}
    per_category: dict[str, int] = {}
    for (b, c), n in cells.items():
        per_building[b] = per_building.get(b, 0) + n
        per_category[c] = per_category.get(c, 0) + n
    buildings = sorted(per_building, key=lambda b: (-per_building[b], _building_order(b)))[:HEAT_BUILDINGS]
    kept = {k: n for k, n in cells.items() if k[0] in buildings}
    cats = sorted({c for _, c in kept}, key=lambda c: (-per_category[c], c))
    return Heat(buildings, cats, kept)


# --- 联席会 agenda --------------------------------------------------------------------------------

@dataclass(frozen=True)
class AgendaEvent:
    at: datetime               # local time (tz), for the printed page
    actor: str                 # a name with a Directory, else the actor tag (a resident is 居民)
    kind: str
    text: str


@dataclass(frozen=True)
class AgendaItem:
    code: str
    category: str
    category_name: str
    grid: str
    status: str
    building: str | None
    text: str                  # the report, phone and ID numbers masked, cut short
    round: int
    open_days: float           # reported → resolved, or → now while it is still being worked
    reasons: tuple[str, ...]   # 超时 | 重新打开 | 久拖未结 | 多方协办
    parties: int
    events: list[AgendaEvent]  # the latest EVENTS_PER_TICKET, oldest first
    events_total: int          # before the cut (reminders excluded)
    reminders: int             # the sweep's warnings and escalations


@dataclass(frozen=True)
class Agenda:
    since: datetime
    until: datetime
    total: int                 # tickets that qualify; `items` holds the first LIST_LIMIT
    items: list[AgendaItem]


def agenda(session: Session, since: datetime, until: datetime, tz: str, *, now: datetime | None = None,
           d: Directory | None = None, limit: int = LIST_LIMIT, events_per_ticket: int = EVENTS_PER_TICKET,
           grid_ids: list[int] | None = None) -> Agenda:
    """Tickets of [since, until) (reported before `until`, and still being worked or moved since
    `since`) that are stuck — being worked and past the on-site or fix deadline (as /list 超时),
    reopened, or open more than STUCK_DAYS — or that involve more than one party; longest open
    first, with their history. `now` (default `until`) is the clock's time."""
    now = now or until
    t = Ticket
    active = t.status.in_(ACTIVE_STATES)
    parties = select(func.count()).where(TicketParty.ticket_id == t.id).scalar_subquery()
    overdue = and_(active, or_(and_(t.onsite_at.is_(None), t.due_onsite_at < at(now)), t.due_fix_at < at(now)))
    open_end = case((active, at(now)), else_=func.coalesce(t.resolved_at, t.updated_at))
    open_s = seconds_between(session, t.created_at, open_end)
    long_open = open_s > STUCK_DAYS * 86400
    flags = {"超时": overdue, "重新打开": t.round > 1, "久拖未结": long_open, "多方协办": parties > 1}
    where = (t.status.not_in([str(s) for s in ENDED]), t.created_at < at(until),
             or_(active, t.updated_at >= at(since)), or_(*flags.values()),
             *([t.grid_id.in_(grid_ids)] if grid_ids is not None else []))
    hits = [case((f, 1), else_=0) for f in flags.values()]
    # the count rides along as a window over the same rows (one pass at a million tickets, not two)
    rows = session.execute(
        select(t.id, t.code, t.category, Grid.name.label("grid"), t.status, t.building, t.text, t.round,
               open_s.label("open_s"), parties.label("parties"), func.count().over().label("total"), *hits)
        .join(Grid, Grid.id == t.grid_id).where(*where).order_by(open_s.desc(), t.id).limit(limit)).all()
    total = rows[0].total if rows else 0
    history, counts, reminders = _histories(session, [r.id for r in rows], events_per_ticket, tz, d)
    items = [AgendaItem(r.code, r.category, categories.name_of(r.category), r.grid, status_name(r.status), r.building,
                        _short(r.text, 80), r.round, round(float(r.open_s) / 86400, 1),
                        tuple(word for word, hit in zip(flags, r[-len(hits):]) if hit), int(r.parties),
                        history.get(r.id, []), counts.get(r.id, 0), reminders.get(r.id, 0))
             for r in rows]
    return Agenda(since, until, int(total), items)


def _histories(session: Session, ids: list[int], per_ticket: int, tz: str, d: Directory | None):
    """The latest `per_ticket` events of each ticket, in one query (a window function, which both
    SQLite and PostgreSQL have), and per ticket how many events and reminders there are."""
    if not ids:
        return {}, {}, {}
    e = TicketEvent
    rn = func.row_number().over(partition_by=e.ticket_id, order_by=(e.at.desc(), e.id.desc()))
    latest = (select(e.ticket_id, e.at, e.actor, e.kind, e.data, e.id, rn.label("rn"))
              .where(e.ticket_id.in_(ids), e.kind.not_in(REMINDERS)).subquery())
    history: dict[int, list[AgendaEvent]] = {}
    zone = ZoneInfo(tz)
    for tid, when, actor, kind, data, _id, _rn in session.execute(
            select(latest).where(latest.c.rn <= per_ticket).order_by(latest.c.ticket_id, latest.c.at, latest.c.id)):
        history.setdefault(tid, []).append(
            AgendaEvent(when.astimezone(zone), _actor(actor, d), kind, _said(kind, data or {}, d)))
    counts, reminders = {}, {}
    for tid, n, n_rem in session.execute(
            select(e.ticket_id, func.sum(case((e.kind.in_(REMINDERS), 0), else_=1)),
                   func.sum(case((e.kind.in_(REMINDERS), 1), else_=0)))
            .where(e.ticket_id.in_(ids)).group_by(e.ticket_id)):
        counts[tid], reminders[tid] = int(n), int(n_rem)
    return history, counts, reminders


def _actor(tag: str, d: Directory | None) -> str:
    if d is not None:
        return d.actor_name(tag)
    kind, _, ident = tag.partition(":")
    return "居民" if kind == "resident" else (ident if kind == "staff" else tag)   # never a resident's openid


def _short(text: str | None, n: int = 40) -> str:
    text = mask_pii(" ".join((text or "").split()))
    return text if len(text) <= n else text[:n - 1] + "…"


def _said(kind: str, data: dict, d: Directory | None) -> str:
    """A short line for an event: its name and the words that matter."""
    name = EVENT_NAMES.get(kind, kind)
    party = data.get("party")
    if party:
        name += f" {d.party_name(party) if d else party}"
    if kind == EventKind.ASSIGNED and data.get("to"):
        name += f" → {d.name_of(data['to']) if d else data['to']}"
    if kind == EventKind.RATED and data.get("score") is not None:
        name += f" {data['score']}分"
    if kind in (EventKind.RECATEGORISED, EventKind.CATEGORY_CHOSEN) and data.get("new"):
        name += f" → {categories.name_of(data['new'])}"
    words = next((data[k] for k in ("result", "reason", "text", "note") if data.get(k)), "")
    return f"{name}：{_short(words)}" if words else name
