"""What the web desk reads: the ticket list a staff member may see, filtered and paged in SQL.

Scope follows the roles (domain/access.py): the committee and the 街道 see every ticket, a grid
leader their grid's, a property company or outside party the tickets referred to it or assigned
to one of its people. A ticket outside the scope is not found (not "forbidden": its existence is
not shown either).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, exists, false, func, or_, select
from sqlalchemy.orm import Session

from domain.access import Actor
from domain.states import ACTIVE, DONE, ENDED, Role, Source, Status
from nlp import categories
from storage import search
from storage.models import Grid, Ticket, TicketParty

PER_PAGE = 50
COUNT_CAP = 1000
STATUS_GROUPS = {"active": ACTIVE, "done": DONE, "ended": ENDED}
SEES_ALL = frozenset({Role.COMMITTEE, Role.STREET})


@dataclass
class TicketFilter:
    """The list's filters, as the form sends them (every field optional)."""
    status: str = "active"          # active | done | ended | all | a Status value
    community: str = ""             # a community's code (a deployment serving several: the 街道 compares)
    category: str = ""
    grid: str = ""
    party: str = ""
    source: str = ""
    since: str = ""                 # YYYY-MM-DD, in the community's time zone
    until: str = ""
    overdue: bool = False
    emergency: bool = False
    q: str = ""                     # words in the text, the place or the code
    page: int = 1
    errors: list[str] = field(default_factory=list)

    @classmethod
    def from_args(cls, args) -> "TicketFilter":
        f = cls(**{k.name: (args.get(k.name) or "").strip() for k in fields(cls)
                   if k.name in ("status", "community", "category", "grid", "party", "source", "since", "until",
                                 "q")})
        f.status = f.status or "active"
        f.overdue, f.emergency = args.get("overdue") == "1", args.get("emergency") == "1"
        try:
            f.page = max(1, int(args.get("page") or 1))
        except ValueError:
            f.page = 1
        if f.category and f.category not in categories.all_categories():
            f.errors.append(f"没有“{f.category}”这个类别")
            f.category = ""
        if f.status not in STATUS_GROUPS and f.status != "all" and f.status not in {s.value for s in Status}:
            f.errors.append(f"没有“{f.status}”这个状态")
            f.status = "active"
        if f.source and f.source not in {s.value for s in Source}:
            f.errors.append(f"没有“{f.source}”这个来源")
            f.source = ""
        for name in ("since", "until"):
            value = getattr(f, name)
            if value:
                try:
                    date.fromisoformat(value)
                except ValueError:
                    f.errors.append(f"日期“{value}”不对，请用 2026-12-01 这样的格式")
                    setattr(f, name, "")
        f.q = f.q[:64]
        return f

    def query_string(self, **change) -> str:
        """The filters as a URL query (for paging and exports), with `change` applied."""
        from urllib.parse import urlencode
        values = {k.name: getattr(self, k.name) for k in fields(self) if k.name != "errors"}
        values.update(change)
        return urlencode({k: ("1" if v is True else v) for k, v in values.items() if v not in ("", False, None)})


def _grid_id(session: Session, name: str | None) -> int | None:
    return session.scalar(select(Grid.id).where(Grid.name == name)) if name else None


def scope(stmt: Select, session: Session, actor: Actor) -> Select:
    """`stmt` (over Ticket) limited to the tickets `actor` may see."""
    if actor.community is not None:          # several communities: nobody but the 街道 sees another's
        stmt = stmt.where(Ticket.grid_id.in_(select(Grid.id).where(Grid.community == actor.community)))
    if actor.role in SEES_ALL:
        return stmt
    if actor.role == Role.GRID_LEADER:
        return stmt.where(Ticket.grid_id == _grid_id(session, actor.grid))   # no grid: no tickets
    mine = Ticket.assignee == actor.id
    if actor.party:
        referred = exists().where(TicketParty.ticket_id == Ticket.id, TicketParty.party == actor.party)
        return stmt.where(or_(mine, referred))
    return stmt.where(mine)


def _day_start(day: str, tz: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), time(), ZoneInfo(tz))


def filtered(session: Session, actor: Actor, f: TicketFilter, tz: str, now: datetime) -> Select:
    stmt = scope(select(Ticket), session, actor)
    if f.status in STATUS_GROUPS:
        stmt = stmt.where(Ticket.status.in_([str(s) for s in STATUS_GROUPS[f.status]]))
    elif f.status != "all":
        stmt = stmt.where(Ticket.status == f.status)
    if f.category:
        stmt = stmt.where(Ticket.category == f.category)
    if f.community:
        stmt = stmt.where(Ticket.grid_id.in_(select(Grid.id).where(Grid.community == f.community)))
    if f.grid:
        stmt = stmt.where(Ticket.grid_id == _grid_id(session, f.grid))
    if f.party:
        stmt = stmt.where(exists().where(TicketParty.ticket_id == Ticket.id, TicketParty.party == f.party))
    if f.source:
        stmt = stmt.where(Ticket.source == f.source)
    if f.since:
        stmt = stmt.where(Ticket.created_at >= _day_start(f.since, tz))
    if f.until:
        stmt = stmt.where(Ticket.created_at < _day_start(f.until, tz) + timedelta(days=1))
    if f.overdue:
        stmt = stmt.where(Ticket.status.in_([str(s) for s in ACTIVE]), Ticket.due_fix_at < now)
    if f.emergency:
        stmt = stmt.where(Ticket.emergency.is_not(None))
    if f.q:
        stmt = stmt.where(_search(session, f.q))
    return stmt


_CODE = re.compile(r"#?(\d{8}-\d{1,4}|\d{8})")


def _search(session: Session, q: str):
    """A ticket code (or its day) by prefix; anything else in the text and place, through the
    full-text index (storage/search.py)."""
    code = _CODE.fullmatch(q.strip())
    if code:        # a range, not LIKE 'x%': the unique index serves it under any collation
        prefix = code.group(1)
        return and_(Ticket.code >= prefix, Ticket.code < prefix + "~")
    cond = search.matches(session.get_bind().dialect.name, q, (Ticket.text, Ticket.location_text))
    return cond if cond is not None else false()


SEARCH_WINDOWS = (7, 28, 112)         # days; then no bound


def list_tickets(session: Session, actor: Actor, f: TicketFilter, tz: str, now: datetime,
                 per_page: int = PER_PAGE) -> tuple[list[Ticket], int]:
    """One page of the list, newest first, and the number of tickets the filters match, counted up
    to COUNT_CAP + 1 (shown as "1000+"): an exact count of a common word at a million tickets
    reads every match (bench/bench_desk.py)."""
    stmt = filtered(session, actor, f, tz, now)
    capped = stmt.with_only_columns(Ticket.id).order_by(None).limit(COUNT_CAP + 1).subquery()
    total = session.scalar(select(func.count()).select_from(capped)) or 0
    # newest first by creation time: a date range then reads ix_ticket_created_at, not the whole key
    page = stmt.order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(per_page).offset((f.page - 1) * per_page)
    if f.q and total > COUNT_CAP:
        # A common word: PostgreSQL misjudges how many tickets it matches and sorts every match
        # (1 s at a million tickets). The newest week, then 4 weeks, then 16, is read instead, until a
        # window holds the page: a row outside a window is older than every row inside, so the page
        # is the same as the unbounded query's.
        for days in SEARCH_WINDOWS:
            since = now - timedelta(days=days)
            if session.scalar(select(func.count()).select_from(
                    stmt.with_only_columns(Ticket.id).order_by(None).where(Ticket.created_at >= since)
                    .limit(f.page * per_page).subquery())) >= f.page * per_page:
                return list(session.scalars(page.where(Ticket.created_at >= since)).all()), total
    return list(session.scalars(page).all()), total


def visible(session: Session, actor: Actor, code: str) -> Ticket | None:
    """The ticket `code` if `actor` may see it, else None."""
    return session.scalar(scope(select(Ticket).where(Ticket.code == code), session, actor))
