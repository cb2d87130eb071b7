"""Issue 16, staff readability, end to end through the signed webhooks: "人工" asks for a way to
call back and tells the grid leader privately; staff name categories the way they speak; an
unanswered category menu says so; /list's empty answers name the filter."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

import nlp
from handlers.commands.lookup import ALIASES, WORDS, candidates
from storage.models import Outbox
from tests.bot.test_menu_duplicates import vague_message
from tests.bot.test_ticket_life import count_tickets, ticket
from tests.conftest import new_openid, report

PHONE = "13812345678"
CODE = re.compile(r"#(\d{8}-\d{4})")


def rows(app, channel: str | None = None, kind: str | None = None) -> list[Outbox]:
    with app.extensions["jiesu"].sessions() as s:
        return [o for o in s.scalars(select(Outbox).order_by(Outbox.id))
                if (channel is None or o.channel == channel) and (kind is None or o.payload.get("kind") == kind)]


def callbacks(app) -> list[Outbox]:
    return rows(app, "wecom_text", "callback_request")




def no_full_number_in_groups(app, number: str = PHONE) -> None:
    for o in rows(app, "robot"):
        assert number not in str(o.payload), o.payload


# -- 1. "人工": a number or a time, to the grid leader privately ---------------------------------

def test_asking_for_a_person_asks_how_to_call_back_and_tells_the_leader_privately(app, wechat):
    openid, code = report(wechat, "3号楼楼道灯坏了好几天了")
    tickets = count_tickets(app)
    question = wechat.text(openid, "人工")
    assert "电话" in question and "时间" in question and "？" in question and "王芳" in question
    assert callbacks(app) == []                              # nothing yet: no way to call back

    told = wechat.text(openid, "我的手机是138 1234 5678，下午3点以后都在家")
    assert "已转告网格长 王芳" in told and PHONE in told and "下午3点以后" in told
    [notice] = callbacks(app)
    text = notice.payload["content"]
    assert notice.target == "wangfang"                       # the leader of 3号楼's grid, in the staff app
    assert f"电话：{PHONE}" in text and "方便时间：下午3点以后" in text
    assert "3号楼的居民" in text and "尾号" not in text and openid not in text and openid[-4:] not in text
    name = nlp.categories.name_of(ticket(app, code).category)
    assert f"#{code} {name}（处理中）" in text               # the last tickets: code, category, status
    assert count_tickets(app) == tickets                     # the answer opened nothing
    no_full_number_in_groups(app)
    # the question is answered: a later number is an ordinary message again, not a second notice
    assert "已转告" not in wechat.text(openid, PHONE) and len(callbacks(app)) == 1


def test_the_leader_hears_of_the_request_at_once_even_if_the_resident_never_answers(app, wechat):
    """A request for a person is never lost: the leader is told at once (once an hour however often
    the resident asks), then again with the number when it comes."""
    openid, code = report(wechat, "3号楼楼道灯坏了好几天了")
    wechat.text(openid, "人工")
    wechat.text(openid, "转人工")
    [asked] = rows(app, "wecom_text", "human_request")
    text = asked.payload["content"]
    assert asked.target == "wangfang" and "3号楼的居民" in text and f"#{code}" in text
    assert "未留" in text and openid not in text and openid[-4:] not in text
    assert callbacks(app) == []                              # the details, when they come, are a second notice


def test_a_time_alone_is_passed_on_and_the_number_asked_for(app, wechat):
    openid = new_openid()                                    # never reported: no building, no tickets
    wechat.text(openid, "人工")
    told = wechat.text(openid, "明天上午")
    assert "明天上午" in told and "电话号码" in told
    [first] = callbacks(app)
    assert "未留" in first.payload["content"] and "一位居民（楼栋未知）" in first.payload["content"]
    assert "最近工单：无" in first.payload["content"] and first.target == "wangfang"     # the default grid

    told = wechat.text(openid, "我住18号楼，电话13912345678")
    assert "13912345678" in told and "明天上午" in told
    second = callbacks(app)[-1]
    assert len(callbacks(app)) == 2 and second.target == "liqiang"       # 18号楼: 第二网格's leader
    text = second.payload["content"]
    assert "电话：13912345678" in text and "方便时间：明天上午" in text and "18号楼的居民" in text
    assert count_tickets(app) == 0
    no_full_number_in_groups(app, "13912345678")


def test_something_else_instead_is_handled_as_usual(app, wechat):
    openid = new_openid()
    wechat.text(openid, "人工")
    reply = wechat.text(openid, "5号楼门口垃圾堆了好几天没人清")           # a complaint, no number: a ticket
    assert reply.startswith("已受理") and count_tickets(app) == 1
    wechat.text(openid, "人工")
    reply = wechat.text(openid, "6号楼门口晚上8点后垃圾桶满了没人清")      # a complaint that names a time
    assert reply.startswith("已受理") and "已转告" not in reply and count_tickets(app) == 2
    wechat.text(openid, "人工")
    assert "您最近反映的问题" in wechat.text(openid, "进度")
    assert callbacks(app) == []
    assert "已转告" not in wechat.text(openid, PHONE) and callbacks(app) == []   # the question was closed


def test_a_complaint_with_a_number_is_filed_and_passed_on(app, wechat):
    openid = new_openid()
    wechat.text(openid, "人工")
    reply = wechat.text(openid, f"7号楼电梯坏了好几天了 {PHONE}")
    code = CODE.search(reply).group(1)
    assert reply.startswith("已受理") and "已转告网格长 王芳" in reply
    [notice] = callbacks(app)
    assert PHONE in notice.payload["content"] and code in notice.payload["content"]   # the new ticket is listed
    assert "7号楼的居民" in notice.payload["content"]
    no_full_number_in_groups(app)
    assert any(code in str(o.payload) for o in rows(app, "robot"))                    # pushed, number masked


def test_an_emergency_in_the_answer_is_still_an_emergency(app, wechat):
    openid = new_openid()
    wechat.text(openid, "人工")
    reply = wechat.text(openid, f"着火了 5号楼3楼冒黑烟 {PHONE}")
    assert reply.startswith("【紧急】") and "119" in reply.split("\n")[0] and CODE.search(reply)
    assert any("@all" in str(o.payload) for o in rows(app, "robot"))
    assert len(callbacks(app)) == 1
    no_full_number_in_groups(app)


def test_the_question_expires(app, wechat, clock):
    openid = new_openid()
    wechat.text(openid, "人工")
    clock.advance(minutes=31)
    assert "已转告" not in wechat.text(openid, PHONE)
    assert callbacks(app) == []


# -- 2. naming a category -------------------------------------------------------------------------

def test_recat_takes_codes_names_prefixes_aliases_and_near_spellings(app, wechat, staff):
    _, code = report(wechat, "9号楼楼上天天半夜装修电钻声吵得睡不着")
    seq = str(int(code[-4:]))
    start = ticket(app, code).category
    first = ("garbage", "垃圾") if start != "garbage" else ("parking", "停车")
    assert staff("zhaomin", f"/recat {seq} {first[1]}").startswith("已把")          # the "/recat 2 垃圾"
    assert ticket(app, code).category == first[0]
    for word, want in (("噪声扰民", "noise"), ("漏水", "repair"), ("其它", "other"), ("garbge", "garbage"),
                       ("宠物", "pets"), ("停车和车辆", "parking"), ("ELEVATOR", "elevator")):
        reply = staff("zhaomin", f"/recat {seq} {word}")
        assert reply.startswith("已把") and nlp.categories.name_of(want) in reply, (word, reply)
        assert ticket(app, code).category == want
    assert "已经是" in staff("zhaomin", f"/recat {seq} 电梯")


def test_an_ambiguous_category_is_refused_with_the_candidates(app, wechat, staff):
    _, code = report(wechat, "9号楼楼上天天半夜装修电钻声吵得睡不着")
    before = ticket(app, code).category
    reply = staff("zhaomin", f"/recat {code} 电")
    assert reply.startswith("未执行 /recat") and "可能是" in reply
    for name in ("飞线充电", "电梯", "水电气暖"):
        assert name in reply
    reply = staff("zhaomin", f"/recat {code} p")
    assert all(c in reply for c in ("parking", "property_service", "pets", "public_service"))
    reply = staff("zhaomin", f"/recat {code} 飞碟")
    assert "没有“飞碟”这个类别" in reply and "可选" in reply
    assert ticket(app, code).category == before


def test_every_category_word_names_one_category():
    for code, words in ALIASES.items():
        assert code in nlp.categories.all_categories()
        for w in words:
            assert candidates(w) == [code], w
    for c in nlp.categories.all_categories().values():
        assert candidates(c.code) == candidates(c.name) == [c.code]
        assert candidates(c.name[:-1] + "x" if len(c.name) > 3 else c.name) == [c.code]
    assert len(WORDS) > 2 * len(nlp.categories.all_categories())


# -- 3. a menu nobody answered --------------------------------------------------------------------

def test_an_unanswered_menu_says_the_resident_never_chose(app, wechat, staff, clock):
    reply = wechat.text(new_openid(), vague_message())
    code = CODE.search(reply).group(1)
    name = nlp.categories.name_of(ticket(app, code).category)
    [held] = [o for o in rows(app, "robot") if code in str(o.payload)]
    assert held.status == "pending" and held.next_attempt_at > clock.now()
    content = held.payload["body"]["markdown"]["content"]
    assert f"居民未选择类别（按{name}处理）" in content and f"/recat {code}" in content
    assert f"居民未选择类别（按{name}处理）" in staff("wangfang", f"/show {code}")
    clock.advance(minutes=10)                                    # sent as it is: nobody chose
    assert [o.next_attempt_at <= clock.now() for o in rows(app, "robot") if code in str(o.payload)] == [True]

    # a resident who does choose: neither the push nor /show says so
    openid = new_openid()
    code2 = CODE.search(wechat.text(openid, vague_message())).group(1)
    assert wechat.text(openid, "1").startswith("已受理")
    pushed = [o for o in rows(app, "robot") if code2 in str(o.payload) and o.status == "pending"]
    assert pushed and all("未选择" not in str(o.payload) for o in pushed)
    assert "未选择" not in staff("wangfang", f"/show {code2}")
    # a ticket the bot filed with confidence says nothing of the kind either
    _, code3 = report(wechat, "3号楼楼道有人飞线充电，电线从窗户拉下来的")
    assert "未选择" not in str([o.payload for o in rows(app, "robot") if code3 in str(o.payload)])


def test_a_photo_alone_says_the_resident_said_nothing(app, wechat, staff):
    png = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")
    status, reply = wechat.image(new_openid(), png)
    code = CODE.search(reply["Content"]).group(1)
    [held] = [o for o in rows(app, "robot") if code in str(o.payload)]
    assert "居民只发了照片，未说明问题（按其他处理）" in held.payload["body"]["markdown"]["content"]
    assert "居民只发了照片" in staff("wangfang", f"/show {code}")


# -- 4. /list: the empty answer names the filter ----------------------------------------------------

def test_list_says_which_filter_came_back_empty(app, wechat, staff, clock):
    assert staff("wangfang", "/list") == "第一网格没有未办结的工单。"
    assert staff("wangfang", "/list 超时") == "全社区没有超时的工单。"
    assert staff("wangfang", "/list 全部") == "全社区没有未办结的工单。"
    assert staff("wangfang", "/list 第二网格") == "第二网格没有未办结的工单。"
    assert staff("zhaomin", "/list") == "全社区没有未办结的工单。"
    assert staff("zhaomin", "/list 超时 第二网格") == "第二网格没有超时的工单。"
    assert staff("zhaomin", "/list 第二网格 逾期") == "第二网格没有超时的工单。"

    _, code = report(wechat, "3号楼楼道灯坏了好几天了")              # 第一网格, within its 40 minutes
    assert staff("wangfang", "/list 超时") == "全社区没有超时的工单。"  # not "没有未办结"
    assert code in staff("wangfang", "/list")
    clock.advance(minutes=41)
    late = staff("wangfang", "/list 超时")
    assert late.startswith("全社区超时未办结 1 件") and code in late and "⚠到场超时" in late
    assert code in staff("zhaomin", "/list 超时 第一网格")
    assert staff("zhaomin", "/list 超时 第二网格") == "第二网格没有超时的工单。"
    refused = staff("zhaomin", "/list 火星")
    assert refused.startswith("未执行 /list") and "没有叫“火星”的网格" in refused and "第一网格" in refused


# -- staff read residents by building -------------------------------------------------------------

def test_show_names_residents_by_building(app, wechat, staff):
    _, code = report(wechat, "12号楼门口垃圾堆成山了，好几天没人清")
    follower = new_openid()
    assert code in wechat.text(follower, "12号楼门口垃圾堆成山了好几天没人清理")      # +1, 12号楼 too
    shown = staff("wangfang", f"/show {code}")
    assert "12号楼的居民 登记" in shown and "12号楼的居民 其他居民也反映" in shown
    assert "o-test-" not in shown


@pytest.mark.parametrize("text", ["13812345678", "下午3点以后", "随时可以", "周末白天都行", "9:30以后"])
def test_bare_answers_are_answers(app, wechat, text):
    openid = new_openid()
    wechat.text(openid, "人工")
    assert "已转告" in wechat.text(openid, text)
    assert len(callbacks(app)) == 1 and count_tickets(app) == 0
