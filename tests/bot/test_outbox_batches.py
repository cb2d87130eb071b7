"""The outbox in batches: disjoint claims under concurrency, leases respected, wake-ups coalesced."""
from __future__ import annotations

import threading


from bot.outbox_worker import OutboxWorker
from bot.scheduler import OutboxDrain
from bot.transports import DeliveryError
from storage import repositories as repo
from tests.bot.test_outbox_live import outbox_rows, robot_calls
from tests.conftest import at_once


def _enqueue(svc, clock, n, prefix="m"):
    with svc.sessions() as s, s.begin():
        for i in range(n):
            repo.enqueue(s, "robot", "local-robot-grid-1",
                         {"kind": "test", "body": {"msgtype": "text", "text": {"content": f"{prefix}{i}"}}}, clock.now())


def test_small_batches_from_three_workers_send_each_row_once(live, clock, config):
    svc = live.services
    cfg = config.outbox.model_copy(update={"batch_size": 3})
    _enqueue(svc, clock, 40)
    workers = [OutboxWorker(svc.sessions, svc.transports.__class__.from_config(config, live.url), clock, cfg)
               for _ in range(3)]
    sent = at_once(lambda w: w.run_once(), workers)
    assert sum(sent) == 40
    contents = sorted(c["body"]["text"]["content"] for c in robot_calls(live))
    assert contents == sorted(f"m{i}" for i in range(40))
    rows = outbox_rows(live)
    assert {r.status for r in rows} == {"sent"} and {r.attempts for r in rows} == {1}


class _SlowTransport:
    """Each send takes `step` seconds of the fake clock."""

    def __init__(self, inner, clock, step):
        self.inner, self.clock, self.step, self.sent = inner, clock, step, 0

    def send(self, channel, target, payload):
        self.clock.advance(seconds=self.step)
        self.inner.send(channel, target, payload)
        self.sent += 1


def test_batch_stops_before_outliving_its_lease_and_hands_rows_back(live, clock, config):
    svc = live.services
    _enqueue(svc, clock, 5)
    slow = _SlowTransport(svc.transports, clock, step=20)        # lease 60 s, budget 15 s per send
    worker = OutboxWorker(svc.sessions, slow, clock, config.outbox)
    assert worker.run_once() == 3                                 # 0, 20, 40 s in; the 4th would start at 60 - 15 < 60
    rows = outbox_rows(live)
    assert [r.status for r in rows] == ["sent"] * 3 + ["pending"] * 2
    assert [r.attempts for r in rows] == [1, 1, 1, 0, 0] and all(r.lease_until is None for r in rows)
    assert svc.outbox.run_once() == 2 and len(robot_calls(live)) == 5


def test_outcomes_of_a_claim_whose_lease_was_taken_over_are_not_recorded(live, clock, config):
    """A worker that stalls past its lease must not overwrite what the next claimant recorded."""
    svc = live.services
    _enqueue(svc, clock, 1)
    lease = clock.now() + OutboxWorker(svc.sessions, svc.transports, clock, config.outbox).lease
    with svc.sessions() as s, s.begin():
        [row] = repo.claim_due_outbox(s, clock.now(), lease, 10)
    clock.advance(seconds=120)                                    # the lease ran out: claimable again
    assert svc.outbox.run_once() == 1
    with svc.sessions() as s, s.begin():                           # the stalled worker reports a failure
        repo.finish_outbox(s, lease, clock.now(), [], {row.id: (clock.now(), "late")}, {}, [])
    [row] = outbox_rows(live)
    assert row.status == "sent" and row.attempts == 2 and row.last_error is None


def test_failures_in_a_batch_are_recorded_per_row(live, clock, config):
    svc = live.services
    with svc.sessions() as s, s.begin():
        repo.enqueue(s, "robot", "local-robot-grid-1", {"kind": "test", "body": {"msgtype": "text", "text": {"content": "a"}}}, clock.now())
        repo.enqueue(s, "robot", "local-robot-nobody", {"kind": "test", "body": {"msgtype": "text", "text": {"content": "b"}}}, clock.now())
        repo.enqueue(s, "nowhere", "x", {"kind": "test"}, clock.now())
        repo.enqueue(s, "robot", "local-robot-grid-2", {"kind": "test", "body": {"msgtype": "text", "text": {"content": "d"}}}, clock.now())

    class Flaky:
        def send(self, channel, target, payload):
            if target == "local-robot-grid-2":
                raise DeliveryError("network: ConnectionError")
            svc.transports.send(channel, target, payload)

    assert OutboxWorker(svc.sessions, Flaky(), clock, config.outbox).run_once() == 1
    a, b, c, d = outbox_rows(live)
    assert (a.status, b.status, c.status, d.status) == ("sent", "failed", "failed", "pending")
    assert "93000" in b.last_error and "unknown channel" in c.last_error and d.attempts == 1
    assert d.next_attempt_at == clock.now() + svc.outbox.backoff(1)


def test_drain_coalesces_wakeups():
    calls = []
    running, release, second = threading.Event(), threading.Event(), threading.Event()

    def run_once():
        calls.append(len(calls))
        if len(calls) == 1:
            running.set()
            release.wait(5)          # hold the first run while the burst arrives
        else:
            second.set()

    drain = OutboxDrain(run_once, poll_seconds=30, delay=0.0)
    drain.start()
    try:
        drain.wake()
        assert running.wait(5)
        for _ in range(1000):          # a burst while it runs: one more run, not a thousand
            drain.wake()
        release.set()
        assert second.wait(5)
    finally:
        drain.stop()
        drain._thread.join(5)
    assert len(calls) == 2
