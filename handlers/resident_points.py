"""A resident's words about their service points: 积分 (the balance and the latest entries), 积分实名
名字 and 积分匿名 (the name on the monthly ranking). Staff award and redeem with /points and /redeem
(handlers/commands/points.py); the ledger is storage/points.py."""
from __future__ import annotations

from sqlalchemy.orm import Session

from handlers import replies
from handlers.intents import POINTS_NAME_MAX, Intent, points_name
from storage import points as ledger


def answer(session: Session, resident_id: int, m, tz: str) -> str:
    if m.intent == Intent.POINTS_NAME:
        name = points_name(m.name)
        if name is None:
            return replies.points_bad_name(POINTS_NAME_MAX)
        ledger.set_display_name(session, resident_id, name)
        return replies.points_named(name)
    if m.intent == Intent.POINTS_ANON:
        ledger.set_display_name(session, resident_id, None)
        return replies.points_anonymous()
    entries = ledger.history(session, resident_id)
    undone = ledger.reversed_ids(session, [e.id for e in entries])
    return replies.points(ledger.balance(session, resident_id), entries, undone, tz,
                          ledger.display_name(session, resident_id))
