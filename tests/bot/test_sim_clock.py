"""The simulator's clock: an offset over system time shared by every worker through a file, and
GET/POST /simulator/api/clock, which moves the bot's clock and sweeps the 54321 promises at once.
No sleeps: the base time is a FakeClock and the offset moves only when a test says so."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

import run_bot
from bot.scheduler import Scheduler
from bot.sim_clock import FILE_NAME, SimClock, offset_path
from handlers.clock import FakeClock, SystemClock
from storage.models import Outbox
from tests.conftest import make_config, report

START = datetime(2026, 11, 21, 1, 30, tzinfo=timezone.utc)        # 09:30 in Asia/Shanghai, a Saturday
LATE_KINDS = ("remind", "warn", "escalat", "overdue", "late")      # what an overdue notice's kind may be called


# -- the clock itself ------------------------------------------------------------------------------

def test_two_instances_share_one_offset_file(tmp_path):
    path = tmp_path / "data" / FILE_NAME
    base = FakeClock(START)
    a, b = SimClock(path, base=base), SimClock(path, base=base)       # as two gunicorn workers would
    assert a.now() == b.now() == START and a.offset_seconds == 0 and not path.exists()

    assert a.advance(minutes=40) == START + timedelta(minutes=40)
    assert b.now() == START + timedelta(minutes=40) and b.offset_seconds == 2400     # the other sees it at once
    b.advance(hours=3)
    assert a.now() == b.now() == START + timedelta(hours=3, minutes=40)
    assert json.loads(path.read_text())["offset_seconds"] == 13200

    base.advance(minutes=5)                               # real time goes on under the offset
    assert a.now() == START + timedelta(hours=3, minutes=45)

    assert a.reset() == START + timedelta(minutes=5)
    assert b.now() == START + timedelta(minutes=5) and b.offset_seconds == 0
    a.advance(weeks=1)
    assert SimClock(path, base=base).now() == START + timedelta(weeks=1, minutes=5)  # a new process, or a restart


def test_now_is_aware_utc_and_the_system_time_by_default(tmp_path):
    clock = SimClock(tmp_path / FILE_NAME)
    before = datetime.now(timezone.utc)
    clock.advance(days=2)
    now = clock.now()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)
    assert before + timedelta(days=2) <= now <= datetime.now(timezone.utc) + timedelta(days=2)
    assert isinstance(clock.base, SystemClock)


def test_file_is_read_only_when_it_changes(tmp_path, monkeypatch):
    path = tmp_path / FILE_NAME
    writer, reader = SimClock(path, base=FakeClock(START)), SimClock(path, base=FakeClock(START))
    writer.advance(minutes=1)
    reads = []
    real_read = SimClock._read
    monkeypatch.setattr(SimClock, "_read", lambda self: reads.append(1) or real_read(self))
    for _ in range(100):
        reader.now()
    assert len(reads) == 1
    writer.advance(minutes=1)                             # one read by the writer's read-modify-write ...
    for _ in range(100):
        assert reader.now() == START + timedelta(minutes=2)
    assert len(reads) == 3                                # ... and one by the reader, once


def test_an_unreadable_file_means_real_time_and_reset_repairs_it(tmp_path):
    path = tmp_path / FILE_NAME
    path.write_text("{not json")
    clock = SimClock(path, base=FakeClock(START))
    assert clock.now() == START
    path.write_text(json.dumps({"offset_seconds": "lots"}))
    assert clock.now() == START
    clock.reset()
    assert json.loads(path.read_text())["offset_seconds"] == 0 and clock.now() == START


def test_offset_file_sits_beside_the_fake_store_and_only_local_mode_builds_it(tmp_path, sqlite_url):
    cfg = make_config(tmp_path, sqlite_url)
    assert offset_path(cfg) == tmp_path / FILE_NAME
    assert offset_path(make_config(tmp_path, sqlite_url, **{"local.fake_store": f"sqlite:///{tmp_path}/x/f.db"})) \
        == tmp_path / "x" / FILE_NAME
    clock = run_bot.make_clock(cfg)                       # what run_bot.py hands create_app in local mode
    assert isinstance(clock, SimClock) and clock.path == tmp_path / FILE_NAME

    prod = cfg.model_copy(update={"mode": "production"})   # (the credentials production needs do not matter here)
    assert not prod.local_mode
    assert isinstance(run_bot.make_clock(prod), SystemClock)
    with pytest.raises(ValueError, match="only in local mode"):
        SimClock.for_config(prod)


# -- /simulator/api/clock on the app (FakeClock) ---------------------------------------------------

def late_notices(app, code: str) -> list[Outbox]:
    with app.extensions["jiesu"].sessions() as s:
        return [o for o in s.scalars(select(Outbox).order_by(Outbox.id))
                if any(k in str(o.payload.get("kind", "")) for k in LATE_KINDS)
                and code in json.dumps(o.payload, ensure_ascii=False)]


def test_get_clock_shows_utc_and_community_time(app):
    r = app.test_client().get("/simulator/api/clock")
    assert r.status_code == 200
    c = r.get_json()
    assert c["now"] == "2026-11-21T01:30:00+00:00" and c["now_local"] == "2026-11-21T09:30:00+08:00"
    assert c["timezone"] == "Asia/Shanghai" and c["display"] == "2026-11-21 周六 09:30"
    assert c["offset_seconds"] is None and c["can_advance"] is True      # a FakeClock has no offset, but moves


def test_advancing_41_minutes_after_a_report_queues_the_overdue_reminder(app, wechat, clock):
    svc = app.extensions["jiesu"]
    svc.scheduler = Scheduler(svc)            # as create_app(background=True) does, but not started: no threads
    woken = []
    svc.wake_outbox = lambda: woken.append(1)   # what the simulator calls after its sweep
    client = app.test_client()
    _, code = report(wechat, "2号楼门口垃圾桶满出来了")
    woken.clear()                                                        # (the report woke it for its push)

    r = client.post("/simulator/api/clock", json={"advance": {"minutes": 20}})
    assert r.status_code == 200 and r.get_json()["swept"] is True
    assert late_notices(app, code) == [] and woken == [1]                # swept: nothing due yet
    client.post("/simulator/api/clock", json={"advance": {"minutes": 19}})
    [warning] = late_notices(app, code)                                  # 10 minutes left: a warning
    assert warning.payload["kind"] == "warning"

    r = client.post("/simulator/api/clock", json={"advance": {"minutes": 2}})
    c = r.get_json()
    assert r.status_code == 200 and c["swept"] is True
    assert c["now_local"] == "2026-11-21T10:11:00+08:00" and clock.now() == START + timedelta(minutes=41)
    [_, notice] = late_notices(app, code)
    assert notice.payload["kind"] == "escalation" and notice.status == "pending" and len(woken) >= 2
    client.post("/simulator/api/clock", json={"advance": {"minutes": 1}})
    assert len(late_notices(app, code)) == 2                             # once only


def test_without_a_scheduler_the_clock_moves_and_says_nothing_was_swept(app, clock):
    r = app.test_client().post("/simulator/api/clock", json={"advance": {"hours": 3, "minutes": 30}})
    assert r.status_code == 200
    assert r.get_json()["swept"] is False and clock.now() == START + timedelta(hours=3, minutes=30)


@pytest.mark.parametrize("body,expect", [
    (None, "advance"),
    ({}, "advance"),
    ({"reset": False}, "advance"),
    ({"advance": {"minutes": 40}, "reset": True}, "advance"),
    ({"advance": {"fortnights": 1}}, "unknown unit"),
    ({"advance": {"minutes": "40"}}, "must be a number"),
    ({"advance": {"minutes": True}}, "must be a number"),
    ({"advance": {"minutes": -40}}, "only moves forward"),
    ({"advance": {}}, "advance must look like"),
    ({"advance": {"days": 400}}, "at most 366 days"),
])
def test_bad_clock_requests_are_refused_and_time_stays(app, clock, body, expect):
    r = app.test_client().post("/simulator/api/clock", json=body)
    assert r.status_code == 400 and expect in r.get_json()["error"]
    assert clock.now() == START


def test_a_clock_that_cannot_move_is_a_clear_400(app, monkeypatch):
    svc = app.extensions["jiesu"]
    client = app.test_client()
    r = client.post("/simulator/api/clock", json={"reset": True})       # FakeClock: advance, no reset
    assert r.status_code == 400 and r.get_json()["error"] == "this bot's clock (FakeClock) cannot be reset"
    monkeypatch.setattr(svc, "clock", SystemClock())
    r = client.post("/simulator/api/clock", json={"advance": {"minutes": 40}})
    assert r.status_code == 400 and "SystemClock" in r.get_json()["error"] and "cannot be advanced" in r.get_json()["error"]
    c = client.get("/simulator/api/clock").get_json()
    assert c["offset_seconds"] == 0 and c["can_advance"] is False and c["offset_text"] == "实时"


def test_endpoint_with_the_simulated_clock_advances_and_resets(app, tmp_path, monkeypatch):
    svc = app.extensions["jiesu"]
    monkeypatch.setattr(svc, "clock", SimClock(tmp_path / "shared" / FILE_NAME, base=FakeClock(START)))
    other_worker = SimClock(tmp_path / "shared" / FILE_NAME, base=FakeClock(START))
    client = app.test_client()
    c = client.post("/simulator/api/clock", json={"advance": {"days": 2}}).get_json()
    assert c["offset_seconds"] == 172800 and c["offset_text"] == "快进 2 天" and c["display"] == "2026-11-23 周一 09:30"
    c = client.post("/simulator/api/clock", json={"advance": {"weeks": 1, "hours": 3, "minutes": 40}}).get_json()
    assert c["offset_text"] == "快进 1 周 2 天 3 小时 40 分钟" and c["can_reset"] is True
    assert other_worker.now().isoformat() == c["now"]
    c = client.post("/simulator/api/clock", json={"reset": True}).get_json()
    assert c["offset_seconds"] == 0 and c["offset_text"] == "实时" and other_worker.now() == START
    assert client.get("/simulator/api/clock").get_json()["now"] == "2026-11-21T01:30:00+00:00"
