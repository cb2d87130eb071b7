"""Receiving a message exactly once, across retries, workers, crashes and database outages.

1. A message is stored and handled in one transaction, with one commit: its row is inserted first
   (status received, under a lease; the dedupe key makes a concurrent copy wait for it), the
   handling runs, and the outcome is written on the same row. WeChat waits 5 s: past the budget
   the sender gets a holding reply, the message is also kept in the local spool (until the commit
   the row exists only in this transaction), and whichever commits first wins: the handler (its
   reply then goes out through the outbox, reply_deferred) or the spool's replay.
2. When handling fails, its effects roll back and the message is stored alone as failed, so
   nothing the resident sent is lost; recover(), from the background worker, handles it again a
   bounded number of times, then marks it dead and tells the committee. A row stored by the
   spool's replay or taken back from a dead handler is handled the same way, under its lease.
3. While the database cannot be reached in time the message goes to the local spool and the sender is
   told it was received; replay_spool() stores and handles it, once and in order, when it is back.

A retry (WeChat resends after 5 s without an answer, to any worker) finds the stored row: if it is
handled, the stored reply; otherwise its reply is marked deferred and the retry gets the holding
text, so the reply reaches the sender exactly once. Handling commits only while it holds the row's
lease (compare-and-set in storage/inbound.py), so no message is handled twice.
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Protocol

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from handlers import replies
from handlers.inbound import Inbound
from nlp import mask_pii
from storage import inbound as rows
from storage import repositories as repo

log = logging.getLogger(__name__)

SOURCES = {"mp": "mp_text", "wecom": "wecom_text"}     # where a message came from -> how to answer later


class Handler(Protocol):
    """Intake (residents) and StaffDesk (staff commands) both fit."""
    clock: object

    def handle(self, session: Session, msg: Inbound) -> tuple[str, int | None]: ...

    def failed_reply(self) -> str: ...

    def holding_reply(self, msg: Inbound) -> str: ...


class Spool(Protocol):
    def append(self, source: str, inbound: dict, raw: str, received_at: datetime) -> None: ...


@dataclass
class _Run:
    """One message in progress, shared by the request thread and the thread handling it."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    stored: bool = False       # its row is committed: from now on the row, not the spool, owns it
    inserted: bool = False     # its row is written in a transaction not yet committed (the database answers)
    spooled: bool = False      # the request gave up waiting for the database and spooled it
    deferred: bool = False     # the request answered with the holding text
    deadline: float = 0.0      # (monotonic) a retry waits for the first delivery's reply until then
    retry: bool = False        # this request is a repeat of a stored message


def _unreachable(e: BaseException) -> bool:
    """The database could not be used at all (as opposed to a statement that failed)."""
    return isinstance(e, (PoolTimeout, OperationalError, InterfaceError)) or (
        isinstance(e, DBAPIError) and e.connection_invalidated)


class Receiver:
    def __init__(self, sessions: sessionmaker[Session], handlers: dict[str, Handler], clock, cfg, *,
                 spool: Spool, committee: Callable[[], list[str]] = list, threads: int = 8):
        self.sessions = sessions
        self.handlers = handlers
        self.clock = clock
        self.cfg = cfg
        self.spool = spool
        self.committee = committee          # userids told about messages that could not be handled
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="receive")
        self._down_since: float | None = None
        self._down_lock = threading.Lock()
        self._pause = threading.Event()     # never set: a wait that is not a sleep in a hot loop

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.cfg.lease_seconds)

    def holding(self, source: str, msg: Inbound) -> str:
        return self.handlers[source].holding_reply(msg)

    # --- the request path ----------------------------------------------------------------------

    def receive(self, source: str, msg: Inbound, raw: str) -> tuple[str, bool]:
        """(reply text, first time?) within the reply budget, whatever the database does.

        The rule that keeps every answer: whenever the sender gets the holding text, something has
        recorded that the real reply must follow: run.deferred, read by the handler before it
        commits, or else the spool, whose replay makes sure of it (_follow_up)."""
        started = time.monotonic()
        run = _Run(deadline=started + 0.8 * self.cfg.reply_budget_seconds)
        future = self._pool.submit(self._store_and_handle, source, msg, raw, run)
        try:
            return future.result(timeout=max(0.0, self.cfg.reply_budget_seconds - (time.monotonic() - started)))
        except TimeoutError:
            pass
        except Exception as e:          # noqa: BLE001 - whatever broke, the sender gets an answer
            if not run.stored and not _unreachable(e):
                raise
            if run.stored:              # e.g. the connection died around the commit: did it land?
                log.warning("inbound %s: handling broke after it was stored (%s); its reply will follow",
                            msg.dedupe_key, type(e).__name__)
            self._spool(source, msg, raw, run, e)
            return self.holding(source, msg), True
        with run.lock:                  # past the budget
            if not run.stored or run.retry:     # not committed: kept on disk too, first to commit wins
                self._spool(source, msg, raw, run, None)
                return self.holding(source, msg), True
        try:
            return future.result()      # committed just now: its reply is ready
        except Exception as e:  # noqa: BLE001
            self._spool(source, msg, raw, run, e)
            return self.holding(source, msg), True

    def _spool(self, source: str, msg: Inbound, raw: str, run: _Run, e: BaseException | None) -> None:
        """Keep the message on local disk: its replay stores it, or, if it was stored after all,
        makes sure its reply follows by the outbox."""
        run.spooled = True
        run.deferred = True
        self.spool.append(source, asdict(msg), raw, self.clock.now())
        # a slow handler is not an outage: the database answered its first statement
        if (e is None and not run.stored and not run.inserted) or (e is not None and _unreachable(e)):
            self._outage(e)

    def _store_and_handle(self, source: str, msg: Inbound, raw: str, run: _Run) -> tuple[str, bool]:
        if run.spooled:
            return "", False            # the request spooled it while this waited for a thread
        row_id, reply = self._store_handled(source, msg, raw, run)
        if row_id is None:
            return self._retry(source, msg, run), False
        return reply, True

    def _store_handled(self, source: str, msg: Inbound, raw: str, run: _Run, received_at: datetime | None = None,
                       deferred: bool = False) -> tuple[int | None, str]:
        """Store the message and its outcome in one transaction: (row id, reply), or (None, '') when
        its dedupe key was stored already. Handling that fails rolls back with everything it did,
        and the message is then stored alone, as failed (to be retried by recover())."""
        handler = self.handlers[source]
        now = self.clock.now()
        lease_until = now + self.lease
        row = dict(dedupe_key=msg.dedupe_key, openid=msg.openid, msg_type=msg.type, raw=raw, source=source,
                   inbound=asdict(msg), now=received_at or now)
        try:
            with self.sessions() as s, s.begin():
                row_id = rows.store(s.connection(), **row, lease_until=lease_until, deferred=deferred)
                if row_id is None:
                    return None, ""
                with run.lock:
                    run.inserted = True
                reply, ticket_id = handler.handle(s, msg)
                self._finish(s, source, msg, row_id, lease_until, run, deferred, now, self._handled(reply, ticket_id, now))
        except Exception as e:       # noqa: BLE001 - its effects rolled back; the message is kept
            if _unreachable(e):
                raise                # the database went away: the spool keeps the message
            log.exception("handling inbound %s failed", msg.dedupe_key)
            reply = handler.failed_reply()
            with self.sessions() as s, s.begin():
                row_id = rows.store(s.connection(), **row, lease_until=None, deferred=True,
                                    outcome=self._failed(source, e, reply, now, 1))
            if row_id is None:
                return None, ""
        with run.lock:
            run.stored = True
        self._back()
        return row_id, reply

    def _retry(self, source: str, msg: Inbound, run: _Run) -> str:
        """WeChat (or a replayed spool) sends a message we already have."""
        run.retry = True
        now = self.clock.now()
        lease_until = now + self.lease
        with self.sessions() as s, s.begin():
            taken = rows.take_over(s.connection(), msg.dedupe_key, now, lease_until, self.cfg.max_attempts)
        if taken is not None:           # its handler died or it failed: handle it here and now
            return self._handle(source, msg, taken.id, lease_until, run)
        while time.monotonic() < run.deadline:   # the first delivery is being handled: wait for its reply
            with self.sessions() as s:
                got = rows.status_of(s.connection(), msg.dedupe_key)
            if got is None or got.status != "received":
                break
            self._pause.wait(0.05)
        with self.sessions() as s, s.begin():
            got = rows.answer_retry(s.connection(), msg.dedupe_key)
        if got is None:
            return ""
        if got.status == "handled" and not got.reply_deferred:
            return got.reply or ""
        if got.status == "handled":     # its reply went (or goes) through the outbox
            return ""
        return self.holding(source, msg)

    # --- handling, on any path -----------------------------------------------------------------

    def _handle(self, source: str, msg: Inbound, row_id: int, lease_until: datetime, run: _Run,
                deferred: bool = False, attempts: int = 1) -> str:
        """Handle a message stored earlier (a replayed spool's, a failed one, one whose handler died)
        under its lease; record the outcome only if the lease is still ours. Returns the reply for
        the request (or '' when someone else took the message over)."""
        handler = self.handlers[source]
        now = self.clock.now()
        with self.sessions() as session, session.begin():
            try:
                with session.begin_nested():
                    reply, ticket_id = handler.handle(session, msg)
                done = self._handled(reply, ticket_id, now)
            except Exception as e:       # effects rolled back; the message stays, to be retried
                if _unreachable(e):
                    raise                # the database went away: the lease brings it back later
                log.exception("handling inbound %s failed", msg.dedupe_key)
                reply = handler.failed_reply()
                done = self._failed(source, e, reply, now, attempts)
                deferred = True          # the sender has the apology: a later success goes by outbox
            if not self._finish(session, source, msg, row_id, lease_until, run, deferred, now, done):
                session.rollback()       # the lease ran out and someone else has it now
                return ""
        return reply or ""

    @staticmethod
    def _handled(reply: str, ticket_id: int | None, now: datetime) -> dict:
        return {"status": "handled", "reply": reply, "ticket_id": ticket_id, "error": None, "handled_at": now,
                "lease_until": None}

    def _failed(self, source: str, e: BaseException, reply: str, now: datetime, attempts: int) -> dict:
        return {"status": "failed" if source == "mp" else "dead", "reply": reply, "ticket_id": None,
                "error": mask_pii(f"{type(e).__name__}: {e}")[:2000], "lease_until": None,
                "next_attempt_at": now + self._backoff(attempts)}

    def _finish(self, session: Session, source: str, msg: Inbound, row_id: int, lease_until: datetime, run: _Run,
                deferred: bool, now: datetime, done: dict) -> bool:
        """Write the outcome on the row if the lease is still ours (False if not). A reply the
        request no longer waits for (holding text sent, or spooled) is queued for the outbox."""
        with run.lock:
            deferred = deferred or run.deferred or run.spooled
        kept = rows.finish(session.connection(), row_id, lease_until, done, deferred)
        if kept is None:
            return False
        if kept.reply_deferred and done["status"] == "handled" and done["reply"]:
            self._answer_later(session, source, msg, row_id, done["reply"], now)
        return True

    def _backoff(self, attempts: int) -> timedelta:
        return timedelta(seconds=self.cfg.retry_seconds * 2 ** max(attempts - 1, 0))

    def _answer_later(self, session: Session, source: str, msg: Inbound, row_id: int, reply: str, now: datetime) -> None:
        repo.enqueue_once(session, f"reply:{row_id}", SOURCES[source], msg.openid,
                          {"kind": "reply", "content": reply}, now)

    # --- the background worker -----------------------------------------------------------------

    def recover(self, limit: int = 50) -> int:
        """Handle messages left behind (handler died) or failed and due again; returns how many."""
        now = self.clock.now()
        lease_until = now + self.lease
        with self.sessions() as s, s.begin():
            taken = rows.claim_left_behind(s.connection(), now, lease_until, limit)
        for row in taken:
            if row.attempts > self.cfg.max_attempts or not row.inbound or row.source not in self.handlers:
                self._give_up(row, lease_until, now)
                continue
            msg = Inbound(**row.inbound)
            try:
                self._handle(row.source, msg, row.id, lease_until, _Run(stored=True), deferred=True,
                             attempts=row.attempts)
            except SQLAlchemyError as e:
                log.warning("retrying inbound %s failed (%s); it stays for the next round", row.id, type(e).__name__)
        return len(taken)

    def _give_up(self, row, lease_until: datetime, now: datetime) -> None:
        """Retries spent: the sender is told a person will look, and so is the committee."""
        text = mask_pii((row.inbound or {}).get("content") or "")[:60] or f"（{(row.inbound or {}).get('type', '消息')}）"
        with self.sessions() as s, s.begin():
            if not rows.give_up(s.connection(), row.id, lease_until, f"gave up after {row.attempts - 1} attempts"):
                return
            if row.source == "mp":
                repo.enqueue_once(s, f"dead:{row.id}", "mp_text", row.openid,
                                  {"kind": "reply", "content": replies.handed_to_staff()}, now)
            for userid in self.committee():
                repo.enqueue_once(s, f"dead:{row.id}:{userid}", "wecom_text", userid, {
                    "kind": "inbound_dead",
                    "content": f"一条{'居民' if row.source == 'mp' else '工作人员'}消息多次自动处理失败，请人工跟进："
                               f"尾号{row.openid[-4:]} {row.received_at:%m-%d %H:%M}（UTC）发来：{text}"}, now)
        log.error("inbound %s given up after %s attempts; the committee was told", row.id, row.attempts - 1)

    def replay_spool(self, entries) -> int:
        """Store and handle spooled messages in order; returns how many left the spool. Stops at the
        first database failure (the rest wait for the next try). Each entry is deleted only once
        its row is committed, and its dedupe key makes a second replay a no-op."""
        done = 0
        for entry in entries:
            msg = Inbound(**entry.inbound)
            row_id, _ = self._store_handled(entry.source, msg, entry.raw, _Run(), entry.received_at, deferred=True)
            self._back()
            if row_id is None:
                self._follow_up(entry.source, msg)
            entry.delete()
            done += 1
        return done

    def _follow_up(self, source: str, msg: Inbound) -> None:
        """A spooled message that had been stored after all: its sender got the holding text, so its
        reply must go by the outbox: if it is handled already, queue it now; if not, its handler
        reads reply_deferred when it finishes."""
        now = self.clock.now()
        with self.sessions() as s, s.begin():
            row = rows.defer_reply(s.connection(), msg.dedupe_key)
            if row is not None and row.status == "handled" and row.reply:
                self._answer_later(s, source, msg, row.id, row.reply, now)

    # --- saying an outage once -----------------------------------------------------------------

    def _outage(self, e: BaseException | None) -> None:
        with self._down_lock:
            if self._down_since is None:
                self._down_since = time.monotonic()
                log.error("database unreachable or too slow (%s): messages are kept in the local spool "
                          "and answered with a holding reply until it is back",
                          type(e).__name__ if e else f"no answer within {self.cfg.reply_budget_seconds}s")

    def _back(self) -> None:
        if self._down_since is None:
            return
        with self._down_lock:
            if self._down_since is not None:
                log.warning("database reachable again after %.0f s; spooled messages will be replayed",
                            time.monotonic() - self._down_since)
                self._down_since = None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
