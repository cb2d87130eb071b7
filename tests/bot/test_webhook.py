"""The /wechat callback through the Flask test client: every mode, every message type, refusals."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from bot.wxcrypto import sha1_signature
from storage.models import Attachment, InboundMessage, Outbox, Resident, Ticket
from tests.conftest import WeChat, make_config, new_openid

CODE = re.compile(r"#(\d{8}-\d{4})")


def count(app, model, *where) -> int:
    with app.extensions["jiesu"].sessions() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def tickets(app) -> list[Ticket]:
    with app.extensions["jiesu"].sessions() as s:
        return list(s.scalars(select(Ticket).order_by(Ticket.id)))


def test_url_verification_echoes_only_with_good_signature(app, clock):
    client = app.test_client()
    token = app.extensions["jiesu"].config.wechat.token
    ts, nonce = str(int(clock.now().timestamp())), "12345"
    good = {"signature": sha1_signature(token, ts, nonce), "timestamp": ts, "nonce": nonce, "echostr": "abc123"}
    r = client.get("/wechat", query_string=good)
    assert r.status_code == 200 and r.data == b"abc123"
    r = client.get("/wechat", query_string={**good, "signature": "0" * 40})
    assert r.status_code == 403 and b"abc123" not in r.data
    stale = str(int(clock.now().timestamp()) - 301)
    r = client.get("/wechat", query_string={**good, "timestamp": stale, "signature": sha1_signature(token, stale, nonce)})
    assert r.status_code == 403


@pytest.mark.parametrize("mode", ["plain", "compat", "safe"])
def test_text_message_opens_ticket_in_every_mode(tmp_path, sqlite_url, clock, mode):
    from bot.app import create_app
    app = create_app(make_config(tmp_path, sqlite_url, **{"wechat.message_mode": mode}), clock=clock)
    client = app.test_client()
    wx = WeChat(lambda p, q, b: (lambda r: (r.status_code, r.data))(client.post(p, query_string=q, data=b)),
                app.extensions["jiesu"], mode)
    reply = wx.text(new_openid(), "3号楼楼道有人飞线充电")
    assert CODE.search(reply), reply
    assert "飞线充电" in reply and "王芳" in reply
    [t] = tickets(app)
    assert t.category == "flying_wire" and t.building == "3" and t.grid.name == "第一网格" and t.priority == "urgent"
    assert reply.count(t.code) == 1


def test_encrypted_reply_is_encrypted_and_signed(app, clock):
    client = app.test_client()
    wx = WeChat(None, app.extensions["jiesu"], "safe")
    from bot.wire import signed_request
    params, body = signed_request(wx.svc.crypto, wx.xml(new_openid(), "text", Content="5号楼门口垃圾堆成山"),
                                  int(clock.now().timestamp()), "safe")
    r = client.post("/wechat", query_string=params, data=body)
    assert r.status_code == 200
    assert b"<Encrypt>" in r.data and b"<MsgSignature>" in r.data and "垃圾".encode() not in r.data


def test_full_flow_routes_masks_and_queues_push(wechat, app):
    reply = wechat.text(new_openid(), "15号楼2单元楼下垃圾好几天没人清了，我电话13812345678")
    assert "李强" in reply       # 15号楼 is 第二网格
    [t] = tickets(app)
    assert t.grid.name == "第二网格" and t.category == "garbage"
    with app.extensions["jiesu"].sessions() as s:
        [push] = s.scalars(select(Outbox)).all()
    content = push.payload["body"]["markdown"]["content"]
    assert push.target == "local-robot-grid-2" and t.code in content
    assert "138****5678" in content and "13812345678" not in content
    assert "<@" not in content   # garbage is not urgent: no @-mention


def test_no_location_goes_to_default_grid_and_asks_where(wechat, app):
    reply = wechat.text(new_openid(), "有人把垃圾扔在路边好几天了")
    assert "几号楼" in reply
    [t] = tickets(app)
    assert t.grid.name == "第一网格" and t.location_text is None


def test_same_msgid_twice_creates_one_ticket_and_same_reply(wechat, app):
    xml = wechat.xml(new_openid(), "text", Content="8号楼电梯坏了")
    s1, r1 = wechat.send_xml(xml)
    s2, r2 = wechat.send_xml(xml)
    assert s1 == s2 == 200 and r1["Content"] == r2["Content"]
    assert count(app, Ticket) == 1 and count(app, InboundMessage) == 1 and count(app, Outbox) == 1


def test_event_dedupe_uses_sender_and_create_time(wechat, app):
    openid = new_openid()
    xml = wechat.xml(openid, "event", msg_id=None, Event="subscribe")
    _, r1 = wechat.send_xml(xml)
    _, r2 = wechat.send_xml(xml)
    assert "进度" in r1["Content"] and r1 == r2
    assert count(app, InboundMessage) == 1


def test_voice_with_and_without_recognition(wechat, app):
    openid = new_openid()
    _, r = wechat.send_xml(wechat.xml(openid, "voice", MediaId="m1", Format="amr", Recognition="二十号楼有人在楼道里飞线充电。"))
    assert CODE.search(r["Content"]) and "飞线充电" in r["Content"]
    _, r = wechat.send_xml(wechat.xml(openid, "voice", MediaId="m2", Format="amr"))
    assert "文字" in r["Content"] and not CODE.search(r["Content"])
    assert count(app, Ticket) == 1 and count(app, InboundMessage) == 2


def test_photo_attaches_to_recent_ticket_else_opens_one(wechat, app, clock):
    openid = new_openid()
    reply = wechat.text(openid, "6号楼门口垃圾桶满了")
    code = CODE.search(reply).group(1)
    _, r = wechat.send_xml(wechat.xml(openid, "image", PicUrl="http://x/p.jpg", MediaId="img1"))
    assert code in r["Content"] and "照片" in r["Content"]
    assert count(app, Ticket) == 1 and count(app, Attachment, Attachment.kind == "image") == 1

    clock.advance(minutes=11)        # outside the 10-minute window: a new ticket that asks what it is
    _, r = wechat.send_xml(wechat.xml(openid, "image", PicUrl="http://x/q.jpg", MediaId="img2"))
    new_code = CODE.search(r["Content"]).group(1)
    assert new_code != code and "什么问题" in r["Content"]
    # the words that follow complete that ticket rather than opening a third
    reply = wechat.text(openid, "楼下的路灯坏了一个星期了")
    assert new_code in reply
    ts = tickets(app)
    assert len(ts) == 2 and ts[1].text == "楼下的路灯坏了一个星期了" and not ts[1].needs_detail


def test_location_attaches_or_is_kept_for_next_ticket(wechat, app, clock):
    openid = new_openid()
    _, r = wechat.send_xml(wechat.xml(openid, "location", Location_X=30.27, Location_Y=120.15, Scale=15, Label="幸福里小区菜场"))
    assert "菜场" in r["Content"] and not CODE.search(r["Content"])
    reply = wechat.text(openid, "这里的井盖丢了很危险")
    [t] = tickets(app)
    assert t.latitude == pytest.approx(30.27) and t.grid.name == "第二网格"   # 菜场 belongs to 第二网格
    assert "几号楼" not in reply
    _, r = wechat.send_xml(wechat.xml(openid, "location", Location_X=30.28, Location_Y=120.16, Scale=15, Label="东门"))
    assert t.code in r["Content"]
    assert tickets(app)[0].latitude == pytest.approx(30.28)


@pytest.mark.parametrize("mtype,fields", [("video", {"MediaId": "v", "ThumbMediaId": "t"}),
                                          ("link", {"Title": "t", "Description": "d", "Url": "http://x"}),
                                          ("shortvideo", {"MediaId": "v"}), ("somethingnew", {})])
def test_unknown_types_get_a_polite_reply(wechat, app, mtype, fields):
    status, r = wechat.send_xml(wechat.xml(new_openid(), mtype, **fields))
    assert status == 200 and "文字" in r["Content"]
    assert count(app, Ticket) == 0 and count(app, InboundMessage) == 1


def test_progress_and_human(wechat):
    openid = new_openid()
    assert "还没有" in wechat.text(openid, "进度")
    code = CODE.search(wechat.text(openid, "30号楼草坪被人挖了种菜")).group(1)
    assert code in wechat.text(openid, "进度") and "处理中" in wechat.text(openid, "进度")
    human = wechat.text(openid, "人工")
    assert "陈静" in human      # 30号楼 -> 第三网格, remembered from the earlier report


def test_emergency_reply_comes_first_and_pushes_at_all(wechat, app):
    reply = wechat.text(new_openid(), "着火了！5号楼3楼冒黑烟")
    assert reply.startswith("【紧急】") and "119" in reply.split("\n")[0]
    with app.extensions["jiesu"].sessions() as s:
        bodies = [o.payload["body"] for o in s.scalars(select(Outbox))]
    assert any(b["msgtype"] == "text" and b["text"]["mentioned_list"] == ["@all"] for b in bodies)
    assert tickets(app)[0].priority == "urgent"


def test_possible_emergency_gets_the_number_and_an_urgent_push_without_at_all(wechat, app):
    """A message the learned head is unsure about (nlp.emergency.CAUTION < P <= THRESHOLD, no rule):
    the resident reads the number to call first, the ticket is urgent (the leader is @-ed) and its
    push is not held for the category menu; nobody is paged with @all."""
    import dataclasses

    import nlp
    from nlp import emergency
    svc = app.extensions["jiesu"]
    svc.intake.classify = lambda text: dataclasses.replace(nlp.classify(text), emergency=None,
                                                           caution=emergency.of_kind("violence"),
                                                           low_confidence=True)
    openid = new_openid()
    reply = wechat.text(openid, "5号楼楼下好吵 不知道在干嘛")
    assert reply.split("\n")[0] == "如有人身危险，请立即拨打110。"
    assert "回复数字" in reply                                   # the category menu still follows
    t = tickets(app)[0]
    assert t.priority == "urgent" and t.emergency is None
    with svc.sessions() as s:
        outbox = list(s.scalars(select(Outbox)))
    kinds = [o.payload["kind"] for o in outbox]
    assert "emergency_page" not in kinds
    push = next(o for o in outbox if o.payload["kind"] == "new_ticket")
    assert push.next_attempt_at <= push.created_at                # sent now, not held for the menu
    assert "紧急" in push.payload["body"]["markdown"]["content"]
    wechat.text(openid, "1")                                     # the menu choice keeps it urgent
    t = tickets(app)[0]
    assert t.category_confirmed and t.priority == "urgent"


def test_real_classifier_marks_a_cry_for_help_as_possible_emergency():
    import nlp
    c = nlp.classify("楼下有人喊救命")
    assert c.emergency is not None or c.caution is not None    # never silent on a cry for help


# --- refusals ------------------------------------------------------------------------------------

def test_bad_signature_is_403(app, wechat, clock):
    from bot.wire import signed_request
    params, body = signed_request(wechat.svc.crypto, wechat.xml(new_openid(), "text", Content="hi"), int(clock.now().timestamp()), "safe")
    r = app.test_client().post("/wechat", query_string={**params, "signature": "f" * 40}, data=body)
    assert r.status_code == 403
    r = app.test_client().post("/wechat", query_string={**params, "msg_signature": "f" * 40}, data=body)
    assert r.status_code == 403
    assert count(app, InboundMessage) == 0


def test_stale_timestamp_is_refused(wechat, app, clock):
    xml = wechat.xml(new_openid(), "text", Content="3号楼垃圾")
    status, _ = wechat.send_xml(xml, timestamp=int(clock.now().timestamp()) - 301)
    assert status == 403
    status, _ = wechat.send_xml(xml, timestamp=int(clock.now().timestamp()) - 299)
    assert status == 200


def test_xml_with_entity_declaration_is_400(app, clock):
    svc = app.extensions["jiesu"]
    evil = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
            '<xml><ToUserName>x</ToUserName><FromUserName>o</FromUserName><CreateTime>1</CreateTime>'
            '<MsgType>text</MsgType><Content>&b;</Content><MsgId>1</MsgId></xml>')
    for mode in ("plain", "safe"):
        from bot.wire import signed_request
        params, body = signed_request(svc.crypto, evil, int(clock.now().timestamp()), mode)
        r = app.test_client().post("/wechat", query_string=params, data=body)
        assert r.status_code == 400, mode
    assert count(app, InboundMessage) == 0


def test_oversized_body_is_413(app, clock):
    svc = app.extensions["jiesu"]
    ts, nonce = str(int(clock.now().timestamp())), "n"
    params = {"signature": sha1_signature(svc.config.wechat.token, ts, nonce), "timestamp": ts, "nonce": nonce}
    r = app.test_client().post("/wechat", query_string=params, data=b"<xml>" + b"a" * 70_000 + b"</xml>")
    assert r.status_code == 413


def test_safe_mode_refuses_plaintext_and_garbage(app, clock):
    svc = app.extensions["jiesu"]
    ts, nonce = str(int(clock.now().timestamp())), "n"
    params = {"signature": sha1_signature(svc.config.wechat.token, ts, nonce), "timestamp": ts, "nonce": nonce}
    xml = "<xml><ToUserName>a</ToUserName><FromUserName>o</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>x</Content><MsgId>5</MsgId></xml>"
    assert app.test_client().post("/wechat", query_string=params, data=xml).status_code == 400
    assert app.test_client().post("/wechat", query_string=params, data=b"<xml><unclosed>").status_code == 400
    assert app.test_client().post("/wechat", query_string=params, data=b"").status_code == 400


def test_handler_failure_keeps_message_and_answers(wechat, app, monkeypatch):
    svc = app.extensions["jiesu"]

    def broken(_text):
        raise RuntimeError("model exploded")
    monkeypatch.setattr(svc.intake, "classify", broken)
    reply = wechat.text(new_openid(), "12号楼电梯又坏了")
    assert "已收到" in reply
    with svc.sessions() as s:
        [row] = s.scalars(select(InboundMessage)).all()
    assert row.status == "failed" and "model exploded" in row.error and "12号楼电梯又坏了" in row.raw
    assert count(app, Ticket) == 0 and count(app, Outbox) == 0 and count(app, Resident) == 0   # rolled back with the rest


def test_asking_for_a_person_tells_the_grid_leader_once(wechat, app):
    openid = new_openid()
    code = CODE.search(wechat.text(openid, "18号楼楼下的井盖坏了")).group(1)
    assert "李强" in wechat.text(openid, "人工")       # asks for a number or a time (issue 16)
    assert "李强" in wechat.text(openid, "转人工")     # asking again: the same question, one request notice
    wechat.text(openid, "13812345678")
    wechat.text(openid, "13812345678")               # the question was answered: no second callback notice
    with app.extensions["jiesu"].sessions() as s:
        notices = [o for o in s.scalars(select(Outbox).where(Outbox.channel == "wecom_text").order_by(Outbox.id))]
    assert [n.payload["kind"] for n in notices] == ["human_request", "callback_request"]
    assert all(n.target == "liqiang" and code in n.payload["content"] and openid not in n.payload["content"]
               and "18号楼的居民" in n.payload["content"] for n in notices)
    assert "13812345678" in notices[1].payload["content"]
