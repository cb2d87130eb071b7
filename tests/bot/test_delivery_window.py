"""The 48-hour customer-service window, over real HTTP to the fake platform: inside it a resident gets
a customer-service message; outside it WeChat answers 45015 and the bot sends a template message
(the kind's template, else "default"); without templates the row fails and says what to configure."""
from __future__ import annotations

import json

import requests
from sqlalchemy import select

from bot.transports import template_data
from storage import repositories as repo
from storage.models import Outbox
from tests.conftest import LiveServer, WeChat, make_config, new_openid

CODE = "20261206-0001"
TEMPLATE = {"code": CODE, "status": "已办结", "detail": "楼道杂物已清理，消防通道已畅通", "time": "12-06 09:10"}


def calls(live, api: str, target: str | None = None) -> list[dict]:
    """The platform's record of `api` calls (to `target`) about this file's ticket CODE: the intake's
    own messages to the resident (other codes) are left out."""
    return [c for c in live.services.fake_store.all_calls() if c["api"] == api and (target is None or c["target"] == target)
            and (api not in ("mp_custom_send", "mp_template_send") or CODE in json.dumps(c["body"], ensure_ascii=False))]


def rows(live) -> list[Outbox]:
    """This file's outbox rows (their content names CODE), not what the intake queued."""
    with live.services.sessions() as s:
        return [r for r in s.scalars(select(Outbox).order_by(Outbox.id)) if CODE in str((r.payload or {}).get("content"))]


def enqueue_mp(live, clock, openid: str, kind: str, content: str, template: dict | None = None) -> None:
    payload = {"kind": kind, "content": content}
    if template is not None:
        payload["template"] = template
    with live.services.sessions() as s, s.begin():
        repo.enqueue(s, "mp_text", openid, payload, clock.now())


def writes(live, wechat: WeChat, openid: str, text: str = "3号楼楼道灯坏了") -> None:
    """The resident writes to the account (the webhook's answer does not matter here); what the
    intake queued is delivered, so that the outbox holds only this file's rows afterwards."""
    status, _ = wechat.send_xml(wechat.xml(openid, "text", Content=text))
    assert status == 200
    live.services.outbox.run_once()


def later(live, clock, **delta) -> None:
    """Time passes; whatever the intake held back until then goes out."""
    clock.advance(**delta)
    live.services.outbox.run_once()


def fault(live, **spec):
    r = requests.post(live.url + "/fake/_control/faults", json=spec, timeout=5)
    assert r.status_code == 200, r.text


def test_within_48_hours_a_customer_service_message(live, live_wechat, clock):
    openid = new_openid()
    xml = live_wechat.xml(openid, "text", Content="3号楼楼道灯坏了")
    assert live_wechat.send_xml(xml)[0] == 200
    assert live_wechat.send_xml(xml)[0] == 200          # WeChat retrying: still one action of the resident
    assert len(calls(live, "resident", openid)) == 1
    live.services.outbox.run_once()
    later(live, clock, hours=47)
    enqueue_mp(live, clock, openid, "ticket_update", f"您的工单 #{CODE} 已派单\n网格长将在40分钟内到场", TEMPLATE)
    assert live.services.outbox.run_once() == 1
    [sent] = calls(live, "mp_custom_send", openid)
    assert sent["errcode"] == 0 and sent["body"]["text"]["content"].startswith(f"您的工单 #{CODE}")
    assert calls(live, "mp_template_send") == []
    assert rows(live)[-1].status == "sent"


def test_after_48_hours_the_kinds_template_message(live, live_wechat, clock):
    openid = new_openid()
    writes(live, live_wechat, openid)
    later(live, clock, hours=49)
    enqueue_mp(live, clock, openid, "rating_request", f"工单 #{CODE} 已办结，请回复1-5为本次服务打分\n谢谢您的支持", TEMPLATE)
    assert live.services.outbox.run_once() == 1
    [refused] = calls(live, "mp_custom_send", openid)
    [tpl] = calls(live, "mp_template_send", openid)
    assert refused["errcode"] == 45015 and tpl["errcode"] == 0 and refused["id"] < tpl["id"]
    body = tpl["body"]
    assert body["template_id"] == "local-tpl-rating"                   # wechat.templates.rating_request
    assert body["data"]["keyword1"]["value"] == CODE
    assert body["data"]["keyword2"]["value"] == "已办结" and body["data"]["keyword3"]["value"] == "12-06 09:10"
    assert body["data"]["first"]["value"] == f"工单 #{CODE} 已办结，请回复1-5为本次服务打分"
    assert body["data"]["remark"]["value"] == TEMPLATE["detail"]
    [row] = rows(live)
    assert row.status == "sent" and row.attempts == 1 and row.last_error is None


def test_a_kind_without_its_own_template_uses_default_and_fits_the_limits(live, live_wechat, clock):
    openid = new_openid()
    writes(live, live_wechat, openid)
    later(live, clock, hours=49)
    long_first = "您反映的问题（20号楼门口垃圾堆了三天，气味很大，已有多位居民反映）已经安排物业清运"
    enqueue_mp(live, clock, openid, "plan", f"工单 #{CODE}：{long_first}\n预计明天上午完成\n如有疑问请回复")
    assert live.services.outbox.run_once() == 1
    [tpl] = calls(live, "mp_template_send", openid)
    data = tpl["body"]["data"]
    assert tpl["body"]["template_id"] == "local-tpl-ticket-progress"   # wechat.templates.default
    assert data["keyword1"]["value"] == CODE                           # the code read from the text
    assert len(data["keyword2"]["value"]) == 20 and data["keyword2"]["value"].endswith("…")
    assert data["first"]["value"].startswith(f"工单 #{CODE}") and data["remark"]["value"] == "预计明天上午完成 如有疑问请回复"


def test_template_data_is_cut_to_what_wechat_shows():
    data = template_data({"kind": "x", "content": "a" * 300 + "\nb", "template": {"code": "1" * 30, "status": "已\n办结"}})
    assert len(data["first"]["value"]) == 200 and data["first"]["value"].endswith("…")
    assert data["keyword1"]["value"] == "1" * 19 + "…" and data["keyword2"]["value"] == "已 办结"
    assert "keyword3" not in data and data["remark"]["value"] == "b"
    assert template_data({"content": "没有编号的通知"}) == {"first": {"value": "没有编号的通知"}, "keyword1": {"value": "没有编号的通知"}}


def test_no_templates_configured_the_row_fails_saying_what_to_set(tmp_path, db_url, clock):
    server = LiveServer(make_config(tmp_path, db_url, **{"wechat.templates": {}}), clock)
    try:
        with server.services.sessions() as s, s.begin():
            repo.enqueue(s, "mp_text", new_openid(), {"kind": "resolved", "content": f"工单 #{CODE} 已办结"}, clock.now())
        committee = server.services.directory.with_role("committee")
        assert server.services.outbox.run_once() == len(committee)     # the committee is told, nobody else
        [row] = rows(server)
        with server.services.sessions() as s:
            told = list(s.scalars(select(Outbox).where(Outbox.channel == "wecom_text").order_by(Outbox.id)))
        assert [t.target for t in told] == committee and all("wechat.templates" in t.payload["content"] for t in told)
        assert row.status == "failed" and row.attempts == 1
        assert "45015" in row.last_error and "wechat.templates.resolved" in row.last_error
        assert "wechat.templates.default" in row.last_error
        assert [c["errcode"] for c in calls(server, "mp_custom_send")] == [45015]
        assert calls(server, "mp_template_send") == []
    finally:
        server.stop()


def test_a_menu_click_opens_the_window_a_reported_location_does_not(live, live_wechat, clock):
    clicker, mover = new_openid(), new_openid()
    writes(live, live_wechat, clicker)
    writes(live, live_wechat, mover)
    later(live, clock, hours=60)
    assert live_wechat.event(clicker, "CLICK", EventKey="MY_TICKETS")[0] == 200
    assert live_wechat.event(mover, "LOCATION", Latitude=30.27, Longitude=120.15, Precision=50)[0] == 200
    later(live, clock, hours=1)
    enqueue_mp(live, clock, clicker, "visit", f"工单 #{CODE} 回访：问题是否已解决？")
    enqueue_mp(live, clock, mover, "visit", f"工单 #{CODE} 回访：问题是否已解决？")
    assert live.services.outbox.run_once() == 2
    assert [c["errcode"] for c in calls(live, "mp_custom_send", clicker)] == [0]
    assert calls(live, "mp_template_send", clicker) == []
    assert [c["errcode"] for c in calls(live, "mp_custom_send", mover)] == [45015]
    assert len(calls(live, "mp_template_send", mover)) == 1


def test_a_resident_who_unsubscribed_gets_nothing_and_the_row_fails(live, live_wechat, clock):
    openid = new_openid()
    assert live_wechat.event(openid, "subscribe")[0] == 200
    clock.advance(minutes=5)
    assert live_wechat.event(openid, "unsubscribe")[0] == 200
    enqueue_mp(live, clock, openid, "resolved", f"工单 #{CODE} 已办结", TEMPLATE)
    assert live.services.outbox.run_once() == 0
    [row] = rows(live)
    assert row.status == "failed" and "43004" in row.last_error
    assert [c["errcode"] for c in calls(live, "mp_template_send", openid)] == [43004]


def test_a_200_answer_that_is_not_json_is_a_failure(live, live_wechat, clock):
    openid = new_openid()
    writes(live, live_wechat, openid)
    fault(live, api="mp_custom_send", count=1, http_status=200)
    fault(live, api="wecom_send", count=1, http_status=200)
    enqueue_mp(live, clock, openid, "ticket_update", f"您的工单 #{CODE} 已派单")
    with live.services.sessions() as s, s.begin():
        repo.enqueue(s, "wecom_text", "wangfang", {"kind": "staff_notice", "content": f"新工单 #{CODE}"}, clock.now())
    worker = live.services.outbox
    worker.run_once()
    mine = rows(live)
    assert [(r.channel, r.status, r.attempts) for r in mine] == [("mp_text", "pending", 1), ("wecom_text", "pending", 1)]
    assert all("not JSON" in r.last_error for r in mine)
    clock.advance(seconds=worker.cfg.backoff_seconds)
    worker.run_once()
    assert [r.status for r in rows(live)] == ["sent", "sent"]
    assert len(calls(live, "mp_custom_send", openid)) == 1
    assert [c for c in calls(live, "wecom_send", "wangfang") if CODE in c["body"]["text"]["content"]]


def test_a_template_send_error_is_retried(live, clock):
    fault(live, api="mp_template_send", count=1, errcode=-1)
    openid = new_openid()              # never wrote: outside any window
    enqueue_mp(live, clock, openid, "resolved", f"工单 #{CODE} 已办结", TEMPLATE)
    worker = live.services.outbox
    assert worker.run_once() == 0
    [row] = rows(live)
    assert row.status == "pending" and "errcode -1" in row.last_error
    clock.advance(seconds=worker.cfg.backoff_seconds)
    assert worker.run_once() == 1
    assert [c["errcode"] for c in calls(live, "mp_template_send", openid)] == [0]


def test_fake_template_endpoint_checks_like_wechat(live):
    svc = live.services
    url = live.url + "/fake/mp/cgi-bin/message/template/send"
    token = svc.transports.mp.access_token
    good = {"touser": "o-abc", "template_id": "local-tpl-ticket-progress",
            "data": {"first": {"value": "您好"}, "keyword1": {"value": CODE}}}

    def post(body, params=None):
        return requests.post(url, params={"access_token": token} if params is None else params, json=body, timeout=5).json()

    assert post(good, params={})["errcode"] == 41001
    assert post({**good, "template_id": "tpl-of-another-account"})["errcode"] == 40037
    assert post({**good, "touser": ""})["errcode"] == 40003
    assert post({**good, "data": {"keyword1": "not an object"}})["errcode"] == 47001
    assert post({**good, "data": {"keyword1": {"value": "二" * 21}}})["errcode"] == 47001
    assert post({**good, "data": {"keyword1": {"value": "两行\n内容"}}})["errcode"] == 47001
    assert post({**good, "data": {"remark": {"value": "长" * 201}}})["errcode"] == 47001
    assert post({**good, "url": "javascript:alert(1)"})["errcode"] == 40039
    assert calls(live, "mp_template_send") == []
    ok = post(good)
    assert ok["errcode"] == 0 and ok["msgid"]
    assert [c["target"] for c in calls(live, "mp_template_send")] == ["o-abc"]
    r = requests.post(live.url + "/fake/_control/faults", json={"api": "nope"}, timeout=5)
    assert r.status_code == 400 and "mp_template_send" in r.json()["error"]
