"""问卷与表决 in chat: /poll /vote /polls /pollresult /pollclose. One question per chat command (the
desk makes questionnaires of several); the work is handlers/polls.py, the rules domain/consultation.py.

  /poll 晚上广场舞音乐是否影响您休息？ 影响很大/有点影响/没影响 对象:1-6号楼 截止:3天 匿名
  /poll 您对物业保洁打几分？ 打分 对象:全体
  /poll 您希望社区办什么活动？ 填空 对象:第二网格
  /vote 3号楼加装电梯 对象:3号楼 户数:24 规则:三分之二 截止:12-20
"""
from __future__ import annotations

import re
from fractions import Fraction
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select

from domain import consultation as cs
from handlers import consult_words as words
from handlers import polls
from handlers.commands.registry import CommandError, command
from storage.models import Poll

ASKERS = tuple(cs.ASKERS)
DEFAULT_DAYS = "7天"


def _grids(ctx):
    return ctx.desk.intake.s.grid_rules


def _grid_buildings(ctx) -> dict[str, frozenset[str]]:
    return {g.name: g.buildings for g in _grids(ctx)}


def _draft(ctx, text: str, *, vote: bool) -> polls.Draft:
    body, settings, flags = words.split_settings(text)
    try:
        aud = words.audience(settings.get("对象"), _grids(ctx), default_all=not vote)
        deadline = words.moment(settings.get("截止", DEFAULT_DAYS), ctx.now, ctx.tz)
        if vote:
            rule = cs.RULE_WORDS.get(settings.get("规则", "过半数"))
            if rule is None:
                raise ValueError(f"规则可写 过半数、四分之三 或 三分之二，不是“{settings['规则']}”")
            quorum = cs.parse_fraction(settings["法定"]) if "法定" in settings else None
            households = words.count(settings["户数"], "户数") if "户数" in settings else None
            q = cs.Question(cs.Kind.SINGLE, body, cs.VOTE_OPTIONS)
            return polls.Draft(settings.get("标题", body)[:64], (q,), aud, deadline, "匿名" in flags, True, rule,
                               quorum, households)
        q = _question(body, flags)
    except ValueError as e:
        raise CommandError(str(e)) from None
    return polls.Draft(settings.get("标题", q.prompt)[:64], (q,), aud, deadline, "匿名" in flags)


def _question(body: str, flags: set[str]) -> cs.Question:
    if "打分" in flags:
        return cs.Question(cs.Kind.SCALE, body)
    if "填空" in flags:
        return cs.Question(cs.Kind.TEXT, body)
    parts = body.rsplit(" ", 1)
    if len(parts) < 2 or not re.search(r"[/｜|]", parts[1]):
        raise ValueError("请在问题后写选项，用 / 隔开（例如 同意/不同意），或写“打分”“填空”")
    options = tuple(o.strip() for o in re.split(r"[/｜|]", parts[1]) if o.strip())
    return cs.Question(cs.Kind.MULTI if "多选" in flags else cs.Kind.SINGLE, parts[0].strip(), options)


def _send(ctx, draft: polls.Draft) -> str:
    try:
        polls.may_ask(ctx.staff, draft.audience, _grid_buildings(ctx))
        p, n = polls.create(ctx.session, ctx.staff, draft, ctx.now, ctx.tz, ctx.desk.base_url)
    except polls.PollRefused as e:
        raise CommandError(str(e)) from None
    what = "表决" if p.kind == "vote" else "问卷"
    extra = ""
    if p.kind == "vote":
        rule = cs.RULE_NAMES[cs.Rule(p.rule)]
        quorum = Fraction(p.quorum) if p.quorum else cs.DEFAULT_QUORUM
        extra = (f"；{rule}，参与户数须达 {quorum}" +
                 (f"，应参与 {p.households} 户" if p.households else "，应参与户数按已登记房号计"))
    return (f"已发起{what} {p.id}《{p.title}》：问 {words.describe(p.audience)}，共 {n} 人，"
            f"{p.deadline.astimezone(ZoneInfo(ctx.tz)):%m-%d %H:%M} 截止{extra}。"
            f"结果：/pollresult {p.id}")


@command("poll", usage="/poll 问题 选项1/选项2 [对象:楼栋、网格或全体] [截止:3天] [匿名] [多选|打分|填空]",
         roles=ASKERS, aliases=("问卷",))
def poll(ctx, args):
    """向居民发一道问卷题（单选、多选、打分或填空），在微信里逐题作答"""
    if not ctx.rest and not args:
        raise CommandError("写上问题和选项，例如：/poll 是否同意周末集中清理楼道？ 同意/不同意 对象:3号楼")
    return _send(ctx, _draft(ctx, " ".join(args), vote=False)), None


@command("vote", usage="/vote 表决事项 对象:楼栋 [户数:24] [规则:过半数|四分之三|三分之二] [法定:2/3] [截止:7天]",
         roles=ASKERS, aliases=("表决",))
def vote(ctx, args):
    """发起按户计票的表决（同意/不同意/弃权），截止时按规则判定是否通过"""
    if not args:
        raise CommandError("写上表决事项和对象，例如：/vote 3号楼加装电梯 对象:3号楼 户数:24 规则:三分之二")
    return _send(ctx, _draft(ctx, " ".join(args), vote=True)), None


def visible(q, actor):
    """Polls of the actor's community (and the 街道's), when a deployment serves several."""
    if actor.community is None:
        return q
    return q.where(or_(Poll.community == actor.community, Poll.community.is_(None)))


def _poll(ctx, token: str | None) -> Poll:
    m = re.fullmatch(r"#?(\d{1,9})", token or "")
    if m is None:
        raise CommandError("写上问卷编号，例如 /pollresult 3（/polls 列出所有问卷）")
    p = ctx.session.get(Poll, int(m.group(1)))
    if p is None:
        raise CommandError(f"没有编号为 {m.group(1)} 的问卷")
    try:
        polls.may_ask(ctx.staff, p.audience, _grid_buildings(ctx), p.community)
    except polls.PollRefused:
        raise CommandError(f"问卷 {p.id} 不是问你负责的楼栋的") from None
    return p


@command("polls", usage="/polls", roles=ASKERS, aliases=("问卷列表",))
def list_polls(ctx, args):
    """最近的问卷和表决，及各自的作答人数"""
    rows = list(ctx.session.scalars(visible(select(Poll), ctx.staff).order_by(Poll.id.desc()).limit(10)))
    if not rows:
        return "还没有发过问卷。/poll 发一个。", None
    lines = []
    for p in rows:
        asked, done = polls.consult.invited_count(ctx.session, p.id)
        state = "已截止" if p.status == "closed" else "进行中"
        lines.append(f"{p.id}《{p.title}》{'表决' if p.kind == 'vote' else '问卷'}·{state}·问 {asked} 人，答完 {done}")
    return "\n".join(lines), None


@command("pollresult", usage="/pollresult 编号", roles=ASKERS, aliases=("问卷结果",))
def result(ctx, args):
    """问卷或表决的实时结果（人数、比例，表决按户计是否通过）"""
    p = _poll(ctx, args[0] if args else None)
    return "\n".join(polls.results(ctx.session, p).lines(ctx.tz, texts=5)), None


@command("pollclose", usage="/pollclose 编号", roles=ASKERS, aliases=("结束问卷",))
def close(ctx, args):
    """提前结束问卷或表决：结果发到群里，告诉每位作答的居民"""
    p = _poll(ctx, args[0] if args else None)
    try:
        res = polls.close(ctx.session, p, ctx.staff, ctx.now, ctx.tz)
    except polls.PollRefused as e:
        raise CommandError(str(e)) from None
    return "已结束。\n" + "\n".join(res.lines(ctx.tz, texts=5)), None
