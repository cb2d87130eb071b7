"""The committee's web desk at /desk: sign in, the ticket list, a ticket's page and its moves.

A move on the desk is the chat command it stands for, run through StaffDesk.run as the signed-in
staff member (handlers/commands/dispatch.py): the same checks, the same domain move, the same
records with the same actor, the same notices. Which buttons a page shows comes from
domain.access.check, so the desk never offers what chat would refuse.
"""
from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, current_app, flash, g, redirect, render_template, request, url_for

from bot import desk_auth
from domain.access import Move, Refused, check
from domain.states import (ACTIVE, EVENT_NAMES, MILESTONE_NAMES, ROLE_NAMES, SOURCE_NAMES, Milestone, Source,
                           Status, status_name)
from handlers import desk_queries as dq
from handlers.commands.registry import parse
from nlp import categories, emergency, mask_pii
from storage import repositories as repo
from storage.models import Grid, Ticket

bp = Blueprint("desk", __name__, url_prefix="/desk", template_folder="templates")


@dataclass(frozen=True)
class DeskMove:
    move: Move
    command: str                 # the chat command it runs
    label: str
    field: str | None = None     # what the form asks: text | staff | party | category | kind | None
    placeholder: str = ""


MOVES = (
    DeskMove(Move.ASSIGN, "assign", "派单", "staff"),
    DeskMove(Move.ARRIVE, "onsite", "到场"),
    DeskMove(Move.PLAN, "plan", "出方案", "text", "处理方案和预计完成时间"),
    DeskMove(Move.REFER, "refer", "转派（吹哨）", "party", "请对方做什么"),
    DeskMove(Move.REPLY, "reply", "记录单位答复", "text", "单位的答复"),
    DeskMove(Move.RESOLVE, "close", "办结", "text", "处理结果，居民会看到"),
    DeskMove(Move.VISIT, "visit", "回访", "text", "回访情况"),
    DeskMove(Move.REOPEN, "reopen", "重新打开", "text", "原因"),
    DeskMove(Move.RECATEGORISE, "recat", "改类", "category"),
    DeskMove(Move.NOTE, "note", "备注", "text", "备注内容"),
    DeskMove(Move.MARK_EMERGENCY, "emergency", "标为紧急", "kind"),
    DeskMove(Move.CLEAR_EMERGENCY, "notemergency", "取消紧急（误报）", "text", "说明"),
    DeskMove(Move.CANCEL, "cancel", "撤销", "text", "原因"),
)
BY_COMMAND = {m.command: m for m in MOVES}


def _svc():
    return current_app.extensions["jiesu"]


def _local(dt, fmt: str = "%m-%d %H:%M") -> str:
    return dt.astimezone(ZoneInfo(_svc().config.community.timezone)).strftime(fmt) if dt else "-"


@bp.app_template_filter("local")
def _local_filter(dt, fmt: str = "%m-%d %H:%M") -> str:
    return _local(dt, fmt)


@bp.app_template_filter("mask")
def _mask_filter(text) -> str:
    return mask_pii(text or "")


@bp.context_processor
def _helpers():
    return {"csrf_token": desk_auth.csrf_token, "category_name": categories.name_of, "status_name": status_name,
            "community": _svc().config.community.name}


@bp.route("/login", methods=["GET", "POST"])
def login():
    from bot.users import login as check_password
    error = None
    if request.method == "POST":
        desk_auth.check_csrf()
        svc = _svc()
        with svc.sessions.begin() as s:
            result = check_password(s, request.form.get("username", "").strip(), request.form.get("password", ""),
                                    svc.clock.now())
            if result.user is not None:
                desk_auth.sign_in(result.user)
        if result.user is not None:
            nxt = request.args.get("next") or ""
            return redirect(nxt if nxt.startswith("/desk/") else url_for("desk.tickets"))
        error = result.error
    return render_template("desk/login.html", error=error), (401 if error else 200)


@bp.post("/logout")
@desk_auth.login_required
def logout():
    desk_auth.sign_out()
    return redirect(url_for("desk.login"))


def _choices():
    svc = _svc()
    return {"categories": categories.all_categories(),
            "parties": svc.directory.parties, "sources": SOURCE_NAMES,
            "statuses": [("active", "办理中"), ("done", "已办结"), ("ended", "已结束（撤销、合并、告知渠道）"),
                         ("all", "全部")] + [(s.value, status_name(s)) for s in Status]}


@bp.get("/")
@desk_auth.login_required
def tickets():
    svc = _svc()
    f = dq.TicketFilter.from_args(request.args)
    with svc.sessions() as s:
        rows, total = dq.list_tickets(s, g.actor, f, svc.config.community.timezone, svc.clock.now())
        mine = s.query(Grid).filter(Grid.community == g.actor.community) if g.actor.community else s.query(Grid)
        grids = {gr.id: gr.name for gr in mine}
        communities = ([(c.code, c.name) for c in svc.config.communities]
                       if svc.config.communities and g.actor.community is None else [])
        return render_template("desk/tickets.html", rows=rows, total=total, f=f, grids=grids, actor=g.actor,
                               communities=communities,
                               pages=max(1, -(-total // dq.PER_PAGE)), now=svc.clock.now(), count_cap=dq.COUNT_CAP,
                               role_name=ROLE_NAMES[g.actor.role], **_choices())


def _moves_for(session, t) -> list[DeskMove]:
    parties = _svc().staff_desk.working_parties(session, t)
    out = []
    for m in MOVES:
        try:
            check(m.move, g.actor, t, parties=parties)
        except Refused:
            continue
        out.append(m)
    return out


@bp.get("/t/<code>")
@desk_auth.login_required
def ticket(code: str):
    svc = _svc()
    with svc.sessions() as s:
        t = dq.visible(s, g.actor, code)
        if t is None:
            abort(404, description=f"没有工单 #{code}，或它不在您的范围内")
        events = repo.events(s, t.id)
        why = next((e.data.get("safety_rules") for e in events if e.kind == "created" and e.data), None)
        photos = [a for a in repo.attachments(s, t.id) if a.kind == "image"]
        return render_template(
            "desk/ticket.html", t=t, grid=s.get(Grid, t.grid_id), events=events, event_names=EVENT_NAMES,
            actor_name=svc.directory.actor_name, mask=mask_pii, safety_rules=why,
            milestones=[m for m in repo.milestones(s, t.id) if m.round == t.round], milestone_names=MILESTONE_NAMES,
            Milestone=Milestone, parties=repo.parties_of(s, t.id), party_name=svc.directory.party_name,
            ratings=repo.ratings_of(s, t.id), photos=[(a, svc.staff_desk.photo_link(a.id)) for a in photos],
            moves=_moves_for(s, t), staff=svc.directory.staff, all_parties=svc.directory.parties,
            kinds=emergency.kind_names(), categories=categories.all_categories(),
            source_name=SOURCE_NAMES.get(Source(t.source), t.source) if t.source in {x.value for x in Source} else t.source,
            active=Status(t.status) in ACTIVE)


@bp.post("/t/<code>/move")
@desk_auth.login_required
def move(code: str):
    svc = _svc()
    m = BY_COMMAND.get(request.form.get("command", ""))
    if m is None:
        abort(400, description="没有这个操作")
    value = " ".join((request.form.get("value") or "").split())[:500]       # one line, as in chat
    extra = " ".join((request.form.get("note") or "").split())[:300]
    if m.field and not value:
        flash(f"{m.label}：请填写内容", "error")
        return redirect(url_for("desk.ticket", code=code))
    text = " ".join(x for x in (f"/{m.command}", code, value, extra) if x)
    with svc.sessions.begin() as s:
        if dq.visible(s, g.actor, code) is None:
            abort(404, description=f"没有工单 #{code}，或它不在您的范围内")
        reply, _ticket_id, ok = svc.staff_desk.run(s, g.actor, parse(text))
    svc.wake_outbox()
    flash(reply, "ok" if ok else "error")
    return redirect(url_for("desk.ticket", code=code))


EXPORT_MAX = 20_000          # rows per export; more: narrow the filters


@bp.get("/export/tickets.<ext>")
@desk_auth.login_required
def export_tickets(ext: str):
    """The list as it is filtered, every page, as .xlsx or .csv (handlers/exports.py)."""
    from handlers import exports as ex
    if ext not in ("xlsx", "csv"):
        abort(404)
    svc = _svc()
    tz = svc.config.community.timezone
    f = dq.TicketFilter.from_args(request.args)
    with svc.sessions() as s:
        stmt = dq.filtered(s, g.actor, f, tz, svc.clock.now()).order_by(Ticket.id.desc()).limit(EXPORT_MAX)
        grids = {gr.id: gr.name for gr in s.query(Grid)}
        rows = [{"code": t.code, "category": categories.name_of(t.category), "status": status_name(t.status),
                 "grid": grids.get(t.grid_id, ""), "place": t.location_text or "", "text": mask_pii(t.text or ""),
                 "created": t.created_at, "due": t.due_fix_at, "resolved": t.resolved_at, "rating": t.rating}
                for t in s.scalars(stmt)]
    table = ex.Table("工单", [
        ex.Column("code", "工单号", 16), ex.Column("category", "类别", 14), ex.Column("status", "状态", 10),
        ex.Column("grid", "网格", 10), ex.Column("place", "地点", 16), ex.Column("text", "内容", 50),
        ex.Column("created", "登记时间", 17, "datetime"), ex.Column("due", "办结时限", 17, "datetime"),
        ex.Column("resolved", "办结时间", 17, "datetime"), ex.Column("rating", "评价", 6, "int")], rows,
        subtitle=f"{svc.config.community.name} {svc.clock.now().astimezone(ZoneInfo(tz)):%Y-%m-%d %H:%M} 导出")
    body = ex.to_xlsx([table], tz) if ext == "xlsx" else ex.to_csv(table, tz)
    mime = ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" if ext == "xlsx"
            else "text/csv; charset=utf-8")
    day = svc.clock.now().astimezone(ZoneInfo(tz)).date()
    return Response(body, mimetype=mime, headers={"Content-Disposition": ex.content_disposition("工单", ext, day)})
