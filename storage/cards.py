"""ticket_card and staff_prompt: the interactive WeCom cards sent about tickets, the response codes
that allow changing them, and taps waiting for words. See handlers/cards.py for what they show.

A response code is good once, for 72 hours: the send of a card returns one (kept by the outbox
worker: set_code), each tap's callback brings a new one for the tapper's card (set_code again), and
updating a card spends it (take_code)."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from storage.models import StaffPrompt, TicketCard

CODE_LIFETIME = timedelta(hours=72)


def add_cards(session: Session, rows: list[dict]) -> None:
    """ticket_card rows (task_id, ticket_id, round, userid, notice, shows, created_at), in one
    statement: cards are queued beside most new tickets' notices (issue 14)."""
    session.connection().execute(_INSERT_CARD, rows)


_INSERT_CARD = insert(TicketCard.__table__)


def card_by_task(session: Session, task_id: str, *, lock: bool = False) -> TicketCard | None:
    q = select(TicketCard).where(TicketCard.task_id == task_id)
    return session.scalar(q.with_for_update() if lock else q)


def cards_of(session: Session, ticket_id: int) -> list[TicketCard]:
    return list(session.scalars(select(TicketCard).where(TicketCard.ticket_id == ticket_id).order_by(TicketCard.id)))


def set_code(session: Session, task_id: str, code: str | None, now: datetime) -> None:
    """The newest response code for this card (from its send's answer or the tapper's callback)."""
    session.execute(update(TicketCard).where(TicketCard.task_id == task_id)
                    .values(response_code=code, code_at=now, updated_at=now))


def take_code(session: Session, card: TicketCard, now: datetime) -> str | None:
    """Spend the card's code to update it: None when it has none or it is older than 72 hours."""
    code = card.response_code
    if not code or card.code_at is None or now - card.code_at >= CODE_LIFETIME:
        return None
    card.response_code = None
    card.updated_at = now
    return code


def set_prompt(session: Session, userid: str, ticket_id: int, move: str, task_id: str | None, expires_at: datetime) -> None:
    session.execute(delete(StaffPrompt).where(StaffPrompt.userid == userid))
    session.add(StaffPrompt(userid=userid, ticket_id=ticket_id, move=move, task_id=task_id, expires_at=expires_at))


def take_prompt(session: Session, userid: str, now: datetime) -> StaffPrompt | None:
    """The move this person's next plain message answers (removed), or None (none, or expired)."""
    prompt = session.get(StaffPrompt, userid)
    if prompt is None:
        return None
    session.delete(prompt)
    return prompt if prompt.expires_at > now else None


def drop_prompt(session: Session, userid: str) -> None:
    session.execute(delete(StaffPrompt).where(StaffPrompt.userid == userid))
