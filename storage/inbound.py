"""The inbound_message table's statements: store a message once, claim it for handling under a lease,
record the outcome only while still holding that lease, and find the ones left behind.

Every statement is a single compare-and-set, so several web workers, the background worker and a
replayed spool can race over one message and exactly one of them handles it."""
from __future__ import annotations

from datetime import datetime
from functools import cache

from sqlalchemy import Connection, and_, bindparam, case, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from storage.models import InboundMessage

T = InboundMessage.__table__


def _insert(dialect):
    return (dialect.insert(T).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(T.c.id))


_STORE = {"postgresql": _insert(postgresql), "sqlite": _insert(sqlite)}


def store(conn: Connection, *, dedupe_key: str, openid: str, msg_type: str, raw: str, source: str,
          inbound: dict, now: datetime, lease_until: datetime | None, deferred: bool = False,
          outcome: dict | None = None) -> int | None:
    """Insert the message as received and held under a lease (or with its outcome already, e.g.
    failed); None if its dedupe key is already stored (a retry, or a spooled copy of a message that
    did reach the database). A copy inserted by a transaction still open makes this wait for it."""
    return conn.execute(_STORE[conn.dialect.name], {
        "dedupe_key": dedupe_key, "openid": openid[:64], "msg_type": msg_type[:32], "raw": raw,
        "received_at": now, "status": "received", "source": source, "inbound": inbound, "attempts": 1,
        "lease_until": lease_until, "reply_deferred": deferred, **(outcome or {})}).scalar()


def finish(conn: Connection, row_id: int, lease_until: datetime, values: dict, deferred: bool):
    """Record the outcome if this handler still holds the lease; returns (reply_deferred,) or None
    when someone else has taken the message over (then this handling must roll back)."""
    return conn.execute(_finish(tuple(sorted(values))), {
        **{f"v_{c}": v for c, v in values.items()}, "row_id": row_id, "held_until": lease_until,
        "deferred": deferred}).first()


@cache
def _finish(columns: tuple[str, ...]):
    """One statement per set of outcome columns (handled, failed), built once: built per message
    it cost about 1 ms of CPU (issue 14)."""
    return (update(T).where(T.c.id == bindparam("row_id"), T.c.status == "received",
                            T.c.lease_until == bindparam("held_until"))
            .values(reply_deferred=or_(T.c.reply_deferred, bindparam("deferred")),
                    **{c: bindparam(f"v_{c}", type_=T.c[c].type) for c in columns})
            .returning(T.c.reply_deferred))


def answer_retry(conn: Connection, dedupe_key: str):
    """A retry of a stored message: (status, reply, reply_deferred) as it stands. Unless it is
    handled, its reply is marked deferred in the same statement, so whoever finishes it sends the
    reply through the outbox instead of to a request nobody is waiting on any more."""
    return conn.execute(
        update(T).where(T.c.dedupe_key == dedupe_key)
        .values(reply_deferred=case((T.c.status == "handled", T.c.reply_deferred), else_=True))
        .returning(T.c.status, T.c.reply, T.c.reply_deferred)).first()


def defer_reply(conn: Connection, dedupe_key: str):
    """Mark a message's reply as owed by the outbox; (id, status, reply) if it was not already."""
    return conn.execute(
        update(T).where(T.c.dedupe_key == dedupe_key, T.c.reply_deferred.is_(False))
        .values(reply_deferred=True).returning(T.c.id, T.c.status, T.c.reply)).first()


def status_of(conn: Connection, dedupe_key: str):
    return conn.execute(select(T.c.status).where(T.c.dedupe_key == dedupe_key)).first()


def take_over(conn: Connection, dedupe_key: str, now: datetime, lease_until: datetime, max_attempts: int):
    """A retry finds the message left by a handler that died, or failed: take it under a new lease.
    Returns (id, attempts) or None."""
    return conn.execute(
        update(T).where(T.c.dedupe_key == dedupe_key, _left_behind(now), T.c.attempts < max_attempts)
        .values(status="received", lease_until=lease_until, attempts=T.c.attempts + 1)
        .returning(T.c.id, T.c.attempts)).first()


def _left_behind(now: datetime):
    return or_(and_(T.c.status == "received", T.c.lease_until < now),
               and_(T.c.status == "failed", T.c.next_attempt_at <= now))


def claim_left_behind(conn: Connection, now: datetime, lease_until: datetime, limit: int) -> list:
    """Messages whose handler died (lease run out) or that failed and are due again, oldest first,
    taken under a new lease in one statement (SKIP LOCKED: workers take disjoint sets)."""
    due = _left_behind(now)
    ids = select(T.c.id).where(due).order_by(T.c.id).limit(limit).with_for_update(skip_locked=True)
    rows = conn.execute(
        update(T).where(T.c.id.in_(ids.scalar_subquery()), due)
        .values(status="received", lease_until=lease_until, attempts=T.c.attempts + 1)
        .returning(T.c.id, T.c.source, T.c.openid, T.c.inbound, T.c.attempts, T.c.received_at)).all()
    return sorted(rows, key=lambda r: r.id)


def give_up(conn: Connection, row_id: int, lease_until: datetime, error: str) -> bool:
    return conn.execute(
        update(T).where(T.c.id == row_id, T.c.lease_until == lease_until, T.c.status == "received")
        .values(status="dead", lease_until=None, error=error)).rowcount == 1
