"""A tap on a one-tap card (template_card_event) and the plain message that answers a tap needing
words. A tap makes the same move as the slash command, with the tapper as actor (the command
functions of handlers/commands/tickets.py, under the ticket's row lock); a tap on a card that no
longer shows the ticket as it is (another round, moved on, the move no longer allowed) makes no
move: the tapper's card is updated to say what happened. After a move every card of the ticket's
round is updated, each with its own single-use response code, so of two leaders tapping 接单 at
once one takes the ticket and the other's card shows who did."""
from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import select

from domain.access import Actor, Refused
from domain.states import Role
from handlers import cards, effects
from handlers.commands import tickets
from handlers.commands.registry import CommandError
from storage import cards as store
from storage import repositories as repo
from storage.models import Ticket

PROMPT_FOR = timedelta(minutes=30)
HELP_NOTE = "需要协助（卡片）"
UNKNOWN = "这张卡片无效或不是发给你的，请用命令操作（发送 /help 查看）。"


def _lock(session, ticket_id: int) -> Ticket | None:
    code = session.scalar(select(Ticket.code).where(Ticket.id == ticket_id))
    return repo.ticket_by_code(session, code, lock=True)


def _last_move(desk, session, t) -> str:
    from handlers.commands.dispatch import MOVED_BY
    e = repo.last_event_of(session, t.id, MOVED_BY)
    if e is None:
        return cards.happened(None, "", None, desk.tz)
    return cards.happened(e.kind, desk.d.actor_name(e.actor), e.at, desk.tz)


def update_card(desk, session, t, card, now, note: str, parties: frozenset[str]) -> bool:
    """Queue a "wecom_card_update" of one card to the ticket as it is now (spending its code)."""
    actor = desk.staff.get(card.userid)
    code = store.take_code(session, card, now) if actor is not None else None
    if code is None:
        return False
    keys = cards.buttons_for(actor, t, parties) if card.round == t.round else []
    body = cards.card(t, task=card.task_id, keys=keys, tz=desk.tz, name_of=desk.d.name_of, note=note)
    digest = hashlib.sha1(code.encode("utf-8")).hexdigest()[:12]
    repo.enqueue_once(session, effects.delivery_key(t.id, t.round, f"cu:{card.id}:{digest}", card.userid),
                      "wecom_card_update", card.userid,
                      {"kind": "card_update", "task_id": card.task_id, "response_code": code, "card": body}, now, t.id)
    card.shows = cards.shows(t)
    return True


def update_all(desk, session, t, now, note: str, only_changed: bool = False) -> int:
    """After a move: every card of this ticket and round, each recipient's, shows the new state.
    only_changed: skip cards already showing it (each update spends the card's one code)."""
    mine = [c for c in store.cards_of(session, t.id) if c.round == t.round
            and not (only_changed and c.shows == cards.shows(t))]
    if not mine:
        return 0
    parties = desk.working_parties(session, t)
    return sum(update_card(desk, session, t, c, now, note, parties) for c in mine)


def after_command(desk, session, ticket_id: int | None, now) -> None:
    """A slash command moved a ticket: its cards follow, so a later tap meets the truth."""
    if ticket_id is None:
        return
    t = session.get(Ticket, ticket_id)
    if t is not None:
        update_all(desk, session, t, now, _last_move(desk, session, t), only_changed=True)


def tap(desk, session, staff: Actor, msg) -> tuple[str, int | None]:
    """A template_card_event from `staff`."""
    from handlers.commands.dispatch import Ctx
    now = desk.clock.now()
    card = store.card_by_task(session, msg.task_id or "")
    if card is None or card.userid != staff.id:          # forged, or another person's card
        return UNKNOWN, None
    t = _lock(session, card.ticket_id)                    # ticket first, then cards: one lock order
    if msg.response_code:
        store.set_code(session, card.task_id, msg.response_code, now)
        session.refresh(card)
    key = msg.event_key or ""
    if key not in cards.BUTTONS:                          # "已处理" and anything else: nothing to do
        return "", t.id
    parties = desk.working_parties(session, t)
    if t.round != card.round or card.shows != cards.shows(t) or key not in cards.buttons_for(staff, t, parties):
        what = _last_move(desk, session, t)               # moved on: say so on the card, never move twice
        update_card(desk, session, t, card, now, what, parties)
        return f"#{t.code} {what}，未重复操作。", t.id
    if key in ("close", "refer"):
        store.set_prompt(session, staff.id, t.id, key, card.task_id, now + PROMPT_FOR)
        if key == "close":
            return f"请回复 #{t.code} 的办结结果（居民会看到），例如：已清理完毕。", t.id
        names = "、".join(p.name for p in desk.d.parties.values())
        return f"请回复把 #{t.code} 转给哪个单位（可加说明），可选：{names}", t.id
    ctx = Ctx(session, staff, now, desk.tz, desk)
    try:
        return _move(desk, ctx, t, key, "")
    except CommandError as e:
        return f"未执行：{e}", t.id


def answer(desk, session, staff: Actor, prompt, words: str) -> tuple[str, int | None]:
    """The plain message that answers a tap needing words (办结的结果, 转派的单位)."""
    from handlers.commands.dispatch import Ctx
    now = desk.clock.now()
    t = _lock(session, prompt.ticket_id)
    if t is None:
        return "这张工单已不存在。", None
    ctx = Ctx(session, staff, now, desk.tz, desk)
    try:
        return _move(desk, ctx, t, prompt.move, words.strip())
    except CommandError as e:                             # the words did not do (no such party): ask again
        store.set_prompt(session, staff.id, t.id, prompt.move, prompt.task_id, prompt.expires_at)
        return f"未执行：{e}\n请重新回复，或发送命令。", t.id


DONE_AS = {"take": "assigned", "onsite": "onsite", "close": "resolved", "refer": "referred", "help": "note"}


def _move(desk, ctx, t, key: str, words: str) -> tuple[str, int | None]:
    """The move, as its slash command makes it; then every card of the round is updated.
    A refusal by the domain is the answer; a CommandError (words that do not do) is raised."""
    session, staff, now = ctx.session, ctx.staff, ctx.now
    args = [t.code] + words.split()
    ctx.rest = words
    try:
        with session.begin_nested():
            if key == "take":
                reply, _ = tickets.assign(ctx, [t.code, staff.id])
            elif key == "onsite":
                reply, _ = tickets.onsite(ctx, [t.code])
            elif key == "close":
                reply, _ = tickets.close(ctx, args)
            elif key == "refer":
                reply, _ = tickets.refer(ctx, args)
            else:                                         # help: a note, and the committee is told
                ctx.rest = HELP_NOTE
                tickets.note(ctx, [t.code])
                _tell_committee(desk, session, t, staff, now)
                reply = f"已请居委会协助 #{t.code}。"
    except Refused as e:
        return f"未执行：{e}", t.id
    update_all(desk, session, t, now, cards.happened(DONE_AS[key], staff.name, now, desk.tz))
    return reply, t.id


def _tell_committee(desk, session, t, staff: Actor, now) -> None:
    place = t.location_text or "未说明位置"
    text = f"{staff.name} 请求协助工单 #{t.code}：{place}。查看详情发送 /show {t.code}"
    stamp = f"{now.timestamp():.0f}"
    for userid in desk.d.with_role(Role.COMMITTEE):
        repo.enqueue_once(session, effects.delivery_key(t.id, t.round, f"help:{staff.id}:{stamp}", userid),
                          "wecom_text", userid, {"kind": "help", "content": text}, now, t.id)
