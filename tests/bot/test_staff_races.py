"""Two people acting on one ticket at the same moment, on PostgreSQL (where workers really run side
by side; SQLite's BEGIN IMMEDIATE runs one writer at a time). Each test sends two messages through
the real callbacks from two threads (two sessions, two transactions) and makes them collide with a
barrier placed just before the statement they race on: no sleeping, the collision is certain."""
from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from bot.wire import message_xml, open_reply, wecom_request
from storage import repositories as repo
from storage.models import InboundMessage, Outbox, Ticket, TicketEvent, TicketFollower
from tests.conftest import WeChat, _drop_pg_schema, _new_pg_schema, new_openid, report


@pytest.fixture
def db_url(pg_schema_url):
    """PostgreSQL only: the row locks under test are PostgreSQL's."""
    schema, url = _new_pg_schema(pg_schema_url)
    yield url
    _drop_pg_schema(pg_schema_url, schema)


def collide_at(monkeypatch, name: str, parties: int = 2) -> threading.Barrier:
    """Make repo.<name> wait until `parties` callers have reached it, then let them all go."""
    barrier = threading.Barrier(parties)
    original = getattr(repo, name)

    def wrapped(*args, **kwargs):
        barrier.wait(timeout=20)          # a bound, not a pause: a broken test fails instead of hanging
        return original(*args, **kwargs)

    monkeypatch.setattr(repo, name, wrapped)
    return barrier


def in_threads(*calls):
    with ThreadPoolExecutor(len(calls)) as pool:
        return [f.result(timeout=60) for f in [pool.submit(c) for c in calls]]


def staff_sender(app):
    """Like the staff fixture, but each call with its own test client (one per thread)."""
    svc = app.extensions["jiesu"]
    ids = iter(range(8_000_000_000, 8_000_001_000))
    lock = threading.Lock()

    def send(userid: str, content: str) -> str:
        with lock:
            msg_id = next(ids)
        now = int(svc.clock.now().timestamp())
        xml = message_xml(svc.config.wecom.corp_id, userid, "text", now, msg_id, Content=content, AgentID=1000002)
        params, body = wecom_request(svc.staff_crypto, xml, now, 1000002)
        r = app.test_client().post("/wecom", query_string=params, data=body)
        assert r.status_code == 200, r.data
        return open_reply(svc.staff_crypto, r.data)["Content"]
    return send


def resident_sender(app):
    """wechat.text, with a test client of its own for each call (one per thread)."""
    svc = app.extensions["jiesu"]

    def send(openid: str, text: str) -> str:
        client = app.test_client()

        def post(path, params, body):
            r = client.post(path, query_string=params, data=body, content_type="text/xml")
            return r.status_code, r.data
        return WeChat(post, svc).text(openid, text)
    return send


def test_two_staff_closing_one_ticket_at_once_one_wins_the_other_is_told_who(app, wechat, monkeypatch):
    openid, code = report(wechat, "6号楼门口垃圾堆了好几天没人清")
    send = staff_sender(app)
    collide_at(monkeypatch, "ticket_by_code")       # both read the ticket at the same instant
    replies = in_threads(lambda: send("wangfang", f"/close {code} 已清运"),
                         lambda: send("zhaomin", f"/close {code} 已安排保洁清理"))

    won = [r for r in replies if r.startswith("已办结")]
    lost = [r for r in replies if r.startswith("未执行 /close")]
    assert len(won) == 1 and len(lost) == 1, replies
    winner = "王芳" if replies[0] is won[0] else "赵敏"
    # the loser reads why, and who was first: not the residents' "系统正忙" apology
    assert re.search(rf"已办结，不能办结（{winner} \d\d:\d\d 办结）", lost[0]), lost[0]
    assert "系统正忙" not in lost[0] and "没有执行成功" not in lost[0]

    with app.extensions["jiesu"].sessions() as s:
        t = s.scalar(select(Ticket).where(Ticket.code == code))
        resolved = s.scalars(select(TicketEvent).where(TicketEvent.ticket_id == t.id,
                                                       TicketEvent.kind == "resolved")).all()
        statuses = s.scalars(select(InboundMessage.status).where(InboundMessage.source == "wecom")).all()
        told = s.scalar(select(func.count()).select_from(Outbox).where(
            Outbox.target == openid, Outbox.payload["kind"].as_string() == "resolved"))
    assert t.status == "resolved" and len(resolved) == 1
    assert statuses == ["handled", "handled"]          # neither command failed
    assert told == 1                                   # the resident is told once, the winner's result


def test_two_merges_crossing_each_other_do_not_deadlock(app, wechat, monkeypatch):
    """/merge A B and /merge B A at once: both rows are locked in one statement in id order, so one
    waits for the other instead of each holding one row and waiting for the other's."""
    _, a = report(wechat, "2号楼楼道灯坏了好几天")
    _, b = report(wechat, "3号楼门口的垃圾没人清")
    send = staff_sender(app)
    collide_at(monkeypatch, "lock_tickets")
    replies = in_threads(lambda: send("wangfang", f"/merge {a} {b}"), lambda: send("zhaomin", f"/merge {b} {a}"))
    assert sum(r.startswith("已把") for r in replies) == 1, replies
    [lost] = [r for r in replies if r.startswith("未执行 /merge")]
    assert "已合并" in lost or "只能合并到另一个未办结的工单" in lost, lost
    with app.extensions["jiesu"].sessions() as s:
        assert sorted(s.scalars(select(Ticket.status).where(Ticket.code.in_([a, b])))) == ["merged", "open"]
        assert s.scalars(select(InboundMessage.status).where(InboundMessage.source == "wecom")).all() == ["handled"] * 2


def test_one_residents_plus_one_sent_twice_at_once_joins_once(app, wechat, monkeypatch):
    """A second resident's report joins the first's ticket as "+1"; sent twice at the same moment
    (a double tap, two workers), both get the "already reported" answer, one follower row is kept and
    neither message fails on the follower's unique key."""
    _, code = report(wechat, "8号楼门口的垃圾桶满了好几天没人清理，臭味很大")
    follower = new_openid()
    wechat.text(follower, "你好")                    # the resident exists: only the "+1" races
    collide_at(monkeypatch, "add_follower")
    text = "8号楼门口垃圾桶满了好几天了没人清，太臭了"
    send = resident_sender(app)
    replies = in_threads(lambda: send(follower, text), lambda: send(follower, text))

    assert all(code in r and "已有居民反映" in r for r in replies), replies
    with app.extensions["jiesu"].sessions() as s:
        t = s.scalar(select(Ticket).where(Ticket.code == code))
        followers = s.scalar(select(func.count()).select_from(TicketFollower).where(TicketFollower.ticket_id == t.id))
        plus_ones = s.scalar(select(func.count()).select_from(TicketEvent).where(
            TicketEvent.ticket_id == t.id, TicketEvent.kind == "plus_one"))
        statuses = s.scalars(select(InboundMessage.status).where(InboundMessage.openid == follower)).all()
        tickets = s.scalar(select(func.count()).select_from(Ticket))
    assert followers == 1 and plus_ones == 1 and tickets == 1
    assert statuses == ["handled"] * 3
