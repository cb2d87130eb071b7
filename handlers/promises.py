"""Keeping the community's promises on a timer (run by the scheduler in every worker; each notice has
an outbox dedupe key, so however many workers sweep, it is sent once).

- "54321": a reminder with @leader when nobody is on site after 40 minutes, an escalation to the
  committee when the fix (3 hours) or plan (2 days) is late, a return-visit task a week after closing.
- "周周转": every week, per grid, what was found, done and is still open.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from handlers.sla import RETURN_VISIT
from nlp import categories
from storage import repositories as repo
from storage.models import Grid, Ticket


def _robot(text: str) -> dict:
    return {"msgtype": "markdown", "markdown": {"content": text}}


def sweep_overdue(session: Session, now: datetime, committee: list[str]) -> int:
    """Reminders and escalations for late tickets; returns how many notices were queued."""
    queued = 0
    late_onsite = select(Ticket).where(Ticket.status == repo.OPEN, Ticket.onsite_at.is_(None),
                                       Ticket.due_onsite_at < now, Ticket.needs_detail.is_(False))
    for t in session.scalars(late_onsite):
        text = (f"**⏰ 超时未到场 #{t.code}｜{categories.name_of(t.category)}**\n> 地点：{t.location_text or '未说明'}\n"
                f"> 已超过40分钟到场时限，到场后请发送 /onsite {t.code}\n<@{t.grid.leader_userid}>")
        queued += repo.enqueue_once(session, f"t{t.id}:late_onsite", "robot", t.grid.robot_key, {"kind": "reminder", "body": _robot(text)}, now, t.id)
    late_fix = select(Ticket).where(Ticket.status == repo.OPEN, Ticket.due_fix_at < now)
    for t in session.scalars(late_fix):
        for userid in committee:
            queued += repo.enqueue_once(session, f"t{t.id}:late_fix:{userid}", "wecom_text", userid,
                            {"kind": "escalation", "content": f"【督办】#{t.code}（{categories.name_of(t.category)}，{t.grid.name}）已超过处理时限，请协调。"}, now, t.id)
    revisit = select(Ticket).where(Ticket.status == "resolved", Ticket.resolved_at < now - RETURN_VISIT, Ticket.rating.is_(None))
    for t in session.scalars(revisit):
        target = t.assignee or t.grid.leader_userid
        queued += repo.enqueue_once(session, f"t{t.id}:revisit", "wecom_text", target,
                        {"kind": "revisit", "content": f"【回访】#{t.code} 已办结一周，居民未评价，请回访并记录 /note {t.code} 回访情况。"}, now, t.id)
    return queued


def weekly_review(session: Session, now: datetime, tz: str) -> int:
    """周周转: one summary per grid for the week that ended at `now`."""
    start = now - timedelta(days=7)
    week = now.astimezone(ZoneInfo(tz)).strftime("%G-W%V")
    queued = 0
    for g in session.scalars(select(Grid).order_by(Grid.id)):
        base = select(func.count()).select_from(Ticket).where(Ticket.grid_id == g.id)
        found = session.scalar(base.where(Ticket.created_at >= start, Ticket.created_at < now))
        done = session.scalar(base.where(Ticket.resolved_at >= start, Ticket.resolved_at < now))
        still = session.scalar(base.where(Ticket.status == repo.OPEN))
        late = session.scalar(base.where(Ticket.status == repo.OPEN, Ticket.due_fix_at < now))
        rating = session.scalar(select(func.avg(Ticket.rating)).where(Ticket.grid_id == g.id, Ticket.resolved_at >= start))
        top = session.execute(select(Ticket.category, func.count()).where(Ticket.grid_id == g.id, Ticket.created_at >= start)
                              .group_by(Ticket.category).order_by(func.count().desc()).limit(3)).all()
        lines = [f"**周周转 {week}｜{g.name}**", f"> 新发现 {found} 件，办结 {done} 件，未办结 {still} 件（超时 {late} 件）"]
        if rating is not None:
            lines.append(f"> 居民满意度 {float(rating):.1f} / 5")
        if top:
            lines.append("> 主要问题：" + "、".join(f"{categories.name_of(c)} {n}" for c, n in top))
        lines.append("发送 /list 查看未办结工单")
        queued += repo.enqueue_once(session, f"review:{g.id}:{week}", "robot", g.robot_key, {"kind": "weekly_review", "body": _robot("\n".join(lines))}, now)
    return queued
