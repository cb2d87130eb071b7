"""Telling residents about their tickets: the reporter and everyone who added "+1" (via the outbox)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from storage import repositories as repo
from storage.models import Resident, Ticket


def residents_of(session: Session, ticket: Ticket) -> list[Resident]:
    people = [ticket.resident] if ticket.resident is not None else []
    return people + [r for r in repo.followers(session, ticket.id) if r.id != ticket.resident_id]


def tell_residents(session: Session, ticket: Ticket, text: str, now: datetime, key: str) -> int:
    """Queue `text` to the ticket's residents; `key` makes each notice unique per resident."""
    people = residents_of(session, ticket)
    for r in people:
        repo.enqueue(session, "mp_text", r.openid, {"kind": "ticket_update", "content": text}, now,
                     ticket_id=ticket.id, dedupe_key=f"t{ticket.id}:{key}:{r.id}"[:128])
    return len(people)


def tell_staff(session: Session, ticket: Ticket, userid: str, text: str, now: datetime, key: str) -> None:
    repo.enqueue(session, "wecom_text", userid, {"kind": "staff_notice", "content": text}, now,
                 ticket_id=ticket.id, dedupe_key=f"t{ticket.id}:{key}:{userid}"[:128])
