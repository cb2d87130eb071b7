"""The one-tap WeCom cards about a ticket (pure): which buttons a recipient may use now (asked of
domain/access.py, the one source of truth), the card itself (WeCom's template_card,
"button_interaction"), and the settled card that says what happened ("已到场 王芳 09:12").
handlers/effects.py queues them, handlers/card_taps.py answers their taps. See /tmp/cards/design.md."""
from __future__ import annotations

import hashlib
from datetime import datetime
from zoneinfo import ZoneInfo

from domain.access import Actor, Move, Refused, check
from domain.moves import Notice
from domain.states import ACTIVE, EventKind, Role, Status, status_name
from nlp import categories, mask_pii

# key -> (the move it makes, button text, style). Order is the order shown.
BUTTONS: dict[str, tuple[Move, str, int]] = {
    "take": (Move.ASSIGN, "接单", 1),
    "onsite": (Move.ARRIVE, "到场", 1),
    "close": (Move.RESOLVE, "办结", 1),
    "refer": (Move.REFER, "转派", 2),
    "help": (Move.NOTE, "需要协助", 3),
}
NOOP = "noop"
SETTLED_BUTTON = {"text": "已处理", "style": 4, "key": NOOP}
# Notices that come with a card, and who gets cards (the people who work tickets by hand; the
# committee only through what reaches it in the staff app, e.g. an escalation rung).
CARD_NOTICES = frozenset({Notice.NEW_TICKET, Notice.ASSIGNED, Notice.REFERRED, Notice.WARNING, Notice.ESCALATION})
CARD_ROLES = frozenset({Role.GRID_LEADER, Role.PROPERTY, Role.PARTY, Role.COMMITTEE})

# What a card says happened, by the event that moved the ticket.
HAPPENED = {EventKind.ASSIGNED: "已接单", EventKind.ONSITE: "已到场", EventKind.PLANNED: "已出方案",
            EventKind.REFERRED: "已转派", EventKind.PARTY_REPLIED: "单位已答复", EventKind.RESOLVED: "已办结",
            EventKind.VISITED: "已回访", EventKind.CLOSED: "已结案", EventKind.CANCELLED: "已撤销",
            EventKind.MERGED: "已合并", EventKind.REOPENED: "已重新打开", EventKind.NOTE: "已请求协助"}


def buttons_for(actor: Actor, t, parties: frozenset[str]) -> list[str]:
    """The keys `actor` may tap on ticket `t` now: each move as domain.access.check allows it."""
    if Status(t.status) not in ACTIVE:
        return []
    keys = []
    for key, (move, _, _) in BUTTONS.items():
        if key == "take" and t.assignee:              # 接单 takes an untaken ticket, never someone's
            continue
        if key == "help" and actor.role == Role.COMMITTEE:   # help comes from the committee
            continue
        try:
            check(move, actor, t, parties=parties)
        except Refused:
            continue
        keys.append(key)
    return keys


def shows(t) -> str:
    """The state a card shows: a tap on a card showing another state is stale."""
    return f"{t.status}|{t.assignee or ''}"[:64]


def task_id(ticket_id: int, round_: int, userid: str, key: str) -> str:
    """Unique per ticket, round, person and notice (key: the notice's delivery key)."""
    n = hashlib.sha1(key.encode("utf-8")).hexdigest()[:8]
    return f"t{ticket_id}r{round_}u{userid}n{n}"[:128]


def happened(kind: str | None, by: str, at: datetime | None, tz: str) -> str:
    """"已到场 王芳 09:12"."""
    word = HAPPENED.get(kind, "状态已变化") if kind else "状态已变化"
    when = at.astimezone(ZoneInfo(tz)).strftime("%H:%M") if at else ""
    return " ".join(filter(None, (word, by, when)))[:30]


def _hm(dt: datetime | None, tz: str) -> str:
    return dt.astimezone(ZoneInfo(tz)).strftime("%m-%d %H:%M") if dt else "-"


def _deadline(t, tz: str) -> str:
    if Status(t.status) not in ACTIVE:
        return "-"
    if t.onsite_at is None and t.due_onsite_at:
        return f"{_hm(t.due_onsite_at, tz)} 前到场"
    if t.due_fix_at:
        return f"{_hm(t.due_fix_at, tz)} 前处理"
    return "-"


def card(t, *, task: str, keys: list[str], tz: str, name_of, note: str | None = None) -> dict:
    """The template_card for ticket `t` with these buttons; no keys: the settled card (one
    "已处理" button) whose desc says what happened (`note`)."""
    state = status_name(t.status) + (f" {name_of(t.assignee)}" if t.assignee else "")
    place = t.location_text or "未说明位置"
    buttons = [{"text": BUTTONS[k][1], "style": BUTTONS[k][2], "key": k} for k in keys][:6] or [dict(SETTLED_BUTTON)]
    return {
        "card_type": "button_interaction",
        "task_id": task,
        "main_title": {"title": f"#{t.code} {categories.name_of(t.category)}"[:26],
                       "desc": (f"{note}｜{place}" if note else place)[:44]},
        "sub_title_text": (mask_pii(t.text or "") or "（照片）")[:100],
        "horizontal_content_list": [{"keyname": "状态", "value": (note if note and not keys else state)[:30]},
                                    {"keyname": "时限", "value": _deadline(t, tz)[:30]}],
        "button_list": buttons,
    }
