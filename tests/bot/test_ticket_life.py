"""The defects of issue "The ticket's whole life", one test each, end to end through the webhooks."""
from __future__ import annotations

import re

from sqlalchemy import func, select

from storage.models import Outbox, Ticket, TicketRating
from tests.conftest import make_config, new_openid, report

CODE = re.compile(r"#(\d{8}-\d{4})")


def count_tickets(app) -> int:
    with app.extensions["jiesu"].sessions() as s:
        return s.scalar(select(func.count()).select_from(Ticket))


def ticket(app, code) -> Ticket:
    with app.extensions["jiesu"].sessions() as s:
        return s.scalar(select(Ticket).where(Ticket.code == code))


def outbox(app, kind=None, channel=None) -> list[Outbox]:
    with app.extensions["jiesu"].sessions() as s:
        return [o for o in s.scalars(select(Outbox).order_by(Outbox.id))
                if (kind is None or o.payload.get("kind") == kind) and (channel is None or o.channel == channel)]


def test_a_plus_one_follower_rates_and_reopens_the_ticket_they_joined(app, wechat, staff):
    reporter, code = report(wechat, "12号楼门口垃圾堆成山了，好几天没人清")
    follower = new_openid()
    assert code in wechat.text(follower, "12号楼门口垃圾堆成山了好几天没人清理")     # joins as +1
    staff("wangfang", f"/close {code} 已清运")
    before = count_tickets(app)
    assert "4 分" in wechat.text(follower, "4") and count_tickets(app) == before      # no junk ticket "内容：4"
    with app.extensions["jiesu"].sessions() as s:
        assert s.scalar(select(TicketRating.score).where(TicketRating.score.is_not(None))) == 4
    assert "重新打开" in wechat.text(follower, "没解决")
    t = ticket(app, code)
    assert t.status == "open" and t.round == 2 and count_tickets(app) == before


def test_several_tickets_await_a_rating_the_bot_asks_which(app, wechat, staff):
    openid = new_openid()
    a = CODE.search(wechat.text(openid, "3号楼楼道灯坏了")).group(1)
    b = CODE.search(wechat.text(openid, "8号楼门口有辆僵尸车停了半年")).group(1)
    staff("wangfang", f"/close {a} 已换灯")
    staff("wangfang", f"/close {b} 已联系拖走")
    ask = wechat.text(openid, "5")
    assert a in ask and b in ask and "评价" in ask
    assert "5 分" in wechat.text(openid, f"评价 {int(a[-4:])} 5")
    assert "3 分" in wechat.text(openid, "3")                                      # only b is left
    assert ticket(app, a).rating == 5 and ticket(app, b).rating == 3


def test_a_low_rating_schedules_the_return_visit_at_once(app, wechat, staff):
    openid, code = report(wechat, "6号楼楼道灯坏了")
    staff("wangfang", f"/close {code} 已修")
    assert "回访" in wechat.text(openid, "1")
    [low] = outbox(app, "low_rating")
    assert code in low.payload["body"]["markdown"]["content"] and "/visit" in low.payload["body"]["markdown"]["content"]


def test_messages_that_are_not_reports_open_nothing(app, wechat):
    openid = new_openid()
    for text in ("嗯嗯", "+1", "这个事情你们到底管不管", "/list", "好的谢谢", "哈哈"):
        reply = wechat.text(openid, text)
        assert not CODE.search(reply), (text, reply)
    assert count_tickets(app) == 0 and not outbox(app, channel="robot")


def test_urge_and_cancel_own_ticket(app, wechat):
    openid, code = report(wechat, "2号楼楼下路灯不亮")
    assert code in wechat.text(openid, "怎么还没人来")
    assert "催办过" in wechat.text(openid, "催一下")                                  # once an hour
    assert len(outbox(app, "urged")) == 1
    assert "撤销" in wechat.text(openid, "取消")
    assert ticket(app, code).status == "cancelled"


def test_menu_answered_with_the_category_it_had_pushes_no_correction(app, wechat, clock):
    """The classifier is unsure but its guess is option 1; the resident picks it after the held push
    went out: the category is confirmed and the group gets no "类别更正 X → X"."""
    import dataclasses

    import nlp
    svc = app.extensions["jiesu"]
    svc.intake.classify = lambda text: dataclasses.replace(nlp.classify(text), low_confidence=True,
                                                           menu=["garbage", "greenery", "other"])
    openid = new_openid()
    reply = wechat.text(openid, "3号楼门口垃圾好几天没人清")
    code = CODE.search(reply).group(1)
    assert "回复数字" in reply and ticket(app, code).category == "garbage"
    clock.advance(minutes=11)                                    # the held push is due and counts as sent
    with svc.sessions() as s, s.begin():
        s.execute(__import__("sqlalchemy").update(Outbox).where(Outbox.ticket_id == ticket(app, code).id)
                  .values(status="sent"))
    assert "已受理" in wechat.text(openid, "1")
    assert ticket(app, code).category_confirmed
    assert not [o for o in outbox(app, channel="robot") if "类别更正" in str(o.payload)]


def test_two_reports_of_one_fire_make_one_ticket_and_one_page(app, wechat):
    first = wechat.text(new_openid(), "着火了 5号楼3楼冒黑烟")
    second = wechat.text(new_openid(), "5号楼着火了，好大的烟")
    code = CODE.search(first).group(1)
    assert code in second and "119" in second
    assert count_tickets(app) == 1 and len(outbox(app, "emergency_page")) == 1


def test_show_is_the_full_record_with_names(app, wechat, staff):
    openid, code = report(wechat, "7号楼门口垃圾没人清")
    wechat.text(new_openid(), "7号楼门口垃圾没人清理")                             # +1
    staff("zhaomin", f"/assign {code} 孙师傅")
    staff("wuye01", f"/onsite {code}")
    staff("zhaomin", f"/note {code} 已电话联系居民")
    shown = staff("zhaomin", f"/show {code}")
    assert "处理人：孙师傅" in shown and "wuye01" not in shown
    assert "另有 1 位居民" in shown and "已电话联系居民" in shown
    assert "赵敏" in shown and "到场" in shown and "登记" in shown and "时限（54321）" in shown


def test_staff_reopen_tells_the_residents_and_the_group(app, wechat, staff):
    openid, code = report(wechat, "10号楼楼道灯坏了")
    staff("wangfang", f"/close {code} 已换灯泡")
    assert "第2轮" in staff("zhaomin", f"/reopen {code} 复查仍不亮")
    told = [o for o in outbox(app, "reopened") if o.target == openid]
    assert told and "复查仍不亮" in told[0].payload["content"]
    assert [o for o in outbox(app, "reopened") if o.channel == "robot"]


def test_no_doubled_words_in_replies(app, wechat, staff):
    openid, code = report(wechat, "11号楼楼道灯坏了")
    staff("wangfang", f"/close {code} 已修好")
    refused = staff("wangfang", f"/close {code} 再办一次")
    assert "已经已" not in refused and "已已" not in refused and "已办结" in refused


def test_staff_file_a_hotline_ticket_with_its_source(app, staff):
    reply = staff("zhaomin", "/new 热线 16 楼道里堆满了纸箱")
    code = CODE.search(reply).group(1)
    t = ticket(app, code)
    assert t.source == "hotline" and t.grid.name == "第二网格" and t.resident_id is None
    assert "来源：热线" in staff("zhaomin", f"/show {code}")


def test_refer_to_a_party_and_its_reply_reaches_the_resident(app, wechat, staff):
    openid, code = report(wechat, "楼上邻居装修把我家墙弄裂了，不肯赔，4号楼")
    assert "法律顾问" in staff("wangfang", f"/refer {code} 法律顾问 涉及赔偿，请给出意见")
    [to_lawyer] = [o for o in outbox(app, "referred") if o.target == "lvshi01"]
    assert code in to_lawyer.payload["content"] and "/reply" in to_lawyer.payload["content"]
    assert ticket(app, code).status == "referred"
    assert "答复" in staff("lvshi01", f"/reply {code} 建议先由居委会调解，调解不成可走诉讼")
    told = [o.payload["content"] for o in outbox(app, "party_reply") if o.target == openid]
    assert told and "调解" in told[0]
    refused = staff("minjing01", f"/onsite {code}")
    assert "没有转给你所在的单位" in refused


def test_property_cannot_close_a_complaint_about_itself(app, wechat, staff):
    _, code = report(wechat, "物业天天不干活，收费还涨，保安也不在岗，3号楼")
    assert ticket(app, code).category == "property_service"
    refused = staff("wuye01", f"/close {code} 已处理，居民误会")
    assert refused.startswith("未执行") and "居委会" in refused


def test_category_party_gets_the_ticket_at_once(tmp_path, db_url, clock):
    from bot.app import create_app
    from tests.conftest import WeChat
    cfg = make_config(tmp_path, db_url, **{"promises.category_party": {"garbage": "wuye"}})
    app = create_app(cfg, clock=clock)
    client = app.test_client()

    def post(path, params, body):
        r = client.post(path, query_string=params, data=body, content_type="text/xml")
        return r.status_code, r.data
    wechat = WeChat(post, app.extensions["jiesu"])
    reply = wechat.text(new_openid(), "5号楼门口垃圾堆了好几天")
    assert "幸福物业" in reply
    [told] = outbox(app, "referred")
    assert told.target == "wuye01" and "一键派单" in told.payload["content"]
    app.extensions["jiesu"].engine.dispose()
