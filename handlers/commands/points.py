"""服务积分: /points /redeem /unpoints /pointsrank. The ledger is storage/points.py; rules and the
catalogue are config.yaml `points:`.

Residents have no names in the bot, so a resident is named by a ticket they reported: its reporter
gets the points (staff-filed tickets have none and are refused). Who may do what, decided here:
the committee (居委会) anywhere and a grid leader on tickets of their own grid award, redeem and
reverse, as they work those tickets; the monthly ranking is read by them and the 街道. Nobody else
handles points: the property company and outside parties work tickets, not residents' accounts.
Every change is also sent to the resident, so nobody's points are spent or taken back unseen.
The commands return no ticket: they do not move it, so its cards have nothing to follow."""
from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from domain.states import DONE, Role, Status, status_name
from handlers import render, replies
from handlers.commands.registry import CommandError, command
from handlers.commands.tickets import _ticket
from storage import points as ledger
from storage import repositories as repo
from storage.models import Grid, PointEntry, Resident, Ticket

WRITERS = (Role.COMMITTEE, Role.GRID_LEADER)
READERS = (Role.COMMITTEE, Role.GRID_LEADER, Role.STREET)
RANK_PEOPLE = 5          # residents shown per building; the rest are counted


def _settings(ctx):
    """config points (rules, catalogue), carried by the intake's settings (handlers/intake.py)."""
    points = getattr(getattr(ctx.desk.intake, "s", None), "points", None)
    if points is None:
        raise CommandError("积分暂不可用")
    return points


def _find(table: dict, word: str, what: str, unit: str):
    """(code, entry) for what staff typed: the code or the name, exactly (an award is money-like:
    no guessing). Refused with the choices."""
    w = unicodedata.normalize("NFKC", word or "").strip()
    for code, entry in table.items():
        if w.lower() == code or w == unicodedata.normalize("NFKC", entry.name):
            return code, entry
    choices = "、".join(f"{e.name}（{code}）{getattr(e, unit)}分" for code, e in table.items()) or "（config.yaml 里还没有）"
    raise CommandError(f"没有“{word}”这个{what}。可选：{choices}" if w else f"缺少{what}。可选：{choices}")


def _after(rest: str, word: str) -> str:
    """The words after `word` in the text after the first argument (the 说明 or 原因)."""
    return rest[len(word):].strip() if rest.startswith(word) else ""


def _mine(ctx, grid_id: int | None, what: str) -> None:
    """A grid leader handles points on tickets of their own grid only."""
    if ctx.staff.role != Role.GRID_LEADER:
        return
    grid = ctx.session.scalar(select(Grid.name).where(Grid.id == grid_id)) if grid_id is not None else None
    if grid is None:
        raise CommandError(f"{what}不属于任何网格，需由居委会处理")
    if grid != ctx.staff.grid:
        raise CommandError(f"{what}属于{grid}，你负责的是{ctx.staff.grid}")


def _reporter(ctx, t: Ticket) -> Resident:
    if t.resident_id is None:
        raise CommandError(f"#{t.code} 是工作人员登记的，没有居民反映人，不能记积分")
    return ctx.session.get(Resident, t.resident_id)


def _who(r: Resident) -> str:
    return render.resident_label(r.building, "反映人（楼栋未知）")


def _tell(ctx, r: Resident, e) -> None:
    """The resident hears of every change to their points (once per entry)."""
    repo.enqueue(ctx.session, "mp_text", r.openid,
                 {"kind": "points", "content": replies.points_changed(e, ledger.balance(ctx.session, r.id))},
                 ctx.now, dedupe_key=f"points:{e.id}")


@command("points", usage="/points 工单号 规则 [说明]", roles=WRITERS, aliases=("积分",))
def award(ctx, args):
    """给工单的反映人记积分（志愿服务、参加活动、有效反映……见 config.yaml points.rules）"""
    t = _ticket(ctx, args[0] if args else None, lock=False)
    _mine(ctx, t.grid_id, f"#{t.code} ")
    r = _reporter(ctx, t)
    word = args[1] if len(args) > 1 else ""
    code, rule = _find(_settings(ctx).rules, word, "积分规则", "amount")
    if rule.for_report and Status(t.status) not in DONE:
        raise CommandError(f"“{rule.name}”记给解决了的问题，#{t.code} 现在{status_name(t.status)}；办结后再记")
    try:
        e = ledger.award(ctx.session, r.id, code=code, name=rule.name, amount=rule.amount,
                         reason=_after(ctx.rest, word), actor=ctx.staff.tag, now=ctx.now, ticket_id=t.id,
                         once_per_ticket=rule.for_report)
    except ledger.PointsRefused as refused:
        raise CommandError(str(refused)) from None
    _tell(ctx, r, e)
    return (f"已给 #{t.code} 的{_who(r)}记 {e.amount} 分（{e.name}），记录 {e.id}；"
            f"现有 {ledger.balance(ctx.session, r.id)} 分，已告知居民。"), None


@command("redeem", usage="/redeem 工单号 物品 [说明]", roles=WRITERS, aliases=("兑换",))
def redeem(ctx, args):
    """为工单的反映人兑换物品（见 config.yaml points.catalogue），积分不足时不兑换"""
    t = _ticket(ctx, args[0] if args else None, lock=False)
    _mine(ctx, t.grid_id, f"#{t.code} ")
    r = _reporter(ctx, t)
    word = args[1] if len(args) > 1 else ""
    code, item = _find(_settings(ctx).catalogue, word, "兑换物品", "cost")
    try:
        e = ledger.redeem(ctx.session, r.id, code=code, name=item.name, cost=item.cost,
                          reason=_after(ctx.rest, word), actor=ctx.staff.tag, now=ctx.now, ticket_id=t.id)
    except ledger.PointsRefused as refused:
        raise CommandError(str(refused)) from None
    _tell(ctx, r, e)
    return (f"已为 #{t.code} 的{_who(r)}兑换{e.name}（{-e.amount} 分），记录 {e.id}；"
            f"还剩 {ledger.balance(ctx.session, r.id)} 分，已告知居民。"), None


ENTRY = re.compile(r"#?(\d{1,9})$")          # an id PostgreSQL's integer holds


@command("unpoints", usage="/unpoints 记录号 原因", roles=WRITERS, aliases=("撤销积分",))
def unpoints(ctx, args):
    """撤销一笔积分记录（发放或兑换）：记下相反的一笔，原记录不改"""
    m = ENTRY.match(args[0] if args else "")
    if m is None:
        raise CommandError(f"“{args[0]}”不是记录号（记积分、兑换时回复里的“记录 12”）" if args else "缺少记录号")
    if not ctx.rest:
        raise CommandError("请写上撤销原因")
    entry = ctx.session.get(PointEntry, int(m.group(1)))
    if entry is not None:
        ticket = ctx.session.get(Ticket, entry.ticket_id) if entry.ticket_id else None
        _mine(ctx, ticket.grid_id if ticket else None, f"记录 {entry.id} 的工单")
    try:
        e = ledger.reverse(ctx.session, int(m.group(1)), reason=ctx.rest, actor=ctx.staff.tag, now=ctx.now)
    except ledger.PointsRefused as refused:
        raise CommandError(str(refused)) from None
    r = ctx.session.get(Resident, e.resident_id)
    _tell(ctx, r, e)
    what = f"兑换{e.name}，退回 {e.amount} 分" if e.amount > 0 else f"{e.name}，扣回 {-e.amount} 分"
    return (f"已撤销记录 {e.reverses_id}（{what}），记录 {e.id}；{_who(r)}现有 "
            f"{ledger.balance(ctx.session, r.id)} 分，已告知居民。"), None


MONTH = re.compile(r"(?:(\d{4})\s*[-年./]?\s*)?(\d{1,2})\s*月?(?:份)?")


def _month(ctx, word: str | None) -> tuple[int, int]:
    """(year, month) staff mean: 2026-11, 2026年11月, 202611, 11月, 11 (the latest November), 本月, 上月."""
    local = ctx.now.astimezone(ZoneInfo(ctx.tz))
    w = unicodedata.normalize("NFKC", word or "").strip()
    if w in ("", "本月", "这个月", "当月"):
        return local.year, local.month
    if w in ("上月", "上个月"):
        return (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
    m = MONTH.fullmatch(w)
    if m is None or not 1 <= int(m.group(2)) <= 12:
        raise CommandError(f"“{word}”不是月份（例如 2026-11、11月、上月）")
    month = int(m.group(2))
    year = int(m.group(1)) if m.group(1) else (local.year if month <= local.month else local.year - 1)
    return year, month


@command("pointsrank", usage="/pointsrank [月份]", roles=READERS, aliases=("积分榜",))
def rank(ctx, args):
    """某月各楼栋的积分榜（只显示同意实名的居民的称呼，其他写“居民”）"""
    year, month = _month(ctx, args[0] if args else None)
    zone = ZoneInfo(ctx.tz)
    start = datetime(year, month, 1, tzinfo=zone)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)
    buildings = ledger.ranking(ctx.session, start, end)
    title = f"{year}年{month}月"
    if not buildings:
        return f"{title}还没有记过积分。", None
    lines = [f"{title}积分榜（当月记的、未撤销的积分；兑换不扣）："]
    for b in buildings:
        people = "、".join(f"{name or '居民'} {n}" for name, n in b.people[:RANK_PEOPLE])
        more = f" 等 {len(b.people)} 人" if len(b.people) > RANK_PEOPLE else ""
        lines.append(f"{f'{b.building}号楼' if b.building else '楼栋未知'} 共 {b.total} 分：{people}{more}")
    return "\n".join(lines), None
