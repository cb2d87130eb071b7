"""Ticket numbers: 20261121-0007, the day in the community's time zone and a per-day sequence.

The sequence is one row per day in ticket_counter, bumped by an atomic upsert. On PostgreSQL the
bump runs on its own short autocommit connection, never inside a message's transaction: there its
row lock would serialise every report until commit. And each process reserves numbers in blocks,
so that a busy one does not pay a commit per ticket: a block of 1 while reports are sparse (the
numbers then have no gaps at all), doubled up to BLOCK_MAX while this process used its last block up
within BUSY_SECONDS. What people see:
- a number is never given twice;
- a report that rolls back, a process that stops, or a day that ends leaves the rest of its block
  unused: gaps, at most BLOCK_MAX - 1 per process, and only after busy moments;
- two busy workers' numbers interleave, so within a day a higher number is usually, not always,
  a later report.
SQLite has one writer at a time anyway, and a second connection would wait on our own write lock,
so there the bump stays inside the transaction, one number at a time."""
from __future__ import annotations

import threading
from time import monotonic
import weakref
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.models import TicketCounter

BLOCK_MAX = 32
BUSY_SECONDS = 2.0


def _counter_upsert(dialect):
    stmt = dialect.insert(TicketCounter).values(day=bindparam("day"), last=bindparam("n"))
    return (stmt.on_conflict_do_update(index_elements=["day"], set_={"last": TicketCounter.last + stmt.excluded.last})
            .returning(TicketCounter.last))


_BUMP = {"postgresql": _counter_upsert(postgresql), "sqlite": _counter_upsert(sqlite)}


@dataclass
class _Block:
    next: int = 1
    end: int = 0                  # last number reserved; next > end: used up
    size: int = 1
    reserved_at: float = float("-inf")     # time.monotonic() of the reservation


class _Blocks:
    """One engine's (one database's) block in this process: today's."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.day: str | None = None
        self.block = _Block()

    def take(self, engine: Engine, day: str) -> int:
        with self.lock:
            if day != self.day:
                self.day, self.block = day, _Block()     # a new day: yesterday's rest is dropped
            b = self.block
            if b.next > b.end:
                now = monotonic()
                b.size = min(b.size * 2, BLOCK_MAX) if now - b.reserved_at < BUSY_SECONDS else 1
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    last = conn.execute(_BUMP["postgresql"], {"day": day, "n": b.size}).scalar_one()
                b.next, b.end, b.reserved_at = last - b.size + 1, last, now
            b.next += 1
            return b.next - 1


_ENGINES: weakref.WeakKeyDictionary[Engine, _Blocks] = weakref.WeakKeyDictionary()
_ENGINES_LOCK = threading.Lock()


def next_ticket_code(session: Session, now: datetime, tz: str) -> str:
    day = now.astimezone(ZoneInfo(tz)).strftime("%Y%m%d")
    engine = session.get_bind().engine
    if engine.dialect.name == "postgresql":
        with _ENGINES_LOCK:
            blocks = _ENGINES.setdefault(engine, _Blocks())
        seq = blocks.take(engine, day)
    else:
        seq = session.connection().execute(_BUMP["sqlite"], {"day": day, "n": 1}).scalar_one()
    return f"{day}-{seq:04d}"
