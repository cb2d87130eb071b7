"""Working tickets: /help /list /show /assign /onsite /note /close /reopen /recat."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from handlers import replies
from handlers.commands.registry import CODE, REGISTRY, CommandError, command
from handlers.notify import tell_residents, tell_staff
from handlers.sla import deadlines
from nlp import categories, emergency, mask_pii
from storage import repositories as repo
from storage.models import Grid, Ticket

LIST_LIMIT = 20


def _ticket(ctx, token: str | None, *, write: bool = True) -> Ticket:
    """A ticket by full code (20261121-0007, #20261121-0007) or today's number (7, 0007)."""
    if not token:
        raise CommandError("缺少工单号")
    m = CODE.match(token.strip())
    if not m:
        raise CommandError(f"“{token}”不是工单号（例如 20261121-0007 或今天的 7）")
    code = m.group(1)
    if "-" not in code:
        code = f"{ctx.now.astimezone(ZoneInfo(ctx.tz)):%Y%m%d}-{int(code):04d}"
    else:
        day, seq = code.split("-")
        code = f"{day}-{int(seq):04d}"
    t = ctx.session.scalar(select(Ticket).where(Ticket.code == code))
    if t is None:
        raise CommandError(f"找不到工单 {code}")
    if write and ctx.staff.role == "grid_leader" and ctx.staff.grid and t.grid.name != ctx.staff.grid:
        raise CommandError(f"工单 {code} 属于{t.grid.name}，你负责的是{ctx.staff.grid}")
    return t


def _open_ticket(ctx, token: str | None) -> Ticket:
    """_ticket(), refused unless the ticket is still open."""
    t = _ticket(ctx, token)
    if t.status != repo.OPEN:
        raise CommandError(f"#{t.code} 已经{replies.STATUS_NAMES.get(t.status)}")
    return t


def _touch(ctx, t: Ticket, kind: str, **data) -> None:
    t.updated_at = ctx.now
    repo.add_event(ctx.session, t, ctx.staff.actor, kind, ctx.now, **data)
    ctx.session.flush()


def _hm(ctx, dt: datetime | None) -> str:
    return dt.astimezone(ZoneInfo(ctx.tz)).strftime("%m-%d %H:%M") if dt else "-"


def _line(ctx, t: Ticket) -> str:
    late = ""
    if t.status == repo.OPEN:
        if t.onsite_at is None and t.due_onsite_at and t.due_onsite_at < ctx.now:
            late = " ⚠到场超时"
        elif t.due_fix_at and t.due_fix_at < ctx.now:
            late = " ⚠处理超时"
    who = f" →{t.assignee}" if t.assignee else ""
    return f"#{t.code} {categories.name_of(t.category)} {t.location_text or '未说明位置'}{who}{late}"


@command("help", usage="/help", aliases=("帮助",))
def help_(ctx, args):
    """列出可用命令"""
    seen, lines = set(), ["可用命令："]
    for cmd in REGISTRY.values():
        if cmd.name in seen or ctx.staff.role not in cmd.roles:
            continue
        seen.add(cmd.name)
        lines.append(f"{cmd.usage} — {cmd.summary}")
    return "\n".join(lines), None


@command("list", usage="/list [全部|超时|网格名]", aliases=("ls",))
def list_(ctx, args):
    """列出未办结工单（网格长默认看本网格）"""
    q = select(Ticket).where(Ticket.status == repo.OPEN)
    arg = args[0] if args else ""
    scope = "全部"
    if arg and arg not in ("全部", "all", "超时", "overdue"):
        if ctx.session.scalar(select(Grid.id).where(Grid.name == arg)) is None:
            raise CommandError(f"没有叫“{arg}”的网格")
        scope = arg
    elif not arg and ctx.staff.grid:
        scope = ctx.staff.grid
    if scope != "全部":
        q = q.join(Grid).where(Grid.name == scope)
    tickets = list(ctx.session.scalars(q.order_by(Ticket.priority.desc(), Ticket.created_at)))
    if arg in ("超时", "overdue"):
        tickets = [t for t in tickets if "超时" in _line(ctx, t)]
    if not tickets:
        return f"{scope}没有未办结的工单。", None
    lines = [f"{scope}未办结 {len(tickets)} 件："] + [_line(ctx, t) for t in tickets[:LIST_LIMIT]]
    if len(tickets) > LIST_LIMIT:
        lines.append(f"……另有 {len(tickets) - LIST_LIMIT} 件")
    return "\n".join(lines), None


@command("show", usage="/show 工单号", aliases=("查看",))
def show(ctx, args):
    """查看工单详情和处理记录"""
    t = _ticket(ctx, args[0] if args else None, write=False)
    lines = [f"#{t.code} {categories.name_of(t.category)}（{'紧急' if t.priority == 'urgent' else '一般'}，"
             f"{replies.STATUS_NAMES.get(t.status, t.status)}）",
             f"网格：{t.grid.name}  地点：{t.location_text or '未说明'}",
             f"内容：{mask_pii(t.text) or '（照片）'}",
             f"时限：{_hm(ctx, t.due_onsite_at)} 到场，{_hm(ctx, t.due_fix_at)} 处理",
             f"分类依据：{'、'.join(t.terms or []) or '-'}（{t.confidence:.0%}）"]
    if t.emergency:
        lines.append(f"紧急情况：{emergency.kind_names().get(t.emergency, t.emergency)}"
                     "（不是的话：/notemergency 工单号）")
    if t.assignee:
        lines.append(f"处理人：{t.assignee}")
    if t.rating:
        lines.append(f"居民评价：{t.rating} 分")
    return "\n".join(lines), t.id


@command("assign", usage="/assign 工单号 工作人员", aliases=("派单",))
def assign(ctx, args):
    """把工单派给某位工作人员"""
    t = _ticket(ctx, args[0] if args else None)
    who = ctx.desk.find(args[1]) if len(args) > 1 else None
    if who is None:
        raise CommandError(f"找不到工作人员“{args[1]}”" if len(args) > 1 else "缺少要派给的工作人员")
    t.assignee = who.userid
    _touch(ctx, t, "assigned", to=who.userid)
    tell_staff(ctx.session, t, who.userid, f"{ctx.staff.name} 把工单 #{t.code} 派给你：{_line(ctx, t)}", ctx.now, f"assign{t.updated_at.timestamp():.0f}")
    return f"已把 #{t.code} 派给 {who.name}。", t.id


@command("onsite", usage="/onsite 工单号", aliases=("到场",))
def onsite(ctx, args):
    """记录已到场"""
    t = _open_ticket(ctx, args[0] if args else None)
    t.onsite_at = ctx.now
    _touch(ctx, t, "onsite")
    tell_residents(ctx.session, t, f"您反映的问题 #{t.code}，工作人员{ctx.staff.name}已到场处理。", ctx.now, f"onsite{ctx.now.timestamp():.0f}")
    late = t.due_onsite_at is not None and ctx.now > t.due_onsite_at
    return f"已记录 #{t.code} 到场{'（超过40分钟时限）' if late else ''}。", t.id


@command("note", usage="/note 工单号 备注", aliases=("备注",))
def note(ctx, args):
    """给工单加备注（居民看不到）"""
    t = _ticket(ctx, args[0] if args else None)
    if not ctx.rest:
        raise CommandError("备注内容为空")
    _touch(ctx, t, "note", text=ctx.rest[:1000])
    return f"已在 #{t.code} 记下备注。", t.id


@command("close", usage="/close 工单号 处理结果", aliases=("办结",))
def close(ctx, args):
    """办结工单，并请居民评价"""
    t = _open_ticket(ctx, args[0] if args else None)
    if not ctx.rest:
        raise CommandError("请写上处理结果，居民会看到，例如 /close 7 已清理完毕")
    t.status, t.resolved_at = "resolved", ctx.now
    _touch(ctx, t, "resolved", result=ctx.rest[:500])
    tell_residents(ctx.session, t, replies.resolved(t.code, ctx.rest[:200]), ctx.now, f"resolved{ctx.now.timestamp():.0f}")
    if t.resident is not None:
        repo.set_state(t.resident, rating={"ticket_id": t.id})
    return f"已办结 #{t.code}，已通知居民并请其评价。", t.id


@command("reopen", usage="/reopen 工单号 原因", aliases=("重开",))
def reopen(ctx, args):
    """重新打开已办结的工单"""
    t = _ticket(ctx, args[0] if args else None)
    if t.status == repo.OPEN:
        raise CommandError(f"#{t.code} 还在处理中")
    t.status, t.resolved_at = repo.OPEN, None
    _touch(ctx, t, "reopened", reason=ctx.rest[:500])
    return f"已重新打开 #{t.code}。", t.id


@command("recat", usage="/recat 工单号 类别", aliases=("改类",))
def recat(ctx, args):
    """更正工单类别（会用于改进自动分类）"""
    t = _ticket(ctx, args[0] if args else None)
    wanted = args[1] if len(args) > 1 else ""
    code = next((c.code for c in categories.all_categories().values() if wanted in (c.code, c.name)), None)
    if code is None:
        names = "、".join(c.name for c in categories.all_categories().values())
        raise CommandError(f"没有“{wanted}”这个类别。可选：{names}")
    if code == t.category:
        raise CommandError(f"#{t.code} 已经是{categories.name_of(code)}")
    old = t.category
    t.category, t.category_confirmed = code, True
    d = deadlines(code, t.created_at)
    t.due_fix_at = d.fix
    if categories.get(code).is_urgent(t.emergency):
        t.priority = "urgent"
    _touch(ctx, t, "recategorised", old=old, new=code)
    return f"已把 #{t.code} 从{categories.name_of(old)}改为{categories.name_of(code)}。", t.id
