"""The local spool: messages accepted while the database is unreachable wait here, on this host's
disk, until handlers/receive.py can store them.

A SQLite file with synchronous=FULL, so an append is on disk (fsynced) before the resident is told
"已收到". Every process on the host appends to the same file; one at a time replays it (an flock),
oldest first, deleting each entry only after its row is committed to the database. The dedupe key
makes replaying an entry twice harmless, so a crash between commit and delete loses nothing and
doubles nothing.
"""
from __future__ import annotations

import fcntl
import json
import logging
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)


@dataclass
class Entry:
    id: int
    source: str
    inbound: dict
    raw: str
    received_at: datetime
    delete: Callable[[], None]


class Spool:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self.wake = threading.Event()      # set on append: the replayer starts trying
        with self._db() as db:
            db.execute("CREATE TABLE IF NOT EXISTS spool (id INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT NOT NULL, "
                       "inbound TEXT NOT NULL, raw TEXT NOT NULL, received_at TEXT NOT NULL)")

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")   # fsync at every commit: "已收到" must be true
            self._local.db = db
        return db

    def append(self, source: str, inbound: dict, raw: str, received_at: datetime) -> None:
        self._db().execute("INSERT INTO spool (source, inbound, raw, received_at) VALUES (?, ?, ?, ?)",
                           (source, json.dumps(inbound, ensure_ascii=False), raw, received_at.isoformat()))
        self.wake.set()

    def __len__(self) -> int:
        return self._db().execute("SELECT count(*) FROM spool").fetchone()[0]

    def entries(self, limit: int = 100) -> list[Entry]:
        db = self._db()
        out = []
        for id_, source, inbound, raw, at in db.execute(
                "SELECT id, source, inbound, raw, received_at FROM spool ORDER BY id LIMIT ?", (limit,)):
            out.append(Entry(id_, source, json.loads(inbound), raw, datetime.fromisoformat(at),
                             delete=lambda i=id_: db.execute("DELETE FROM spool WHERE id = ?", (i,))))
        return out

    def replay(self, replay_entries: Callable[[list[Entry]], int]) -> int:
        """Hand the spool to replay_entries() in order until it is empty or replay stops early
        (database still down: the exception propagates). Returns how many were replayed; 0 when
        another process on this host is replaying."""
        with open(self.path.with_suffix(".lock"), "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 0
            total = 0
            while batch := self.entries():
                n = replay_entries(batch)
                total += n
                if n < len(batch):
                    break
            return total


class SpoolReplayer:
    """A thread in every process that can spool: replays once at start (a previous process may have
    left entries) and whenever an append woke it, retrying every `every` seconds while the database
    stays down."""

    def __init__(self, spool: Spool, replay_entries: Callable[[list[Entry]], int], every: float = 2.0):
        self.spool, self.replay_entries, self.every = spool, replay_entries, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="spool-replay", daemon=True)
        self.spool.wake.set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.spool.wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.spool.wake.wait()
            self.spool.wake.clear()       # before replaying: an append from now on wakes us again
            if self._stop.is_set():
                return
            if not self.run_once():
                self._stop.wait(self.every)
                self.spool.wake.set()

    def run_once(self) -> bool:
        """True when the spool is empty afterwards."""
        try:
            n = self.spool.replay(self.replay_entries)
            if n:
                log.warning("replayed %s spooled message(s) into the database", n)
        except Exception as e:  # noqa: BLE001 - the database is still down: quietly try again later
            log.debug("spool replay waits: %s", type(e).__name__)
            return False
        return len(self.spool) == 0
