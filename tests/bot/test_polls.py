"""Questionnaires and votes (issue 13 part 1) through the real webhooks: staff ask with /poll and
/vote in the staff app, residents answer by number in chat, change answers, write a complaint
mid-questionnaire, answer late; the deadline closes the poll, reports to the groups and tells each
resident who answered. Every test runs on SQLite and PostgreSQL (db_url)."""
from __future__ import annotations

import random
import re

from sqlalchemy import func, select

from handlers import polls
from storage.db import transaction
from storage.models import Outbox, Poll, PollAnswer, Resident, Ticket
from tests.conftest import new_openid, report

POLL_NO = re.compile(r"已发起(?:问卷|表决) (\d+)")


def sweep(app):
    """The scheduler's poll part (bot/scheduler.Scheduler.sweep): close what is past its deadline."""
    svc = app.extensions["jiesu"]
    with transaction(svc.sessions) as s:
        return polls.close_due(s, svc.clock.now(), svc.config.community.timezone)


def outbox(app, kind: str, channel: str = "mp_text") -> list[Outbox]:
    with app.extensions["jiesu"].sessions() as s:
        return [o for o in s.scalars(select(Outbox).where(Outbox.channel == channel).order_by(Outbox.id))
                if o.payload.get("kind") == kind]


def test_a_questionnaire_with_300_residents(app, wechat, staff, clock):
    rng = random.Random(13)
    people = [new_openid() for _ in range(300)]
    for p in people:
        assert wechat.event(p, "subscribe")[0] == 200
    sent = staff("zhaomin", "/poll 您对小区保洁满意吗？ 满意/一般/不满意 对象:全体 截止:2天")
    poll_id = int(POLL_NO.search(sent).group(1))
    assert "共 300 人" in sent, sent
    invitations = outbox(app, "poll")
    assert sorted(o.target for o in invitations) == sorted(people)          # each asked once
    assert "1. 满意" in invitations[0].payload["content"] and "您对小区保洁满意吗？" in invitations[0].payload["content"]

    final: dict[str, int] = {}
    late = people[-20:]
    for i, p in enumerate(people[:-20]):
        if i % 10 == 0:                                   # out of range first: told how to answer, nothing kept
            assert wechat.text(p, "7").startswith("请回复 1 到 3 之间的数字")
        if i % 15 == 0:                                   # a complaint before answering: a ticket, and a reminder
            reply = wechat.text(p, "5号楼门口垃圾堆了好几天了")
            assert re.search(r"#\d{8}-\d{4}", reply) and "回复“问卷”继续" in reply, reply   # new or joined
        choice = rng.randint(1, 3)
        done = wechat.text(p, str(choice))
        assert done.startswith("已记下：") and "已全部答完" in done, done
        if i % 6 == 0:                                    # changed their mind before the deadline
            again = wechat.text(p, "问卷")
            assert "您原来的回答" in again, again
            choice = choice % 3 + 1
            wechat.text(p, str(choice))
        final[p] = choice

    live = polls_results(app, poll_id)
    assert live.respondents == 280 and live.asked == 300
    expected = [sum(1 for c in final.values() if c == k) for k in (1, 2, 3)]
    assert live.tallies[0].counts == expected
    assert "/pollresult" in sent and f"满意：{expected[0]}" in staff("zhaomin", f"/pollresult {poll_id}")

    clock.advance(days=2, minutes=1)
    assert sweep(app) == 1 and sweep(app) == 0            # closed once
    for p in late:
        assert "截止，不能再作答" in wechat.text(p, "2")  # answering late: told, nothing recorded
    with app.extensions["jiesu"].sessions() as s:
        assert s.scalar(select(func.count()).select_from(PollAnswer).where(PollAnswer.poll_id == poll_id)) == 280
        assert s.scalar(select(func.count()).select_from(Resident).where(Resident.asked_poll_id.is_not(None))) == 0
        assert s.get(Poll, poll_id).status == "closed"
    told = outbox(app, "poll")[len(invitations):]
    assert sorted(o.target for o in told) == sorted(final)                 # the outcome to each who answered, once
    assert all("谢谢您参与" in o.payload["content"] for o in told)
    reports = outbox(app, "poll_report", "robot")
    assert len(reports) == 3                                               # every grid's group (a community poll)
    assert f"满意：{expected[0]}" in reports[0].payload["body"]["text"]["content"]
    assert [o.target for o in outbox(app, "poll_report", "wecom_text")] == ["zhaomin"]


def polls_results(app, poll_id: int):
    with app.extensions["jiesu"].sessions() as s:
        return polls.results(s, s.get(Poll, poll_id))


def resident_in(wechat, building: str) -> str:
    openid, _ = report(wechat, f"{building}号楼楼道灯坏了")
    return openid


def test_a_vote_counts_households_and_needs_two_thirds_of_them(app, wechat, staff, clock):
    voters = {room: resident_in(wechat, "3") for room in ("101", "102", "201", "202")}
    spouse = resident_in(wechat, "3")                    # lives in 101 too
    outsider = resident_in(wechat, "8")
    sent = staff("zhaomin", "/vote 3号楼加装电梯 对象:3号楼 户数:6 规则:三分之二 法定:1/2 截止:3天")
    poll_id = int(POLL_NO.search(sent).group(1))
    assert "应参与 6 户" in sent and "全部户数三分之二以上同意" in sent, sent
    assert outsider not in {o.target for o in outbox(app, "poll")}         # 8号楼 was not asked

    for room, openid in voters.items():
        ask = wechat.text(openid, "1" if room != "202" else "2")
        assert "请回复您家的房号" in ask, ask
        done = wechat.text(openid, f"3号楼1单元{room}")
        assert f"已登记房号 3-1-{room}" in done and "已记下：" in done, done
    wechat.text(spouse, "1")
    assert "已经有家人投过票了" in wechat.text(spouse, "3号楼1单元101")      # one vote per room
    res = polls_results(app, poll_id)
    assert (res.vote.voted, res.vote.agree, res.vote.against) == (4, 3, 1)
    assert not res.vote.passed and "全部户数三分之二以上同意" in res.vote.reason  # 3 of 6 is not two thirds

    wechat.text(voters["202"], "问卷")                                      # 202 changes to 同意: 4 of 6
    assert "同意" in wechat.text(voters["202"], "1")
    res = polls_results(app, poll_id)
    assert res.vote.passed and res.vote.agree == 4, res.vote

    clock.advance(days=3, minutes=1)
    sweep(app)
    told = outbox(app, "poll")
    assert all("通过" in o.payload["content"] for o in told if o.payload["content"].startswith("【表决结果】"))
    assert sum(1 for o in told if o.payload["content"].startswith("【表决结果】")) == 4   # the spouse's vote never counted
    reports = outbox(app, "poll_report", "robot")
    assert [o.target for o in reports] == ["local-robot-grid-1"]          # 3号楼 is 第一网格's


def test_who_may_ask_and_bad_commands_are_explained(app, wechat, staff):
    resident_in(wechat, "3")
    resident_in(wechat, "15")
    assert "网格长只能问本网格" in staff("wangfang", "/poll 周末清理楼道？ 好/不好 对象:15号楼")
    assert "已发起问卷" in staff("wangfang", "/poll 周末清理楼道？ 好/不好 对象:第一网格")
    assert "仅限居委会、网格长、业委会、街道" in staff("wuye01", "/poll 周末清理楼道？ 好/不好")
    assert "用 / 隔开" in staff("zhaomin", "/poll 周末清理楼道")
    assert "看不懂对象“火星”" in staff("zhaomin", "/poll 周末清理楼道？ 好/不好 对象:火星")
    assert "看不懂时间" in staff("zhaomin", "/poll 周末清理楼道？ 好/不好 截止:下辈子")
    assert "对象须是楼栋或网格" in staff("zhaomin", "/vote 换物业 对象:全体")
    assert "没有人可问" in staff("zhaomin", "/poll 周末清理楼道？ 好/不好 对象:30号楼")
    with app.extensions["jiesu"].sessions() as s:
        assert s.scalar(select(func.count()).select_from(Poll)) == 1
        assert s.scalar(select(func.count()).select_from(Ticket)) == 2


def test_free_text_and_scale_questions(app, wechat, staff, clock):
    a, b = resident_in(wechat, "5"), resident_in(wechat, "6")
    staff("zhaomin", "/poll 您希望社区办什么活动？ 填空 对象:5-6号楼")
    assert wechat.text(a, "多办些老年人健康讲座，电话13812345678").startswith("已记下：")
    clock.advance(hours=2)                      # an old free-text question: words are a complaint, not an answer
    reply = wechat.text(b, "6号楼电梯又坏了")
    assert "已受理 #" in reply and "回复“问卷”继续" in reply
    assert "直接回复您的意见" in wechat.text(b, "问卷")
    assert "已记下：（未答）" in wechat.text(b, "跳过")
    out = staff("zhaomin", "/pollresult 1")
    assert "老年人健康讲座" in out and "13812345678" not in out            # phones masked for staff
    staff("zhaomin", "/poll 您对物业保洁打几分？ 打分 对象:5号楼")
    assert "1-5" in wechat.text(a, "问卷")
    assert wechat.text(a, "6").startswith("请回复 1 到 5")
    assert wechat.text(a, "4").startswith("已记下：4 分")
    assert "平均 4.00 分" in staff("zhaomin", "/pollresult 2")


def test_answers_are_in_the_export_and_their_words_and_room_go_on_erasure(app, wechat, staff):
    from storage import privacy
    a = resident_in(wechat, "3")
    staff("zhaomin", "/poll 有什么建议？ 填空 对象:3号楼")
    wechat.text(a, "楼下小卖部太吵了")
    staff("zhaomin", "/vote 加装电梯 对象:3号楼 户数:2")
    wechat.text(a, "1")
    wechat.text(a, "3号楼1单元101")
    svc = app.extensions["jiesu"]
    with svc.sessions() as s:
        out = privacy.export_resident(s, a)
    assert [x["value"] for x in out["poll_answers"]] == ["楼下小卖部太吵了", 0]
    assert out["resident"]["room"] == "101"
    with transaction(svc.sessions) as s:
        privacy.erase_resident(s, a, svc.clock.now())
    with svc.sessions() as s:
        rows = list(s.scalars(select(PollAnswer).order_by(PollAnswer.poll_id)))
        assert rows[0].value == privacy.ERASED_TEXT and rows[1].value == 0          # the vote still counts
        assert rows[1].household.startswith("erased-") and "101" not in rows[1].household


def test_a_fan_out_is_paced_behind_ticket_notices(app, wechat, staff, clock, monkeypatch):
    monkeypatch.setattr(polls, "SENDS_PER_MINUTE", 4)
    for _ in range(10):
        wechat.event(new_openid(), "subscribe")
    staff("zhaomin", "/poll 周末清理楼道？ 好/不好 对象:全体")
    rows = outbox(app, "poll")
    now = clock.now().replace(tzinfo=None)
    delays = sorted(int((o.next_attempt_at.replace(tzinfo=None) - now).total_seconds() // 60) for o in rows)
    assert delays == [0] * 4 + [1] * 4 + [2] * 2
    assert {o.priority for o in rows} == {polls.BULK} and polls.BULK < 0     # claimed after ticket notices


def test_a_bare_number_answers_the_question_asked_last_rating_or_poll(app, wechat, staff, clock):
    rated_first, poll_first = new_openid(), new_openid()
    a = CODE_OF(wechat.text(rated_first, "9号楼楼道灯坏了"))
    b = CODE_OF(wechat.text(poll_first, "9号楼电梯坏了"))
    staff("wangfang", f"/close {a} 已修好")                    # rate 1-5 asked of the first
    clock.advance(minutes=1)
    staff("zhaomin", "/poll 周末清理楼道？ 好/不好 对象:9号楼")  # then the poll, of both
    clock.advance(minutes=1)
    staff("wangfang", f"/close {b} 已修好")                    # the second is asked to rate after the poll
    assert wechat.text(rated_first, "1").startswith("已记下：好")           # the poll came last
    assert not wechat.text(poll_first, "5").startswith("已记下")
    with app.extensions["jiesu"].sessions() as s:
        assert s.scalar(select(Ticket.rating).where(Ticket.code == b)) == 5   # the rating came last
        answered = s.scalars(select(PollAnswer.resident_id).join(Resident, Resident.id == PollAnswer.resident_id)
                             .where(Resident.openid.in_([rated_first, poll_first]))).all()
        assert len(answered) == 1                                            # only the first's poll answer
    clock.advance(days=8)
    sweep(app)
    reply = wechat.text(rated_first, "4")                                  # poll closed, a rating waits
    assert "截止" not in reply
    with app.extensions["jiesu"].sessions() as s:
        assert s.scalar(select(Ticket.rating).where(Ticket.code == a)) == 4


def CODE_OF(reply: str) -> str:
    return re.search(r"#(\d{8}-\d{4})", reply).group(1)


def test_an_anonymous_poll_never_shows_a_building_with_few_answers(app, wechat, staff):
    many = [resident_in(wechat, "3") for _ in range(5)]
    few = [resident_in(wechat, "5") for _ in range(2)]
    staff("zhaomin", "/poll 换保洁公司？ 换/不换 对象:3号楼、5号楼 匿名")
    staff("zhaomin", "/poll 装充电桩？ 装/不装 对象:3号楼、5号楼")
    for p in many + few:
        wechat.text(p, "1")                # the newest poll (充电桩) first
        wechat.text(p, "问卷")
        wechat.text(p, "2")
    with app.extensions["jiesu"].sessions() as s:
        hidden = polls.results(s, s.get(Poll, 1)).by_building
        shown = polls.results(s, s.get(Poll, 2)).by_building
    assert hidden == {"3号楼": [0, 5]}                       # 5号楼's two answers are not shown, even pooled
    assert shown == {"3号楼": [5, 0], "5号楼": [2, 0]}
