"""Emergencies the bot missed or raised in error: /emergency and /notemergency.

Staff know what the classifier cannot: whether a message really reported a danger to life. Each
command is a domain move recorded on the ticket with its actor, and the ticket's text becomes a
labelled row for the learned emergency signal (storage/corrections.py: emergency_rows; retrained
weekly behind a gate, bot/learning.py). Marking also does what the bot should have done on
receipt: @all in the grid's group and the number to call sent to the residents. Both go through the
same access rules as every other move (domain/access.py: the matrix, the grid, the party's remit)
and lock the ticket's row like the other commands.
"""
from __future__ import annotations

from domain import moves
from domain.states import ACTIVE, Status, status_name
from handlers.commands.registry import CommandError, command
from handlers.commands.tickets import _apply, _scope, _ticket
from nlp import categories, emergency


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
    _apply(ctx, t, moves.mark_emergency(t, ctx.staff, ctx.now, kind, name, parties=_scope(ctx, t)))
    if Status(t.status) not in ACTIVE:      # after the fact: a label for learning, nobody to page
        return f"已把 #{t.code} 记为{name}（工单{status_name(t.status)}，不再通知）。", t.id
    e = emergency.fit(emergency.of_kind(kind), t.text or "")
    return f"已把 #{t.code} 标为{name}：已@所有人，已提示居民拨打{e.number}。", t.id


@command("notemergency", usage="/notemergency 工单号 [说明]", aliases=("非紧急", "误报"))
def clear(ctx, args):
    """不是紧急情况：取消紧急并告知网格群（用于改进紧急识别）"""
    t = _ticket(ctx, args[0] if args else None)
    paged = t.emergency is not None and Status(t.status) in ACTIVE
    _apply(ctx, t, moves.clear_emergency(t, ctx.staff, ctx.now, ctx.rest,
                                         category_urgent=categories.get(t.category).is_urgent(None),
                                         parties=_scope(ctx, t)))
    return f"已取消 #{t.code} 的紧急标记{'，已告知网格群' if paged else ''}。", t.id
