"""54321 reminders, escalations, return visits and the weekly review, on a fake clock."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from handlers import promises
from storage.db import transaction
from storage.models import Outbox
from tests.conftest import report


def sweep(app, clock):
    svc = app.extensions["jiesu"]
    with transaction(svc.sessions) as s:
        return promises.sweep_overdue(s, clock.now(), ["zhaomin"])


def rows(app, kind):
    with app.extensions["jiesu"].sessions() as s:
        return [o for o in s.scalars(select(Outbox).order_by(Outbox.id)) if o.payload.get("kind") == kind]


def test_late_onsite_then_late_fix_then_revisit(app, wechat, clock, staff):
    _, code = report(wechat, "2号楼门口垃圾桶满出来了")
    clock.advance(minutes=39)
    assert sweep(app, clock) == 0
    clock.advance(minutes=2)
    assert sweep(app, clock) == 1 and sweep(app, clock) == 0            # once only
    [r] = rows(app, "reminder")
    assert code in r.payload["body"]["markdown"]["content"] and "<@wangfang>" in r.payload["body"]["markdown"]["content"]
    staff("wangfang", f"/onsite {code}")
    clock.advance(hours=3)
    assert sweep(app, clock) == 1
    [e] = rows(app, "escalation")
    assert e.target == "zhaomin" and code in e.payload["content"]
    staff("wangfang", f"/close {code} 已清运")
    clock.advance(days=7, minutes=1)
    assert sweep(app, clock) == 1
    [v] = rows(app, "revisit")
    assert v.target == "wangfang" and code in v.payload["content"]


def test_concurrent_sweeps_queue_each_notice_once(app, wechat, clock):
    for b in (1, 2, 3):
        report(wechat, f"{b}号楼楼道灯坏了")
    clock.advance(minutes=45)
    with ThreadPoolExecutor(3) as pool:
        counts = list(pool.map(lambda _: sweep(app, clock), range(3)))
    assert sum(counts) == 3 and len(rows(app, "reminder")) == 3


def test_weekly_review_per_grid(app, wechat, clock, staff):
    _, a = report(wechat, "4号楼有人高空抛物")
    report(wechat, "15号楼楼下停车乱")
    staff("wangfang", f"/close {a} 已张贴告示并走访")
    clock.advance(days=7)
    svc = app.extensions["jiesu"]
    with transaction(svc.sessions) as s:
        assert promises.weekly_review(s, clock.now(), "Asia/Shanghai") == 3
    with transaction(svc.sessions) as s:
        assert promises.weekly_review(s, clock.now(), "Asia/Shanghai") == 0
    by_target = {o.target: o.payload["body"]["markdown"]["content"] for o in rows(app, "weekly_review")}
    assert "新发现 1 件，办结 1 件，未办结 0 件" in by_target["local-robot-grid-1"]
    assert "新发现 1 件，办结 0 件，未办结 1 件" in by_target["local-robot-grid-2"]
    assert "新发现 0 件" in by_target["local-robot-grid-3"]
