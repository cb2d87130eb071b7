"""Sends what the outbox holds: claim a batch of due rows (one atomic statement), send each outside
any transaction, record the batch's outcomes in one transaction. Retries back off exponentially;
permanent errors and exhausted rows end as failed, logged for staff.

An `mp_media` row is a download rather than a send: the photo is fetched (Transports.fetch_media)
and kept by bot/media.py, which may queue its group push; the drain then goes round once more so
the push leaves in the same run.

A row is only ever sent by the worker holding its lease: a batch stops before a send could outlive
the lease, and hands its unsent rows back. A worker that dies mid-batch leaves its rows "sending"
until the lease runs out; then they are claimed again (at least once, as with any outbox).
"""
from __future__ import annotations

import logging
import threading
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from bot import media
from bot.transports import DeliveryError, Transports
from handlers.clock import Clock
from storage import repositories as repo

log = logging.getLogger(__name__)


class OutboxWorker:
    def __init__(self, sessions: sessionmaker[Session], transports: Transports, clock: Clock, cfg):
        self.sessions = sessions
        self.transports = transports
        self.clock = clock
        self.cfg = cfg
        self.batch = max(1, int(getattr(cfg, "batch_size", 20)))
        self.lease = timedelta(seconds=max(60.0, cfg.http_timeout_seconds * 6))
        # a send may take longer than the timeout (it applies to connect and to each read): leave room
        self.send_budget = timedelta(seconds=cfg.http_timeout_seconds * 3)
        self._running = threading.Lock()
        self._followups = False      # a photo queued its group push during this batch

    def backoff(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(self.cfg.backoff_seconds * 2 ** max(attempts - 1, 0), self.cfg.max_backoff_seconds))

    def run_once(self) -> int:
        """Deliver every row due now; returns how many were sent. Safe to call from several workers."""
        if not self._running.acquire(blocking=False):
            return 0                      # this process is already draining
        try:
            sent = 0
            while True:
                self._followups = False
                n, claimed = self._batch()
                sent += n
                if claimed < self.batch and not self._followups:  # nothing more was due when we claimed
                    return sent
        finally:
            self._running.release()

    def _batch(self) -> tuple[int, int]:
        """Claim, send and record one batch: (sent, claimed)."""
        now = self.clock.now()
        lease_until = now + self.lease
        with self.sessions() as s, s.begin():
            rows = repo.claim_due_outbox(s, now, lease_until, self.batch)
        if not rows:
            return 0, 0
        sent: list[int] = []
        retry: dict = {}
        failed: dict = {}
        release: list[int] = []
        for row in rows:
            if self.clock.now() + self.send_budget > lease_until:
                release.append(row.id)    # no time left under this lease: someone claims it later
                continue
            try:
                if row.channel == "mp_media":
                    self._fetch_photo(row)
                else:
                    self.transports.send(row.channel, row.target, row.payload)
            except Exception as e:        # noqa: BLE001 - one row's bug must not lose the batch's outcomes
                if not isinstance(e, DeliveryError):
                    log.exception("outbox %s (%s): unexpected error", row.id, row.channel)
                    e = DeliveryError(f"internal error: {type(e).__name__}")
                if e.permanent or row.attempts >= self.cfg.max_attempts:
                    failed[row.id] = str(e)[:500]
                    log.error("outbox %s (%s) failed for good after %s attempts: %s", row.id, row.channel, row.attempts, e)
                else:
                    retry[row.id] = (self.clock.now() + self.backoff(row.attempts), str(e)[:500])
                    log.warning("outbox %s (%s) attempt %s failed, retrying: %s", row.id, row.channel, row.attempts, e)
                continue
            sent.append(row.id)
        with self.sessions() as s, s.begin():
            repo.finish_outbox(s, lease_until, self.clock.now(), sent, retry, failed, release)
        return len(sent), len(rows)

    def _fetch_photo(self, row) -> None:
        """mp_media: download the photo, keep it, maybe queue its group push (bot/media.py)."""
        got = self.transports.fetch_media(row.target)
        if media.keep_photo(self.sessions, self.clock, self.transports.media, row.payload or {}, got):
            self._followups = True
