"""Over real HTTP on loopback: concurrent retries, and the outbox delivering to the fake platform."""
from __future__ import annotations

import re

import requests
from sqlalchemy import func, select

from bot.outbox_worker import OutboxWorker
from storage import repositories as repo
from storage.models import InboundMessage, Outbox, Ticket
from tests.conftest import new_openid, at_once


def robot_calls(live):
    return [c for c in live.services.fake_store.all_calls() if c["api"] == "robot"]


def outbox_rows(live):
    with live.services.sessions() as s:
        return list(s.scalars(select(Outbox).order_by(Outbox.id)))


def fault(live, **spec):
    r = requests.post(live.url + "/fake/_control/faults", json=spec, timeout=5)
    assert r.status_code == 200, r.text


def test_three_concurrent_retries_make_one_ticket(live, live_wechat):
    xml = live_wechat.xml(new_openid(), "text", Content="7号楼楼道里堆满了纸箱和旧家具")
    results = at_once(lambda _: live_wechat.send_xml(xml), range(3))
    assert [status for status, _ in results] == [200, 200, 200]
    replies = {r["Content"] for _, r in results}
    assert len(replies) == 1 and re.search(r"#\d{8}-\d{4}", replies.pop())
    with live.services.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Ticket)) == 1
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == 1
        assert s.scalar(select(func.count()).select_from(Outbox)) == 1


def test_push_reaches_fake_platform_over_http(live, live_wechat):
    reply = live_wechat.text(new_openid(), "3号楼楼道有人飞线充电")
    code = re.search(r"#(\d{8}-\d{4})", reply).group(1)
    assert robot_calls(live) == []
    assert live.services.outbox.run_once() == 1
    [call] = robot_calls(live)
    assert call["target"] == "local-robot-grid-1" and code in call["body"]["markdown"]["content"]
    assert "<@wangfang>" in call["body"]["markdown"]["content"]     # urgent category: leader mentioned
    [row] = outbox_rows(live)
    assert row.status == "sent" and row.attempts == 1
    assert live.services.outbox.run_once() == 0 and len(robot_calls(live)) == 1


def test_retries_with_backoff_on_errcode_and_http_500(live, live_wechat, clock):
    fault(live, api="robot", count=1, errcode=-1)
    live_wechat.text(new_openid(), "20号楼门口垃圾堆了三天")
    worker = live.services.outbox
    assert worker.run_once() == 0
    [row] = outbox_rows(live)
    assert row.status == "pending" and row.attempts == 1 and "errcode -1" in row.last_error
    assert row.next_attempt_at == clock.now() + worker.backoff(1)
    assert worker.run_once() == 0                 # not due yet
    fault(live, api="robot", count=1, http_status=500)
    clock.advance(seconds=worker.cfg.backoff_seconds)
    assert worker.run_once() == 0
    [row] = outbox_rows(live)
    assert row.attempts == 2 and "HTTP 500" in row.last_error
    assert row.next_attempt_at == clock.now() + worker.backoff(2) and worker.backoff(2) == 2 * worker.backoff(1)
    clock.advance(seconds=2 * worker.cfg.backoff_seconds)
    assert worker.run_once() == 1
    assert len(robot_calls(live)) == 1 and outbox_rows(live)[0].status == "sent"


def test_network_error_is_retried(live, clock, config):
    from bot.transports import Transports
    svc = live.services
    dead = Transports.from_config(config, "http://127.0.0.1:9")     # nothing listens on the discard port
    worker = OutboxWorker(svc.sessions, dead, clock, config.outbox)
    with svc.sessions() as s, s.begin():
        repo.enqueue(s, "robot", "local-robot-grid-1", {"kind": "test", "body": {"msgtype": "text", "text": {"content": "hi"}}}, clock.now())
    assert worker.run_once() == 0
    [row] = outbox_rows(live)
    assert row.status == "pending" and "network" in row.last_error
    clock.advance(seconds=config.outbox.backoff_seconds)
    assert svc.outbox.run_once() == 1      # the real transport delivers it


def test_permanent_error_and_exhaustion_end_as_failed(live, clock):
    svc = live.services
    with svc.sessions() as s, s.begin():
        repo.enqueue(s, "robot", "local-robot-nobody", {"kind": "test", "body": {"msgtype": "text", "text": {"content": "hi"}}}, clock.now())
    committee = svc.directory.with_role("committee")
    assert svc.outbox.run_once() == len(committee)          # only the committee's notice of the failure
    [row, *told] = outbox_rows(live)
    assert row.status == "failed" and row.attempts == 1 and "93000" in row.last_error
    assert [t.target for t in told] == committee and all(t.status == "sent" for t in told)

    fault(live, api="robot", count=100, errcode=-1)
    with svc.sessions() as s, s.begin():
        repo.enqueue(s, "robot", "local-robot-grid-2", {"kind": "test", "body": {"msgtype": "text", "text": {"content": "x"}}}, clock.now())
    for _ in range(svc.config.outbox.max_attempts):
        svc.outbox.run_once()
        clock.advance(seconds=svc.config.outbox.max_backoff_seconds)
    row = next(r for r in outbox_rows(live) if r.target == "local-robot-grid-2")
    assert row.status == "failed" and row.attempts == svc.config.outbox.max_attempts
    assert robot_calls(live) == []


def test_two_workers_never_send_a_row_twice(live, clock, config):
    svc = live.services
    with svc.sessions() as s, s.begin():
        for i in range(12):
            repo.enqueue(s, "robot", "local-robot-grid-1", {"kind": "test", "body": {"msgtype": "text", "text": {"content": f"m{i}"}}}, clock.now())
    workers = [svc.outbox, OutboxWorker(svc.sessions, svc.transports.__class__.from_config(config, live.url), clock, config.outbox)]
    sent = at_once(lambda w: w.run_once(), workers)
    assert sum(sent) == 12
    contents = sorted(c["body"]["text"]["content"] for c in robot_calls(live))
    assert contents == sorted(f"m{i}" for i in range(12))


def test_resident_and_staff_messages_use_access_tokens(live, clock):
    svc = live.services
    fault(live, api="mp_custom_send", count=1, errcode=-1)
    with svc.sessions() as s, s.begin():
        repo.enqueue(s, "mp_text", "o-resident-1", {"kind": "update", "content": "您反映的问题已处理"}, clock.now())
        repo.enqueue(s, "wecom_text", "wangfang", {"kind": "update", "content": "请处理 #1"}, clock.now())
    assert svc.outbox.run_once() == 1
    clock.advance(seconds=svc.config.outbox.backoff_seconds)
    assert svc.outbox.run_once() == 1
    calls = svc.fake_store.all_calls()
    [mp] = [c for c in calls if c["api"] == "mp_custom_send"]
    [qy] = [c for c in calls if c["api"] == "wecom_send"]
    assert mp["target"] == "o-resident-1" and mp["body"]["text"]["content"] == "您反映的问题已处理"
    assert qy["target"] == "wangfang" and qy["body"]["agentid"] == svc.config.wecom.agent_id


def test_fake_platform_checks_like_wechat(live):
    u = live.url + "/fake"
    assert requests.get(u + "/mp/cgi-bin/token", params={"grant_type": "client_credential", "appid": "wxlocal00000000001",
                                                          "secret": "wrong"}, timeout=5).json()["errcode"] == 40001
    assert requests.post(u + "/mp/cgi-bin/message/custom/send", params={"access_token": "made-up"},
                         json={"touser": "o", "msgtype": "text", "text": {"content": "x"}}, timeout=5).json()["errcode"] == 40014
    good = requests.get(u + "/qy/cgi-bin/gettoken", params={"corpid": "wwlocal00000000001", "corpsecret": "local-wecom-secret"}, timeout=5).json()
    assert good["access_token"] and good["expires_in"] == 7200
    assert requests.post(u + "/qy/cgi-bin/message/send", params={"access_token": good["access_token"]},
                         json={"touser": "a", "msgtype": "text", "agentid": 1}, timeout=5).json()["errcode"] == 40056
    assert requests.post(u + "/qy/cgi-bin/webhook/send", params={"key": "local-robot-grid-1"},
                         data=b"not json", timeout=5).json()["errcode"] == 40058
    assert requests.post(u + "/qy/cgi-bin/webhook/send", params={"key": "local-robot-grid-1"},
                         json={"msgtype": "markdown", "markdown": {"content": "x" * 5000}}, timeout=5).json()["errcode"] == 40058
    assert robot_calls(live) == []


def test_new_residents_first_messages_racing_all_open_tickets(live, live_wechat):
    openid = new_openid()
    xmls = [live_wechat.xml(openid, "text", Content=f"{b}号楼楼道灯不亮了") for b in (1, 14, 27)]
    results = at_once(live_wechat.send_xml, xmls)
    assert all(status == 200 and "已受理" in r["Content"] for status, r in results), results
    with live.services.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Ticket)) == 3
        assert set(s.scalars(select(InboundMessage.status))) == {"handled"}


def test_grid_sync_from_two_starting_workers(live, config):
    from storage.db import transaction
    def sync(_):
        with transaction(live.services.sessions) as s:
            repo.sync_grids(s, config.grids)

    at_once(sync, range(2))
    from storage.models import Grid
    with live.services.sessions() as s:
        assert sorted(s.scalars(select(Grid.name))) == sorted(g.name for g in config.grids)
