"""Soak check (bench/soak.py), the chaos: the database outage (the TCP proxy in a process of its own,
or a lock on the SQLite file), the thread that SIGKILLs the server's workers, the outage thread and
the progress lines."""
from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import sqlite3
import threading
import time

from soak_traffic import Plan
from tcp_proxy import TcpProxy  # (bench/ is on sys.path when run as a script)
from webhook_support import children

# -- the database outage --------------------------------------------------------------------------

def _proxy_main(upstream, conn) -> None:
    """Child process: a TcpProxy, cut and restored on command (EOF: the parent is gone, stop)."""
    proxy = TcpProxy(upstream)
    conn.send(proxy.port)
    while True:
        try:
            cmd = conn.recv()
        except (EOFError, OSError):
            cmd = "close"
        getattr(proxy, cmd)()
        if cmd == "close":
            return
        conn.send("ok")


class ProxyProcess:
    """bench/tcp_proxy.py in a process of its own (its pump threads would otherwise share this
    process's GIL with 16 senders and slow every database round trip of the bot)."""

    def __init__(self, upstream: tuple[str, int]):
        ctx = mp.get_context("fork")          # forked before any thread of ours starts
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_proxy_main, args=(upstream, child), daemon=True, name="soak-proxy")
        self.proc.start()
        self.port = self.conn.recv()

    def cut(self) -> None:
        self.conn.send("cut")
        self.conn.recv()

    def restore(self) -> None:
        self.conn.send("restore")
        self.conn.recv()

    def close(self) -> None:
        try:
            self.conn.send("close")
        except OSError:
            pass
        self.proc.join(5)


class SqliteOutage:
    """--db sqlite: the database "goes away" by an exclusive lock held on its file (every bot
    transaction starts with BEGIN IMMEDIATE and waits behind it, up to its 15 s busy timeout)."""

    def __init__(self, path: str):
        self.path = path
        self.db = None

    def cut(self) -> None:
        self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self.db.execute("BEGIN EXCLUSIVE")

    def restore(self) -> None:
        self.db.execute("ROLLBACK")
        self.db.close()

    def close(self) -> None:
        pass



# -- chaos ----------------------------------------------------------------------------------------

def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    """Running and not a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def server_children(master: int) -> tuple[list[int], list[int]]:
    """(gunicorn web workers, background workers) among the master's children: the background worker
    is `run_bot.py worker ... --parent <master>`; web workers are forks of the master."""
    web, bg = [], []
    for pid in children(master):
        if not _alive(pid):
            continue
        args = _cmdline(pid)
        (bg if "worker" in args and "--parent" in args else web).append(pid)
    return web, bg


class Chaos(threading.Thread):
    """Every 3-5 s SIGKILL, alternately, a random web worker and the background worker."""

    def __init__(self, master: int, rng: random.Random, every: tuple[float, float], t0: float,
                 spare_web: threading.Event | None = None):
        super().__init__(name="chaos", daemon=True)
        self.master, self.rng, self.every, self.t0 = master, rng, every, t0
        self.spare_web = spare_web        # set: web workers are spared (--spare-outage)
        self.spared = 0
        self.stop = threading.Event()
        self.kills: list[tuple[float, str, int]] = []    # (seconds since start, web|background, pid)
        self.kill_times: list[tuple[float, str]] = []    # (wall time, web|background)
        self.misses = 0                                   # turns when no such process was up

    def run(self) -> None:
        kinds = ["web", "background"]
        turn = 0
        while not self.stop.wait(self.rng.uniform(*self.every)):
            kind = kinds[turn % 2]
            turn += 1
            if kind == "web" and self.spare_web is not None and self.spare_web.is_set():
                self.spared += 1
                continue
            web, bg = server_children(self.master)
            pool = web if kind == "web" else bg
            if not pool:
                self.misses += 1            # still being restarted: nothing to kill this turn
                continue
            pid = self.rng.choice(pool)
            try:
                os.kill(pid, signal.SIGKILL)
                self.kills.append((time.monotonic() - self.t0, kind, pid))
                self.kill_times.append((time.time(), kind))
            except ProcessLookupError:
                self.misses += 1


class Outage(threading.Thread):
    """Once half of the deliveries are out, cut the database for `seconds`, then restore it."""

    def __init__(self, plan: Plan, switch, seconds: float, t0: float, spare: bool = False):
        super().__init__(name="outage", daemon=True)
        self.plan, self.switch, self.seconds, self.t0 = plan, switch, seconds, t0
        self.spare = spare
        self.sparing = threading.Event()    # set while web workers must not be killed (--spare-outage)
        self.window: tuple[float, float] | None = None
        self.wall: tuple[float, float] | None = None     # the same, in wall-clock time

    def run(self) -> None:
        while not self.plan.first_half_sent():
            time.sleep(0.1)
        if self.spare:                      # let a web worker killed just before finish booting first
            self.sparing.set()
            time.sleep(5.0)
        start, wall = time.monotonic(), time.time()
        self.switch.cut()
        time.sleep(self.seconds)
        self.switch.restore()
        self.window = (start - self.t0, time.monotonic() - self.t0)
        self.wall = (wall, time.time())
        self.sparing.clear()


class Progress(threading.Thread):
    def __init__(self, plan: Plan, chaos: Chaos, t0: float, every: float = 10.0):
        super().__init__(name="progress", daemon=True)
        self.plan, self.chaos, self.t0, self.every = plan, chaos, t0, every
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.every):
            p = self.plan
            errors = sum(v for k, v in p.status.items() if k != 200)
            print(f"  [{time.monotonic() - self.t0:6.1f} s] deliveries {p.deliveries}, answered 200: {p.status[200]}, "
                  f"failed: {errors}, queued {len(p.main)}, retries waiting {len(p.retries)}, kills {len(self.chaos.kills)}",
                  flush=True)
