"""54321 warnings, escalation ladders, return visits, rounds and the weekly review, on a fake clock."""
from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from handlers import promises
from storage.db import transaction
from storage.models import Outbox, Ticket, TicketMilestone
from tests.conftest import report


def sweep(app, clock):
    svc = app.extensions["jiesu"]
    with transaction(svc.sessions) as s:
        return promises.sweep(s, clock.now(), svc.directory, svc.intake.grid_by_id)


def rows(app, kind, code=None):
    with app.extensions["jiesu"].sessions() as s:
        return [o for o in s.scalars(select(Outbox).order_by(Outbox.id)) if o.payload.get("kind") == kind
                and (code is None or code in str(o.payload))]


def text(o) -> str:
    return o.payload["body"]["markdown"]["content"] if "body" in o.payload else o.payload["content"]


def test_warning_then_ladder_then_return_visit(app, wechat, clock, staff):
    _, code = report(wechat, "2号楼门口垃圾桶满出来了")
    clock.advance(minutes=29)
    assert sweep(app, clock) == 0
    clock.advance(minutes=2)                                            # 10 minutes left on the 40
    assert sweep(app, clock) == 1 and sweep(app, clock) == 0            # once only
    [w] = rows(app, "warning")
    assert code in text(w) and "<@wangfang>" in text(w) and "即将超时" in text(w)
    clock.advance(minutes=10)                                           # 41 minutes: rung 1, the leader
    assert sweep(app, clock) == 1
    clock.advance(minutes=30)                                           # rung 2: the committee (staff app)
    assert sweep(app, clock) >= 1
    [e] = [o for o in rows(app, "escalation") if o.channel == "wecom_text"]
    assert e.target == "zhaomin" and code in text(e) and "到场" in text(e)
    staff("wangfang", f"/onsite {code}")
    staff("wangfang", f"/close {code} 已清运")
    with app.extensions["jiesu"].sessions() as s:
        t = s.scalar(select(Ticket).where(Ticket.code == code))
        ms = {m.name: m for m in s.scalars(select(TicketMilestone).where(TicketMilestone.ticket_id == t.id))}
    assert ms["onsite"].late_seconds > 0 and ms["register"].late_seconds == 0
    assert ms["fix"].met_at is not None and ms["visit"].met_at is None
    shown = staff("zhaomin", f"/show {code}")
    assert "到场" in shown and "超时" in shown and "回访" in shown and "王芳" in shown
    clock.advance(days=7, minutes=1)
    assert sweep(app, clock) >= 1
    assert any("回访" in text(o) for o in rows(app, "escalation", code))
    assert "结案" in staff("wangfang", f"/visit {code} 居民满意，垃圾桶已加装")


def test_a_reopen_starts_a_new_round_with_its_own_reminders(app, wechat, clock, staff):
    openid, code = report(wechat, "9号楼楼道灯坏了")
    staff("wangfang", f"/onsite {code}")
    staff("wangfang", f"/close {code} 已更换灯泡")
    clock.advance(hours=5)
    assert "重新打开" in wechat.text(openid, "没解决")
    with app.extensions["jiesu"].sessions() as s:
        t = s.scalar(select(Ticket).where(Ticket.code == code))
    assert t.round == 2 and t.status == "open" and t.onsite_at is None
    assert t.due_onsite_at == clock.now() + __import__("datetime").timedelta(minutes=40)
    clock.advance(minutes=41)
    assert sweep(app, clock) >= 1                                        # reminders fire again in round 2
    assert [o for o in rows(app, "escalation", code) if ":r2:" in o.dedupe_key]


def test_concurrent_sweeps_queue_each_notice_once(app, wechat, clock):
    for b in (1, 2, 3):
        report(wechat, f"{b}号楼楼道灯坏了")
    clock.advance(minutes=45)
    with ThreadPoolExecutor(3) as pool:
        counts = list(pool.map(lambda _: sweep(app, clock), range(3)))
    assert sum(counts) == 3 and len(rows(app, "escalation")) == 3


def test_emergency_push_promises_at_once_not_forty_minutes(app, wechat):
    reply = wechat.text("o-fire-1", "着火了 5号楼3楼冒黑烟")
    assert "立即" in reply and "40分钟" not in reply
    [push] = rows(app, "new_ticket")
    assert "立即到场" in text(push) and "40" not in text(push).split("时限")[1].split("\n")[0]


def test_weekly_review_per_grid(app, wechat, clock, staff):
    _, a = report(wechat, "4号楼有人高空抛物")
    report(wechat, "15号楼楼下停车乱")
    staff("wangfang", f"/close {a} 已张贴告示并走访")
    clock.advance(days=7)
    svc = app.extensions["jiesu"]
    with transaction(svc.sessions) as s:
        assert promises.weekly_review(s, clock.now(), "Asia/Shanghai", "https://bot.example") == 3
    with transaction(svc.sessions) as s:
        assert promises.weekly_review(s, clock.now(), "Asia/Shanghai") == 0
    by_target = {o.target: o.payload["body"]["markdown"]["content"] for o in rows(app, "weekly_review")}
    assert "新发现 1 件，办结 1 件，未办结 0 件" in by_target["local-robot-grid-1"]
    assert "新发现 1 件，办结 0 件，未办结 1 件" in by_target["local-robot-grid-2"]
    assert "新发现 0 件" in by_target["local-robot-grid-3"]
    # a link to the week's page on the web desk, which shows the same numbers
    link = re.search(r"\((https://bot\.example/desk/review\?[^)]+)\)", by_target["local-robot-grid-1"]).group(1)
    assert "week=2026-11-21" in link and "grid=%E7%AC%AC%E4%B8%80%E7%BD%91%E6%A0%BC" in link
