"""Ticket numbers on PostgreSQL: unique across workers, reserved in blocks only while busy, so a
quiet community's numbers have no gaps and a busy worker does not commit once per ticket."""
from __future__ import annotations

import re
import threading
from datetime import datetime, timezone

import pytest
from sqlalchemy import event, select

from storage import ticket_numbers
from storage.db import make_engine, make_session_factory
from storage.migrate import upgrade
from storage.models import TicketCounter

TZ = "Asia/Shanghai"
DAY = datetime(2026, 12, 6, 3, 0, tzinfo=timezone.utc)        # 20261206 in Shanghai


class Monotonic:
    """A fake time.monotonic(): the block size depends on how fast blocks are used up."""
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


@pytest.fixture
def mono(monkeypatch):
    m = Monotonic()
    monkeypatch.setattr(ticket_numbers, "monotonic", m)
    return m


class Worker:
    """One process's engine on the shared database, counting the counter's round trips."""
    def __init__(self, url):
        self.engine = make_engine(url)
        self.sessions = make_session_factory(self.engine)
        self.bumps = 0
        event.listen(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, *args):
        self.bumps += "ticket_counter" in statement

    def code(self, now=DAY):
        with self.sessions() as s:
            return ticket_numbers.next_ticket_code(s, now, TZ)


def _counter(w) -> int:
    with w.sessions() as s:
        return s.scalar(select(TicketCounter.last).where(TicketCounter.day == "20261206"))


@pytest.fixture
def workers(pg_url):
    """Worker(pg_url) x n, their engines disposed afterwards."""
    made = []

    def make(n):
        made.extend(Worker(pg_url) for _ in range(n))
        return made[-n:]
    yield make
    for w in made:
        w.engine.dispose()


@pytest.fixture
def pg_url(pg_schema_url):
    from tests.conftest import _drop_pg_schema, _new_pg_schema
    schema, url = _new_pg_schema(pg_schema_url)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    _drop_pg_schema(pg_schema_url, schema)


def _seq(code):
    day, n = re.fullmatch(r"(\d{8})-(\d{4,})", code).groups()
    return day, int(n)


def test_sparse_reports_are_numbered_without_gaps_one_bump_each(workers, mono):
    [w] = workers(1)
    codes = []
    for _ in range(5):
        codes.append(w.code())
        mono.t += 60                                 # a quiet community: a report a minute
    assert codes == [f"20261206-{i:04d}" for i in range(1, 6)]
    assert w.bumps == 5


def test_a_burst_reserves_growing_blocks_and_a_lull_shrinks_them_again(workers, mono):
    [w] = workers(1)
    burst = [_seq(w.code())[1] for _ in range(100)]  # all in the same instant
    assert burst == list(range(1, 101))              # one worker alone: still in order, no gaps
    assert w.bumps <= 8                               # blocks 1, 2, 4, ... 32: not 100 commits
    reserved = _counter(w)
    assert reserved > 100
    mono.t += 60
    rest = [_seq(w.code())[1] for _ in range(reserved - 100)]
    assert rest == list(range(101, reserved + 1))    # the block in hand is used first, after a lull too
    mono.t += 60
    assert _seq(w.code())[1] == reserved + 1 and _counter(w) == reserved + 1   # then a block of 1 again


def test_two_workers_under_load_never_share_a_number(workers, mono):
    workers = workers(2)
    got: list[str] = []
    lock = threading.Lock()

    def run(w):
        for _ in range(150):
            c = w.code()
            with lock:
                got.append(c)
    threads = [threading.Thread(target=run, args=(w,)) for w in workers for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(got) == 1200 and len(set(got)) == 1200
    assert sum(w.bumps for w in workers) < 100
    assert _counter(workers[0]) - 1200 < 2 * ticket_numbers.BLOCK_MAX   # unused: at most a block in each worker's hand


def test_a_new_day_starts_again_at_one(workers, mono):
    [w] = workers(1)
    for _ in range(10):
        w.code()
    assert w.code(datetime(2026, 12, 6, 17, 0, tzinfo=timezone.utc)) == "20261207-0001"   # past midnight in Shanghai
