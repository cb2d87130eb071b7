"""Emergencies the bot missed or raised in error: /emergency and /notemergency.

Staff know what the classifier cannot: whether a message really reported a danger to life. Each
command is recorded on the ticket with its actor, and the ticket's text becomes a labelled row
for the learned emergency signal (storage/corrections.py: emergency_rows; retrained weekly behind
a gate, bot/learning.py). Marking also does what the bot should have done on receipt: @all in the
grid's group and the number to call sent to the residents.
"""
from __future__ import annotations

from handlers import push, replies
from handlers.commands.registry import CommandError, command
from handlers.commands.tickets import _ticket, _touch
from handlers.notify import tell_residents
from nlp import categories, emergency
from nlp.normalize import normalize
from storage import repositories as repo
from storage.corrections import EMERGENCY_CLEARED as CLEARED
from storage.corrections import EMERGENCY_MARKED as MARKED


def _kind(word: str) -> tuple[str, str]:
    """(kind, Chinese name) for what staff typed: the code or the name."""
    names = emergency.kind_names()
    found = next(((k, name) for k, name in names.items() if word in (k, name)), None)
    if found is None:
        raise CommandError(f"没有“{word}”这种紧急情况。可选：{'、'.join(names.values())}" if word
                           else f"缺少紧急情况的类型：{'、'.join(names.values())}")
    return found


@command("emergency", usage="/emergency 工单号 类型（火情、燃气泄漏、有人被困、暴力侵害、动物伤人、受伤急病）",
         aliases=("紧急",))
def mark(ctx, args):
    """标为紧急情况：未办结的立即@所有人并提示居民拨打电话（用于改进紧急识别）"""
    t = _ticket(ctx, args[0] if args else None)
    kind, name = _kind(args[1] if len(args) > 1 else "")
    if t.emergency == kind:
        raise CommandError(f"#{t.code} 已经标为{name}")
    old = t.emergency
    t.emergency, t.priority = kind, "urgent"
    _touch(ctx, t, MARKED, old=old, new=kind)
    if t.status != repo.OPEN:           # after the fact: a label for learning, nobody to page
        return f"已把 #{t.code} 记为{name}（工单已{replies.STATUS_NAMES.get(t.status)}，不再通知）。", t.id
    e = emergency.fit(emergency.of_kind(kind), normalize(t.text or ""))    # trapped outside a lift: 119
    stamp = f"{ctx.now.timestamp():.0f}"
    repo.enqueue(ctx.session, "robot", t.grid.robot_key,
                 {"kind": "emergency_push", "body": push.emergency_text(t, e.number)}, ctx.now,
                 ticket_id=t.id, dedupe_key=f"t{t.id}:emergency:{kind}:{stamp}")
    tell_residents(ctx.session, t, f"{replies.emergency_first(e.advice)}（#{t.code}）", ctx.now,
                   f"emergency{stamp}")
    return f"已把 #{t.code} 标为{name}：已@所有人，已提示居民拨打{e.number}。", t.id


@command("notemergency", usage="/notemergency 工单号 [说明]", aliases=("非紧急", "误报"))
def clear(ctx, args):
    """不是紧急情况：取消紧急并告知网格群（用于改进紧急识别）"""
    t = _ticket(ctx, args[0] if args else None)
    if t.emergency is None and t.priority != "urgent":
        raise CommandError(f"#{t.code} 没有标为紧急")
    old = t.emergency
    t.emergency = None
    # back to what the category alone asks for (a caution made the ticket urgent, not its category)
    t.priority = "urgent" if categories.get(t.category).is_urgent(None) else "normal"
    _touch(ctx, t, CLEARED, old=old, reason=ctx.rest[:500])
    paged = old is not None and t.status == repo.OPEN
    if paged:                                           # stand the group down
        why = f"：{ctx.rest[:100]}" if ctx.rest else ""
        repo.enqueue(ctx.session, "robot", t.grid.robot_key,
                     {"kind": "emergency_cleared", "body": push.emergency_cleared_text(t, ctx.staff.name, why)},
                     ctx.now, ticket_id=t.id, dedupe_key=f"t{t.id}:cleared:{ctx.now.timestamp():.0f}")
    return f"已取消 #{t.code} 的紧急标记{'，已告知网格群' if paged else ''}。", t.id
