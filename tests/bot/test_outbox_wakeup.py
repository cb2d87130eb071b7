"""PostgreSQL wakes the outbox's worker itself: an INSERT into outbox sends NOTIFY jiesu_outbox at
commit (migration 0015), so the web worker spends no round trip of its own on it."""
from __future__ import annotations

import psycopg
import pytest

from bot.wakeup import CHANNEL
from storage import repositories as repo
from storage.db import make_engine, make_session_factory
from storage.migrate import upgrade


@pytest.fixture
def pg(pg_schema_url):
    from tests.conftest import _drop_pg_schema, _new_pg_schema
    schema, url = _new_pg_schema(pg_schema_url)
    engine = make_engine(url)
    upgrade(engine)
    yield engine
    engine.dispose()
    _drop_pg_schema(pg_schema_url, schema)


def test_a_committed_outbox_insert_wakes_a_listener(pg, pg_schema_url, clock):
    sessions = make_session_factory(pg)
    with psycopg.connect(pg_schema_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        with sessions() as s, s.begin():
            repo.enqueue(s, "mp_text", "o-1", {"kind": "reply", "content": "发"}, clock.now())
            repo.enqueue(s, "mp_text", "o-2", {"kind": "reply", "content": "发"}, clock.now())
        got = [n.channel for n in listener.notifies(timeout=10, stop_after=1)]
    assert got == [CHANNEL]
