"""Working tickets: /help /list /show /new /assign /onsite /plan /refer /reply /note /close /visit
/reopen /recat /merge /cancel. Each write is one domain move (domain/moves.py), applied by
handlers/effects.py; refusals from the domain come back as the reason."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from domain import moves
from domain.states import (ACTIVE, EVENT_NAMES, MILESTONE_NAMES, SOURCE_NAMES, SOURCE_WORDS, EventKind, Milestone,
                           Source, Status, status_name)
from handlers import effects, push, render
from handlers.commands.lookup import find_category
from handlers.commands.registry import REGISTRY, CommandError, command, ticket_code
from nlp import categories, emergency, mask_pii
from storage import repositories as repo
from storage.models import Grid, Resident, Ticket

LIST_LIMIT = 20


def _code(ctx, token: str | None) -> str:
    if not token:
        raise CommandError("缺少工单号")
    code = ticket_code(token, ctx.now, ctx.tz)
    if code is None:
        raise CommandError(f"“{token}”不是工单号（例如 20261121-0007 或今天的 7）")
    return code


def _ticket(ctx, token: str | None, *, lock: bool = True) -> Ticket:
    """A ticket by full code (20261121-0007, #20261121-0007) or today's number (7, 0007).

    Commands that move it hold its row lock until the message commits: two staff closing one
    ticket at once take turns, and the second sees the first's move and is refused with the
    reason, instead of both writing and one failing on a duplicate notice."""
    code = _code(ctx, token)
    t = repo.ticket_by_code(ctx.session, code, lock=lock)
    if t is None:
        raise CommandError(f"找不到工单 {code}")
    if ctx.staff.community is not None and ctx.desk.grid_of(ctx.session, t.grid_id).community != ctx.staff.community:
        raise CommandError(f"#{t.code} 是其他社区的工单，不在你的范围内")
    return t


def _scope(ctx, t) -> frozenset[str]:
    """The parties working the ticket, for the access rules (domain/access.py)."""
    return ctx.desk.working_parties(ctx.session, t)


def _apply(ctx, t, out: moves.Outcome) -> None:
    effects.apply(ctx.session, t, out, ctx.staff, ctx.now, ctx.desk.d, ctx.desk.grid_of(ctx.session, t.grid_id))
    ctx.session.flush()


def _hm(ctx, dt: datetime | None) -> str:
    return dt.astimezone(ZoneInfo(ctx.tz)).strftime("%m-%d %H:%M") if dt else "-"


def _late(ctx, t) -> str:
    if Status(t.status) not in ACTIVE:
        return ""
    if t.onsite_at is None and t.due_onsite_at and t.due_onsite_at < ctx.now:
        return " ⚠到场超时"
    if t.due_fix_at and t.due_fix_at < ctx.now:
        return " ⚠处理超时"
    return ""


def _line(ctx, t: Ticket) -> str:
    who = f" →{ctx.desk.d.name_of(t.assignee)}" if t.assignee else ""
    return (f"#{t.code} {categories.name_of(t.category)} {t.location_text or '未说明位置'} "
            f"{status_name(t.status)}{who}{_late(ctx, t)}")


def category_of(word: str) -> str:
    """A category by code, name, alias, unique prefix or near spelling (handlers/commands/lookup.py);
    an ambiguous word is refused with the candidates."""
    return find_category(word)


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


OVERDUE_WORDS = frozenset({"超时", "逾期", "超期", "overdue", "late"})
ALL_WORDS = frozenset({"全部", "所有", "全社区", "all"})


@command("list", usage="/list [超时] [全部|网格名]", aliases=("ls",))
def list_(ctx, args):
    """列出未办结工单（网格长默认看本网格；加“超时”只看超时的），分页在数据库里做"""
    overdue, scope = False, None
    for arg in args:
        if arg.lower() in OVERDUE_WORDS:
            overdue = True
        elif arg.lower() in ALL_WORDS:
            scope = "全部"
        elif ctx.session.scalar(select(Grid.id).where(Grid.name == arg)) is not None:
            scope = arg
        else:
            grids = "、".join(ctx.session.scalars(select(Grid.name).order_by(Grid.id)))
            raise CommandError(f"没有叫“{arg}”的网格，也不是“超时”或“全部”。网格有：{grids}")
    if scope is None:          # a leader's own grid by default; 超时 alone looks across the community
        scope = ctx.staff.grid if ctx.staff.grid and not overdue else "全部"
    # priority is never NULL: saying so lets PostgreSQL read the first page from ix_ticket_active_order
    q = select(Ticket).where(repo.ACTIVE_TICKET, Ticket.priority.is_not(None))
    if ctx.staff.community is not None:        # several communities: staff see their own community's
        q = q.where(Ticket.grid_id.in_(select(Grid.id).where(Grid.community == ctx.staff.community)))
    if scope != "全部":
        q = q.join(Grid).where(Grid.name == scope)
    if overdue:
        q = q.where(((Ticket.onsite_at.is_(None)) & (Ticket.due_onsite_at < ctx.now)) | (Ticket.due_fix_at < ctx.now))
    where = "全社区" if scope == "全部" else scope
    what = "超时未办结" if overdue else "未办结"
    total = ctx.session.scalar(select(func.count()).select_from(q.subquery()))
    if not total:              # the answer names the filter asked for: 没有超时的工单, not 没有未办结的
        return f"{where}没有{'超时' if overdue else '未办结'}的工单。", None
    tickets = ctx.session.scalars(q.order_by(Ticket.priority.desc(), Ticket.created_at).limit(LIST_LIMIT))
    lines = [f"{where}{what} {total} 件："] + [_line(ctx, t) for t in tickets]
    if total > LIST_LIMIT:
        lines.append(f"……另有 {total - LIST_LIMIT} 件")
    return "\n".join(lines), None


@command("show", usage="/show 工单号", aliases=("查看",))
def show(ctx, args):
    """查看工单全部记录：时间线、备注、照片、各方、54321 时限是否做到"""
    t = _ticket(ctx, args[0] if args else None, lock=False)
    d, s = ctx.desk.d, ctx.session
    lines = [f"#{t.code} {categories.name_of(t.category)}（{'紧急' if t.priority == 'urgent' else '一般'}，"
             f"{status_name(t.status)}{f'，第{t.round}轮' if t.round > 1 else ''}）",
             f"网格：{t.grid.name}  地点：{t.location_text or '未说明'}  来源：{SOURCE_NAMES.get(Source(t.source), t.source)}",
             f"内容：{mask_pii(t.text) or '（照片）'}",
             f"分类依据：{'、'.join(t.terms or []) or '-'}（{t.confidence:.0%}）"]
    unsure = push.unconfirmed_category(t)
    if unsure:
        lines.insert(1, f"类别：{unsure}，请核实后发送 /recat {t.code} 类别")
    plus = repo.follower_count(s, t.id)
    if plus:
        lines.append(f"同样反映：另有 {plus} 位居民")
    if t.emergency:
        lines.append(f"紧急情况：{emergency.kind_names().get(t.emergency, t.emergency)}（不是的话：/notemergency 工单号）")
    events = repo.events(s, t.id)
    why = next((e.data.get("safety_rules") for e in events if e.kind == EventKind.CREATED and e.data), None)
    if why:      # which emergency rules fired, or the learned head's P: so a false alarm can be traced
        lines.append("安全提示依据：" + "、".join(why))
    if t.assignee:
        lines.append(f"处理人：{d.name_of(t.assignee)}")
    parties = repo.parties_of(s, t.id)
    if parties:
        lines.append("处理单位：" + "；".join(
            f"{d.party_name(p.party)}（{'牵头' if p.role == 'lead' else '协办'}"
            f"{'，已答复' if p.replied_at else ('' if p.role == 'lead' else '，待答复')}）" for p in parties))
    lines.append("时限（54321）：" + ("；".join(_milestone(ctx, m) for m in repo.milestones(s, t.id) if m.round == t.round) or "-"))
    ratings = repo.ratings_of(s, t.id)
    if ratings:
        lines.append("居民评价：" + "、".join(f"{r.score} 分" for r in ratings))
    photos = [a for a in repo.attachments(s, t.id) if a.kind == "image"]
    for i, a in enumerate(photos, 1):
        link = ctx.desk.photo_link(a.id) if a.path else None
        lines.append(f"照片{i}：{link or '（正在从微信取回）'}")
    lines.append("处理记录：")
    who = _residents_by_building(s, events)
    for e in events:
        lines.append(f"  {_hm(ctx, e.at)} {who.get(e.actor) or d.actor_name(e.actor)} {EVENT_NAMES.get(e.kind, e.kind)}"
                     f"{_event_detail(e, d)}")
    return "\n".join(lines), t.id


def _residents_by_building(session, events) -> dict[str, str]:
    """"resident:<openid>" -> "3号楼的居民" for the residents in a ticket's timeline whose building is
    known (staff never read an openid; the others stay "居民")."""
    openids = {e.actor.removeprefix("resident:") for e in events if e.actor.startswith("resident:")}
    if not openids:
        return {}
    rows = session.execute(select(Resident.openid, Resident.building).where(Resident.openid.in_(openids)))
    return {f"resident:{o}": render.resident_label(b) for o, b in rows if b}


def _milestone(ctx, m) -> str:
    name = MILESTONE_NAMES.get(Milestone(m.name), m.name) + (f"·{ctx.desk.d.party_name(m.party)}" if m.party else "")
    if m.met_at is not None:
        late = f"超时{m.late_seconds // 60}分钟" if m.late_seconds else "按时"
        return f"{name} {_hm(ctx, m.met_at)} {late}"
    if m.next_check_at is None and m.due_at is not None:
        return f"{name} 已取消"
    if m.due_at is None:
        return f"{name} 无时限"
    return f"{name} {'已超时' if m.due_at < ctx.now else '未到'}（{_hm(ctx, m.due_at)} 前）"


_AUDIENCE = {"group": "网格群", "group_all": "网格群@所有人", "committee": "居委会", "street": "街道",
             "assignee": "处理人", "residents": "居民"}


def _event_detail(e, d) -> str:
    data = e.data or {}
    if e.kind in (EventKind.WARNED, EventKind.ESCALATED):
        to = data.get("to", "")
        who = d.party_name(to.removeprefix("party:")) if to.startswith("party:") else _AUDIENCE.get(to, to)
        return f"：{MILESTONE_NAMES.get(Milestone(data['milestone']), data['milestone'])}时限，已通知{who}"
    for key in ("result", "text", "reason", "note"):
        if data.get(key):
            return f"：{mask_pii(str(data[key]))[:80]}"
    if data.get("new"):
        return f"：{categories.name_of(data['new']) if data['new'] in categories.all_categories() else data['new']}"
    if data.get("score"):
        return f"：{data['score']} 分"
    if data.get("party"):
        return f"：{d.party_name(data['party'])}"
    if data.get("body"):                    # referred out: where the resident was sent
        return f"：{data['body']}"
    if data.get("to"):
        return f"：{d.name_of(data['to'])}"
    return ""


@command("new", usage="/new [热线|来访|巡查] 楼栋 内容", aliases=("登记",))
def new(ctx, args):
    """工作人员登记工单（热线、来访、巡查走访发现的问题）"""
    words = list(args)
    source = Source.WALK_IN
    if words and words[0] in SOURCE_WORDS:
        source = SOURCE_WORDS[words.pop(0)]
    if len(words) < 2:
        raise CommandError("请写上楼栋和问题，例如 /new 热线 3号楼 楼道灯不亮")
    place, text = words[0], " ".join(words[1:])
    if place.isdigit():
        place += "号楼"
    return ctx.desk.open_for_staff(ctx, f"{place} {text}", source), None


@command("assign", usage="/assign 工单号 工作人员", aliases=("派单",))
def assign(ctx, args):
    """把工单派给某位工作人员（名字、用户名或开头几个字）"""
    t = _ticket(ctx, args[0] if args else None)
    who = ctx.desk.d.find(args[1]) if len(args) > 1 else None
    if who is None:
        raise CommandError(f"找不到工作人员“{args[1]}”" if len(args) > 1 else "缺少要派给的工作人员")
    _apply(ctx, t, moves.assign(t, ctx.staff, ctx.now, to_userid=who.id, to_name=who.name, parties=_scope(ctx, t)))
    return f"已把 #{t.code} 派给 {who.name}。", t.id


@command("onsite", usage="/onsite 工单号", aliases=("到场",))
def onsite(ctx, args):
    """记录已到场"""
    t = _ticket(ctx, args[0] if args else None)
    late = t.due_onsite_at is not None and ctx.now > t.due_onsite_at
    _apply(ctx, t, moves.arrive(t, ctx.staff, ctx.now, parties=_scope(ctx, t)))
    return f"已记录 #{t.code} 到场{'（超过到场时限）' if late else ''}，已告知居民。", t.id


@command("plan", usage="/plan 工单号 处理方案", aliases=("方案",))
def plan(ctx, args):
    """记录复杂问题的处理方案并告知居民（2天内出方案）"""
    t = _ticket(ctx, args[0] if args else None)
    _apply(ctx, t, moves.plan(t, ctx.staff, ctx.now, ctx.rest, parties=_scope(ctx, t)))
    return f"已记录 #{t.code} 的处理方案并告知居民。", t.id


@command("refer", usage="/refer 工单号 单位 说明", aliases=("转派", "吹哨"))
def refer(ctx, args):
    """请其他单位协办（派出所、法律顾问、城管、物业、业委会……）"""
    t = _ticket(ctx, args[0] if args else None)
    word = args[1] if len(args) > 1 else ""
    party = ctx.desk.d.find_party(word)
    if party is None:
        names = "、".join(p.name for p in ctx.desk.d.parties.values())
        raise CommandError(f"没有“{word}”这个单位。可选：{names}" if word else f"缺少单位。可选：{names}")
    note = ctx.rest[len(word):].strip() if ctx.rest.startswith(word) else ctx.rest
    out = moves.refer(t, ctx.staff, ctx.now, ctx.desk.d.policy, party=party.code, party_name=party.name, note=note,
                      already=ctx.desk.parties_of(ctx.session, t), parties=_scope(ctx, t))
    repo.add_party(ctx.session, t.id, party.code, "co", t.round, ctx.now, ctx.staff.tag, note[:500] or None)
    _apply(ctx, t, out)
    return f"已把 #{t.code} 转给{party.name}（{len(party.members)} 人{'和工作群' if party.robot_key else ''}），已告知居民。", t.id


@command("reply", usage="/reply 工单号 [单位] 答复内容", aliases=("答复",))
def reply(ctx, args):
    """记录单位的答复（单位成员可直接答复；工作人员可代为记录，写上单位名）"""
    t = _ticket(ctx, args[0] if args else None)
    referred = ctx.desk.parties_of(ctx.session, t)
    text = ctx.rest
    party = ctx.staff.party if ctx.staff.party in referred else None
    if party is None and len(args) > 1:
        p = ctx.desk.d.find_party(args[1])
        if p is not None:
            party, text = p.code, ctx.rest[len(args[1]):].strip()
    if party is None:
        if len(referred) != 1:
            raise CommandError("请写上是哪个单位的答复" if referred else f"#{t.code} 没有转给任何单位")
        party = next(iter(referred))
    _apply(ctx, t, moves.reply(t, ctx.staff, ctx.now, party=party, text=text, referred=referred))
    repo.set_party_reply(ctx.session, t.id, party, text[:1000], ctx.now)
    return f"已记录{ctx.desk.d.party_name(party)}对 #{t.code} 的答复，已告知居民和网格群。", t.id


@command("note", usage="/note 工单号 备注", aliases=("备注",))
def note(ctx, args):
    """给工单加备注（居民看不到）"""
    t = _ticket(ctx, args[0] if args else None)
    _apply(ctx, t, moves.note(t, ctx.staff, ctx.now, ctx.rest, parties=_scope(ctx, t)))
    return f"已在 #{t.code} 记下备注。", t.id


@command("close", usage="/close 工单号 处理结果", aliases=("办结",))
def close(ctx, args):
    """办结工单，并请居民（含附议的居民）评价"""
    t = _ticket(ctx, args[0] if args else None)
    _apply(ctx, t, moves.resolve(t, ctx.staff, ctx.now, ctx.desk.d.policy, ctx.rest, parties=_scope(ctx, t)))
    return f"已办结 #{t.code}，已通知居民并请其评价；一周内请回访（/visit）。", t.id


@command("visit", usage="/visit 工单号 回访情况", aliases=("回访",))
def visit(ctx, args):
    """记录上门回访（回访后结案）"""
    t = _ticket(ctx, args[0] if args else None)
    _apply(ctx, t, moves.visit(t, ctx.staff, ctx.now, ctx.rest, parties=_scope(ctx, t)))
    return f"已记录 #{t.code} 的回访，工单结案。", t.id


@command("reopen", usage="/reopen 工单号 原因", aliases=("重开",))
def reopen(ctx, args):
    """重新打开已办结的工单（新一轮，时限重新计算，居民和网格群会收到通知）"""
    t = _ticket(ctx, args[0] if args else None)
    _apply(ctx, t, moves.reopen(t, ctx.staff, ctx.now, ctx.desk.d.policy, ctx.rest, parties=_scope(ctx, t)))
    return f"已重新打开 #{t.code}（第{t.round}轮），已告知居民和网格群。", t.id


@command("recat", usage="/recat 工单号 类别", aliases=("改类",))
def recat(ctx, args):
    """更正工单类别（代码、名称或开头几个字都可以；会用于改进自动分类）"""
    t = _ticket(ctx, args[0] if args else None)
    code = category_of(args[1] if len(args) > 1 else "")
    old = t.category
    _apply(ctx, t, moves.recategorise(t, ctx.staff, ctx.now, ctx.desk.d.policy, code,
                                      category_urgent=categories.get(code).is_urgent(t.emergency),
                                      parties=_scope(ctx, t)))
    return f"已把 #{t.code} 从{categories.name_of(old)}改为{categories.name_of(code)}。", t.id


@command("merge", usage="/merge 工单号 并入的工单号", aliases=("合并",))
def merge(ctx, args):
    """把重复的工单并入另一个（居民随之关注后者）"""
    code, into_code = _code(ctx, args[0] if args else None), _code(ctx, args[1] if len(args) > 1 else None)
    # both rows locked in one statement, in id order: two merges crossing each other cannot deadlock
    found = repo.lock_tickets(ctx.session, [code, into_code])
    missing = next((c for c in (code, into_code) if c not in found), None)
    if missing:
        raise CommandError(f"找不到工单 {missing}")
    t, into = found[code], found[into_code]
    _apply(ctx, t, moves.merge(t, into, ctx.staff, ctx.now, parties=_scope(ctx, t)))
    for r_id, _ in repo.residents_of(ctx.session, t):
        repo.add_follower(ctx.session, into, r_id, ctx.now)
    return f"已把 #{t.code} 并入 #{into.code}。", t.id


@command("cancel", usage="/cancel 工单号 原因", aliases=("撤销",))
def cancel(ctx, args):
    """撤销误报或无效的工单"""
    t = _ticket(ctx, args[0] if args else None)
    if not ctx.rest:
        raise CommandError("请写上撤销原因")
    _apply(ctx, t, moves.cancel(t, ctx.staff, ctx.now, ctx.rest, parties=_scope(ctx, t)))
    return f"已撤销 #{t.code}。", t.id
