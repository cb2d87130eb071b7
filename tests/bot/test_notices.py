"""Notices, meetings and sign-ups (issue 13 part 2) through the real webhooks and, for delivery, real
HTTP to the fake platform: a notice reaches residents in the 48-hour window as a customer-service
message and the others as a template message; 报名 fills the places and then the waiting list;
a cancellation promotes the first in line; the day-before reminder goes once to those with a
place; attendance earns points. Concurrent sign-ups never give one place twice."""
from __future__ import annotations

import re

from sqlalchemy import select

from handlers import notices
from storage import points as ledger
from storage.db import transaction
from storage.models import NoticeSignup, Outbox
from tests.bot.test_staff_races import resident_sender, staff_sender
from tests.conftest import at_once, new_openid

NOTICE_NO = re.compile(r"已发通知 (\d+)")


def deliver(live) -> None:
    while live.services.outbox.run_once():
        pass


def remind(svc) -> int:
    with transaction(svc.sessions) as s:
        return notices.remind_due(s, svc.clock.now(), svc.config.community.timezone)


def test_notice_window_template_signups_waitlist_reminder_attendance(live, live_wechat, clock):
    svc = live.services
    staff = staff_sender(live.app)
    away = new_openid()
    live_wechat.text(away, "3号楼楼道灯坏了")                 # then silent for two days: outside the window
    clock.advance(hours=49)
    b, c, d = (new_openid() for _ in range(3))
    for who in (b, c, d):
        live_wechat.text(who, "3号楼门口有垃圾")
    deliver(live)
    before = max((x["id"] for x in svc.fake_store.all_calls()), default=0)

    sent = staff("zhaomin", "/notice 居民代表会议 讨论3号楼加装电梯方案 对象:3号楼 时间:3天 报名 名额:2")
    assert "共 4 人" in sent and "2 个名额" in sent, sent
    notice_id = int(NOTICE_NO.search(sent).group(1))
    deliver(live)
    calls = svc.fake_store.all_calls(before)
    custom = {x["target"] for x in calls if x["api"] == "mp_custom_send" and x["errcode"] == 0
              and "居民代表会议" in str(x["body"])}
    template = [x for x in calls if x["api"] == "mp_template_send" and x["target"] == away]
    assert custom == {b, c, d}
    assert len(template) == 1 and template[0]["body"]["data"]["remark"]["value"] == "居民代表会议"

    assert live_wechat.text(b, "报名").startswith("报名成功")
    assert live_wechat.text(c, "我要报名").startswith("报名成功")
    assert "候补第 1 位" in live_wechat.text(d, "报名")
    assert "您已报名" in live_wechat.text(b, "报名")                   # nothing done twice
    assert live_wechat.text(c, "取消报名").startswith("已取消")
    deliver(live)
    promoted = [x for x in svc.fake_store.all_calls(before) if x["target"] == d and "候补转为正式" in str(x["body"])]
    assert len(promoted) == 1

    clock.advance(days=2, hours=1)                                       # the day before
    assert remind(svc) == 2 and remind(svc) == 0
    with svc.sessions() as s:
        reminded = {o.target for o in s.scalars(select(Outbox)) if "记得参加" in str(o.payload.get("content"))}
    assert reminded == {b, d}

    listing = staff("zhaomin", f"/signups {notice_id}")
    assert "正式 2/2 人，候补 0 人" in listing
    numbers = re.findall(r"^(\d+)\. ", listing, re.M)
    came = staff("zhaomin", f"/attend {notice_id} {numbers[0]} {numbers[0]}")
    assert "已记到场，记 5 分" in came and "已记过到场" not in came       # the same number twice: once
    assert "已记过到场" in staff("zhaomin", f"/attend {notice_id} {numbers[0]}")
    with svc.sessions() as s:
        first = s.scalars(select(NoticeSignup).where(NoticeSignup.id == int(numbers[0]))).one()
        assert first.attended_by == "staff:zhaomin" and ledger.balance(s, first.resident_id) == 5


def test_a_notice_without_signup_and_refusals(app, wechat, staff):
    someone = new_openid()
    wechat.text(someone, "15号楼电梯坏了")
    assert "已发通知" in staff("liqiang", "/notice 停水通知 明天9点到12点停水 对象:第二网格")
    assert "目前没有可以报名的活动" in wechat.text(someone, "报名")
    assert "网格长只能问本网格" in staff("liqiang", "/notice 停水通知 明天停水 对象:3号楼")
    assert "写上标题和内容" in staff("zhaomin", "/notice 停水通知")
    assert "已经过去了" in staff("zhaomin", "/notice 会议 开会 时间:2020-1-1 报名")


def test_the_last_places_are_never_given_twice(app, wechat, staff):
    people = [new_openid() for _ in range(8)]
    for p in people:
        wechat.text(p, "20号楼垃圾桶满了")
    staff("zhaomin", "/notice 志愿者招募 周六清理楼道 对象:20号楼 时间:3天 名额:3")
    send = resident_sender(app)
    replies = at_once(lambda p: send(p, "报名"), people)
    assert sum(r.startswith("报名成功") for r in replies) == 3
    waiting = sorted(int(re.search(r"候补第 (\d+) 位", r).group(1)) for r in replies if "候补" in r)
    assert waiting == [1, 2, 3, 4, 5]
    with app.extensions["jiesu"].sessions() as s:
        assert [x.status for x in s.scalars(select(NoticeSignup))].count("in") == 3
