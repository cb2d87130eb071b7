"""Questionnaires on the web: the committee makes one of several questions on the desk, residents
answer some in chat and some on the poll's page (signed in through the fake platform's 网页授权 over
real HTTP), staff read the live results and the .xlsx, and close it. A grid leader cannot open
another grid's poll; a page is only for residents the poll was sent to."""
from __future__ import annotations

import io
import re

import requests
from openpyxl import load_workbook
from sqlalchemy import select

from bot import users
from storage.models import Outbox, Poll
from tests.bot.test_desk import PASSWORD, _csrf
from tests.bot.test_resident_oauth import sign_in as resident_sign_in

FORM = {"kind": "survey", "title": "社区活动意见征集", "audience": "3号楼、5号楼", "deadline": "5天",
        "kind0": "single", "prompt0": "您多久参加一次社区活动？", "options0": "每周\n每月\n很少",
        "kind1": "multi", "prompt1": "想要哪些活动？", "options1": "健康讲座\n义诊\n电影\n亲子",
        "kind2": "scale", "prompt2": "对去年的活动打几分？",
        "kind3": "text", "prompt3": "还有什么建议？"}


def desk_session(live, username: str) -> requests.Session:
    s = requests.Session()
    token = _csrf(s.get(live.url + "/desk/login").text)
    r = s.post(live.url + "/desk/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 200 and "退出" in r.text
    return s


def test_desk_questionnaire_answered_in_chat_and_on_the_page(live, live_wechat, clock):
    svc = live.services
    with svc.sessions.begin() as s:
        users.add(s, "zhao", PASSWORD, "zhaomin", svc.clock.now())
        users.add(s, "li", PASSWORD, "liqiang", svc.clock.now())
    chat, web, other = "o-test-chat-3", "o-sim-zhang-ayi", "o-test-far-20"
    live_wechat.text(chat, "3号楼楼道灯坏了")
    live_wechat.text(web, "5号楼门口垃圾没人清，电话13812345678")
    live_wechat.text(other, "20号楼电梯坏了")

    desk = desk_session(live, "zhao")
    page = desk.get(live.url + "/desk/polls")
    assert page.status_code == 200 and "发起问卷或表决" in page.text
    assert desk.post(live.url + "/desk/polls", data=FORM).status_code == 400          # no CSRF token: refused
    r = desk.post(live.url + "/desk/polls", data={**FORM, "csrf_token": _csrf(page.text)})
    assert r.status_code == 200 and "已发出，问 2 人" in r.text, r.text
    poll_id = int(re.search(r"/desk/polls/(\d+)", r.url).group(1))
    with svc.sessions() as s:
        invitation = next(o for o in s.scalars(select(Outbox))
                          if o.target == web and (o.payload or {}).get("kind") == "poll")
    assert f"{live.url}/r/poll/{poll_id}" in invitation.payload["content"]               # the page's link

    # chat: one question at a time
    assert "想要哪些活动" in live_wechat.text(chat, "1")
    assert "对去年的活动打几分" in live_wechat.text(chat, "2 4")
    assert "还有什么建议" in live_wechat.text(chat, "5")
    assert "已全部答完" in live_wechat.text(chat, "多办义诊，联系我13900001111")

    # the page: signed in through WeChat, all questions at once
    s = requests.Session()
    resident_sign_in(s, live, web, f"/r/poll/{poll_id}")
    form = s.get(live.url + f"/r/poll/{poll_id}")
    assert form.status_code == 200 and "还有什么建议" in form.text
    token = re.search(r'name="token" value="([^"]+)"', form.text).group(1)
    bad = s.post(live.url + f"/r/poll/{poll_id}", data={"token": token, "q0": "2", "q2": "9"})
    assert bad.status_code == 400 and "第2题还没有选" in bad.text
    ok = s.post(live.url + f"/r/poll/{poll_id}", data={"token": token, "q0": "2", "q1": ["1", "3"], "q2": "3", "q3": ""})
    assert ok.status_code == 200 and "已提交" in ok.text
    assert 'value="3" checked' in ok.text                                              # shown as kept
    stranger = requests.Session()
    resident_sign_in(stranger, live, other, f"/r/poll/{poll_id}")
    assert stranger.get(live.url + f"/r/poll/{poll_id}").status_code == 404            # not asked: no page

    results = desk.get(live.url + f"/desk/polls/{poll_id}").text
    assert 'id="respondents">2<' in results and "多办义诊" in results and "13900001111" not in results
    assert "平均 <strong>4.00</strong>" in results                                     # (5 + 3) / 2
    assert desk_session(live, "li").get(live.url + f"/desk/polls/{poll_id}").status_code == 403   # 第二网格

    xlsx = desk.get(live.url + f"/desk/polls/{poll_id}.xlsx")
    sheets = load_workbook(io.BytesIO(xlsx.content))
    rows = list(sheets["结果"].iter_rows(min_row=2, values_only=True))
    assert ("您多久参加一次社区活动？", "每周", 1) in [r[1:4] for r in rows]
    assert {("想要哪些活动？", o, 1) for o in ("健康讲座", "义诊", "电影", "亲子")} <= {r[1:4] for r in rows}
    assert any("139****1111" in str(r) for r in sheets["意见"].iter_rows(values_only=True))

    page = desk.get(live.url + f"/desk/polls/{poll_id}").text
    closed = desk.post(live.url + f"/desk/polls/{poll_id}/close", data={"csrf_token": _csrf(page)})
    assert "已结束" in closed.text
    with svc.sessions() as db:
        assert db.get(Poll, poll_id).status == "closed"
    after = s.get(live.url + f"/r/poll/{poll_id}").text
    assert 'id="outcome"' in after and "提交</button>" not in after                  # read-only, with the outcome
