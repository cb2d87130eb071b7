"""APScheduler wiring: the outbox drain (every poll interval and on demand), the 54321 sweep every
minute and the weekly review (周周转) on Monday morning. Every worker runs them; outbox dedupe keys
make each notice happen once."""
from __future__ import annotations

from datetime import datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from handlers import promises
from storage.db import transaction


class Scheduler:
    def __init__(self, services):
        self.services = services
        self._s = BackgroundScheduler(timezone="UTC")
        self._s.add_job(services.outbox.run_once, "interval", id="outbox",
                        seconds=services.config.outbox.poll_seconds, coalesce=True, max_instances=1)
        self._s.add_job(self.sweep, "interval", id="sweep", minutes=1, coalesce=True, max_instances=1)
        self._s.add_job(self.review, CronTrigger(day_of_week="mon", hour=9, timezone=services.config.community.timezone),
                        id="weekly_review", coalesce=True, max_instances=1)

    def sweep(self) -> None:
        svc = self.services
        committee = [s.userid for s in svc.staff_desk.staff.values() if s.role == "committee"]
        with transaction(svc.sessions) as session:
            queued = promises.sweep_overdue(session, svc.clock.now(), committee)
        if queued:
            self.wake()

    def review(self) -> None:
        svc = self.services
        with transaction(svc.sessions) as session:
            promises.weekly_review(session, svc.clock.now(), svc.config.community.timezone)
        self.wake()

    def start(self) -> None:
        self._s.start()

    def wake(self) -> None:
        job = self._s.get_job("outbox")
        if job is not None:
            job.modify(next_run_time=datetime.now(self._s.timezone))

    def shutdown(self) -> None:
        self._s.shutdown(wait=False)
