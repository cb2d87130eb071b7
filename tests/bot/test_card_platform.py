"""WeCom interactive cards, platform side: a "wecom_card" row reaches the fake WeCom over real HTTP
and its response_code lands on the ticket_card row; "wecom_card_update" spends a code (once, within
72 hours by the platform's clock) and replaces the card; cards WeCom would refuse end failed."""
from __future__ import annotations

from datetime import timedelta

import pytest
import requests

from bot.outbox_worker import FAILED_KIND
from storage import cards
from storage import repositories as repo
from storage import ticket_numbers
from storage.models import Outbox
from tests.bot.test_outbox_live import fault, outbox_rows

STAFF = "wangfang"


def card(task_id: str, *, title: str = "#20261121-0001 楼道堆物", desc: str = "3号楼", state: str = "待接单",
         buttons=(("接单", "take"), ("转派", "refer"))) -> dict:
    return {"card_type": "button_interaction", "task_id": task_id,
            "main_title": {"title": title, "desc": desc},
            "sub_title_text": "楼道里堆满了纸箱",
            "horizontal_content_list": [{"keyname": "状态", "value": state}, {"keyname": "时限", "value": "今天 18:00"}],
            "button_list": [{"text": text, "style": 1, "key": key} for text, key in buttons]}


@pytest.fixture
def ticket_id(live, clock, config):
    """A ticket row (the FK of ticket_card), written with the repository helpers as the intake does,
    without its notices: only the rows a test queues are in the outbox."""
    now = clock.now()
    with live.services.sessions() as s, s.begin():
        grids = repo.sync_grids(s, config.grids)
        return repo.insert_ticket(s, code=ticket_numbers.next_ticket_code(s, now, "Asia/Shanghai"), category="垃圾",
                                  priority="normal", status="open", grid_id=next(iter(grids.values())).id,
                                  text="楼道里堆满了纸箱", created_at=now, updated_at=now)


def _queue_card(live, clock, ticket_id, task_id, body=None, userid=STAFF, notice="new_ticket") -> int:
    with live.services.sessions() as s, s.begin():
        cards.add_cards(s, [dict(task_id=task_id, ticket_id=ticket_id, round=1, userid=userid, notice=notice,
                                 shows="new", created_at=clock.now())])
        repo.enqueue(s, "wecom_card", userid, {"kind": f"card:{notice}", "task_id": task_id,
                                               "card": body or card(task_id)}, clock.now(), ticket_id=ticket_id)
    return outbox_rows(live)[-1].id


def _queue_update(live, clock, ticket_id, task_id, code, body, userid=STAFF) -> int:
    if (live.services.engine.dialect.name != "sqlite"
            and Outbox.__table__.c.channel.type.length < len("wecom_card_update")):
        # SQLite does not enforce VARCHAR lengths; PostgreSQL refuses the row until the lead widens it
        pytest.skip("outbox.channel is VARCHAR(16): 'wecom_card_update' (17) needs a wider column (migration)")
    with live.services.sessions() as s, s.begin():
        repo.enqueue(s, "wecom_card_update", userid, {"kind": "card_update", "task_id": task_id,
                                                      "response_code": code, "card": body},
                     clock.now(), ticket_id=ticket_id)
    return outbox_rows(live)[-1].id


def _row(live, row_id) -> Outbox:
    return next(r for r in outbox_rows(live) if r.id == row_id)


def _card_row(live, task_id):
    with live.services.sessions() as s:
        return cards.card_by_task(s, task_id)


def _spend(live, clock, task_id) -> str | None:
    """What the handlers do before an update: take the card's code (storage.cards.take_code)."""
    with live.services.sessions() as s, s.begin():
        return cards.take_code(s, cards.card_by_task(s, task_id, lock=True), clock.now())


def _held(live, userid=STAFF) -> dict:
    return {c["task_id"]: c["card"] for c in live.services.fake_store.cards(userid)}


def _calls(live, api):
    return [c for c in live.services.fake_store.all_calls() if c["api"] == api]


def test_a_card_reaches_wecom_and_its_code_lands_on_the_ticket_card(live, clock, ticket_id):
    task = f"t{ticket_id}r1u{STAFF}n1"
    row_id = _queue_card(live, clock, ticket_id, task)
    assert _card_row(live, task).response_code is None
    assert live.services.outbox.run_once() == 1
    row = _row(live, row_id)
    assert (row.status, row.attempts) == ("sent", 1)
    [call] = _calls(live, "wecom_card")
    assert call["target"] == STAFF and call["errcode"] == 0
    assert call["body"]["msgtype"] == "template_card" and call["body"]["agentid"] == live.services.config.wecom.agent_id
    assert _held(live) == {task: card(task)}
    kept = _card_row(live, task)
    assert kept.response_code and kept.response_code.startswith("rc-") and kept.code_at == clock.now()

    # the kept code changes the card, once
    code = _spend(live, clock, task)
    assert code == kept.response_code and _card_row(live, task).response_code is None
    clock.advance(hours=1)
    taken = card(task, desc="已接单 王芳 10:30", state="处理中", buttons=(("到场", "onsite"), ("办结", "close")))
    first = _queue_update(live, clock, ticket_id, task, code, taken)
    assert live.services.outbox.run_once() == 1
    assert _row(live, first).status == "sent"
    assert _held(live) == {task: taken}
    assert live.services.fake_store.cards()[0]["updated_at"] == clock.now().replace(tzinfo=None).isoformat() + "Z"

    again = _queue_update(live, clock, ticket_id, task, code, card(task, state="已办结"))
    live.services.outbox.run_once()
    row = _row(live, again)
    assert (row.status, row.attempts) == ("failed", 1) and "40078" in row.last_error and "used" in row.last_error
    assert _held(live) == {task: taken}                     # the card is as the first update left it
    # a card left as it was is nobody's to act on: the committee is not told
    assert not [r for r in outbox_rows(live) if (r.payload or {}).get("kind") == FAILED_KIND]


def test_a_code_is_good_for_72_hours_by_the_platforms_clock(live, clock, ticket_id):
    old, fresh = f"t{ticket_id}r1u{STAFF}n1", f"t{ticket_id}r1u{STAFF}n2"
    _queue_card(live, clock, ticket_id, old)
    _queue_card(live, clock, ticket_id, fresh)
    assert live.services.outbox.run_once() == 2
    old_code, fresh_code = _spend(live, clock, old), _spend(live, clock, fresh)
    assert old_code and fresh_code and old_code != fresh_code

    clock.advance(hours=72)                                 # the access token has long expired too
    ok = _queue_update(live, clock, ticket_id, fresh, fresh_code, card(fresh, state="处理中"))
    assert live.services.outbox.run_once() == 1 and _row(live, ok).status == "sent"
    clock.advance(hours=1)
    late = _queue_update(live, clock, ticket_id, old, old_code, card(old, state="处理中"))
    assert live.services.outbox.run_once() == 0
    row = _row(live, late)
    assert (row.status, row.attempts) == ("failed", 1) and "40078" in row.last_error and "expired" in row.last_error
    assert _held(live) == {fresh: card(fresh, state="处理中"), old: card(old)}


def test_a_taps_code_updates_the_card(live, clock, ticket_id):
    task = f"t{ticket_id}r1u{STAFF}n1"
    _queue_card(live, clock, ticket_id, task)
    assert live.services.outbox.run_once() == 1
    store = live.services.fake_store
    tap = store.issue_code(task, STAFF, clock.now())
    assert tap and tap != _card_row(live, task).response_code
    with live.services.sessions() as s, s.begin():
        cards.set_code(s, task, tap, clock.now())           # as the tap's callback does
    assert _spend(live, clock, task) == tap
    onsite = card(task, desc="已到场 王芳 09:12", buttons=(("已处理", "noop"),))
    row_id = _queue_update(live, clock, ticket_id, task, tap, onsite)
    assert live.services.outbox.run_once() == 1 and _row(live, row_id).status == "sent"
    assert store.cards(STAFF) == [{"task_id": task, "userid": STAFF, "card": onsite,
                                   "updated_at": clock.now().replace(tzinfo=None).isoformat() + "Z"}]
    assert store.cards("someone-else") == []
    [call] = _calls(live, "wecom_card_update")
    assert call["body"]["userids"] == [STAFF] and call["body"]["response_code"] == tap


def _many(n):
    return tuple((f"按钮{i}", f"k{i}") for i in range(n))


@pytest.mark.parametrize("change, errcode", [
    ({"button_list": []}, 40058),
    ({"button_list": [{"text": t, "style": 1, "key": k} for t, k in _many(7)]}, 40058),
    ({"button_list": [{"text": "接单", "key": "take"}, {"text": "再接", "key": "take"}]}, 40058),
    ({"main_title": {"title": "#20261121-0001 " + "很长的类别名" * 5}}, 40058),
    ({"main_title": {"desc": "3号楼"}, "sub_title_text": ""}, 41016),
    ({"horizontal_content_list": [{"keyname": "状态状态状态", "value": "x"}]}, 40058),
], ids=["no-buttons", "seven-buttons", "duplicate-keys", "title-too-long", "no-title", "keyname-too-long"])
def test_a_card_wecom_would_refuse_ends_failed(live, clock, ticket_id, change, errcode):
    task = f"t{ticket_id}r1u{STAFF}n1"
    row_id = _queue_card(live, clock, ticket_id, task, body={**card(task), **change})
    live.services.outbox.run_once()
    row = _row(live, row_id)
    assert (row.status, row.attempts) == ("failed", 1) and f"errcode {errcode}" in row.last_error
    [call] = _calls(live, "wecom_card")
    assert call["errcode"] == errcode
    assert _held(live) == {} and _card_row(live, task).response_code is None


def test_a_task_id_is_one_card_of_the_app(live, clock, ticket_id):
    task = f"t{ticket_id}r1u{STAFF}n1"
    _queue_card(live, clock, ticket_id, task)
    assert live.services.outbox.run_once() == 1
    # the same task id to someone else: refused for good (WeCom wants it unique in the app)
    with live.services.sessions() as s, s.begin():
        repo.enqueue(s, "wecom_card", "lijun", {"kind": "card:new_ticket", "task_id": task, "card": card(task)},
                     clock.now(), ticket_id=ticket_id)
    live.services.outbox.run_once()
    row = next(r for r in outbox_rows(live) if r.channel == "wecom_card" and r.target == "lijun")
    assert row.status == "failed" and "40058" in row.last_error
    assert live.services.fake_store.cards("lijun") == []
    # an update whose card is not the code's card is refused too, and the code stays unspent
    code = _spend(live, clock, task)
    other = f"t{ticket_id}r1u{STAFF}n9"
    bad = _queue_update(live, clock, ticket_id, task, code, card(other))
    good = _queue_update(live, clock, ticket_id, task, code, card(task, state="处理中"))
    live.services.outbox.run_once()
    assert _row(live, bad).status == "failed" and "40058" in _row(live, bad).last_error
    assert _row(live, good).status == "sent" and _held(live)[task] == card(task, state="处理中")


def test_a_200_page_answering_a_card_send_is_retried_and_the_code_kept(live, clock, ticket_id):
    task = f"t{ticket_id}r1u{STAFF}n1"
    row_id = _queue_card(live, clock, ticket_id, task)
    fault(live, api="wecom_send", count=1, http_status=200, body="html")
    worker = live.services.outbox
    assert worker.run_once() == 0
    row = _row(live, row_id)
    assert (row.status, row.attempts, row.sent_at) == ("pending", 1, None) and "not JSON" in row.last_error
    assert _card_row(live, task).response_code is None and _held(live) == {}
    clock.advance(seconds=worker.cfg.backoff_seconds)
    assert worker.run_once() == 1
    assert _row(live, row_id).status == "sent" and _row(live, row_id).attempts == 2
    kept = _card_row(live, task)
    assert kept.response_code and kept.code_at == clock.now() and _held(live) == {task: card(task)}


def test_a_card_update_answered_by_a_busy_wecom_is_retried(live, clock, ticket_id):
    task = f"t{ticket_id}r1u{STAFF}n1"
    _queue_card(live, clock, ticket_id, task)
    assert live.services.outbox.run_once() == 1
    code = _spend(live, clock, task)
    fault(live, api="wecom_card_update", count=1, errcode=-1)
    row_id = _queue_update(live, clock, ticket_id, task, code, card(task, state="处理中"))
    worker = live.services.outbox
    assert worker.run_once() == 0 and _row(live, row_id).status == "pending"    # the code was not spent
    clock.advance(seconds=worker.cfg.backoff_seconds)
    assert worker.run_once() == 1 and _held(live) == {task: card(task, state="处理中")}


def test_the_fake_checks_card_calls_like_wecom(live):
    u = live.url + "/fake/qy/cgi-bin/"
    cfg = live.services.config.wecom
    token = requests.get(u + "gettoken", params={"corpid": cfg.corp_id, "corpsecret": cfg.app_secret},
                         timeout=5).json()["access_token"]
    post = lambda path, body: requests.post(u + path, params={"access_token": token}, json=body, timeout=5).json()
    sent = post("message/send", {"touser": STAFF, "msgtype": "template_card", "agentid": cfg.agent_id,
                                 "template_card": card("tX")})
    assert sent["errcode"] == 0 and sent["response_code"]
    update = {"userids": [STAFF], "agentid": cfg.agent_id, "response_code": "made-up", "template_card": card("tX")}
    assert post("message/update_template_card", update)["errcode"] == 40078
    assert post("message/update_template_card", {**update, "agentid": 1})["errcode"] == 40056
    nobody = {**update, "userids": ["nobody"], "response_code": sent["response_code"]}
    assert post("message/update_template_card", nobody)["errcode"] == 40031
    answer = post("message/update_template_card", {**update, "userids": [STAFF, "nobody"],
                                                   "response_code": sent["response_code"]})
    assert answer["errcode"] == 0 and answer["invaliduser"] == ["nobody"]
