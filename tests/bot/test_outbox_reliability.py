"""The outbox under failure, over real HTTP to the fake platform: a worker dying mid-batch, emergencies
ahead of everything, answers that are not WeChat's success JSON, a group robot's flood limit, and the
committee told of a row that failed for good."""
from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from bot.fake_platform import sample_png
from bot.outbox_worker import EMERGENCY_RESERVE, FAILED_KIND, OutboxWorker
from bot.transports import DeliveryError
from storage import outbox as outbox_store
from storage import repositories as repo
from storage.models import Outbox
from tests.bot.test_media import new_photo
from tests.bot.test_outbox_live import fault, outbox_rows, robot_calls
from tests.conftest import new_openid

GRID1, GRID2 = "local-robot-grid-1", "local-robot-grid-2"


def _robot(svc, clock, target, content, priority=0):
    with svc.sessions() as s, s.begin():
        repo.enqueue(s, "robot", target, {"kind": "test", "body": {"msgtype": "text", "text": {"content": content}}},
                     clock.now(), priority=priority)


def _contents(live, target=None):
    return [c["body"]["text"]["content"] for c in robot_calls(live) if target is None or c["target"] == target]


class Died(BaseException):
    """The process dying (kill -9): not an Exception, so nothing in the worker handles it."""


class DiesAt:
    """Delivers sends until the n-th (0-based), then dies: before that send leaves, or after WeChat
    answered it but before the worker could record the answer."""

    def __init__(self, inner, n, answered):
        self.inner, self.n, self.answered, self.count = inner, n, answered, 0

    def send(self, channel, target, payload):
        if self.count == self.n and not self.answered:
            raise Died
        self.inner.send(channel, target, payload)
        self.count += 1
        if self.count == self.n + 1:
            raise Died


class Slow:
    """Each send takes `step` seconds of the fake clock; `during(i)` runs while send i is in flight."""

    def __init__(self, inner, clock, step, during):
        self.inner, self.clock, self.step, self.during, self.count = inner, clock, step, during, 0

    def send(self, channel, target, payload):
        self.clock.advance(seconds=self.step)
        self.during(self.count)
        self.count += 1
        self.inner.send(channel, target, payload)


# -- a worker dying mid-batch ---------------------------------------------------------------------

@pytest.mark.parametrize("answered", [False, True], ids=["before-send", "after-answer"])
def test_a_dead_workers_rows_are_sent_by_another_within_seconds_each_once(live, clock, config, answered):
    svc = live.services
    for i in range(8):
        _robot(svc, clock, GRID1, f"m{i}")
    dying = OutboxWorker(svc.sessions, DiesAt(svc.transports, 3, answered), clock, config.outbox)
    with pytest.raises(Died):
        dying.run_once()
    # each outcome was committed as it was answered: three rows are done, the rest still leased
    assert [r.status for r in outbox_rows(live)] == ["sent"] * 3 + ["sending"] * 5

    other = OutboxWorker(svc.sessions, svc.transports, clock, config.outbox)
    assert dying.lease == timedelta(seconds=15)       # 2 x the 5 s HTTP timeout + 5 s, not a minute
    clock.advance(seconds=14)
    assert other.run_once() == 0                      # the lease may still be a live worker's
    clock.advance(seconds=2)
    assert other.run_once() == 5
    # at least once: only the row in flight when the worker died (sent, answer not recorded) goes twice
    assert Counter(_contents(live)) == {f"m{i}": 2 if answered and i == 3 else 1 for i in range(8)}
    rows = outbox_rows(live)
    assert [r.status for r in rows] == ["sent"] * 8 and [r.attempts for r in rows] == [1] * 3 + [2] * 5


# -- emergencies first and alone ------------------------------------------------------------------

def test_an_emergency_is_claimed_alone_and_sent_before_older_rows(live, clock):
    svc = live.services
    for i in range(5):
        _robot(svc, clock, GRID1, f"m{i}")
    clock.advance(seconds=30)                         # queued last, behind five older rows
    _robot(svc, clock, GRID2, "fire", priority=repo.EMERGENCY)
    now = clock.now()
    with svc.sessions() as s, s.begin():
        first = outbox_store.claim_due_outbox(s, now, now + timedelta(seconds=15), 20)
        second = outbox_store.claim_due_outbox(s, now, now + timedelta(seconds=15), 20)
        assert [r.target for r in first] == [GRID2] and len(second) == 5
        outbox_store.finish_outbox(s, now + timedelta(seconds=15), now, [], {}, {}, [r.id for r in first + second])
    assert svc.outbox.run_once() == 6
    assert _contents(live) == ["fire"] + [f"m{i}" for i in range(5)]


def test_an_emergency_queued_during_a_slow_batch_goes_next_not_last(live, clock, config):
    svc = live.services
    for i in range(4):
        _robot(svc, clock, GRID1, f"m{i}")

    def during(i):
        if i == 0:
            _robot(svc, clock, GRID2, "fire", priority=repo.EMERGENCY)

    worker = OutboxWorker(svc.sessions, Slow(svc.transports, clock, 3, during), clock, config.outbox)
    assert worker.run_once() == 5
    assert _contents(live) == ["m0", "fire", "m1", "m2", "m3"]


def test_an_emergency_report_pages_the_group_before_the_queue(live, live_wechat, clock):
    """The priority is set where the notices are queued (handlers/effects.py), not by the caller."""
    svc = live.services
    for i in range(3):
        _robot(svc, clock, GRID1, f"m{i}")
    live_wechat.text(new_openid(), "着火了 5号楼3楼冒黑烟")
    with svc.sessions() as s:
        by_kind = {r.payload["kind"]: r.priority for r in s.scalars(select(Outbox).where(Outbox.ticket_id.is_not(None)))}
    assert by_kind["emergency_page"] == repo.EMERGENCY and by_kind["new_ticket"] == 0
    svc.outbox.run_once()
    first = robot_calls(live)[0]["body"]["text"]
    assert first["content"].startswith("【紧急】") and first["mentioned_list"] == ["@all"]


# -- answers that are not WeChat's success JSON -----------------------------------------------------

def _queue(live, clock, api):
    """One row whose delivery calls `api`; returns its id."""
    svc = live.services
    if api == "mp_media_get":
        svc.fake_store.put_media("img-1", sample_png(), "image/png")
        new_photo(live, clock, "img-1")
    else:
        channel, target, payload = {
            "robot": ("robot", GRID1, {"kind": "test", "body": {"msgtype": "text", "text": {"content": "hi"}}}),
            "wecom_send": ("wecom_text", "wangfang", {"kind": "test", "content": "请处理"}),
            "wecom_token": ("wecom_text", "wangfang", {"kind": "test", "content": "请处理"}),
        }.get(api, ("mp_text", new_openid(), {"kind": "resolved", "content": "您的工单已办结"}))
        with svc.sessions() as s, s.begin():
            repo.enqueue(s, channel, target, payload, clock.now())
    return outbox_rows(live)[-1].id


@pytest.mark.parametrize("api, body", [
    ("robot", "html"), ("robot", "text"), ("mp_custom_send", "text"), ("mp_template_send", "html"),
    ("wecom_send", "html"), ("mp_media_get", "html"), ("mp_token", "html"), ("wecom_token", "text")])
def test_a_200_page_that_is_not_json_is_a_failure_to_retry(live, clock, api, body):
    """A proxy's or gateway's page with status 200 is not a delivery (the row was marked sent and
    the resident received nothing): retried, then delivered."""
    row_id = _queue(live, clock, api)     # mp_text rows: the resident never wrote, so 45015 then a template
    fault(live, api=api, count=1, http_status=200, body=body)
    worker = live.services.outbox
    assert worker.run_once() == 0
    [row] = [r for r in outbox_rows(live) if r.id == row_id]
    assert (row.status, row.attempts, row.sent_at) == ("pending", 1, None)
    assert re.search(r"not JSON|neither media nor JSON|not a token", row.last_error), row.last_error
    clock.advance(seconds=worker.cfg.backoff_seconds)
    assert worker.run_once() >= 1
    [row] = [r for r in outbox_rows(live) if r.id == row_id]
    assert row.status == "sent" and row.attempts == 2


def test_answers_that_are_not_a_success_object_are_failures():
    from bot.transports import Transports, _ok

    for bad in ([], "ok", None, {"errcode": "x"}, {"errcode": -1, "errmsg": "busy"}):
        with pytest.raises(DeliveryError):
            _ok(bad)
    assert _ok({"errcode": 0, "errmsg": "ok"}) and _ok({"msgid": 1}) == {"msgid": 1}    # WeChat may omit errcode

    class Message:                 # WeCom says 0 but could not reach the one recipient
        def send_text(self, agent_id, userid, content):
            return {"errcode": 0, "errmsg": "ok", "invaliduser": userid}

    t = Transports.__new__(Transports)
    t.wecom, t.agent_id = type("C", (), {"message": Message()})(), 1
    with pytest.raises(DeliveryError) as e:
        t._wecom_text("gone01", "hi")
    assert e.value.permanent and "invaliduser" in str(e.value)


# -- a group robot's flood limit ---------------------------------------------------------------------

def _most_in_a_minute(live, target) -> int:
    at = sorted(datetime.fromisoformat(c["at"].rstrip("Z")) for c in robot_calls(live) if c["target"] == target)
    return max((sum(1 for b in at if a <= b < a + timedelta(minutes=1)) for a in at), default=0)


def test_a_group_gets_its_limit_a_minute_and_emergencies_always_pass(live, clock, config):
    svc = live.services
    worker = OutboxWorker(svc.sessions, svc.transports, clock, config.outbox, group_pushes_per_minute=20)
    # normal pushes stop short of 20 by EMERGENCY_RESERVE, counting emergencies sent in the same
    # minute: WeChat refuses the 21st push of a minute, an emergency's too
    normal = 20 - EMERGENCY_RESERVE - 1
    for i in range(25):
        _robot(svc, clock, GRID1, f"m{i}")
    for i in range(3):
        _robot(svc, clock, GRID2, f"g{i}")            # another group: its own minute
    _robot(svc, clock, GRID1, "fire1", priority=repo.EMERGENCY)
    t0 = clock.now()
    assert worker.run_once() == 1 + normal + 3
    assert _contents(live, GRID1) == ["fire1"] + [f"m{i}" for i in range(normal)]
    assert _contents(live, GRID2) == ["g0", "g1", "g2"]
    held = [r for r in outbox_rows(live) if r.status != "sent"]
    # held, not failed: no attempt spent, due when the window's oldest push is a minute old
    assert len(held) == 25 - normal and {(r.status, r.attempts, r.last_error) for r in held} == {("pending", 0, None)}
    assert {r.next_attempt_at for r in held} == {t0 + timedelta(minutes=1)}
    assert worker.run_once() == 0

    clock.advance(seconds=30)
    _robot(svc, clock, GRID1, "fire2", priority=repo.EMERGENCY)
    assert worker.run_once() == 1                     # the group is full for normal pushes, not for this
    clock.advance(seconds=29)
    assert worker.run_once() == 0
    clock.advance(seconds=1)                          # a minute after the first pushes
    assert worker.run_once() == 25 - normal
    assert _contents(live, GRID1)[-(25 - normal):] == [f"m{i}" for i in range(normal, 25)]
    assert {r.status for r in outbox_rows(live)} == {"sent"}
    assert _most_in_a_minute(live, GRID1) <= 20


def test_a_flood_answer_waits_for_the_window_instead_of_the_backoff(live, clock):
    fault(live, api="robot", count=1, errcode=45009)
    _robot(live.services, clock, GRID1, "x")
    assert live.services.outbox.run_once() == 0
    [row] = outbox_rows(live)
    assert row.status == "pending" and "45009" in row.last_error
    assert row.next_attempt_at == clock.now() + timedelta(minutes=1)      # not the 5 s backoff


# -- failed for good: the committee is told -----------------------------------------------------------

def _committee_calls(live):
    return [c for c in live.services.fake_store.all_calls() if c["api"] == "wecom_send" and c["target"] == "zhaomin"]


def test_a_row_failed_for_good_tells_the_committee_once_with_numbers_masked(live, live_wechat, clock, config):
    svc = live.services

    class RobotRefuses:            # WeChat echoing a resident's phone number in its error message
        def send(self, channel, target, payload):
            if channel == "robot":
                raise DeliveryError("errcode 40008: invalid content near 13812345678", permanent=True, errcode=40008)
            svc.transports.send(channel, target, payload)

    reply = live_wechat.text(new_openid(), "20号楼门口垃圾堆了三天")
    code = re.search(r"#(\d{8}-\d{4})", reply).group(1)
    worker = OutboxWorker(svc.sessions, RobotRefuses(), clock, config.outbox, committee=["zhaomin"])
    worker.run_once()                                  # the failure, then (same run) the committee's notice
    [push] = [r for r in outbox_rows(live) if r.channel == "robot"]
    assert push.status == "failed" and "138****5678" in push.last_error and "13812345678" not in push.last_error
    [notice] = _committee_calls(live)
    text = notice["body"]["text"]["content"]
    assert f"#{code}" in text and "138****5678" in text and "13812345678" not in text and "网格群" in text
    assert worker.run_once() == 0 and len(_committee_calls(live)) == 1      # told once


def test_exhausted_attempts_tell_the_committee_but_a_failed_notice_to_it_does_not_loop(live, clock, config):
    svc = live.services
    cfg = config.outbox.model_copy(update={"max_attempts": 2})
    worker = OutboxWorker(svc.sessions, svc.transports, clock, cfg, committee=["zhaomin"])
    fault(live, api="robot", count=2, http_status=200)                # two 200 pages: both attempts spent
    _robot(svc, clock, GRID1, "x")
    worker.run_once()
    clock.advance(seconds=cfg.backoff_seconds)
    worker.run_once()
    rows = outbox_rows(live)
    assert rows[0].status == "failed" and rows[0].attempts == 2 and "not JSON" in rows[0].last_error
    assert [r.payload["kind"] for r in rows[1:]] == [FAILED_KIND] and rows[1].status == "sent"

    fault(live, api="wecom_send", count=2, errcode=40003)             # the committee cannot be reached
    with svc.sessions() as s, s.begin():
        repo.enqueue(s, "wecom_text", "zhaomin", {"kind": "escalation", "content": "超时未处理"}, clock.now())
    _robot(svc, clock, "local-robot-nobody", "y")                      # fails for good: a notice that fails too
    worker.run_once()
    rows = outbox_rows(live)
    assert [(r.payload["kind"], r.status) for r in rows[2:]] == [
        ("escalation", "failed"), ("test", "failed"), (FAILED_KIND, "failed")]    # and nothing after it
