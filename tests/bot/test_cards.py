"""One-tap cards (issue 15) through the real encrypted /wecom callback: the cards queued beside staff
notices, each button for each role, taps racing, stale and forged taps, taps needing words."""
from __future__ import annotations

import itertools

import pytest
from sqlalchemy import select

from bot.wire import message_xml, open_reply, wecom_request
from handlers import promises
from storage import cards as card_store
from storage.models import Outbox, Ticket, TicketCard, TicketEvent
from tests.conftest import at_once, make_config, report

_times = itertools.count(1)


@pytest.fixture
def config(tmp_path, db_url):
    # 一键派单 on for garbage: the property company is told (and gets its card) at once
    return make_config(tmp_path, db_url, **{"promises.category_party": {"garbage": "wuye"}, "wecom.cards": True})


def tap(app, userid: str, task: str, key: str, code: str | None = None, create_time: int | None = None) -> str:
    svc = app.extensions["jiesu"]
    now = int(svc.clock.now().timestamp())
    ct = create_time if create_time is not None else now * 1000 + next(_times)    # a distinct CreateTime per tap
    xml = message_xml(svc.config.wecom.corp_id, userid, "event", ct, None, Event="template_card_event", EventKey=key,
                      TaskId=task, CardType="button_interaction", ResponseCode=code or f"rc-{userid}-{ct}",
                      AgentID=1000002)
    params, body = wecom_request(svc.staff_crypto, xml, now, 1000002)
    r = app.test_client().post("/wecom", query_string=params, data=body)
    assert r.status_code == 200, r.data
    return open_reply(svc.staff_crypto, r.data).get("Content", "")


def rows(app, channel: str, target: str | None = None) -> list[Outbox]:
    with app.extensions["jiesu"].sessions() as s:
        q = select(Outbox).where(Outbox.channel == channel).order_by(Outbox.id)
        return [o for o in s.scalars(q) if target is None or o.target == target]


def card_of(app, code: str, userid: str) -> TicketCard:
    with app.extensions["jiesu"].sessions() as s:
        t_id = s.scalar(select(Ticket.id).where(Ticket.code == code))
        return s.scalars(select(TicketCard).where(TicketCard.ticket_id == t_id, TicketCard.userid == userid)
                         .order_by(TicketCard.id.desc())).first()


def keys(card: dict) -> list[str]:
    return [b["key"] for b in card["button_list"]]


def ticket(app, code: str) -> Ticket:
    with app.extensions["jiesu"].sessions() as s:
        return s.scalar(select(Ticket).where(Ticket.code == code))


def events(app, code: str) -> list[tuple[str, str]]:
    with app.extensions["jiesu"].sessions() as s:
        t_id = s.scalar(select(Ticket.id).where(Ticket.code == code))
        return [(e.actor, e.kind) for e in s.scalars(select(TicketEvent).where(TicketEvent.ticket_id == t_id)
                                                     .order_by(TicketEvent.id))]


def sent(app, task: str, code: str) -> None:
    """What the outbox worker does when WeCom accepts a card: keep the send's response code."""
    svc = app.extensions["jiesu"]
    with svc.sessions() as s, s.begin():
        card_store.set_code(s, task, code, svc.clock.now())


def test_new_ticket_card_to_the_leader_and_the_property(app, wechat):
    _, code = report(wechat, "5号楼门口垃圾堆了好几天，臭死了")
    [card] = rows(app, "wecom_card", "wangfang")
    body = card.payload["card"]
    assert card.payload["kind"] == "card:new_ticket" and body["card_type"] == "button_interaction"
    assert body["task_id"] == card.payload["task_id"] and body["main_title"]["title"].startswith(f"#{code}")
    assert keys(body) == ["take", "onsite", "close", "refer", "help"]
    assert [b["text"] for b in body["button_list"]] == ["接单", "到场", "办结", "转派", "需要协助"]
    assert card_of(app, code, "wangfang").task_id == body["task_id"]
    # the property company (一键派单) may arrive and close, not take or refer; its text notice stays
    [prop] = rows(app, "wecom_card", "wuye01")
    assert keys(prop.payload["card"]) == ["onsite", "close", "help"]
    assert rows(app, "wecom_text", "wuye01") and rows(app, "robot")
    assert not rows(app, "wecom_card", "zhaomin")          # the committee is not paged for every ticket


def test_leader_taps_take_then_onsite_then_help(app, wechat):
    _, code = report(wechat, "5号楼门口垃圾堆了好几天")
    task = card_of(app, code, "wangfang").task_id
    sent(app, card_of(app, code, "wuye01").task_id, "send-code-wuye")
    assert "派给 王芳" in tap(app, "wangfang", task, "take", "rc-1")
    t = ticket(app, code)
    assert t.assignee == "wangfang" and t.status == "assigned"
    assert ("staff:wangfang", "assigned") in events(app, code)
    assert not [o for o in rows(app, "wecom_text", "wangfang") if o.payload["kind"] == "assigned"]  # not told herself
    mine = rows(app, "wecom_card_update", "wangfang")[-1].payload
    assert mine["response_code"] == "rc-1" and mine["task_id"] == task
    assert keys(mine["card"]) == ["onsite", "close", "refer", "help"] and "已接单 王芳" in mine["card"]["main_title"]["desc"]
    theirs = rows(app, "wecom_card_update", "wuye01")[-1].payload        # the property's card, with its code
    assert theirs["response_code"] == "send-code-wuye" and keys(theirs["card"]) == ["onsite", "close", "help"]

    assert "到场" in tap(app, "wangfang", task, "onsite", "rc-2")
    assert ticket(app, code).status == "onsite" and ("staff:wangfang", "onsite") in events(app, code)
    assert keys(rows(app, "wecom_card_update", "wangfang")[-1].payload["card"]) == ["close", "refer", "help"]

    assert "协助" in tap(app, "wangfang", task, "help", "rc-3")
    assert ("staff:wangfang", "note") in events(app, code)
    [ask] = [o for o in rows(app, "wecom_text", "zhaomin") if o.payload["kind"] == "help"]
    assert code in ask.payload["content"] and "王芳" in ask.payload["content"]


def test_party_arrives_and_property_gets_no_close_on_complaints_about_itself(app, wechat, staff):
    _, code = report(wechat, "20号楼楼下停满了车把路堵死了")           # 第二网格, no 一键派单
    staff("liqiang", f"/recat {code} property_service")
    staff("liqiang", f"/refer {code} 幸福物业 看一下")
    staff("liqiang", f"/refer {code} 派出所 请协助")
    [prop] = rows(app, "wecom_card", "wuye01")
    assert keys(prop.payload["card"]) == ["onsite", "help"]           # 物业 may not close a complaint about itself
    [police] = rows(app, "wecom_card", "minjing01")
    assert keys(police.payload["card"]) == ["onsite", "help"]
    assert "到场" in tap(app, "minjing01", police.payload["task_id"], "onsite")
    t = ticket(app, code)
    assert t.onsite_at is not None and t.status == "referred"          # still waiting for the parties' answers
    assert ("staff:minjing01", "onsite") in events(app, code)


def test_two_takers_at_once_one_wins_both_cards_updated(app, wechat, clock):
    _, code = report(wechat, "9号楼路灯不亮")
    svc = app.extensions["jiesu"]
    clock.advance(minutes=75)                          # past the onsite deadline and the committee's rung
    with svc.sessions() as s, s.begin():
        promises.sweep(s, clock.now(), svc.staff_desk.d, svc.staff_desk.grid_of)
    leader, committee = card_of(app, code, "wangfang"), card_of(app, code, "zhaomin")
    assert committee is not None and committee.notice == "escalation"
    replies = at_once(lambda who: tap(app, who[0], who[1], "take", f"race-{who[0]}"),
                      [("wangfang", leader.task_id), ("zhaomin", committee.task_id)])
    assert sum("派给" in r for r in replies) == 1 and sum("未重复操作" in r for r in replies) == 1, replies
    winner = ticket(app, code).assignee
    assert winner in ("wangfang", "zhaomin")
    assert [k for _, k in events(app, code)].count("assigned") == 1
    for who in ("wangfang", "zhaomin"):               # each card updated with the tapper's own code
        [upd] = rows(app, "wecom_card_update", who)
        assert upd.payload["response_code"] == f"race-{who}" and "已接单" in upd.payload["card"]["main_title"]["desc"]
        assert "take" not in keys(upd.payload["card"])


def test_stale_card_after_close_is_updated_not_moved(app, wechat, staff):
    _, code = report(wechat, "3号楼单元门的门禁坏了")
    task = card_of(app, code, "wangfang").task_id
    assert "已办结" in staff("zhaomin", f"/close {code} 已修好")
    reply = tap(app, "wangfang", task, "onsite", "rc-stale")
    assert "已办结 赵敏" in reply and "未重复操作" in reply
    assert ticket(app, code).status == "resolved" and "onsite" not in [k for _, k in events(app, code)]
    [upd] = rows(app, "wecom_card_update", "wangfang")
    assert upd.payload["response_code"] == "rc-stale" and keys(upd.payload["card"]) == ["noop"]
    assert "已办结 赵敏" in upd.payload["card"]["main_title"]["desc"]


def test_forged_taps_are_refused(app, wechat):
    _, code = report(wechat, "9号楼路灯不亮")
    task = card_of(app, code, "wangfang").task_id
    before = events(app, code)
    assert "无效" in tap(app, "wangfang", "t999r1uwangfangn00000000", "take")
    assert "无效" in tap(app, "zhaomin", task, "take", "rc-forged")       # someone else's card
    assert "不在本社区工作人员名单" in tap(app, "stranger", task, "take")   # not staff at all
    assert events(app, code) == before and ticket(app, code).assignee is None
    assert card_of(app, code, "wangfang").response_code is None            # the forger's code not kept
    assert not rows(app, "wecom_card_update")


def test_close_needs_words_and_a_command_drops_the_tap(app, wechat, staff):
    openid, code = report(wechat, "9号楼路灯不亮")
    task = card_of(app, code, "wangfang").task_id
    assert "请回复" in tap(app, "wangfang", task, "close", "rc-c1")
    assert ticket(app, code).status == "open"
    assert code in staff("wangfang", "/list")              # a command runs as usual and drops the prompt
    assert "/help" in staff("wangfang", "灯已经换好了")      # so plain words are no answer any more
    assert ticket(app, code).status == "open"

    assert "请回复" in tap(app, "wangfang", task, "close", "rc-c2")
    assert "已办结" in staff("wangfang", "灯已经换好了")
    assert ticket(app, code).status == "resolved"
    assert any("灯已经换好了" in o.payload["content"] for o in rows(app, "mp_text", openid))
    assert keys(rows(app, "wecom_card_update", "wangfang")[-1].payload["card"]) == ["noop"]


def test_refer_lists_parties_and_a_wrong_one_asks_again(app, wechat, staff, clock):
    _, code = report(wechat, "9号楼路灯不亮")
    task = card_of(app, code, "wangfang").task_id
    assert "派出所社区民警" in tap(app, "wangfang", task, "refer", "rc-r1")
    assert "重新回复" in staff("wangfang", "外星人")
    assert "转给派出所" in staff("wangfang", "派出所 有人偷电")
    assert ticket(app, code).status == "referred" and ("staff:wangfang", "referred") in events(app, code)
    # a prompt left unanswered expires after 30 minutes
    assert "请回复" in tap(app, "wangfang", task, "close", "rc-r2")
    clock.advance(minutes=31)
    assert "/help" in staff("wangfang", "好了")
    assert ticket(app, code).status == "referred"


def test_a_replayed_tap_moves_once(app, wechat):
    _, code = report(wechat, "9号楼路灯不亮")
    task = card_of(app, code, "wangfang").task_id
    ct = int(app.extensions["jiesu"].clock.now().timestamp())
    a = tap(app, "wangfang", task, "take", "rc-same", create_time=ct)
    b = tap(app, "wangfang", task, "take", "rc-same", create_time=ct)
    assert a == b and "派给 王芳" in a
    assert [k for _, k in events(app, code)].count("assigned") == 1
    assert len(rows(app, "wecom_card_update", "wangfang")) == 1
