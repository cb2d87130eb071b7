"""The outbox in batches: disjoint claims under concurrency, leases respected and extended, wake-ups
coalesced."""
from __future__ import annotations

import threading


from bot.outbox_worker import OutboxWorker
from bot.scheduler import OutboxDrain
from bot.transports import DeliveryError
from storage import outbox as outbox_store
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
    # one group gets all 40: lift its flood limit, paced sends are tested in test_outbox_reliability.py
    workers = [OutboxWorker(svc.sessions, svc.transports.__class__.from_config(config, live.url), clock, cfg,
                            group_pushes_per_minute=100) for _ in range(3)]
    sent = at_once(lambda w: w.run_once(), workers)
    assert sum(sent) == 40
    contents = sorted(c["body"]["text"]["content"] for c in robot_calls(live))
    assert contents == sorted(f"m{i}" for i in range(40))
    rows = outbox_rows(live)
    assert {r.status for r in rows} == {"sent"} and {r.attempts for r in rows} == {1}


class _SlowTransport:
    """Each send takes `step` seconds of the fake clock; `during(i)` runs while send i is in flight."""

    def __init__(self, inner, clock, step, during=None):
        self.inner, self.clock, self.step, self.sent, self.during = inner, clock, step, 0, during

    def send(self, channel, target, payload):
        self.clock.advance(seconds=self.step)
        if self.during:
            self.during(self.sent)
        self.inner.send(channel, target, payload)
        self.sent += 1


def test_a_slow_batch_extends_its_lease_and_is_never_taken_over(live, clock, config):
    """Replaces "batch stops before outliving its lease": with a short lease extended as the batch
    goes, a live batch slower than the lease keeps all its rows (none handed back, none stolen)."""
    svc = live.services
    _enqueue(svc, clock, 5)
    rival = OutboxWorker(svc.sessions, svc.transports, clock, config.outbox)
    rival_sent = []
    slow = _SlowTransport(svc.transports, clock, step=8, during=lambda i: rival_sent.append(rival.run_once()))
    worker = OutboxWorker(svc.sessions, slow, clock, config.outbox)
    assert worker.lease.total_seconds() == 15              # 2 x 5 s timeout + 5 s: 40 s of sends is far longer
    assert worker.run_once() == 5
    assert rival_sent == [0] * 5                           # tried during every send, found nothing to take
    rows = outbox_rows(live)
    assert [r.status for r in rows] == ["sent"] * 5 and [r.attempts for r in rows] == [1] * 5
    assert len(robot_calls(live)) == 5


def test_outcomes_of_a_claim_whose_lease_was_taken_over_are_not_recorded(live, clock, config):
    """A worker that stalls past its lease must not overwrite what the next claimant recorded."""
    svc = live.services
    _enqueue(svc, clock, 1)
    lease = clock.now() + OutboxWorker(svc.sessions, svc.transports, clock, config.outbox).lease
    with svc.sessions() as s, s.begin():
        [row] = outbox_store.claim_due_outbox(s, clock.now(), lease, 10)
    clock.advance(seconds=120)                                    # the lease ran out: claimable again
    assert svc.outbox.run_once() == 1
    with svc.sessions() as s, s.begin():                           # the stalled worker reports a failure
        outbox_store.finish_outbox(s, lease, clock.now(), [], {row.id: (clock.now(), "late")}, {}, [])
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
