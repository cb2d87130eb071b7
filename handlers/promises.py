"""Keeping the community's promises on a timer (run by the scheduler; each notice has an outbox
dedupe key and each milestone row a stage, so however many workers sweep, it is sent once).

- "54321": every milestone of every round (on site, fix or plan, a party's reply, the return visit)
  is warned about before its deadline and escalated up the ladder in config after it
  (domain/promises.py decides; this module reads what is due and writes what to send).
- "周周转": every week, per grid, what was found, done and is still open.

The sweep reads only milestones whose next_check_at has come (an index), never the history: its
cost does not grow with the number of tickets (bench/bench_sweep.py).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from domain.access import SWEEP
from domain.promises import step
from domain.states import ACTIVE, DONE, EventKind, Milestone, Status
from handlers import effects
from handlers.directory import Directory
from nlp import categories
from storage import repositories as repo
from storage.models import Grid, Ticket, TicketMilestone

SWEEP_BATCH = 500
_M = TicketMilestone.__table__
_SET_STAGE = (update(_M).where(_M.c.id == bindparam("m_id"), _M.c.stage == bindparam("old_stage"))
              .values(stage=bindparam("new_stage"), next_check_at=bindparam("next_at")))


def _robot(text: str) -> dict:
    return {"msgtype": "markdown", "markdown": {"content": text}}


def sweep(session: Session, now: datetime, d: Directory, grid_of, limit: int = SWEEP_BATCH) -> int:
    """Warnings and escalations due now; returns how many notices were queued. A milestone whose
    ticket is no longer being worked (done, merged, cancelled) is retired without a word, except
    the return visit, which is owed after the fix."""
    q = (select(TicketMilestone, Ticket).join(Ticket, Ticket.id == TicketMilestone.ticket_id)
         .where(TicketMilestone.next_check_at <= now, TicketMilestone.met_at.is_(None))
         .order_by(TicketMilestone.next_check_at).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update(of=TicketMilestone, skip_locked=True)    # two sweeps take different rows
    rows = session.execute(q).all()
    # every notice and event of the sweep written at the end, one INSERT each (not three per ticket)
    batch, events, updates = effects.Deliveries(), [], []
    batch.read_parties(session, sorted({t.id for _, t in rows}))
    for m, t in rows:
        live = Status(t.status) in (DONE if m.name == Milestone.VISIT else ACTIVE) and m.round == t.round
        if not live or m.due_at is None:
            updates.append({"m_id": m.id, "old_stage": m.stage, "new_stage": m.stage, "next_at": None})
            continue
        s = step(d.policy, m.name, m.party, m.due_at, m.stage, now, has_assignee=bool(t.assignee))
        grid = grid_of(session, t.grid_id)
        for tell in s.tells:
            effects.send(session, t, tell, now, d, grid, batch)
            kind = EventKind.WARNED if s.warned else EventKind.ESCALATED
            events.append(repo.event_row(t, SWEEP.tag, str(kind), now, milestone=m.name, party=m.party,
                                         rung=s.rung, to=tell.to))
        updates.append({"m_id": m.id, "old_stage": m.stage, "new_stage": s.stage, "next_at": s.next_check_at})
    queued = batch.flush(session)
    repo.add_events(session, events)
    if updates:
        session.connection().execute(_SET_STAGE, updates)
    return queued


def weekly_review(session: Session, now: datetime, tz: str, desk_url: str | None = None) -> int:
    """周周转: one summary per grid for the week that ended at `now`; with `desk_url` (the bot's
    public address) a link to the week's page on the web desk (bot/desk_reports.py)."""
    start = now - timedelta(days=7)
    week = now.astimezone(ZoneInfo(tz)).strftime("%G-W%V")
    queued = 0
    for g in session.scalars(select(Grid).order_by(Grid.id)):
        base = select(func.count()).select_from(Ticket).where(Ticket.grid_id == g.id)
        found = session.scalar(base.where(Ticket.created_at >= start, Ticket.created_at < now))
        done = session.scalar(base.where(Ticket.resolved_at >= start, Ticket.resolved_at < now))
        still = session.scalar(base.where(Ticket.status.in_(repo.ACTIVE_STATES)))
        late = session.scalar(base.where(Ticket.status.in_(repo.ACTIVE_STATES), Ticket.due_fix_at < now))
        rating = session.scalar(select(func.avg(Ticket.rating)).where(Ticket.grid_id == g.id, Ticket.resolved_at >= start))
        top = session.execute(select(Ticket.category, func.count()).where(Ticket.grid_id == g.id, Ticket.created_at >= start)
                              .group_by(Ticket.category).order_by(func.count().desc()).limit(3)).all()
        lines = [f"**周周转 {week}｜{g.name}**", f"> 新发现 {found} 件，办结 {done} 件，未办结 {still} 件（超时 {late} 件）"]
        if rating is not None:
            lines.append(f"> 居民满意度 {float(rating):.1f} / 5")
        if top:
            lines.append("> 主要问题：" + "、".join(f"{categories.name_of(c)} {n}" for c, n in top))
        lines.append("发送 /list 查看未办结工单")
        if desk_url:
            day = start.astimezone(ZoneInfo(tz)).date().isoformat()
            lines.append(f"[查看本周详情]({desk_url}/desk/review?{urlencode({'week': day, 'grid': g.name})})")
        queued += repo.enqueue_once(session, f"review:{g.id}:{week}", "robot", g.robot_key, {"kind": "weekly_review", "body": _robot("\n".join(lines))}, now)
    return queued
