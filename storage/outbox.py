"""The outbox worker's side of the outbox table: claim what is due under a lease (emergencies first
and alone), extend and finish leases, and count the robot sends that pace a group. What queues rows
(enqueue, enqueue_once, enqueue_rows) lives with the rest of a transaction's writes in
storage/repositories.py."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from storage.models import Outbox
from storage.repositories import EMERGENCY


def _outbox_due(now: datetime):
    t = Outbox.__table__
    return or_(and_(t.c.status == "pending", t.c.next_attempt_at <= now),
               and_(t.c.status == "sending", t.c.lease_until < now))      # a worker died mid-send


def _claim(session: Session, where, lease_until: datetime, limit: int) -> list:
    t = Outbox.__table__
    ids = (select(t.c.id).where(where).order_by(t.c.priority.desc(), t.c.next_attempt_at, t.c.id).limit(limit)
           .with_for_update(skip_locked=True))
    stmt = (update(t).where(t.c.id.in_(ids.scalar_subquery()), where)
            .values(status="sending", lease_until=lease_until, attempts=t.c.attempts + 1)
            .returning(t.c.id, t.c.channel, t.c.target, t.c.payload, t.c.attempts, t.c.next_attempt_at, t.c.priority,
                       t.c.ticket_id))
    rows = session.connection().execute(stmt).all()
    return sorted(rows, key=lambda r: (-r.priority, r.next_attempt_at, r.id))


def claim_due_outbox(session: Session, now: datetime, lease_until: datetime, limit: int = 20, *,
                     emergency_only: bool = False) -> list:
    """Atomically take due rows, emergencies first, then by due time; returns (id, channel, target,
    payload, attempts, next_attempt_at, priority, ticket_id) rows, attempts already counting this one.

    A due emergency is claimed alone (a batch of one), so no slow row in front of it delays it;
    otherwise up to `limit` rows. `emergency_only`: claim a due emergency or nothing (a worker looks
    between the sends of a batch).

    PostgreSQL: the inner SELECT locks its rows FOR UPDATE SKIP LOCKED, so concurrent claimers take
    disjoint batches without waiting on each other; the outer WHERE repeats the due condition as a
    compare-and-set. SQLite: BEGIN IMMEDIATE serialises writers, so the same statement is atomic."""
    t = Outbox.__table__
    due = _outbox_due(now)
    urgent = _claim(session, and_(due, t.c.priority >= EMERGENCY), lease_until, 1)
    if urgent or emergency_only:
        return urgent
    return _claim(session, due, lease_until, limit)


def extend_outbox_lease(session: Session, ids: list[int], lease_until: datetime, new_lease: datetime) -> set[int]:
    """Move the lease of rows still held under `lease_until` to `new_lease`; returns the ids still
    held (a row whose lease ran out may have been claimed by another worker: it is theirs now)."""
    if not ids:
        return set()
    t = Outbox.__table__
    res = session.connection().execute(
        update(t).where(t.c.id.in_(ids), t.c.status == "sending", t.c.lease_until == lease_until)
        .values(lease_until=new_lease).returning(t.c.id))
    return {r.id for r in res}


def finish_outbox(session: Session, lease_until: datetime, now: datetime, sent: list[int],
                  retry: dict[int, tuple[datetime, str]], failed: dict[int, str], release: list[int], *,
                  defer: dict[int, datetime] | None = None) -> set[int]:
    """Record outcomes of claimed rows in the caller's transaction; returns the ids written. Only
    rows still held under this claim's lease are touched (a row whose lease ran out belongs to
    whoever claimed it next): the compare-and-set on (status, lease_until) is the lease holder's
    proof. `release`: claimed but not attempted, as if never claimed; `defer`: the same, due again
    at the given time (a group over its flood limit)."""
    t = Outbox.__table__
    conn = session.connection()
    ours = and_(t.c.status == "sending", t.c.lease_until == lease_until)
    done: set[int] = set()

    def run(stmt) -> None:
        done.update(r.id for r in conn.execute(stmt.returning(t.c.id)))

    if sent:
        run(update(t).where(t.c.id.in_(sent), ours).values(status="sent", sent_at=now, lease_until=None, last_error=None))
    for row_id, (next_at, error) in retry.items():
        run(update(t).where(t.c.id == row_id, ours)
            .values(status="pending", next_attempt_at=next_at, lease_until=None, last_error=error))
    for row_id, error in failed.items():
        run(update(t).where(t.c.id == row_id, ours).values(status="failed", lease_until=None, last_error=error))
    if release:
        run(update(t).where(t.c.id.in_(release), ours)
            .values(status="pending", lease_until=None, attempts=t.c.attempts - 1))
    for row_id, next_at in (defer or {}).items():
        run(update(t).where(t.c.id == row_id, ours)
            .values(status="pending", next_attempt_at=next_at, lease_until=None, attempts=t.c.attempts - 1))
    return done


def robot_sends_in_window(session: Session, targets: list[str], since: datetime, now: datetime,
                          exclude: list[int]) -> dict[str, list[datetime]]:
    """Per robot key: when each push of the last window left (sent_at after `since`), plus `now` for
    each push other workers hold right now (claimed, not yet answered), oldest first. `exclude`: the
    caller's own claimed rows. Uses the index outbox(target, created_at): a row leaves within
    max_attempts backoffs of its creation (well under a day), so older rows need not be read."""
    if not targets:
        return {}
    t = Outbox.__table__
    q = select(t.c.target, t.c.status, t.c.sent_at).where(
        t.c.target.in_(targets), t.c.channel == "robot", t.c.created_at >= now - timedelta(days=1),
        or_(and_(t.c.status == "sent", t.c.sent_at > since), and_(t.c.status == "sending", t.c.lease_until >= now)))
    if exclude:
        q = q.where(t.c.id.not_in(exclude))
    found: dict[str, list[datetime]] = {key: [] for key in targets}
    for r in session.connection().execute(q):
        found[r.target].append(r.sent_at if r.status == "sent" else now)
    return {key: sorted(times) for key, times in found.items()}
