"""Receiving a message exactly once, across retries and workers.

The inbound row's unique dedupe_key is inserted in the same transaction as the message's effects:
a concurrent retry blocks on that key until the first commits, then reads the stored reply. If
handling fails, its effects roll back to a savepoint but the message itself is kept (status
failed) with a holding reply, so nothing a resident sent is lost.
"""
from __future__ import annotations

import logging

from sqlalchemy import bindparam, insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from handlers import replies
from handlers.inbound import Inbound
from typing import Protocol
from storage import repositories as repo
from storage.models import InboundMessage

log = logging.getLogger(__name__)
_T = InboundMessage.__table__
_INSERT = insert(_T).returning(_T.c.id)
_DONE = update(_T).where(_T.c.id == bindparam("row_id"))     # SET from the other parameters


class Handler(Protocol):
    """Intake (residents) and StaffDesk (staff commands) both fit."""
    clock: object

    def handle(self, session: Session, msg: Inbound) -> tuple[str, int | None]: ...


def receive(factory: sessionmaker[Session], intake: Handler, msg: Inbound, raw: str, _attempt: int = 0) -> tuple[str, bool]:
    """(reply text, first time?)."""
    now = intake.clock.now()
    try:
        with factory() as session, session.begin():
            conn = session.connection()
            # takes the unique key now: retries (on any worker) wait here until we commit
            row_id = conn.execute(_INSERT, {"dedupe_key": msg.dedupe_key, "openid": msg.openid, "msg_type": msg.type,
                                            "raw": raw, "received_at": now, "status": "received"}).scalar_one()
            try:
                with session.begin_nested():
                    reply, ticket_id = intake.handle(session, msg)
                done = {"status": "handled", "reply": reply, "ticket_id": ticket_id, "error": None}
            except Exception as e:              # effects rolled back; the message stays
                log.exception("handling inbound %s failed", msg.dedupe_key)
                done = {"status": "failed", "reply": replies.failed(), "ticket_id": None,
                        "error": f"{type(e).__name__}: {e}"[:2000]}
            conn.execute(_DONE, {"row_id": row_id, **done})
            return done["reply"] or "", True
    except IntegrityError:
        with factory() as session:
            row = repo.inbound_by_key(session, msg.dedupe_key)
            if row is None and _attempt < 2:     # the other attempt rolled back entirely: try again
                return receive(factory, intake, msg, raw, _attempt + 1)
            if row is None:
                raise
            return row.reply or "", False
