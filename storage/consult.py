"""Rows for asking residents (questionnaires, votes, notices, sign-ups): who is asked, what they
answered, who signed up. The rules (what an answer is, whether a vote passed, who may ask) are
domain/consultation.py; the conversations are handlers/poll_answers.py and handlers/notices.py."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.models import (Notice, NoticeRecipient, NoticeSignup, Outbox, Poll, PollAnswer, PollInvite, Resident,
                            Ticket)
from storage.repositories import _insert

CHUNK = 500          # ids per IN list / rows per INSERT: well under SQLite's and psycopg's limits


def audience_ids(session: Session, audience: dict, community: str | None = None) -> list[int]:
    """The residents an audience names (resolved once, when the poll or notice is sent):
    {"all": True}, or any of {"buildings": [...]} (a grid is sent as its buildings) and
    {"category": code} (residents who reported that category). Residents who never said their
    building are reached only by "all" and by category. `community`: only residents last seen
    reporting in it (a deployment serving several communities, where building numbers repeat)."""
    q = select(Resident.id)
    if community is not None:
        q = q.where(Resident.community == community)
    if not audience.get("all"):
        parts = []
        if audience.get("buildings"):
            parts.append(Resident.building.in_(list(audience["buildings"])))
        if audience.get("category"):
            parts.append(exists().where(Ticket.resident_id == Resident.id, Ticket.category == audience["category"]))
        if not parts:
            return []
        q = q.where(or_(*parts))
    return list(session.scalars(q.order_by(Resident.id)))


def _chunks(ids: list[int]):
    for i in range(0, len(ids), CHUNK):
        yield ids[i:i + CHUNK]


def invite(session: Session, poll: Poll, resident_ids: list[int], now: datetime) -> None:
    """poll_invite rows, and the poll becomes the one each resident's next answer goes to."""
    for part in _chunks(resident_ids):
        session.execute(_insert(session, PollInvite).values(
            [{"poll_id": poll.id, "resident_id": r, "step": 0, "prompted_at": now} for r in part]
        ).on_conflict_do_nothing())
        session.execute(update(Resident).where(Resident.id.in_(part)).values(asked_poll_id=poll.id))


def stop_asking(session: Session, poll_id: int, resident_id: int | None = None) -> None:
    """Clear the pointer (one resident, or everyone when the poll closes), unless it already moved
    on to another poll (a conditional UPDATE: a newer poll sent meanwhile is not lost)."""
    q = update(Resident).where(Resident.asked_poll_id == poll_id)
    if resident_id is not None:
        q = q.where(Resident.id == resident_id)
    session.execute(q.values(asked_poll_id=None))


def point_at(session: Session, resident_id: int, poll_id: int) -> None:
    session.execute(update(Resident).where(Resident.id == resident_id).values(asked_poll_id=poll_id))


def open_invites(session: Session, resident_id: int, now: datetime) -> list[tuple[Poll, PollInvite]]:
    """The resident's polls still open, newest first (unfinished before finished)."""
    rows = session.execute(select(Poll, PollInvite).join(PollInvite, PollInvite.poll_id == Poll.id).where(
        PollInvite.resident_id == resident_id, Poll.status == "open", Poll.deadline > now)
        .order_by(PollInvite.done_at.is_not(None), Poll.id.desc())).all()
    return [(p, i) for p, i in rows]


def recently_closed(session: Session, resident_id: int, since: datetime) -> Poll | None:
    """The newest poll this resident was asked and did not finish that closed after `since`."""
    return session.scalars(select(Poll).join(PollInvite, PollInvite.poll_id == Poll.id).where(
        PollInvite.resident_id == resident_id, PollInvite.done_at.is_(None), Poll.status == "closed",
        Poll.closed_at > since).order_by(Poll.id.desc()).limit(1)).first()


class HouseholdTaken(Exception):
    """Another resident of the same room already voted on this question."""


def save_answer(session: Session, poll_id: int, resident_id: int, position: int, value, household: str | None,
                now: datetime) -> None:
    """Insert or change an answer (the last word counts). A second voter of one household is
    refused by the unique index, also when two of them answer at the same instant."""
    stmt = _insert(session, PollAnswer).values(poll_id=poll_id, resident_id=resident_id, position=position,
                                               value=value, household=household, created_at=now, updated_at=now)
    stmt = stmt.on_conflict_do_update(index_elements=["poll_id", "resident_id", "position"],
                                      set_={"value": stmt.excluded.value, "household": stmt.excluded.household,
                                            "updated_at": now})
    try:
        with session.begin_nested():
            session.execute(stmt)
    except IntegrityError:
        raise HouseholdTaken() from None


def answers(session: Session, poll_id: int) -> list[tuple[int, int, object, str | None, str | None]]:
    """(resident_id, position, stored value, household, building) of every answer."""
    return [tuple(r) for r in session.execute(
        select(PollAnswer.resident_id, PollAnswer.position, PollAnswer.value, PollAnswer.household, Resident.building)
        .join(Resident, Resident.id == PollAnswer.resident_id).where(PollAnswer.poll_id == poll_id)
        .order_by(PollAnswer.resident_id, PollAnswer.position))]


def answered_ids(session: Session, poll_id: int) -> list[tuple[int, str]]:
    """(resident id, openid) of everyone who answered at least one question."""
    return [tuple(r) for r in session.execute(
        select(Resident.id, Resident.openid).where(
            exists().where(PollAnswer.poll_id == poll_id, PollAnswer.resident_id == Resident.id))
        .order_by(Resident.id))]


def invited_count(session: Session, poll_id: int) -> tuple[int, int]:
    """(asked, finished)."""
    row = session.execute(select(func.count(), func.count(PollInvite.done_at)).where(PollInvite.poll_id == poll_id)).one()
    return row[0], row[1]


def registered_households(session: Session, buildings: list[str]) -> int:
    """Distinct rooms residents registered in these buildings: the eligible count a vote falls back
    to when staff did not give the number of households."""
    q = select(func.count(func.distinct(Resident.building + "-" + func.coalesce(Resident.unit, "") + "-" + Resident.room)))
    q = q.where(Resident.room.is_not(None), Resident.building.in_(buildings))
    return session.scalar(q) or 0


def due_polls(session: Session, now: datetime) -> list[Poll]:
    return list(session.scalars(select(Poll).where(Poll.status == "open", Poll.deadline <= now)
                                .order_by(Poll.id).with_for_update(skip_locked=True)))


# -- notices and sign-ups ---------------------------------------------------------------------------

def address(session: Session, notice: Notice, resident_ids: list[int]) -> None:
    for part in _chunks(resident_ids):
        session.execute(_insert(session, NoticeRecipient).values(
            [{"notice_id": notice.id, "resident_id": r} for r in part]).on_conflict_do_nothing())


def latest_signup_notice(session: Session, resident_id: int, now: datetime) -> Notice | None:
    """The newest notice with sign-up sent to this resident whose event has not begun."""
    return session.scalars(select(Notice).join(NoticeRecipient, NoticeRecipient.notice_id == Notice.id).where(
        NoticeRecipient.resident_id == resident_id, Notice.signup.is_(True),
        or_(Notice.event_at.is_(None), Notice.event_at > now)).order_by(Notice.id.desc()).limit(1)).first()


@dataclass(frozen=True)
class Places:
    taken: int
    waiting: int


def places(session: Session, notice_id: int) -> Places:
    rows = dict(session.execute(select(NoticeSignup.status, func.count()).where(NoticeSignup.notice_id == notice_id)
                                .group_by(NoticeSignup.status)).all())
    return Places(rows.get("in", 0), rows.get("waiting", 0))


def lock_notice(session: Session, notice_id: int) -> Notice | None:
    """The notice row locked: sign-ups and cancellations of one notice take turns, so a place is
    never given twice (PostgreSQL FOR UPDATE; SQLite writers are serialised anyway)."""
    return session.scalars(select(Notice).where(Notice.id == notice_id).with_for_update()).first()


def signup_of(session: Session, notice_id: int, resident_id: int) -> NoticeSignup | None:
    return session.scalars(select(NoticeSignup).where(NoticeSignup.notice_id == notice_id,
                                                      NoticeSignup.resident_id == resident_id)).first()


def first_waiting(session: Session, notice_id: int) -> NoticeSignup | None:
    return session.scalars(select(NoticeSignup).where(NoticeSignup.notice_id == notice_id,
                                                      NoticeSignup.status == "waiting")
                           .order_by(NoticeSignup.updated_at, NoticeSignup.id).limit(1)).first()


def signups(session: Session, notice_id: int) -> list[tuple[NoticeSignup, Resident]]:
    return [tuple(r) for r in session.execute(
        select(NoticeSignup, Resident).join(Resident, Resident.id == NoticeSignup.resident_id)
        .where(NoticeSignup.notice_id == notice_id, NoticeSignup.status != "cancelled")
        .order_by(NoticeSignup.status, NoticeSignup.id))]


def due_reminders(session: Session, start: datetime, end: datetime) -> list[Notice]:
    """Notices with sign-up whose event falls in [start, end) and that have not been reminded."""
    return list(session.scalars(select(Notice).where(
        and_(Notice.reminded_at.is_(None), Notice.signup.is_(True), Notice.event_at >= start, Notice.event_at < end))
        .order_by(Notice.id).with_for_update(skip_locked=True)))


# -- sending to many residents at once -------------------------------------------------------------

@cache
def _enqueue_many(dialect: str):
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Outbox)
    return stmt.on_conflict_do_nothing(index_elements=["dedupe_key"])


def enqueue_many(session: Session, rows: list[dict], now: datetime, *, priority: int = 0) -> None:
    """enqueue_once for many deliveries at once (a poll or a notice to every resident of a
    community): one cached statement executed for all rows, each {key, channel, target, payload,
    not_before}; a key already queued is skipped."""
    if rows:
        session.connection().execute(_enqueue_many(session.get_bind().dialect.name), [
            {"channel": r["channel"], "target": r["target"], "payload": r["payload"], "ticket_id": None,
             "dedupe_key": r["key"], "status": "pending", "attempts": 0, "next_attempt_at": r.get("not_before") or now,
             "created_at": now, "priority": priority} for r in rows])
