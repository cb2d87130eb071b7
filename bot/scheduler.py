"""APScheduler wiring: the outbox drain runs every poll interval and on demand (wake)."""
from __future__ import annotations

from datetime import datetime

from apscheduler.schedulers.background import BackgroundScheduler


class Scheduler:
    def __init__(self, services):
        self.services = services
        self._s = BackgroundScheduler(timezone="UTC")
        self._s.add_job(services.outbox.run_once, "interval", id="outbox",
                        seconds=services.config.outbox.poll_seconds, coalesce=True, max_instances=1)

    def start(self) -> None:
        self._s.start()

    def wake(self) -> None:
        job = self._s.get_job("outbox")
        if job is not None:
            job.modify(next_run_time=datetime.now(self._s.timezone))

    def shutdown(self) -> None:
        self._s.shutdown(wait=False)
