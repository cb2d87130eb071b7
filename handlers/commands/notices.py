"""Notices and sign-ups in chat: /notice /signups /attend (the work is handlers/notices.py).

  /notice 停水通知 明天9点到12点3号楼停水检修，请提前储水 对象:3号楼
  /notice 居民代表会议 讨论加装电梯方案 对象:全体 时间:12-20 19:00 报名 名额:30
"""
from __future__ import annotations

import re

from handlers import consult_words as words
from handlers import notices
from handlers.commands.polls import ASKERS, _grid_buildings, _grids
from handlers.commands.registry import CommandError, command
from handlers.polls import PollRefused, may_ask
from storage import consult
from storage.models import Notice


@command("notice", usage="/notice 标题 内容 [对象:楼栋、网格或全体] [时间:12-20 19:00] [报名] [名额:30]",
         roles=ASKERS, aliases=("通知",))
def notice(ctx, args):
    """给居民发通知（停水、会议、招募志愿者），可开放报名：名额满了进候补，前一天提醒"""
    body, settings, flags = words.split_settings(" ".join(args))
    title, _, text = body.partition(" ")
    if not title or not text.strip():
        raise CommandError("写上标题和内容，例如：/notice 停水通知 明天9点到12点停水 对象:3号楼")
    try:
        aud = words.audience(settings.get("对象"), _grids(ctx))
        event_at = words.moment(settings["时间"], ctx.now, ctx.tz, end_of_day=False) if "时间" in settings else None
        capacity = words.count(settings["名额"], "名额") if "名额" in settings else None
        signup = "报名" in flags or capacity is not None
        may_ask(ctx.staff, aud, _grid_buildings(ctx))
        n, sent = notices.create(ctx.session, ctx.staff, title=title, body=text.strip(), audience=aud, signup=signup,
                                 capacity=capacity, event_at=event_at, now=ctx.now, tz=ctx.tz)
    except (ValueError, PollRefused) as e:
        raise CommandError(str(e)) from None
    how = f"，开放报名{f'（{capacity} 个名额）' if capacity else ''}；/signups {n.id} 看名单" if signup else ""
    return f"已发通知 {n.id}《{n.title}》给 {words.describe(aud)}，共 {sent} 人{how}。", None


def _notice(ctx, token: str | None) -> Notice:
    m = re.fullmatch(r"#?(\d{1,9})", token or "")
    n = ctx.session.get(Notice, int(m.group(1))) if m else None
    if n is None:
        raise CommandError("写上通知编号（发通知时回复里的编号），例如 /signups 3")
    try:
        may_ask(ctx.staff, n.audience, _grid_buildings(ctx), n.community)
    except PollRefused:
        raise CommandError(f"通知 {n.id} 不是发给你负责的楼栋的") from None
    return n


@command("signups", usage="/signups 通知编号", roles=ASKERS, aliases=("报名名单",))
def signups(ctx, args):
    """活动的报名和候补名单（编号用于 /attend 记到场）"""
    n = _notice(ctx, args[0] if args else None)
    rows = consult.signups(ctx.session, n.id)
    if not rows:
        return f"《{n.title}》还没有人报名。", None
    places = consult.places(ctx.session, n.id)
    lines = [f"《{n.title}》正式 {places.taken}{f'/{n.capacity}' if n.capacity else ''} 人，候补 {places.waiting} 人："]
    for s, r in rows:
        where = f"{r.building}号楼" if r.building else "楼栋未知"
        came = "，已到场" if s.attended_at else ""
        lines.append(f"{s.id}. {r.points_name or '居民'}（{where}）{'候补' if s.status == 'waiting' else ''}{came}")
    return "\n".join(lines), None


@command("attend", usage="/attend 通知编号 报名编号…", roles=ASKERS, aliases=("记到场",))
def attend(ctx, args):
    """记录到场（/signups 列出的编号），按积分规则“参加活动”记分"""
    n = _notice(ctx, args[0] if args else None)
    numbers = list(dict.fromkeys(int(a) for a in args[1:] if a.isdigit()))   # a number written twice: once
    if not numbers:
        raise CommandError(f"写上到场者的报名编号，例如 /attend {n.id} 12 15（/signups {n.id} 查看）")
    points = getattr(getattr(ctx.desk.intake, "s", None), "points", None)
    lines = notices.attend(ctx.session, ctx.staff, n, numbers, ctx.now, getattr(points, "rules", None))
    return "\n".join([f"《{n.title}》到场："] + lines), None
