"""The low-confidence menu and "+1" duplicates, end to end through the webhook."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

import nlp
from storage.models import Outbox, Ticket, TicketEvent, TicketFollower
from tests.conftest import new_openid, report

VAGUE = ["我要反映个情况", "那个东西又不行了你们管不管", "喂喂 听得到吗 有个事", "这边有点问题麻烦看一下"]


def vague_message() -> str:
    for text in VAGUE:
        if nlp.classify(text).low_confidence:
            return text
    pytest.fail(f"none of {VAGUE} is low-confidence for the classifier: the menu cannot be exercised")


def pushes(app, ticket_id):
    with app.extensions["jiesu"].sessions() as s:
        return list(s.scalars(select(Outbox).where(Outbox.ticket_id == ticket_id, Outbox.channel == "robot").order_by(Outbox.id)))


def test_menu_choice_files_the_ticket_under_it(app, wechat, clock):
    openid = new_openid()
    reply = wechat.text(openid, vague_message())
    assert "回复数字" in reply
    options = re.findall(r"^(\d)\. (.+)$", reply, re.M)
    assert len(options) == 4 and options[-1][1] == "其他"
    code = re.search(r"#(\d{8}-\d{4})", reply).group(1)
    with app.extensions["jiesu"].sessions() as s:
        t = s.scalar(select(Ticket).where(Ticket.code == code))
    [held] = pushes(app, t.id)
    assert held.status == "pending" and held.next_attempt_at == clock.now() + timedelta(minutes=10)

    assert "1 到 4" in wechat.text(openid, "9")                     # menu stays open
    chosen_name = options[1][1]
    reply = wechat.text(openid, "2")
    assert reply.startswith("已受理") and chosen_name in reply and code in reply
    with app.extensions["jiesu"].sessions() as s:
        t = s.scalar(select(Ticket).where(Ticket.code == code))
        ev = s.scalar(select(TicketEvent).where(TicketEvent.ticket_id == t.id, TicketEvent.kind == "category_chosen"))
    assert nlp.categories.name_of(t.category) == chosen_name and t.category_confirmed and ev.actor == f"resident:{openid}"
    first, second = pushes(app, t.id)
    assert first.status == "cancelled" and second.status == "pending" and second.next_attempt_at == clock.now()
    assert chosen_name in second.payload["body"]["markdown"]["content"]
    # a later digit is an ordinary message again, not a menu answer
    assert "回复数字" not in wechat.text(openid, "3号楼电梯坏了")


def test_unanswered_menu_still_pushes_after_ten_minutes(app, wechat, clock):
    reply = wechat.text(new_openid(), vague_message())
    code = re.search(r"#(\d{8}-\d{4})", reply).group(1)
    svc = app.extensions["jiesu"]
    with svc.sessions() as s:
        tid = s.scalar(select(Ticket.id).where(Ticket.code == code))
    def due():
        return [p for p in pushes(app, tid) if p.status == "pending" and p.next_attempt_at <= clock.now()]
    assert due() == []
    clock.advance(minutes=10)
    assert len(due()) == 1


def test_second_report_joins_as_plus_one_and_gets_updates(app, wechat, staff):
    a, code = report(wechat, "3号楼楼道有人飞线充电，电线从窗户拉下来的")
    b = new_openid()
    reply = wechat.text(b, "3号楼楼道又有人飞线充电 电线从窗口吊下来")
    assert code in reply and "正在处理" in reply
    # the same complaint about another building is its own ticket
    other = wechat.text(new_openid(), "16号楼楼道有人飞线充电，电线从窗户拉下来的")
    assert code not in other and "已受理" in other
    with app.extensions["jiesu"].sessions() as s:
        t = s.scalar(select(Ticket).where(Ticket.code == code))
        assert [f.resident_id for f in s.scalars(select(TicketFollower).where(TicketFollower.ticket_id == t.id))]
        assert s.scalar(select(TicketEvent.kind).where(TicketEvent.ticket_id == t.id, TicketEvent.kind == "plus_one"))
        assert len(s.scalars(select(Ticket)).all()) == 2
    staff("wangfang", f"/close {code} 已拆除飞线并劝导")
    with app.extensions["jiesu"].sessions() as s:
        told = {o.target for o in s.scalars(select(Outbox).where(Outbox.channel == "mp_text"))}
    assert {a, b} <= told
    assert code in wechat.text(b, "进度")     # a follower sees the ticket in their progress list


def test_a_menu_left_open_does_not_swallow_the_rating_after_staff_close_the_ticket(app, wechat, staff):
    import dataclasses
    import re
    import nlp
    svc = app.extensions["jiesu"]
    svc.intake.classify = lambda text: dataclasses.replace(nlp.classify(text), low_confidence=True)
    openid = "o-menu-stale"
    reply = wechat.text(openid, "3号楼门口垃圾堆了好几天没人清")
    assert "回复数字" in reply                                    # the category menu is open
    code = re.search(r"#(\d{8}-\d{4})", reply).group(1)
    staff("wangfang", f"/close {code} 已清运")
    assert "5 分" in wechat.text(openid, "5")                     # a rating, not "请用文字描述…"
