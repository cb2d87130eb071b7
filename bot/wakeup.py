"""Waking the background worker when deliveries are queued, so pushes leave at once rather than at
the worker's next poll. PostgreSQL: every INSERT into outbox sends NOTIFY from a trigger (migration
0015), delivered at commit and across hosts, with no round trip of the web worker's own; the worker
LISTENs here. SQLite (local mode, one host): nothing to send; the worker polls its small outbox
often instead."""
from __future__ import annotations

import logging
import threading
from typing import Callable

from sqlalchemy import Engine

log = logging.getLogger(__name__)
CHANNEL = "jiesu_outbox"
SQLITE_POLL_SECONDS = 0.25


class Wakeup:
    def __init__(self, engine: Engine):
        self.engine = engine
        self.pg = engine.dialect.name == "postgresql"

    def poll_seconds(self, configured: float) -> float:
        return configured if self.pg else min(configured, SQLITE_POLL_SECONDS)

    def listen(self, on_wake: Callable[[], None], stop: threading.Event) -> threading.Thread | None:
        """PostgreSQL: a thread calling on_wake() at every NOTIFY until stop is set."""
        if not self.pg:
            return None
        t = threading.Thread(target=self._listen, args=(on_wake, stop), name="outbox-listen", daemon=True)
        t.start()
        return t

    def _listen(self, on_wake: Callable[[], None], stop: threading.Event) -> None:
        import psycopg
        dsn = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        failing = False
        while not stop.is_set():
            try:
                with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    if failing:
                        log.warning("outbox wake-ups are back")
                        failing = False
                    while not stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            on_wake()
            except Exception as e:  # noqa: BLE001 - the database is down: the poll covers it
                if not failing:
                    log.warning("outbox wake-ups paused (%s); polling until the database is back", type(e).__name__)
                    failing = True
                stop.wait(2.0)
