"""Background work in each worker process: the outbox drain (a thread of its own, woken by new
rows and every poll interval), the 54321 sweep every minute (which also picks up a retrained
classifier), the weekly review (周周转) on Monday morning and the weekly retraining from staff
corrections (APScheduler). Outbox claims, dedupe keys and job_run claims make each happen once."""
from __future__ import annotations

import logging
import threading

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from bot import learning
from handlers import promises
from nlp import store as nlp_store
from storage.db import transaction

log = logging.getLogger(__name__)


class OutboxDrain:
    """Runs outbox.run_once() every poll interval and soon after wake(). Wake-ups coalesce: waking
    a drain that is already due or running costs an Event.set(); rows queued meanwhile go in the
    next batch. After a wake-up it waits `delay` so that a burst of messages leaves in few batches."""

    def __init__(self, run_once, poll_seconds: float, delay: float = 0.0):
        self.run_once = run_once
        self.poll = poll_seconds
        self.delay = delay
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="outbox-drain", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            if self._wake.wait(self.poll) and self.delay:
                self._stop.wait(self.delay)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.run_once()
            except Exception:  # noqa: BLE001 - keep draining after a database hiccup
                log.exception("outbox drain failed; retrying at the next poll")


class Scheduler:
    def __init__(self, services):
        self.services = services
        cfg = services.config.outbox
        self.drain = OutboxDrain(services.outbox.run_once, cfg.poll_seconds, cfg.batch_delay_seconds)
        self._s = BackgroundScheduler(timezone="UTC")
        self._s.add_job(self.sweep, "interval", id="sweep", minutes=1, coalesce=True, max_instances=1)
        self._s.add_job(self.review, CronTrigger(day_of_week="mon", hour=9, timezone=services.config.community.timezone),
                        id="weekly_review", coalesce=True, max_instances=1)
        rt = services.config.nlp.retrain
        if rt.enabled:
            self._s.add_job(self.retrain, CronTrigger(day_of_week=rt.day_of_week, hour=rt.hour,
                                                      timezone=services.config.community.timezone),
                            id="retrain", coalesce=True, max_instances=1, misfire_grace_time=3600)

    def sweep(self) -> None:
        svc = self.services
        try:
            nlp_store.reload_if_changed()      # another worker may have retrained the classifier
        except Exception:  # noqa: BLE001 - the promises below matter more
            log.exception("checking for a retrained classifier failed")
        with transaction(svc.sessions) as session:
            queued = promises.sweep(session, svc.clock.now(), svc.directory, svc.intake.grid_by_id)
        if queued:
            self.wake()

    def review(self) -> None:
        svc = self.services
        with transaction(svc.sessions) as session:
            promises.weekly_review(session, svc.clock.now(), svc.config.community.timezone)
        self.wake()

    def retrain(self) -> None:
        learning.retrain_job(self.services)

    def start(self) -> None:
        self.drain.start()
        self._s.start()

    def wake(self) -> None:
        self.drain.wake()

    def shutdown(self) -> None:
        self.drain.stop()
        self._s.shutdown(wait=False)
