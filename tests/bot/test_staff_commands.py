"""Staff slash commands through the real encrypted /wecom callback, and what residents then receive."""
from __future__ import annotations


from sqlalchemy import select

from bot.wire import wecom_request
from storage.models import InboundMessage, Outbox, Ticket, TicketEvent
from tests.conftest import report

def outbox(app, channel: str) -> list[Outbox]:
    with app.extensions["jiesu"].sessions() as s:
        return list(s.scalars(select(Outbox).where(Outbox.channel == channel).order_by(Outbox.id)))


def test_ticket_lifecycle_from_list_to_rating(app, wechat, staff):
    openid, code = report(wechat, "5号楼门口垃圾堆了好几天，臭死了")
    listing = staff("wangfang", "/list")
    assert code in listing and "第一网格" in listing
    assert "第一网格没有" in staff("wangfang", "/list 第一网格") or code in staff("wangfang", "/list 第一网格")

    assert "孙师傅" in staff("wangfang", f"/assign {code} 孙师傅")
    [notice] = outbox(app, "wecom_text")
    assert notice.target == "wuye01" and code in notice.payload["content"]

    seq = str(int(code.split("-")[1]))           # today's short number works too
    assert "到场" in staff("wuye01", f"/onsite {seq}")
    refused = staff("wuye01", f"/close {code}")
    assert refused.startswith("未执行 /close") and "处理结果" in refused
    assert "已办结" in staff("wuye01", f"/close {code} 已清运，地面已冲洗")

    to_resident = [o.payload["content"] for o in outbox(app, "mp_text") if o.target == openid]
    assert any("到场" in c for c in to_resident) and any("已清运" in c and "1-5" in c for c in to_resident)
    assert "谢谢" in wechat.text(openid, "5")
    with app.extensions["jiesu"].sessions() as s:
        t = s.scalar(select(Ticket).where(Ticket.code == code))
        events = [(e.actor, e.kind) for e in s.scalars(select(TicketEvent).where(TicketEvent.ticket_id == t.id).order_by(TicketEvent.id))]
    assert t.status == "resolved" and t.rating == 5 and t.assignee == "wuye01"
    assert ("staff:wangfang", "assigned") in events and ("staff:wuye01", "onsite") in events
    assert ("staff:wuye01", "resolved") in events and (f"resident:{openid}", "rated") in events


def test_resident_says_not_solved_reopens(app, wechat, staff):
    openid, code = report(wechat, "3号楼单元门的门禁坏了")
    staff("zhaomin", f"/close {code} 已修好")
    assert "重新打开" in wechat.text(openid, "没解决")
    with app.extensions["jiesu"].sessions() as s:
        assert s.scalar(select(Ticket.status).where(Ticket.code == code)) == "open"


def test_refusals_say_why(app, wechat, staff):
    _, code = report(wechat, "20号楼楼下停满了车把路堵死了")     # 第二网格
    assert "不在本社区工作人员名单" in staff("stranger", "/list")
    assert "没有 /fly" in staff("wangfang", "/fly")
    assert "属于第二网格" in staff("wangfang", f"/close {code} 好了")   # a leader of another grid
    assert "找不到工单" in staff("liqiang", "/close 20991231-0001 好了")
    assert "不是工单号" in staff("liqiang", "/show abc")
    assert "找不到工作人员" in staff("liqiang", f"/assign {code} 外星人")
    assert "没有“飞碟”这个类别" in staff("liqiang", f"/recat {code} 飞碟")
    assert "/help" in staff("liqiang", "你好")
    with app.extensions["jiesu"].sessions() as s:
        assert s.scalar(select(Ticket.status).where(Ticket.code == code)) == "open"


def test_recat_is_recorded_as_a_correction(app, wechat, staff):
    _, code = report(wechat, "18号楼有人在楼下空地上搭了个棚子")
    with app.extensions["jiesu"].sessions() as s:
        before = s.scalar(select(Ticket.category).where(Ticket.code == code))
    target, name = ("noise", "噪音扰民") if before != "noise" else ("illegal_build", "违章搭建")
    assert "改为" + name in staff("liqiang", f"/recat {code} {name}")
    assert "已经是" in staff("liqiang", f"/recat {code} {target}")
    with app.extensions["jiesu"].sessions() as s:
        t = s.scalar(select(Ticket).where(Ticket.code == code))
        ev = s.scalar(select(TicketEvent).where(TicketEvent.ticket_id == t.id, TicketEvent.kind == "recategorised"))
    assert t.category == target and ev.actor == "staff:liqiang" and ev.data == {"old": before, "new": target}


def test_help_lists_commands_from_docstrings(staff):
    text = staff("zhaomin", "/help")
    for usage in ("/list", "/close 工单号 处理结果", "/recat 工单号 类别"):
        assert usage in text
    assert "办结工单" in text


def test_staff_message_retry_runs_once(app, wechat, staff):
    _, code = report(wechat, "9号楼路灯不亮")
    a = staff("wangfang", f"/note {code} 已联系电工", msg_id=424242)
    b = staff("wangfang", f"/note {code} 已联系电工", msg_id=424242)
    assert a == b
    with app.extensions["jiesu"].sessions() as s:
        assert len(s.scalars(select(TicketEvent).where(TicketEvent.kind == "note")).all()) == 1
        assert s.scalar(select(InboundMessage.msg_type).where(InboundMessage.dedupe_key == "wecom:424242")) == "text"


def test_wecom_url_verification_and_bad_signature(app):
    svc = app.extensions["jiesu"]
    now = int(svc.clock.now().timestamp())
    params, body = wecom_request(svc.staff_crypto, "8223459846", now, 1)
    from bot.wxcrypto import xml_fields
    echostr = xml_fields(body)["Encrypt"]
    r = app.test_client().get("/wecom", query_string={**params, "echostr": echostr})
    assert r.status_code == 200 and r.data == b"8223459846"
    r = app.test_client().get("/wecom", query_string={**params, "msg_signature": "0" * 40, "echostr": echostr})
    assert r.status_code == 403


def test_corrections_export_feeds_training(app, wechat, staff, tmp_path):
    import csv

    from storage.corrections import correction_rows
    _, code = report(wechat, "22号楼那家人天天半夜剁肉咚咚咚")
    _, other = report(wechat, "23号楼门口的垃圾没人收")
    with app.extensions["jiesu"].sessions() as s:
        before = s.scalar(select(Ticket.category).where(Ticket.code == code))
    target, name = ("noise", "噪音扰民") if before != "noise" else ("neighbor", "邻里纠纷")
    staff("liqiang", f"/recat {code} {name}")
    with app.extensions["jiesu"].sessions() as s:
        assert correction_rows(s) == [("22号楼那家人天天半夜剁肉咚咚咚", target)]
    # the exported CSV is accepted by nlp.train as extra rows
    out = tmp_path / "fixes.csv"
    with open(out, "w", encoding="utf-8", newline="") as f:
        from storage.corrections import write_csv
        with app.extensions["jiesu"].sessions() as s:
            write_csv(correction_rows(s), f)
    rows = list(csv.DictReader(open(out, encoding="utf-8")))
    assert rows == [{"text": "22号楼那家人天天半夜剁肉咚咚咚", "label": target}]
