"""Queries and writes the handlers need, on an open Session (the caller owns the transaction)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy import bindparam, delete, func, insert, literal_column, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from domain.states import ACTIVE
from storage import search
from storage.models import (Attachment, Grid, InboundMessage, JobRun, KeyValue, Outbox, Resident, Ticket,
                            TicketEvent, TicketFollower, TicketMilestone, TicketParty, TicketRating)

ACTIVE_STATES = tuple(str(s) for s in ACTIVE)
# the same states spelled out, as the partial indexes on active tickets are (migration 0016): a
# prepared statement's generic plan can use those indexes only with the states as literals
ACTIVE_TICKET = Ticket.__table__.c.status.in_([literal_column(f"'{s}'") for s in sorted(ACTIVE_STATES)])

# Statements of the per-message path, built once: parameters go with execute(), so SQLAlchemy
# reuses the compiled form without coercing literals and computing a cache key each time.
_R = Resident.__table__
_SELECT_RESIDENT = select(_R.c.id, _R.c.building, _R.c.state, _R.c.last_seen_at, _R.c.asked_poll_id,
                          _R.c.community).where(_R.c.openid == bindparam("openid"))
_INSERT_TICKET = insert(Ticket.__table__).returning(Ticket.__table__.c.id)
_INSERT_EVENT = insert(TicketEvent.__table__)
_INSERT_OUTBOX = insert(Outbox.__table__)


# --- residents -------------------------------------------------------------------------------

class ResidentRow:
    """A resident as the intake flow reads and changes it: plain attributes, no unit of work;
    save_resident() writes what changed (one UPDATE, or none)."""
    __slots__ = ("id", "openid", "building", "state", "last_seen_at", "community", "asked_poll_id", "_saved")
    _FIELDS = ("building", "state", "last_seen_at", "community")

    def __init__(self, id: int, openid: str, building: str | None, state: dict | None, last_seen_at: datetime,
                 asked_poll_id: int | None = None, community: str | None = None):
        self.id, self.openid, self.building, self.state, self.last_seen_at = id, openid, building, state or {}, last_seen_at
        self.community = community
        # read only: the poll waiting for an answer (storage/consult.py writes it, never save_resident)
        self.asked_poll_id = asked_poll_id
        self._saved = self._values()

    def _values(self) -> tuple:      # state copied: a change made in place is a change too
        return self.building, dict(self.state or {}), self.last_seen_at, self.community

    def changes(self) -> dict:
        return {f: new for f, old, new in zip(self._FIELDS, self._saved, self._values()) if new != old}


def resident(session: Session, openid: str, now: datetime) -> ResidentRow:
    """The resident with this openid, created on first contact. Two first messages racing on two
    workers both succeed: the insert does nothing on conflict and both read the one row.
    Changes to the returned row are written by save_resident()."""
    conn = session.connection()
    row = conn.execute(_SELECT_RESIDENT, {"openid": openid}).first()
    if row is None:
        conn.execute(_insert(session, Resident).values(openid=openid, state={}, created_at=now, last_seen_at=now)
                     .on_conflict_do_nothing(index_elements=["openid"]))
        row = conn.execute(_SELECT_RESIDENT, {"openid": openid}).first()
    r = ResidentRow(row.id, openid, row.building, row.state, row.last_seen_at, row.asked_poll_id, row.community)
    if (now - r.last_seen_at).total_seconds() > 60:   # not on every message: it would lock the row
        r.last_seen_at = now
    return r


def save_resident(session: Session, r: ResidentRow) -> None:
    changes = r.changes()
    if changes:
        session.connection().execute(update(_R).where(_R.c.id == r.id).values(**changes))
        r._saved = r._values()


def _insert(session: Session, model):
    """INSERT with ON CONFLICT support for the session's dialect."""
    return (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)(model)


def set_state(r: Resident, **changes) -> None:
    """Replace the JSON state (assigning a new dict so SQLAlchemy sees the change)."""
    state = dict(r.state or {})
    for k, v in changes.items():
        if v is None:
            state.pop(k, None)
        else:
            state[k] = v
    r.state = state


# --- grids -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class GridInfo:
    """A grid as config defines it, plus its row id (for the ticket's foreign key). Grids only
    change with config, i.e. at start, so each process keeps them in memory."""
    id: int
    name: str
    leader_name: str
    leader_userid: str
    robot_key: str
    community: str = "default"


def _grid_info(g: Grid) -> GridInfo:
    return GridInfo(g.id, g.name, g.leader_name, g.leader_userid, g.robot_key, g.community)


def sync_grids(session: Session, grids, community_of=lambda g: g.community or "default") -> dict[str, GridInfo]:
    """Make the grid table match config (upsert by name; grids removed from config stay for history).
    Returns every grid by name."""
    for g in grids:
        values = dict(buildings=g.buildings, robot_key=g.robot_key, leader_name=g.leader.name,
                      leader_userid=g.leader.wecom_userid, community=community_of(g))
        session.execute(_insert(session, Grid).values(name=g.name, **values)
                        .on_conflict_do_update(index_elements=["name"], set_=values))
    return {g.name: _grid_info(g) for g in session.scalars(select(Grid))}


def grid_by_name(session: Session, name: str) -> GridInfo:
    return _grid_info(session.scalars(select(Grid).where(Grid.name == name)).one())


def grid_by_id(session: Session, grid_id: int) -> GridInfo:
    return _grid_info(session.get(Grid, grid_id))


# --- tickets ---------------------------------------------------------------------------------

def insert_ticket(session: Session, **values) -> int:
    """A new ticket row (Core: one INSERT, no unit of work); returns its id. Its search terms are
    computed here (an ORM change of the text or place recomputes them: storage/models.py)."""
    values["search"] = search.document(values.get("text"), values.get("location_text"))
    return session.connection().execute(_INSERT_TICKET, values).scalar_one()


def add_event(session: Session, ticket, actor: str, kind: str, now: datetime, **data) -> None:
    """Append to the ticket's history now (Core INSERT; `ticket` needs only an id)."""
    add_events(session, [event_row(ticket, actor, kind, now, **data)])


def event_row(ticket, actor: str, kind: str, now: datetime, **data) -> dict:
    return {"ticket_id": ticket.id, "at": now, "actor": actor, "kind": kind, "data": data}


def add_events(session: Session, rows: list[dict]) -> None:
    """event_row()s in one statement (the sweep's warnings)."""
    if rows:
        session.connection().execute(_INSERT_EVENT, rows)


def recent_open_ticket(session: Session, resident_id: int, since: datetime) -> Ticket | None:
    """The resident's newest open ticket created after `since` (photos and locations attach to it)."""
    return session.scalars(
        select(Ticket).where(Ticket.resident_id == resident_id, Ticket.status.in_(ACTIVE_STATES), Ticket.created_at >= since)
        .order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(1)).first()


def open_tickets_like(session: Session, grid_id: int, category: str, since: datetime, exclude_resident: int | None = None,
                      building: str | None = None) -> list:
    """Open tickets of a grid and category since `since`: candidates for joining a report as "+1".
    Only the columns the comparison needs (Core rows: id, code, category, text, resident_id,
    location_text, building, unit, room). `exclude_resident`: not this resident's own tickets.
    `building`: leave out tickets located in another building (similarity vetoes those anyway)."""
    q = _like_query(exclude_resident is not None, bool(building))
    return list(session.connection().execute(q, {"grid_id": grid_id, "category": category, "since": since,
                                                 "resident": exclude_resident, "building": building}))


_LIKE_QUERIES: dict = {}


def _like_query(exclude: bool, building: bool):
    q = _LIKE_QUERIES.get((exclude, building))
    if q is None:
        t = Ticket.__table__
        q = select(t.c.id, t.c.code, t.c.category, t.c.text, t.c.resident_id, t.c.location_text, t.c.building,
                   t.c.unit, t.c.room).where(t.c.grid_id == bindparam("grid_id"), t.c.category == bindparam("category"),
                                             ACTIVE_TICKET, t.c.created_at >= bindparam("since", type_=t.c.created_at.type))
        if exclude:
            q = q.where(or_(t.c.resident_id.is_(None), t.c.resident_id != bindparam("resident")))
        if building:
            q = q.where(or_(t.c.location_text.is_(None), t.c.building.is_(None), t.c.building == bindparam("building")))
        q = _LIKE_QUERIES[(exclude, building)] = q.order_by(t.c.created_at.desc()).limit(50)
    return q


def tickets_of(session: Session, resident_id: int, limit: int = 5) -> list[Ticket]:
    """The resident's own tickets and those they follow ("+1"), newest first."""
    followed = select(TicketFollower.ticket_id).where(TicketFollower.resident_id == resident_id)
    q = select(Ticket).where(or_(Ticket.resident_id == resident_id, Ticket.id.in_(followed)))
    return list(session.scalars(q.order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit)))


def add_follower(session: Session, ticket, resident_id: int, now: datetime) -> bool:
    """False when the resident already follows (or owns) the ticket. ON CONFLICT: two "+1" of one
    resident at once (two workers) give one follower row, not a failed message."""
    if ticket.resident_id == resident_id:
        return False
    stmt = _insert(session, TicketFollower).values(ticket_id=ticket.id, resident_id=resident_id, created_at=now)
    return session.connection().execute(
        stmt.on_conflict_do_nothing(index_elements=["ticket_id", "resident_id"]).returning(TicketFollower.id)).first() is not None


def is_involved(session: Session, t, resident_id: int) -> bool:
    """The resident reported or follows the ticket."""
    return t.resident_id == resident_id or session.scalar(select(TicketFollower.id).where(
        TicketFollower.ticket_id == t.id, TicketFollower.resident_id == resident_id)) is not None


def active_tickets_of(session: Session, resident_id: int, limit: int = 5) -> list[Ticket]:
    """The resident's own active tickets, newest first (取消, 催办 pick from these)."""
    return list(session.scalars(select(Ticket).where(Ticket.resident_id == resident_id, Ticket.status.in_(ACTIVE_STATES))
                                .order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit)))


def attach(session: Session, ticket: Ticket, kind: str, now: datetime, **fields) -> Attachment:
    a = Attachment(ticket_id=ticket.id, kind=kind, created_at=now, **fields)
    session.add(a)
    return a


# --- inbound messages ------------------------------------------------------------------------

def inbound_by_key(session: Session, key: str) -> InboundMessage | None:
    return session.scalar(select(InboundMessage).where(InboundMessage.dedupe_key == key))


# --- outbox ----------------------------------------------------------------------------------

EMERGENCY = 1     # outbox.priority: claimed before everything else, alone, never paced


def enqueue(session: Session, channel: str, target: str, payload: dict, now: datetime, *,
            ticket_id: int | None = None, dedupe_key: str | None = None, not_before: datetime | None = None,
            priority: int = 0) -> None:
    """Queue a delivery in the caller's transaction (Core INSERT, executed now: a duplicate
    dedupe_key raises IntegrityError here). priority: 0 normal, EMERGENCY first and alone."""
    session.connection().execute(_INSERT_OUTBOX, {
        "channel": channel, "target": target, "payload": payload, "ticket_id": ticket_id, "dedupe_key": dedupe_key,
        "status": "pending", "attempts": 0, "next_attempt_at": not_before or now, "created_at": now,
        "priority": priority})


def cancel_pending(session: Session, ticket_id: int, kind: str) -> int:
    """Cancel not-yet-claimed deliveries of a kind for a ticket (e.g. a push held back for the menu)."""
    res = session.execute(update(Outbox).where(
        Outbox.ticket_id == ticket_id, Outbox.status == "pending", Outbox.payload["kind"].as_string() == kind)
        .values(status="cancelled"))
    return res.rowcount


def ticket_code_of(session: Session, ticket_id: int | None) -> str | None:
    if ticket_id is None:
        return None
    return session.scalar(select(Ticket.code).where(Ticket.id == ticket_id))


def outbox_row(key: str, channel: str, target: str, payload: dict, now: datetime, ticket_id: int | None = None,
               not_before: datetime | None = None, priority: int = 0) -> dict:
    return {"channel": channel, "target": target, "payload": payload, "ticket_id": ticket_id, "dedupe_key": key,
            "status": "pending", "attempts": 0, "next_attempt_at": not_before or now, "created_at": now,
            "priority": priority}


def enqueue_once(session: Session, key: str, channel: str, target: str, payload: dict, now: datetime,
                 ticket_id: int | None = None, not_before: datetime | None = None, *, priority: int = 0) -> bool:
    """Enqueue unless a row with this key exists (also under a concurrent sweep in another worker):
    one INSERT … ON CONFLICT DO NOTHING, no savepoint. priority: 0 normal, EMERGENCY first and alone."""
    return bool(enqueue_rows(session, [outbox_row(key, channel, target, payload, now, ticket_id, not_before, priority)]))


def enqueue_rows(session: Session, rows: list[dict]) -> set[str]:
    """enqueue_once() for several rows (outbox_row()s with distinct keys) in one statement; returns
    the dedupe keys that were new."""
    conn = session.connection()
    # RETURNING, not rowcount: psycopg reports -1 for an INSERT SQLAlchemy gives an implicit RETURNING;
    # several rows go as one INSERT … VALUES (…), (…) (SQLAlchemy's insertmanyvalues)
    result = conn.execute(_enqueue_once(conn.dialect.name), rows)
    return set(result.scalars())


@cache
def _enqueue_once(dialect: str):
    """Built once per dialect, values as parameters (a statement built per call cost about 1 ms of
    CPU each, three or more per report: issue 14)."""
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Outbox)
    return stmt.on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(Outbox.dedupe_key)


# --- milestones and ratings ---------------------------------------------------------------------

@cache
def _upsert_milestones(dialect: str):
    """One statement per dialect, its rows given as parameters: a multi-row VALUES built per call
    was compiled afresh for every report (about 2.7 ms of a message's CPU, issue 14)."""
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(TicketMilestone)
    keep = ("due_at", "next_check_at", "stage", "met_at", "late_seconds")
    return stmt.on_conflict_do_update(index_elements=["ticket_id", "round", "name", "party"],
                                      set_={k: stmt.excluded[k] for k in keep})


def upsert_milestones(session: Session, rows: list[dict]) -> None:
    """Start (or restart, e.g. after a new category) milestones of a round: one statement, executed
    for every row (psycopg sends them in one pipeline)."""
    if rows:
        session.connection().execute(_upsert_milestones(session.get_bind().dialect.name), rows)


def milestones(session: Session, ticket_id: int) -> list[TicketMilestone]:
    return list(session.scalars(select(TicketMilestone).where(TicketMilestone.ticket_id == ticket_id)
                                .order_by(TicketMilestone.round, TicketMilestone.id)))


def residents_of(session: Session, t) -> list[tuple[int, str]]:
    """(resident id, openid) of the reporter and every "+1" follower."""
    q = select(Resident.id, Resident.openid).where(or_(
        Resident.id == t.resident_id,
        Resident.id.in_(select(TicketFollower.resident_id).where(TicketFollower.ticket_id == t.id))))
    return [(r.id, r.openid) for r in session.execute(q.order_by(Resident.id))]


def request_ratings(session: Session, t, now: datetime) -> None:
    """Every resident of the ticket is asked to rate this round (one pending row each)."""
    for r_id, _ in residents_of(session, t):
        session.connection().execute(_insert(session, TicketRating).values(
            ticket_id=t.id, round=t.round, resident_id=r_id, requested_at=now)
            .on_conflict_do_nothing(index_elements=["ticket_id", "round", "resident_id"]))


def pending_ratings(session: Session, resident_id: int) -> list[tuple[TicketRating, Ticket]]:
    """Ratings this resident was asked for and has not given, newest first."""
    q = (select(TicketRating, Ticket).join(Ticket, Ticket.id == TicketRating.ticket_id)
         .where(TicketRating.resident_id == resident_id, TicketRating.score.is_(None),
                TicketRating.round == Ticket.round)
         .order_by(TicketRating.requested_at.desc(), TicketRating.id.desc()).limit(10))
    return [(r, t) for r, t in session.execute(q)]


def ratings_of(session: Session, ticket_id: int) -> list[TicketRating]:
    return list(session.scalars(select(TicketRating).where(TicketRating.ticket_id == ticket_id,
                                                            TicketRating.score.is_not(None))))


def parties_of(session: Session, ticket_id: int) -> list[TicketParty]:
    return list(session.scalars(select(TicketParty).where(TicketParty.ticket_id == ticket_id).order_by(TicketParty.id)))


_PARTY_CODES = select(TicketParty.party).where(TicketParty.ticket_id == bindparam("ticket_id"))


def party_codes(session: Session, ticket_id: int) -> frozenset[str]:
    """The parties a ticket was referred to (codes only: read on every notice that may carry a card)."""
    return frozenset(session.connection().execute(_PARTY_CODES, {"ticket_id": ticket_id}).scalars())


def party_codes_of(session: Session, ticket_ids: list[int]) -> dict[int, frozenset[str]]:
    """party_codes() of several tickets in one statement (every id gets an entry)."""
    found: dict[int, set[str]] = {i: set() for i in ticket_ids}
    if ticket_ids:
        for ticket_id, party in session.execute(select(TicketParty.ticket_id, TicketParty.party)
                                                .where(TicketParty.ticket_id.in_(ticket_ids))):
            found[ticket_id].add(party)
    return {i: frozenset(p) for i, p in found.items()}


def add_party(session: Session, ticket_id: int, party: str, role: str, round_: int, now: datetime, by: str,
              note: str | None) -> None:
    conn = session.connection()
    conn.execute(_add_party(conn.dialect.name), dict(ticket_id=ticket_id, party=party, role=role, round=round_,
                                                     referred_at=now, referred_by=by, note=note))


@cache
def _add_party(dialect: str):
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(TicketParty)
    return stmt.on_conflict_do_nothing(index_elements=["ticket_id", "party"])


def events(session: Session, ticket_id: int) -> list[TicketEvent]:
    return list(session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id)))


def attachments(session: Session, ticket_id: int) -> list[Attachment]:
    return list(session.scalars(select(Attachment).where(Attachment.ticket_id == ticket_id).order_by(Attachment.id)))


def follower_count(session: Session, ticket_id: int) -> int:
    return session.scalar(select(func.count()).select_from(TicketFollower).where(TicketFollower.ticket_id == ticket_id))


# --- once-per-deployment jobs ------------------------------------------------------------------

def claim_job(session: Session, name: str, period: str, now: datetime) -> JobRun | None:
    """The job run for (name, period) if this caller is the first to claim it, else None. Commit
    the claim before doing the work, so that other workers see it and stand down."""
    try:
        with session.begin_nested():
            run = JobRun(name=name, period=period, started_at=now, result={})
            session.add(run)
            session.flush()
    except IntegrityError:
        return None
    return run


# --- shared values with an expiry --------------------------------------------------------------

def kv_get(session: Session, key: str, now: datetime) -> str | None:
    row = session.get(KeyValue, key)
    if row is None or (row.expires_at is not None and row.expires_at <= now):
        return None
    return row.value


def kv_set(session: Session, key: str, value: str, expires_at: datetime | None) -> None:
    stmt = _insert(session, KeyValue).values(key=key, value=value, expires_at=expires_at)
    session.execute(stmt.on_conflict_do_update(index_elements=["key"],
                                               set_={"value": value, "expires_at": expires_at}))


def kv_delete(session: Session, key: str) -> None:
    session.execute(delete(KeyValue).where(KeyValue.key == key))


def record_rating(session: Session, t, resident_id: int, score: int | None, now: datetime,
                  closed_round: int | None = None) -> None:
    """The resident's answer for a round (score None: "没解决", which closes the request unrated)."""
    round_ = closed_round if closed_round is not None else t.round
    stmt = _insert(session, TicketRating).values(ticket_id=t.id, round=round_, resident_id=resident_id,
                                                 requested_at=now, score=score, rated_at=now)
    session.connection().execute(stmt.on_conflict_do_update(
        index_elements=["ticket_id", "round", "resident_id"], set_={"score": score, "rated_at": now}))


def ticket_by_code(session: Session, code: str | None, *, lock: bool = False) -> Ticket | None:
    """`lock`: hold the row (SELECT … FOR UPDATE on PostgreSQL) until the caller's transaction ends,
    and read it afresh, so a concurrent move is seen, not overwritten. SQLite needs no lock: BEGIN
    IMMEDIATE already runs one writer at a time (SQLAlchemy leaves FOR UPDATE out there)."""
    if not code:
        return None
    q = select(Ticket).where(Ticket.code == code)
    if lock:
        q = _locked(q)
    return session.scalar(q)


def recent_emergency(session: Session, grid_id: int, kind: str, since: datetime, building: str | None) -> Ticket | None:
    """The newest active ticket of this emergency kind in the grid since `since` (not in another building)."""
    q = select(Ticket).where(Ticket.grid_id == grid_id, Ticket.emergency == kind, Ticket.status.in_(ACTIVE_STATES),
                             Ticket.created_at >= since)
    if building:
        q = q.where(or_(Ticket.building.is_(None), Ticket.building == building))
    return session.scalars(q.order_by(Ticket.created_at.desc()).limit(1)).first()


def set_party_reply(session: Session, ticket_id: int, party: str, text: str, now: datetime) -> None:
    session.execute(update(TicketParty).where(TicketParty.ticket_id == ticket_id, TicketParty.party == party)
                    .values(reply=text, replied_at=now))


# --- row locks, state history and flood counts (staff commands, intake) ------------------------

def _locked(q):
    # OF ticket: the grid is eager-joined (LEFT OUTER JOIN) and must not be locked; populate_existing:
    # a ticket already in the session is refreshed from the locked row, not served stale
    return q.with_for_update(of=Ticket).execution_options(populate_existing=True)


def lock_tickets(session: Session, codes: list[str]) -> dict[str, Ticket]:
    """Tickets by code, row-locked in one statement in id order (so two commands locking the same
    pair in opposite order, like crossing merges, cannot deadlock)."""
    q = _locked(select(Ticket).where(Ticket.code.in_(codes)).order_by(Ticket.id))
    return {t.code: t for t in session.scalars(q)}


def last_event_of(session: Session, ticket_id: int, kinds: frozenset[str]) -> TicketEvent | None:
    """The ticket's latest event of these kinds (who moved it last, and when)."""
    return session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id, TicketEvent.kind.in_(kinds))
                           .order_by(TicketEvent.id.desc()).limit(1)).first()


@dataclass(frozen=True)
class Activity:
    """What a resident has done lately, for the flood limits."""
    tickets_last_hour: int = 0
    tickets_today: int = 0
    messages_last_minute: int = 0     # inbound messages (this one included once stored)


def _activity_select():
    t, m = Ticket.__table__, InboundMessage.__table__
    since = bindparam("hour", type_=t.c.created_at.type), bindparam("day", type_=t.c.created_at.type)
    # each count is a range read of an index: ticket (resident_id, created_at); inbound_message (openid)
    tickets = [select(func.count()).where(t.c.resident_id == _R.c.id, t.c.created_at >= s).scalar_subquery()
               for s in since]
    messages = select(func.count()).where(m.c.openid == _R.c.openid,
                                          m.c.received_at >= bindparam("minute", type_=m.c.received_at.type))
    return select(_R.c.id, _R.c.building, _R.c.state, _R.c.last_seen_at, _R.c.asked_poll_id, _R.c.community,
                  tickets[0].label("n_hour"), tickets[1].label("n_day"), messages.scalar_subquery().label("n_minute")
                  ).where(_R.c.openid == bindparam("openid"))


_SELECT_RESIDENT_ACTIVITY = _activity_select()


def resident_with_activity(session: Session, openid: str, now: datetime, *, hour: datetime, day: datetime,
                           minute: datetime) -> tuple[ResidentRow, Activity]:
    """resident() and the resident's recent activity (tickets since `hour` and since `day`, messages
    since `minute`) in the same one statement: the flood limits cost the message path nothing extra."""
    row = session.connection().execute(_SELECT_RESIDENT_ACTIVITY, {
        "openid": openid, "hour": hour, "day": day, "minute": minute}).first()
    if row is None:                    # first contact: created as resident() does, nothing done yet
        return resident(session, openid, now), Activity()
    r = ResidentRow(row.id, openid, row.building, row.state, row.last_seen_at, row.asked_poll_id, row.community)
    if (now - r.last_seen_at).total_seconds() > 60:   # as resident(): not on every message
        r.last_seen_at = now
    return r, Activity(row.n_hour, row.n_day, row.n_minute)

