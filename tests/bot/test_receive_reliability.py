"""Nothing a resident sends is lost or handled twice: stored before handling, answered within the
budget, finished in the background, retried after a crash or a failure, spooled through a database
outage (a real TCP proxy between the bot and PostgreSQL is cut), and given up on only loudly."""
from __future__ import annotations

import logging
import re
import threading
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from bench.tcp_proxy import TcpProxy
from bot.app import create_app
from handlers.inbound import Inbound
from storage import inbound as rows
from storage.models import InboundMessage, Outbox, Ticket
from tests.conftest import PG_DSN, WeChat, make_config, new_openid

CODE = re.compile(r"#(\d{8}-\d{4})")


def _rows(svc, model, *where):
    with svc.sessions() as s:
        return list(s.scalars(select(model).where(*where).order_by(model.id)))


def _replies_queued(svc, openid):
    return [o.payload["content"] for o in _rows(svc, Outbox, Outbox.target == openid, Outbox.channel == "mp_text")
            if o.payload.get("kind") == "reply"]


def _app(tmp_path, db_url, clock, migrate=True, **overrides):
    app = create_app(make_config(tmp_path, db_url, **overrides), clock=clock, migrate=migrate)
    client = app.test_client()

    def post(path, params, body):
        r = client.post(path, query_string=params, data=body, content_type="text/xml")
        return r.status_code, r.data
    return app, WeChat(post, app.extensions["jiesu"])


class Gate:
    """Wraps the intake so a test decides when handling may go on (no sleeping, no timing)."""

    def __init__(self, intake):
        self.intake, self.entered, self.release = intake, threading.Event(), threading.Event()
        self._handle = intake.handle
        intake.handle = self.handle

    def handle(self, session, msg):
        self.entered.set()
        assert self.release.wait(30), "the test never released the handler"
        return self._handle(session, msg)


def test_handling_past_the_budget_gets_a_holding_reply_and_the_real_one_follows_once(tmp_path, db_url, clock, caplog):
    app, wechat = _app(tmp_path, db_url, clock, **{"inbound.reply_budget_seconds": 0.2})
    svc = app.extensions["jiesu"]
    gate = Gate(svc.intake)
    openid = new_openid()
    reply = wechat.text(openid, "5号楼楼道里有人飞线充电")
    assert reply.startswith("已收到您的消息，正在处理")
    [entry] = svc.spool.entries()                                 # kept on disk before the commit
    assert "5号楼" in entry.inbound["content"]
    assert not [r for r in caplog.records if "unreachable" in r.getMessage()]   # slow, not an outage
    gate.release.set()
    svc.receiver._pool.shutdown(wait=True)                       # the background handling ends
    [row] = _rows(svc, InboundMessage)
    assert row.status == "handled" and row.ticket_id and row.reply_deferred
    assert svc.spool.replay(svc.receiver.replay_spool) == 1      # the spooled copy finds it stored
    [queued] = _replies_queued(svc, openid)                      # and the reply follows once
    assert CODE.search(queued)
    assert len(_rows(svc, Ticket)) == 1 and len(_rows(svc, InboundMessage)) == 1


def test_a_retry_while_the_first_is_handled_waits_for_its_reply(tmp_path, db_url, clock):
    app, wechat = _app(tmp_path, db_url, clock, **{"inbound.reply_budget_seconds": 4.0})
    svc = app.extensions["jiesu"]
    gate = Gate(svc.intake)
    openid = new_openid()
    xml = wechat.xml(openid, "text", Content="9号楼门口垃圾三天没清")
    first = threading.Thread(target=wechat.send_xml, args=(xml,))
    first.start()
    assert gate.entered.wait(10)
    results = []
    retry = threading.Thread(target=lambda: results.append(wechat.send_xml(xml)))
    retry.start()
    gate.release.set()
    retry.join(10)
    first.join(10)
    [(status, reply)] = results
    assert status == 200 and CODE.search(reply["Content"])     # the real reply, not the holding text
    assert len(_rows(svc, Ticket)) == 1 and _replies_queued(svc, openid) == []


def _left_by_a_dead_worker(svc, clock, openid, text, msg_id=1):
    """The row a worker leaves when it is killed between storing a message and handling it."""
    msg = Inbound(openid=openid, type="text", dedupe_key=f"msg:{msg_id}", content=text)
    with svc.sessions() as s, s.begin():
        rows.store(s.connection(), dedupe_key=msg.dedupe_key, openid=openid, msg_type="text", raw="<xml/>",
                   source="mp", inbound=msg.__dict__, now=clock.now(), lease_until=clock.now() + timedelta(seconds=30))
    return msg


def test_a_message_left_by_a_dead_worker_is_handled_once_its_lease_runs_out(app, clock):
    svc = app.extensions["jiesu"]
    openid = new_openid()
    _left_by_a_dead_worker(svc, clock, openid, "12号楼电梯坏了，老人下不了楼")
    assert svc.receiver.recover() == 0                  # its lease still runs: maybe it is alive
    clock.advance(seconds=31)
    assert svc.receiver.recover() == 1
    assert svc.receiver.recover() == 0                  # once
    [row] = _rows(svc, InboundMessage)
    assert row.status == "handled" and row.attempts == 2
    [t] = _rows(svc, Ticket)
    [reply] = _replies_queued(svc, openid)              # its reply goes by customer-service message
    assert t.code in reply


def test_a_retry_from_wechat_takes_over_a_dead_workers_message(app, clock, wechat):
    svc = app.extensions["jiesu"]
    openid = new_openid()
    xml = wechat.xml(openid, "text", Content="3号楼有人飞线充电", msg_id=424242)
    _left_by_a_dead_worker(svc, clock, openid, "3号楼有人飞线充电", msg_id=424242)
    clock.advance(seconds=31)
    status, reply = wechat.send_xml(xml)
    assert status == 200 and CODE.search(reply["Content"])
    assert len(_rows(svc, Ticket)) == 1 and _replies_queued(svc, openid) == []


def test_a_failed_message_is_retried_then_given_up_loudly(app, clock, wechat, monkeypatch, caplog):
    svc = app.extensions["jiesu"]
    boom = {"on": True}
    classify = svc.intake.classify

    def flaky(text):
        if boom["on"]:
            raise RuntimeError("model exploded")
        return classify(text)
    monkeypatch.setattr(svc.intake, "classify", flaky)
    openid = new_openid()
    assert "系统正忙" in wechat.text(openid, "8号楼下水道堵了")
    [row] = _rows(svc, InboundMessage)
    assert row.status == "failed" and row.reply_deferred
    assert svc.receiver.recover() == 0                  # not due yet (backoff)
    clock.advance(seconds=31)
    assert svc.receiver.recover() == 1                  # second attempt fails too
    boom["on"] = False
    clock.advance(seconds=61)
    assert svc.receiver.recover() == 1                  # third attempt works
    [row] = _rows(svc, InboundMessage)
    assert row.status == "handled" and row.attempts == 3
    [reply] = _replies_queued(svc, openid)
    assert CODE.search(reply)

    boom["on"] = True                                   # another message never works
    other = new_openid()
    wechat.text(other, "6号楼电梯坏了")
    for _ in range(svc.config.inbound.max_attempts + 1):
        clock.advance(hours=1)
        svc.receiver.recover()
    [row] = _rows(svc, InboundMessage, InboundMessage.openid == other)
    assert row.status == "dead"
    committee = [o for o in _rows(svc, Outbox, Outbox.channel == "wecom_text") if o.payload["kind"] == "inbound_dead"]
    assert committee and all("6号楼电梯坏了" in o.payload["content"] for o in committee)
    assert {o.target for o in committee} == set(svc.directory.with_role("committee"))
    assert "人工" in _replies_queued(svc, other)[0]
    clock.advance(hours=1)
    assert svc.receiver.recover() == 0                  # dead stays dead


@pytest.fixture
def pg_behind_proxy(pg_schema_url):
    from tests.conftest import _drop_pg_schema, _new_pg_schema
    schema, url = _new_pg_schema(pg_schema_url)
    up = urlsplit(PG_DSN)
    proxy = TcpProxy((up.hostname, up.port or 5432))
    yield proxy, url.replace(f"{up.hostname}:{up.port or 5432}", f"127.0.0.1:{proxy.port}")
    proxy.close()
    _drop_pg_schema(pg_schema_url, schema)


def test_a_database_outage_spools_messages_and_replays_them_once_in_order(tmp_path, clock, pg_behind_proxy, caplog):
    proxy, url = pg_behind_proxy
    app, wechat = _app(tmp_path, url, clock)
    svc = app.extensions["jiesu"]
    wechat.text(new_openid(), "1号楼门口垃圾满了")              # the pool holds a live connection
    proxy.cut()
    sent = []
    caplog.set_level(logging.INFO)
    for i in range(5):
        openid = new_openid()
        xml = wechat.xml(openid, "text", Content=f"{i + 2}号楼楼道里堆满了杂物")
        status, reply = wechat.send_xml(xml)
        assert status == 200 and reply["Content"].startswith("已收到您的消息")
        sent.append(openid)
    status, _ = wechat.send_xml(xml)                                # WeChat retries the last one
    assert status == 200
    assert len(svc.spool) == 6
    outage_lines = [r for r in caplog.records if "database unreachable" in r.getMessage()]
    assert len(outage_lines) == 1                                   # said once, not per message
    assert not [r for r in caplog.records if r.exc_info]            # and no tracebacks

    proxy.restore()
    assert svc.spool.replay(svc.receiver.replay_spool) == 6
    assert len(svc.spool) == 0
    stored = _rows(svc, InboundMessage)
    assert [r.openid for r in stored[1:]] == sent                   # in order, the retry not twice
    assert all(r.status == "handled" for r in stored)
    assert len(_rows(svc, Ticket)) == 6
    for openid in sent:                                             # each resident gets the real reply once
        [reply] = _replies_queued(svc, openid)
        assert CODE.search(reply)
    assert any("reachable again" in r.getMessage() for r in caplog.records)
    assert svc.spool.replay(svc.receiver.replay_spool) == 0
    svc.engine.dispose()


def test_a_web_worker_runs_no_background_jobs_but_replays_its_hosts_spool(tmp_path, db_url, clock):
    """Web workers only answer (the outbox, sweeps and retraining run in `run_bot.py worker`); what a
    previous process left in this host's spool is replayed by the web worker's own upkeep."""
    from bot.spool import Spool
    from bot.scheduler import WebUpkeep
    cfg = make_config(tmp_path, db_url)
    openid = new_openid()
    left = Spool(cfg.inbound.spool)                 # left by a process that died during an outage
    msg = Inbound(openid=openid, type="text", dedupe_key="msg:99", content="4号楼电梯困人了吗？没有，是电梯门关不上")
    left.append("mp", msg.__dict__, "<xml/>", clock.now())
    web = create_app(make_config(tmp_path, db_url, **{"inbound.spool": str(tmp_path / "other.sqlite3")}),
                     clock=clock, upkeep=True)
    web_svc = web.extensions["jiesu"]
    assert web_svc.scheduler is not None and not web_svc.scheduler.running   # no drain, no sweep, no retraining
    web_svc.engine.dispose()
    app = create_app(cfg, clock=clock)
    svc = app.extensions["jiesu"]
    try:
        upkeep = WebUpkeep(svc)                         # not started: its thread would do this at start
        assert upkeep.replayer.run_once()
        assert len(svc.spool) == 0
        [row] = _rows(svc, InboundMessage)
        assert row.status == "handled" and row.openid == openid and row.reply_deferred
        assert len(_replies_queued(svc, openid)) == 1
    finally:
        svc.engine.dispose()


def test_an_emergency_that_must_wait_still_gets_its_advice_at_once(tmp_path, db_url, clock):
    app, wechat = _app(tmp_path, db_url, clock, **{"inbound.reply_budget_seconds": 0.2})
    svc = app.extensions["jiesu"]
    gate = Gate(svc.intake)
    try:
        fire = wechat.text(new_openid(), "7号楼3楼着火了，好多烟")
        calm = wechat.text(new_openid(), "7号楼门口的垃圾桶满了")
    finally:
        gate.release.set()
    assert fire.startswith("【紧急】") and "119" in fire and "已收到您的消息" in fire
    assert calm.startswith("已收到您的消息")
    svc.receiver._pool.shutdown(wait=True)


def test_a_retry_spooled_during_an_outage_still_gets_its_reply_once(tmp_path, clock, pg_behind_proxy):
    """WeChat resends a message whose answer it never got; the resend meets a database outage and
    gets the holding text. When the spool is replayed the message is found stored and handled, so
    its reply goes by customer-service message, once."""
    proxy, url = pg_behind_proxy
    app, wechat = _app(tmp_path, url, clock)
    svc = app.extensions["jiesu"]
    openid = new_openid()
    xml = wechat.xml(openid, "text", Content="11号楼电梯按钮坏了")
    status, first = wechat.send_xml(xml)
    assert status == 200 and CODE.search(first["Content"])      # answered... but WeChat did not get it
    proxy.cut()
    status, again = wechat.send_xml(xml)
    assert status == 200 and again["Content"].startswith("已收到您的消息")
    proxy.restore()
    assert svc.spool.replay(svc.receiver.replay_spool) == 1
    assert svc.spool.replay(svc.receiver.replay_spool) == 0
    [reply] = _replies_queued(svc, openid)
    assert reply == first["Content"]
    assert len(_rows(svc, Ticket)) == 1 and len(_rows(svc, InboundMessage)) == 1
    svc.engine.dispose()


def test_a_web_worker_boots_during_an_outage_and_syncs_its_grids_later(tmp_path, clock, pg_behind_proxy):
    """gunicorn halts the whole server when a restarted worker fails to boot: a worker started while
    the database is unreachable must boot, answer with the holding text, and work once it is back."""
    proxy, url = pg_behind_proxy
    first, _ = _app(tmp_path, url, clock)                       # the schema exists, as after any start
    first.extensions["jiesu"].engine.dispose()
    proxy.cut()
    app, wechat = _app(tmp_path, url, clock, migrate=False)     # boots anyway (as gunicorn's workers do)
    svc = app.extensions["jiesu"]
    assert svc.intake.grids is None
    assert wechat.text(new_openid(), "2号楼路灯不亮").startswith("已收到您的消息")
    proxy.restore()
    assert svc.spool.replay(svc.receiver.replay_spool) == 1
    assert CODE.search(wechat.text(new_openid(), "2号楼门口垃圾满了"))
    assert svc.intake.grids and "第一网格" in svc.intake.grids
    svc.engine.dispose()


def test_a_push_sent_just_before_an_outage_is_recorded_after_it_not_sent_again(tmp_path, clock, pg_behind_proxy):
    """The push reached WeChat, then the database went away before the outbox row said so: the
    worker waits for the database to record it, instead of leaving it to be sent a second time."""
    from types import SimpleNamespace
    from storage import repositories as repo
    from tests.conftest import LiveServer
    proxy, url = pg_behind_proxy
    server = LiveServer(make_config(tmp_path, url), clock)
    svc = server.services
    try:
        with svc.sessions() as s, s.begin():
            repo.enqueue(s, "robot", "local-robot-grid-1", {"kind": "test", "body": {"msgtype": "text", "text": {"content": "只发一次"}}},
                         clock.now())
        real_send = svc.transports.send

        def send_then_cut(*args):
            real_send(*args)
            proxy.cut()
        svc.transports.send = send_then_cut
        svc.outbox._pause = SimpleNamespace(wait=lambda _seconds: proxy.restore())   # back at the first wait
        assert svc.outbox.run_once() == 1
        svc.transports.send = real_send
        [row] = _rows(svc, Outbox)
        assert row.status == "sent"
        clock.advance(minutes=5)                            # long past any lease
        assert svc.outbox.run_once() == 0
        pushes = [c for c in svc.fake_store.all_calls() if c["api"] == "robot"]
        assert len(pushes) == 1
    finally:
        server.stop()
