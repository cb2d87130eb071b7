"""The simulated clock of local mode: system time plus an offset that the simulator can move forward
("+40 分钟", "+3 小时", "+2 天", "+1 周"), so a ticket's whole 54321 life can be watched in a minute.

Several gunicorn workers serve the bot, each with its own clock object, so the offset lives in a
small JSON file in the local data folder (beside `local.fake_store`); every worker sees an advance
made by any other at its next `now()`. `now()` costs one stat(): the file is read again only when its
inode, size or modification time changed. Writes replace the file atomically under an exclusive lock,
so concurrent advances from two workers add up and a reader never sees half a file.

Local mode only: the production bot runs on `handlers.clock.SystemClock` and never builds this.
"""
from __future__ import annotations

import json
import logging
import math
import os
import tempfile
import threading
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy.engine import make_url

from handlers.clock import Clock, SystemClock

try:                      # advances are serialised across processes where flock exists (Linux, macOS)
    import fcntl
except ImportError:       # pragma: no cover - Windows: within one process only
    fcntl = None

log = logging.getLogger(__name__)

FILE_NAME = "sim_clock.json"


def offset_path(cfg) -> Path:
    """Where the offset is kept: beside the fake platform's store (data/sim_clock.json as shipped)."""
    store = cfg.local.fake_store
    if "://" in store:
        db = make_url(store).database
        folder = Path(db).parent if db and db != ":memory:" else Path("data")
    else:
        folder = Path(store).parent
    return folder / FILE_NAME


class SimClock:
    """A `handlers.clock.Clock`: `base.now()` (the system's time) plus the shared offset."""

    def __init__(self, path: str | os.PathLike, base: Clock | None = None):
        self.path = Path(path)
        self.base = base or SystemClock()
        self._lock = threading.Lock()
        self._seen: tuple | None = None           # stat key of the file last read (None: no file)
        self._offset = timedelta(0)

    @classmethod
    def for_config(cls, cfg) -> "SimClock":
        if not cfg.local_mode:
            raise ValueError("the simulated clock exists only in local mode")
        return cls(offset_path(cfg))

    # -- the Clock protocol ------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.base.now() + self.offset()

    # -- the offset --------------------------------------------------------------------------------

    def offset(self) -> timedelta:
        """The offset now in force (re-read only when the file changed since the last look)."""
        key = self._stat_key()
        with self._lock:
            if key != self._seen:
                self._offset = self._read() if key is not None else timedelta(0)
                self._seen = key
            return self._offset

    @property
    def offset_seconds(self) -> float:
        return self.offset().total_seconds()

    def advance(self, **delta: float) -> datetime:
        """Move time forward (timedelta's keywords: weeks, days, hours, minutes, seconds); returns now()."""
        step = timedelta(**delta)
        with self._exclusive():
            self._write(self._read() + step)
        return self.now()

    def reset(self) -> datetime:
        """Back to the system's time (offset 0); returns now()."""
        with self._exclusive():
            self._write(timedelta(0))
        return self.now()

    # -- the file ----------------------------------------------------------------------------------

    def _stat_key(self) -> tuple | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns

    def _read(self) -> timedelta:
        try:
            seconds = json.loads(self.path.read_text("utf-8"))["offset_seconds"]
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
                raise ValueError(f"offset_seconds is {seconds!r}")
            return timedelta(seconds=seconds)
        except FileNotFoundError:
            return timedelta(0)
        except (ValueError, KeyError, TypeError, OverflowError) as e:
            # a file edited by hand into nonsense must not stop the bot: real time, and say so
            log.warning("%s is unreadable (%s): using the system's time; the simulator's reset rewrites it", self.path, e)
            return timedelta(0)

    def _write(self, offset: timedelta) -> None:
        """Replace the file; called with self._lock held (see _exclusive)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"offset_seconds": offset.total_seconds(),
                "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        fd, tmp = tempfile.mkstemp(prefix=".sim_clock-", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f)
            os.replace(tmp, self.path)          # atomic: readers see the old file or the new one
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._seen, self._offset = self._stat_key(), offset     # the writer need not read its own write

    @contextmanager
    def _exclusive(self):
        """One read-modify-write at a time, across threads and worker processes."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            if fcntl is not None:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                if fcntl is not None:
                    fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
