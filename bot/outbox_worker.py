"""Sends what the outbox holds: claim a row (atomic), send outside any transaction, record the outcome.
Retries back off exponentially; permanent errors and exhausted rows end as failed, logged for staff."""
from __future__ import annotations

import logging
import threading
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from bot.transports import DeliveryError, Transports
from handlers.clock import Clock
from storage import repositories as repo
from storage.models import Outbox

log = logging.getLogger(__name__)


class OutboxWorker:
    def __init__(self, sessions: sessionmaker[Session], transports: Transports, clock: Clock, cfg):
        self.sessions = sessions
        self.transports = transports
        self.clock = clock
        self.cfg = cfg
        self.lease = timedelta(seconds=max(60.0, cfg.http_timeout_seconds * 6))
        self._running = threading.Lock()

    def backoff(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(self.cfg.backoff_seconds * 2 ** max(attempts - 1, 0), self.cfg.max_backoff_seconds))

    def run_once(self) -> int:
        """Deliver every row due now; returns how many were sent. Safe to call from several workers."""
        if not self._running.acquire(blocking=False):
            return 0                      # this process is already draining
        try:
            sent = 0
            while True:
                with self.sessions() as s:
                    ids = repo.due_outbox_ids(s, self.clock.now())
                if not ids:
                    return sent
                progressed = False
                for row_id in ids:
                    outcome = self._deliver(row_id)
                    sent += outcome == "sent"
                    progressed |= outcome is not None
                if not progressed:
                    return sent
        finally:
            self._running.release()

    def _deliver(self, row_id: int) -> str | None:
        now = self.clock.now()
        with self.sessions() as s, s.begin():
            if not repo.claim_outbox(s, row_id, now, self.lease):
                return None               # another worker has it
            row = s.get(Outbox, row_id)
            channel, target, payload, attempts = row.channel, row.target, row.payload, row.attempts
        try:
            self.transports.send(channel, target, payload)
        except DeliveryError as e:
            return self._failed(row_id, attempts, e)
        with self.sessions() as s, s.begin():
            row = s.get(Outbox, row_id)
            row.status, row.sent_at, row.lease_until, row.last_error = "sent", self.clock.now(), None, None
        return "sent"

    def _failed(self, row_id: int, attempts: int, e: DeliveryError) -> str:
        now = self.clock.now()
        give_up = e.permanent or attempts >= self.cfg.max_attempts
        with self.sessions() as s, s.begin():
            row = s.get(Outbox, row_id)
            row.last_error, row.lease_until = str(e)[:500], None
            if give_up:
                row.status = "failed"
                log.error("outbox %s (%s) failed for good after %s attempts: %s", row_id, row.channel, attempts, e)
            else:
                row.status, row.next_attempt_at = "pending", now + self.backoff(attempts)
                log.warning("outbox %s (%s) attempt %s failed, retrying: %s", row_id, row.channel, attempts, e)
        return "failed" if give_up else "retry"
