"""The desk's numbers (54321 on time, satisfaction rankings), the 周周转 weekly review and the 联席会
agenda, each as a page with ECharts charts and as an .xlsx (handlers/stats*.py computes them).

The committee and the 街道 see the whole community; a grid leader sees their grid's weekly
review only; other roles see none of these.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Response, abort, g, render_template, request
from sqlalchemy import select

from bot import desk_auth
from bot.desk import _svc, bp
from domain.states import Role
from handlers import stats
from handlers.desk_queries import SEES_ALL
from storage.models import Grid

PERIOD_DAYS = 28


def _day(value: str | None, default: date) -> date:
    try:
        return date.fromisoformat(value) if value else default
    except ValueError:
        return default


def _period(tz: str, now: datetime) -> tuple[date, date, datetime, datetime]:
    today = now.astimezone(ZoneInfo(tz)).date()
    since = _day(request.args.get("since"), today - timedelta(days=PERIOD_DAYS - 1))
    until = _day(request.args.get("until"), today)
    if until < since:
        since, until = until, since
    z = ZoneInfo(tz)
    return since, until, datetime.combine(since, time(), z), datetime.combine(until + timedelta(days=1), time(), z)


def _committee_only() -> None:
    if g.actor.role not in SEES_ALL:
        abort(403, description="统计和联席会议程仅限居委会、街道查看")


@bp.get("/numbers")
@desk_auth.login_required
def numbers():
    _committee_only()
    svc = _svc()
    tz, now, d = svc.config.community.timezone, svc.clock.now(), svc.directory
    since, until, start, end = _period(tz, now)
    # the 街道 over several communities compares them; a community's own staff see only theirs
    compare = ("community",) if svc.config.communities and g.actor.community is None else ()
    with svc.sessions() as s:
        grid_ids = _grids_in_scope(s)
        on_time = {by: stats.on_time(s, start, end, by, tz=tz, now=now, d=d, grid_ids=grid_ids)
                   for by in (*compare, "milestone", "grid", "party", "week")}
        ranking = {by: stats.satisfaction(s, by, end, tz=tz, d=d, grid_ids=grid_ids)
                   for by in (*compare, "party", "grid", "category")}
    return render_template("desk/numbers.html", on_time=on_time, ranking=ranking, since=since, until=until)


def _grids_in_scope(session) -> list[int] | None:
    """The grids of the signed-in staff member's community (None: every grid)."""
    if g.actor.community is None:
        return None
    return list(session.scalars(select(Grid.id).where(Grid.community == g.actor.community)))


def _review_args(session, tz: str, now: datetime):
    today = now.astimezone(ZoneInfo(tz)).date()
    day = _day(request.args.get("week"), today - timedelta(days=7))
    grid_name = request.args.get("grid") or None
    if g.actor.role == Role.GRID_LEADER:
        grid_name = g.actor.grid               # a grid leader's review is their grid's
    elif g.actor.role not in SEES_ALL:
        abort(403, description="周周转仅限居委会、街道和网格长查看")
    mine = session.query(Grid.id).filter(Grid.name == grid_name)
    if g.actor.community is not None:              # another community's grid is not theirs to read
        mine = mine.filter(Grid.community == g.actor.community)
    grid_id = mine.scalar() if grid_name else None
    if grid_name and grid_id is None:
        abort(404, description=f"没有网格“{grid_name}”")
    return day, grid_name, grid_id


def _review():
    """(the weekly review the request asks for, a day of its week, its grid or None)."""
    svc = _svc()
    tz, now = svc.config.community.timezone, svc.clock.now()
    with svc.sessions() as s:
        day, grid_name, grid_id = _review_args(s, tz, now)
        return stats.weekly_review(s, day, tz, grid_id, now=now, grid_ids=_grids_in_scope(s)), day, grid_name


@bp.get("/review")
@desk_auth.login_required
def review():
    r, day, grid_name = _review()
    with _svc().sessions() as s:
        scope = _grids_in_scope(s)
        grids = [x.name for x in s.query(Grid).order_by(Grid.id) if scope is None or x.id in scope]
    return render_template("desk/review.html", r=r, day=day, grid=grid_name, grids=grids,
                           prev=(day - timedelta(days=7)).isoformat(), next=(day + timedelta(days=7)).isoformat())


def _agenda():
    """(the agenda for the period the request asks, its first day, its last day)."""
    _committee_only()
    svc = _svc()
    tz, now = svc.config.community.timezone, svc.clock.now()
    since, until, start, end = _period(tz, now)
    with svc.sessions() as s:
        return stats.agenda(s, start, end, tz, now=now, d=svc.directory, grid_ids=_grids_in_scope(s)), since, until


@bp.get("/agenda")
@desk_auth.login_required
def agenda():
    a, since, until = _agenda()
    return render_template("desk/agenda.html", a=a, since=since, until=until)


# --- .xlsx of the reports ---------------------------------------------------------------------

def _xlsx(title: str, tables) -> Response:
    from handlers import exports as ex
    svc = _svc()
    tz = svc.config.community.timezone
    day = svc.clock.now().astimezone(ZoneInfo(tz)).date()
    return Response(ex.to_xlsx(tables, tz), mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": ex.content_disposition(title, "xlsx", day)})


@bp.get("/review.xlsx")
@desk_auth.login_required
def review_xlsx():
    from handlers.exports import Column, Table
    r, _day, grid_name = _review()
    who = grid_name or _svc().config.community.name
    summary = Table(f"周周转 {r.week}", [Column("k", "项目", 14), Column("v", "数量", 10, "int")],
                    [("新发现", r.found), ("办结", r.done), ("未办结", r.still_open), ("超时", r.overdue),
                     ("陈年痼疾（超过30天）", r.long_open_count), ("居民评价", r.ratings)], subtitle=who)
    top = Table("主要问题", [Column("name", "类别", 16), Column("this_week", "本周", 8, "int"),
                             Column("last_week", "上周", 8, "int"), Column("change", "变化", 8, "int")],
                [{"name": c.name, "this_week": c.this_week, "last_week": c.last_week, "change": c.change} for c in r.top])
    old = Table("陈年痼疾", [Column("code", "工单号", 16), Column("category_name", "类别", 14), Column("grid", "网格", 10),
                            Column("days", "天数", 8, "int"), Column("status", "状态", 10)],
                [vars(x) for x in r.long_open])
    heat = Table("楼栋热力", [Column("b", "楼栋", 10)] + [Column(c, c, 10, "int") for c in r.heat.categories],
                 [{"b": b, **{c: r.heat.count(b, c) for c in r.heat.categories}} for b in r.heat.buildings])
    return _xlsx(f"周周转-{r.week}", [summary, top, old, heat])


@bp.get("/agenda.xlsx")
@desk_auth.login_required
def agenda_xlsx():
    from handlers.exports import Column, Table
    a, since, until = _agenda()
    rows = [{"code": i.code, "category": i.category_name, "grid": i.grid, "status": i.status, "days": round(i.open_days),
             "reasons": "、".join(i.reasons), "text": i.text,
             "history": "\n".join(f"{e.at:%m-%d %H:%M} {e.actor} {e.kind} {e.text}".rstrip() for e in i.events)}
            for i in a.items]
    table = Table(f"联席会议程 {since}—{until}", [
        Column("code", "工单号", 16), Column("category", "类别", 12), Column("grid", "网格", 10),
        Column("status", "状态", 10), Column("days", "天数", 6, "int"), Column("reasons", "列入原因", 14),
        Column("text", "问题", 40), Column("history", "处理经过", 60)], rows)
    return _xlsx("联席会议程", [table])
