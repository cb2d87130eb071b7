"""The public board (公开栏) at /board: what residents may see without signing in, from the
account's menu. This month's numbers, the problems resolved (category, building and how long it
took: never a resident's words, a name, a phone or a room) and each grid's responsible person
(网格长亮身份). tests/bot/test_board.py checks that nothing personal reaches it.
"""
from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, render_template, request
from sqlalchemy import func, select

from domain.states import DONE
from nlp import categories
from storage.models import Grid, Ticket, TicketRating

bp = Blueprint("board", __name__, template_folder="templates")
RESOLVED_SHOWN = 30


def _month_start(now: datetime, tz: str) -> datetime:
    local = now.astimezone(ZoneInfo(tz))
    return datetime.combine(local.date().replace(day=1), time(), ZoneInfo(tz))


@bp.get("/board")
def board():
    svc = current_app.extensions["jiesu"]
    cfg, now = svc.config, svc.clock.now()
    since = _month_start(now, cfg.community.timezone)
    done = [str(s) for s in DONE]
    # ?c=<code>: one community's board (its menu links there); without it, the whole deployment
    chosen = next((c for c in cfg.communities if c.code == request.args.get("c")), None)
    here = cfg.community if chosen is None else chosen
    with svc.sessions() as s:
        in_scope = select(Grid.id) if chosen is None else select(Grid.id).where(Grid.community == chosen.code)
        mine = Ticket.grid_id.in_(in_scope)
        found = s.scalar(select(func.count()).select_from(Ticket).where(Ticket.created_at >= since, mine)) or 0
        resolved = s.scalar(select(func.count()).select_from(Ticket).where(Ticket.resolved_at >= since, mine)) or 0
        rating = s.scalar(select(func.avg(TicketRating.score)).join(Ticket, Ticket.id == TicketRating.ticket_id)
                          .where(TicketRating.rated_at >= since, TicketRating.score.is_not(None), mine))
        grids = {g.id: g for g in s.scalars(select(Grid).where(Grid.id.in_(in_scope)).order_by(Grid.id))}
        items = s.execute(select(Ticket.category, Ticket.building, Ticket.grid_id, Ticket.created_at, Ticket.resolved_at)
                          .where(Ticket.status.in_(done), Ticket.resolved_at >= since, mine)
                          .order_by(Ticket.resolved_at.desc()).limit(RESOLVED_SHOWN)).all()
    tz = ZoneInfo(cfg.community.timezone)
    rows = [{"category": categories.name_of(cat), "building": f"{b}号楼" if b else "小区公共区域",
             "grid": grids[g].name if g in grids else "-", "day": r.astimezone(tz).strftime("%m-%d"),
             "hours": max(1, round((r - c).total_seconds() / 3600))} for cat, b, g, c, r in items]
    leaders = [{"grid": g.name, "leader": g.leader_name, "buildings": g.buildings} for g in grids.values()]
    return render_template("board.html", community=here.name, month=since.strftime("%Y年%m月"),
                           found=found, resolved=resolved, rating=rating, rows=rows, leaders=leaders,
                           hotline=here.hotline or cfg.community.hotline)
