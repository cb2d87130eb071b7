"""Background work, in the background worker process (`run_bot.py worker`), never in the web
workers that must answer WeChat within 5 seconds: the outbox drain (a thread of its own, woken by
NOTIFY from the web workers and every poll interval), messages left behind or failed (every 10 s),
the 54321 sweep every minute, the weekly review (周周转) on Monday morning, the weekly retraining from
staff corrections and the daily privacy purge (APScheduler). Outbox claims, inbound leases, dedupe
keys and job_run claims make each happen once, however many workers run.

Web workers keep two light chores of their own (WebUpkeep): replaying their host's spool and
picking up a retrained classifier."""
from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from sqlalchemy.exc import OperationalError

from bot import learning
from handlers import notices, polls, promises
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
        self._failing = False
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
                if self._failing:
                    log.warning("outbox drain is working again")
                    self._failing = False
            except Exception as e:  # noqa: BLE001 - keep draining after a database hiccup
                if isinstance(e, OperationalError):   # an outage: say so once, not every poll
                    if not self._failing:
                        log.error("outbox drain: database unreachable (%s); retrying every poll", type(e).__name__)
                    self._failing = True
                else:
                    log.exception("outbox drain failed; retrying at the next poll")


def _quietly(job):
    """A job that fails while the database is down logs one line, not a traceback a minute."""
    def run(self):
        try:
            job(self)
        except OperationalError as e:
            log.warning("%s skipped: database unreachable (%s)", job.__name__, type(e).__name__)
    run.__name__ = job.__name__
    return run


class Scheduler:
    def __init__(self, services):
        self.services = services
        self.running = False
        cfg = services.config.outbox
        self.drain = OutboxDrain(services.outbox.run_once, services.wakeup.poll_seconds(cfg.poll_seconds),
                                 cfg.batch_delay_seconds)
        self._stop = threading.Event()
        self._s = BackgroundScheduler(timezone="UTC")
        self._s.add_job(self.sweep, "interval", id="sweep", minutes=1, coalesce=True, max_instances=1)
        # at start too: a worker restarted after a crash picks up what the crash left at once
        self._s.add_job(self.recover, "interval", id="recover", seconds=10, coalesce=True, max_instances=1,
                        next_run_time=datetime.now(timezone.utc))
        self._s.add_job(self.purge, "interval", id="purge", hours=24, coalesce=True, max_instances=1)
        self._s.add_job(self.review, CronTrigger(day_of_week="mon", hour=9, timezone=services.config.community.timezone),
                        id="weekly_review", coalesce=True, max_instances=1)
        rt = services.config.nlp.retrain
        if rt.enabled:
            self._s.add_job(self.retrain, CronTrigger(day_of_week=rt.day_of_week, hour=rt.hour,
                                                      timezone=services.config.community.timezone),
                            id="retrain", coalesce=True, max_instances=1, misfire_grace_time=3600)

    @_quietly
    def sweep(self) -> None:
        svc = self.services
        reload_classifier(svc)
        with transaction(svc.sessions) as session:
            queued = promises.sweep(session, svc.clock.now(), svc.directory, svc.intake.grid_by_id)
        with transaction(svc.sessions) as session:      # polls past their deadline, day-before reminders
            tz = svc.config.community.timezone
            queued += polls.close_due(session, svc.clock.now(), tz) + notices.remind_due(session, svc.clock.now(), tz)
        if queued:
            self.wake()

    @_quietly
    def recover(self) -> None:
        """Messages whose handler died or that failed: handled again (handlers/receive.py)."""
        if self.services.receiver.recover():
            self.wake()

    @_quietly
    def purge(self) -> None:
        """Raw XML and texts past the retention period masked (storage/privacy.py)."""
        from storage import privacy
        svc = self.services
        while True:
            with transaction(svc.sessions) as session:
                if not privacy.purge_expired(session, svc.clock.now(), svc.config.privacy.retention_days):
                    return

    @_quietly
    def review(self) -> None:
        svc = self.services
        with transaction(svc.sessions) as session:
            promises.weekly_review(session, svc.clock.now(), svc.config.community.timezone, svc.base_url)
        self.wake()

    def retrain(self) -> None:
        learning.retrain_job(self.services)

    def start(self) -> None:
        self.drain.start()
        self._s.start()
        self.services.wakeup.listen(self.wake, self._stop)
        self.running = True

    def wake(self) -> None:
        self.drain.wake()

    def shutdown(self) -> None:
        self._stop.set()
        self.drain.stop()
        self._s.shutdown(wait=False)
        self.running = False


def reload_classifier(services) -> None:
    try:
        services.models.reload_if_changed()   # the background worker may have retrained the classifier
    except Exception:  # noqa: BLE001 - answering residents matters more
        log.exception("checking for a retrained classifier failed")


class WebUpkeep:
    """The chores a web worker keeps: replay this host's spool when the database is back, and pick
    up a retrained classifier (checked every minute; a stat of one file)."""

    def __init__(self, services):
        from bot.spool import SpoolReplayer
        self.replayer = SpoolReplayer(services.spool, services.receiver.replay_spool)
        self._s = BackgroundScheduler(timezone="UTC")
        self._s.add_job(reload_classifier, "interval", args=(services,), id="reload", minutes=1, coalesce=True,
                        max_instances=1)

    def start(self) -> None:
        self.replayer.start()
        self._s.start()

    def shutdown(self) -> None:
        self.replayer.stop()
        self._s.shutdown(wait=False)
