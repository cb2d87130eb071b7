"""Queries and writes the handlers need, on an open Session (the caller owns the transaction)."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.models import Attachment, Grid, InboundMessage, Outbox, Resident, Ticket, TicketCounter, TicketEvent, TicketFollower

OPEN = "open"


# --- residents -------------------------------------------------------------------------------

def resident(session: Session, openid: str, now: datetime) -> Resident:
    """The resident with this openid, created on first contact. Two first messages racing on two
    workers both succeed: the insert does nothing on conflict and both read the one row."""
    r = session.scalar(select(Resident).where(Resident.openid == openid))
    if r is None:
        session.execute(_insert(session, Resident).values(openid=openid, state={}, created_at=now, last_seen_at=now)
                        .on_conflict_do_nothing(index_elements=["openid"]))
        r = session.scalar(select(Resident).where(Resident.openid == openid))
    elif (now - r.last_seen_at).total_seconds() > 60:   # not on every message: it would lock the row
        r.last_seen_at = now
    return r


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

def sync_grids(session: Session, grids) -> None:
    """Make the grid table match config (upsert by name; grids removed from config stay for history)."""
    for g in grids:
        values = dict(buildings=g.buildings, robot_key=g.robot_key, leader_name=g.leader.name, leader_userid=g.leader.wecom_userid)
        session.execute(_insert(session, Grid).values(name=g.name, **values)
                        .on_conflict_do_update(index_elements=["name"], set_=values))


def grid_by_name(session: Session, name: str) -> Grid:
    return session.scalars(select(Grid).where(Grid.name == name)).one()


# --- tickets ---------------------------------------------------------------------------------

def next_ticket_code(session: Session, now: datetime, tz: str) -> str:
    """20261121-0007: the day in the community's time zone and an atomic per-day sequence.

    On PostgreSQL the counter is bumped in its own short autocommit transaction: inside the
    message's transaction its row lock would serialise every report until commit. A report that
    then rolls back leaves a gap in the numbers, never a duplicate. (SQLite serialises writers
    anyway, and a second connection would wait on our own write lock, so it stays inside.)
    """
    day = now.astimezone(ZoneInfo(tz)).strftime("%Y%m%d")
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        stmt = postgresql.insert(TicketCounter).values(day=day, last=1)
        stmt = stmt.on_conflict_do_update(index_elements=["day"], set_={"last": TicketCounter.last + 1})
        with bind.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            seq = conn.execute(stmt.returning(TicketCounter.last)).scalar_one()
    else:
        stmt = sqlite.insert(TicketCounter).values(day=day, last=1)
        stmt = stmt.on_conflict_do_update(index_elements=["day"], set_={"last": TicketCounter.last + 1})
        seq = session.execute(stmt.returning(TicketCounter.last)).scalar_one()
    return f"{day}-{seq:04d}"


def add_event(session: Session, ticket: Ticket, actor: str, kind: str, now: datetime, **data) -> TicketEvent:
    ev = TicketEvent(ticket_id=ticket.id, at=now, actor=actor, kind=kind, data=data)
    session.add(ev)
    return ev


def recent_open_ticket(session: Session, resident_id: int, since: datetime) -> Ticket | None:
    """The resident's newest open ticket created after `since` (photos and locations attach to it)."""
    return session.scalars(
        select(Ticket).where(Ticket.resident_id == resident_id, Ticket.status == OPEN, Ticket.created_at >= since)
        .order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(1)).first()


def open_tickets_like(session: Session, grid_id: int, category: str, since: datetime, exclude_resident: int | None = None) -> list[Ticket]:
    """Open tickets of a grid and category since `since`: candidates for joining a report as "+1"."""
    q = select(Ticket).where(Ticket.grid_id == grid_id, Ticket.category == category,
                             Ticket.status == OPEN, Ticket.created_at >= since)
    return list(session.scalars(q.order_by(Ticket.created_at.desc()).limit(50)))


def tickets_of(session: Session, resident_id: int, limit: int = 5) -> list[Ticket]:
    """The resident's own tickets and those they follow ("+1"), newest first."""
    followed = select(TicketFollower.ticket_id).where(TicketFollower.resident_id == resident_id)
    q = select(Ticket).where(or_(Ticket.resident_id == resident_id, Ticket.id.in_(followed)))
    return list(session.scalars(q.order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit)))


def add_follower(session: Session, ticket: Ticket, resident_id: int, now: datetime) -> bool:
    """False when the resident already follows (or owns) the ticket."""
    if ticket.resident_id == resident_id or session.scalar(select(TicketFollower.id).where(
            TicketFollower.ticket_id == ticket.id, TicketFollower.resident_id == resident_id)):
        return False
    session.add(TicketFollower(ticket_id=ticket.id, resident_id=resident_id, created_at=now))
    return True


def followers(session: Session, ticket_id: int) -> list[Resident]:
    q = select(Resident).join(TicketFollower, TicketFollower.resident_id == Resident.id).where(TicketFollower.ticket_id == ticket_id)
    return list(session.scalars(q))


def attach(session: Session, ticket: Ticket, kind: str, now: datetime, **fields) -> Attachment:
    a = Attachment(ticket_id=ticket.id, kind=kind, created_at=now, **fields)
    session.add(a)
    return a


# --- inbound messages ------------------------------------------------------------------------

def inbound_by_key(session: Session, key: str) -> InboundMessage | None:
    return session.scalar(select(InboundMessage).where(InboundMessage.dedupe_key == key))


# --- outbox ----------------------------------------------------------------------------------

def enqueue(session: Session, channel: str, target: str, payload: dict, now: datetime, *,
            ticket_id: int | None = None, dedupe_key: str | None = None, not_before: datetime | None = None) -> Outbox:
    row = Outbox(channel=channel, target=target, payload=payload, ticket_id=ticket_id, dedupe_key=dedupe_key,
                 status="pending", attempts=0, next_attempt_at=not_before or now, created_at=now)
    session.add(row)
    return row


def cancel_pending(session: Session, ticket_id: int, kind: str) -> int:
    """Cancel not-yet-claimed deliveries of a kind for a ticket (e.g. a push held back for the menu)."""
    res = session.execute(update(Outbox).where(
        Outbox.ticket_id == ticket_id, Outbox.status == "pending", Outbox.payload["kind"].as_string() == kind)
        .values(status="cancelled"))
    return res.rowcount


def _outbox_due(now: datetime):
    t = Outbox.__table__
    return or_(and_(t.c.status == "pending", t.c.next_attempt_at <= now),
               and_(t.c.status == "sending", t.c.lease_until < now))      # a worker died mid-send


def claim_due_outbox(session: Session, now: datetime, lease_until: datetime, limit: int = 20) -> list:
    """Atomically take up to `limit` due rows (oldest first) in one statement; returns
    (id, channel, target, payload, attempts) rows, attempts already counting this one.

    PostgreSQL: the inner SELECT locks its rows FOR UPDATE SKIP LOCKED, so concurrent claimers take
    disjoint batches without waiting on each other; the outer WHERE repeats the due condition as a
    compare-and-set. SQLite: BEGIN IMMEDIATE serialises writers, so the same statement is atomic."""
    t = Outbox.__table__
    due = _outbox_due(now)
    ids = (select(t.c.id).where(due).order_by(t.c.next_attempt_at, t.c.id).limit(limit)
           .with_for_update(skip_locked=True))
    stmt = (update(t).where(t.c.id.in_(ids.scalar_subquery()), due)
            .values(status="sending", lease_until=lease_until, attempts=t.c.attempts + 1)
            .returning(t.c.id, t.c.channel, t.c.target, t.c.payload, t.c.attempts, t.c.next_attempt_at))
    rows = session.connection().execute(stmt).all()
    return sorted(rows, key=lambda r: (r.next_attempt_at, r.id))


def finish_outbox(session: Session, lease_until: datetime, now: datetime, sent: list[int],
                  retry: dict[int, tuple[datetime, str]], failed: dict[int, str], release: list[int]) -> None:
    """Record a claimed batch's outcomes in the caller's transaction. Only rows still held under
    this claim's lease are touched (a row whose lease ran out belongs to whoever claimed it next)."""
    t = Outbox.__table__
    conn = session.connection()
    ours = and_(t.c.status == "sending", t.c.lease_until == lease_until)
    if sent:
        conn.execute(update(t).where(t.c.id.in_(sent), ours)
                     .values(status="sent", sent_at=now, lease_until=None, last_error=None))
    for row_id, (next_at, error) in retry.items():
        conn.execute(update(t).where(t.c.id == row_id, ours)
                     .values(status="pending", next_attempt_at=next_at, lease_until=None, last_error=error))
    for row_id, error in failed.items():
        conn.execute(update(t).where(t.c.id == row_id, ours).values(status="failed", lease_until=None, last_error=error))
    if release:      # claimed but not attempted (the batch ran out of lease): as if never claimed
        conn.execute(update(t).where(t.c.id.in_(release), ours)
                     .values(status="pending", lease_until=None, attempts=t.c.attempts - 1))
