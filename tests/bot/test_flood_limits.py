"""Flood limits per resident (config limits.*), end to end through the webhook: a message over a
limit is kept and answered, opens no ticket and pushes nothing to the group; a message that reports
a danger to life is never limited; the limits run on the fake clock (hour, calendar day, minute)."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from bot.app import create_app
from storage.models import Attachment, InboundMessage, Outbox, Ticket
from tests.conftest import WeChat, make_config, new_openid

CODE = re.compile(r"#(\d{8}-\d{4})")
REPORTS = ["3号楼楼道灯坏了好几天", "5号楼门口垃圾堆了好几天没人清", "7号楼电梯按钮坏了按不亮", "9号楼楼上装修天天电钻吵得不行",
           "6号楼绿化带里的树枝断了挂着", "8号楼下水道堵了污水漫出来", "11号楼单元门门禁坏了关不上", "10号楼楼下的健身器材坏了"]
FIRE = "5号楼3楼着火了，冒黑烟"


@pytest.fixture
def limited_app(tmp_path, db_url, clock):
    """An app whose limits are set per test (limits.* overrides)."""
    made = []

    def make(**limits):
        cfg = make_config(tmp_path, db_url, **{f"limits.{k}": v for k, v in limits.items()})
        app = create_app(cfg, clock=clock)
        made.append(app)
        client = app.test_client()

        def post(path, params, body):
            r = client.post(path, query_string=params, data=body, content_type="text/xml")
            return r.status_code, r.data
        return app, WeChat(post, app.extensions["jiesu"])
    yield make
    for app in made:
        app.extensions["jiesu"].engine.dispose()


def count(app, model, *where) -> int:
    with app.extensions["jiesu"].sessions() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def robot_pushes(app) -> int:
    return count(app, Outbox, Outbox.channel == "robot")


def last_inbound(app, openid) -> InboundMessage:
    with app.extensions["jiesu"].sessions() as s:
        return s.scalars(select(InboundMessage).where(InboundMessage.openid == openid)
                         .order_by(InboundMessage.id.desc()).limit(1)).one()


def test_the_seventh_report_in_an_hour_is_kept_and_answered_but_opens_nothing(limited_app, clock):
    app, wechat = limited_app()                     # as shipped: 6 an hour, 20 a day, 20 a minute
    openid = new_openid()
    for text in REPORTS[:6]:
        assert CODE.search(wechat.text(openid, text)), text
        clock.advance(minutes=9)                    # the sixth at 45 minutes, the seventh at 54
    pushes = robot_pushes(app)

    reply = wechat.text(openid, REPORTS[6])
    assert not CODE.search(reply)
    assert "1小时内已反映了 6 个问题" in reply and "暂不另开新工单" in reply and "人工" in reply
    assert "0571-8888 6666" in reply and "119" in reply          # what to do if it is urgent
    assert count(app, Ticket) == 6 and robot_pushes(app) == pushes   # no ticket, no group push
    kept = last_inbound(app, openid)                                 # the message itself is kept
    assert kept.status == "handled" and kept.reply == reply and kept.ticket_id is None
    assert REPORTS[6] in kept.raw

    # an emergency is never limited: its ticket opens and the group is paged with @all
    reply = wechat.text(openid, FIRE)
    assert reply.startswith("【紧急】") and CODE.search(reply)
    with app.extensions["jiesu"].sessions() as s:
        fire = s.scalar(select(Ticket).where(Ticket.code == CODE.search(reply).group(1)))
        pages = [o for o in s.scalars(select(Outbox).where(Outbox.ticket_id == fire.id)) if "@all" in str(o.payload)]
    assert fire.emergency == "fire" and len(pages) == 1

    # an hour after the earlier reports, reporting works again; so it does the next day
    clock.advance(minutes=50)
    assert CODE.search(wechat.text(openid, REPORTS[6]))
    clock.advance(days=1)
    assert CODE.search(wechat.text(openid, REPORTS[7]))
    assert count(app, Ticket) == 9


def test_the_day_limit_counts_the_communitys_calendar_day(limited_app, clock):
    app, wechat = limited_app(resident_tickets_per_day=3)
    openid = new_openid()                           # the fake clock starts at 09:30 in Shanghai
    for text in REPORTS[:3]:
        assert CODE.search(wechat.text(openid, text))
        clock.advance(hours=2)
    clock.advance(hours=8, minutes=15)              # 23:45 local: still today
    reply = wechat.text(openid, REPORTS[3])
    assert "今天已反映了 3 个问题" in reply and not CODE.search(reply)
    clock.advance(minutes=20)                       # 00:05: a new day, not 24 hours later
    assert CODE.search(wechat.text(openid, REPORTS[3]))
    assert count(app, Ticket) == 4


def test_too_many_messages_a_minute_do_nothing_but_an_emergency_still_pages(limited_app, clock):
    app, wechat = limited_app(resident_messages_per_minute=3)
    openid = new_openid()
    assert CODE.search(wechat.text(openid, REPORTS[0]))
    wechat.text(openid, "进度")
    wechat.text(openid, "进度")                     # three messages this minute: all answered
    pushes, tickets = robot_pushes(app), count(app, Ticket)

    reply = wechat.text(openid, REPORTS[1])        # the fourth
    assert "太快" in reply and "已收到并记录" in reply and not CODE.search(reply)
    status, r = wechat.image(openid, b"\x89PNG\r\n\x1a\n" + b"0" * 64)   # a photo would be pushed to the group
    assert status == 200 and "太快" in r["Content"]
    assert count(app, Ticket) == tickets and robot_pushes(app) == pushes
    assert count(app, Attachment) == 0
    assert last_inbound(app, openid).status == "handled"

    reply = wechat.text(openid, FIRE)              # the sixth message this minute, and a fire
    assert reply.startswith("【紧急】") and CODE.search(reply)
    assert robot_pushes(app) > pushes

    clock.advance(minutes=1, seconds=1)            # a minute after the flood: reporting works again
    assert CODE.search(wechat.text(openid, REPORTS[1]))


def test_other_residents_are_not_limited_by_one_residents_flood(limited_app):
    app, wechat = limited_app(resident_tickets_per_hour=1)
    flooder, neighbour = new_openid(), new_openid()
    assert CODE.search(wechat.text(flooder, REPORTS[0]))
    assert not CODE.search(wechat.text(flooder, REPORTS[1]))
    assert CODE.search(wechat.text(neighbour, REPORTS[2]))
