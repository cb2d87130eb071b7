"""Staff slash commands through the real encrypted /wecom callback, and what residents then receive."""
from __future__ import annotations


from sqlalchemy import select

from bot.wire import message_xml, open_reply, wecom_request
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


def test_staff_mark_a_missed_emergency_then_clear_it(app, wechat, staff):
    from storage.corrections import emergency_rows
    text = "5号楼楼上往下滴黑水还有噼啪声"
    openid, code = report(wechat, text)
    with app.extensions["jiesu"].sessions() as s:
        t = s.scalar(select(Ticket).where(Ticket.code == code))
        assert t.emergency is None                                     # the bot missed it (a caution at most)
    pages_before = len([o for o in outbox(app, "robot") if "@all" in str(o.payload)])

    refused = staff("zhaomin", f"/emergency {code} 天塌了")
    assert refused.startswith("未执行 /emergency") and "有人被困" in refused and "火情" in refused
    assert "缺少紧急情况的类型" in staff("zhaomin", f"/emergency {code}")
    done = staff("zhaomin", f"/emergency {code} 火情")
    assert done.startswith("已把") and "119" in done
    assert "已经标为火情" in staff("zhaomin", f"/紧急 {code} fire")        # nothing is done twice

    assert "紧急情况：火情" in staff("zhaomin", f"/show {code}")
    pages = [o for o in outbox(app, "robot") if "@all" in str(o.payload)]
    assert len(pages) == pages_before + 1 and code in pages[-1].payload["body"]["text"]["content"]
    to_resident = [o.payload["content"] for o in outbox(app, "mp_text") if o.target == openid]
    assert any("119" in c and code in c for c in to_resident)
    with app.extensions["jiesu"].sessions() as s:
        t = s.scalar(select(Ticket).where(Ticket.code == code))
        assert (t.emergency, t.priority) == ("fire", "urgent")
        assert emergency_rows(s) == [(text, "fire")]

    assert "没有标为紧急" in staff("zhaomin", f"/notemergency {report(wechat, '7号楼电梯按钮坏了按不亮')[1]}")
    assert staff("zhaomin", f"/recat {code} repair").startswith("已把")   # a leak: stays urgent
    cleared = staff("zhaomin", f"/误报 {code} 是空调管子漏水滴在雨棚上")
    assert cleared.startswith("已取消") and "已告知网格群" in cleared
    stand_down = [o for o in outbox(app, "robot") if o.payload.get("kind") == "emergency_cleared"]
    assert len(stand_down) == 1 and "解除紧急" in stand_down[0].payload["body"]["text"]["content"]
    with app.extensions["jiesu"].sessions() as s:
        t = s.scalar(select(Ticket).where(Ticket.code == code))
        assert (t.emergency, t.priority) == (None, "normal")           # a repair alone is not urgent
        assert emergency_rows(s) == [(text, "none")]                  # the latest word stands
        events = [(e.actor, e.kind) for e in s.scalars(select(TicketEvent).where(TicketEvent.ticket_id == t.id))]
    assert ("staff:zhaomin", "emergency_marked") in events and ("staff:zhaomin", "emergency_cleared") in events


def test_marking_a_closed_ticket_is_a_label_only(app, wechat, staff):
    # found out on site: a neighbour was inside the lift the resident reported as broken
    openid, code = report(wechat, "7号楼电梯按钮坏了按不亮")
    staff("zhaomin", f"/close {code} 已修复，里面的住户已放出")
    robot_before, mp_before = len(outbox(app, "robot")), len(outbox(app, "mp_text"))
    reply = staff("zhaomin", f"/emergency {code} 有人被困")
    assert "不再通知" in reply
    assert len(outbox(app, "robot")) == robot_before and len(outbox(app, "mp_text")) == mp_before
    from storage.corrections import emergency_rows
    with app.extensions["jiesu"].sessions() as s:
        assert emergency_rows(s) == [("7号楼电梯按钮坏了按不亮", "trapped")]


# -- the access rules at the desk: refused staff read why (domain/access.py, tests/domain/test_access_matrix.py)

def _ticket_row(app, code) -> Ticket:
    with app.extensions["jiesu"].sessions() as s:
        return s.scalar(select(Ticket).where(Ticket.code == code))


def _pages(app) -> int:
    return len([o for o in outbox(app, "robot") if "@all" in str(o.payload)])


def test_property_and_grid_leaders_act_only_within_their_remit_emergencies_included(app, wechat, staff):
    _, code = report(wechat, "20号楼楼下停满了车把路堵死了")           # 第二网格, not given to the property company
    pages = _pages(app)
    for command in (f"/emergency {code} 火情", f"/recat {code} 其他", f"/note {code} 看过了", f"/onsite {code}"):
        reply = staff("wuye01", command)
        assert reply.startswith("未执行") and "没有转给你所在的单位，也没有派给你" in reply, reply
    reply = staff("wuye01", f"/notemergency {code} 误报")
    assert reply.startswith("未执行 /notemergency") and "仅限居委会、网格长、街道" in reply
    reply = staff("wangfang", f"/emergency {code} 火情")            # the leader of another grid
    assert reply.startswith("未执行") and "属于第二网格，你负责的是第一网格" in reply
    t = _ticket_row(app, code)
    assert (t.emergency, t.category, t.status) == (None, "parking", "open") and _pages(app) == pages

    staff("liqiang", f"/assign {code} 孙师傅")                       # now it is the property company's to work
    assert staff("wuye01", f"/onsite {code}").startswith("已记录")
    assert staff("wuye01", f"/emergency {code} 火情").startswith("已把") and _pages(app) == pages + 1
    assert "仅限" in staff("wuye01", f"/notemergency {code} 误报")   # standing the page down is the desk's
    assert staff("liqiang", f"/notemergency {code} 误报").startswith("已取消")


def test_property_cannot_judge_a_complaint_about_itself_even_when_it_works_it(app, wechat, staff):
    _, code = report(wechat, "物业天天不干活，收费还涨，保安也不在岗，3号楼")
    assert _ticket_row(app, code).category == "property_service"
    staff("zhaomin", f"/assign {code} 孙师傅")
    reply = staff("wuye01", f"/close {code} 已处理，居民误会")
    assert reply.startswith("未执行 /close") and "是对物业服务的投诉，物业不能自己办结，需由居委会办结" in reply
    reply = staff("wuye01", f"/recat {code} 其他")
    assert reply.startswith("未执行 /recat") and "需由居委会改类" in reply
    assert staff("wuye01", f"/onsite {code}").startswith("已记录")          # it may go and look,
    assert staff("wuye01", f"/plan {code} 下周起保安24小时在岗").startswith("已记录")   # and say what it will do
    t = _ticket_row(app, code)
    assert (t.status, t.category) == ("planned", "property_service")
    assert staff("zhaomin", f"/close {code} 已约谈物业经理，整改保安排班").startswith("已办结")


def test_a_ticket_assigned_to_one_property_worker_is_the_whole_companys(tmp_path, db_url, clock):
    from bot.app import create_app
    from tests.conftest import make_config
    cfg = make_config(tmp_path, db_url, staff=[
        {"userid": "zhaomin", "name": "赵敏", "role": "committee"},
        {"userid": "wuye01", "name": "孙师傅", "role": "property", "party": "wuye"},
        {"userid": "wuye02", "name": "钱师傅", "role": "property", "party": "wuye"},
        {"userid": "minjing01", "name": "刘警官", "role": "party", "party": "police"}])
    app = create_app(cfg, clock=clock)
    try:
        svc = app.extensions["jiesu"]
        client = app.test_client()

        def post(path, params, body):
            r = client.post(path, query_string=params, data=body, content_type="text/xml")
            return r.status_code, r.data

        def staff(userid, content, ids=iter(range(9_500_000_000, 9_500_001_000))):
            now = int(svc.clock.now().timestamp())
            xml = message_xml(svc.config.wecom.corp_id, userid, "text", now, next(ids), Content=content,
                              AgentID=1000002)
            params, body = wecom_request(svc.staff_crypto, xml, now, 1000002)
            return open_reply(svc.staff_crypto, client.post("/wecom", query_string=params, data=body).data)["Content"]

        from tests.conftest import WeChat
        _, code = report(WeChat(post, svc), "5号楼门口垃圾堆了好几天")
        assert "没有转给" in staff("wuye02", f"/onsite {code}")
        staff("zhaomin", f"/assign {code} 孙师傅")
        assert staff("wuye02", f"/onsite {code}").startswith("已记录")      # his colleague
        assert "没有转给" in staff("minjing01", f"/note {code} 路过看了")     # not the police's
    finally:
        app.extensions["jiesu"].engine.dispose()
