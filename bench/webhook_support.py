"""Helpers of bench/bench_webhook.py: CPU accounting from /proc, the server's life cycle on a free
port, and PostgreSQL schemas of its own (kept apart so the benchmark script reads as the experiment)."""
from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

HOST = "127.0.0.1"

# -- measuring the machine -------------------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            parts = f.read().rsplit(")", 1)[1].split()
        return (int(parts[11]) + int(parts[12])) / TICK      # utime + stime
    except (OSError, IndexError, ValueError):
        return 0.0


def children(pid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return out


def _postgres_pids() -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/comm") as f:
                    if f.read().strip() in ("postgres", "postmaster"):
                        out.append(int(d))
            except OSError:
                pass
    return out


def _machine_busy() -> float:
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return (sum(v[:8]) - idle) / TICK


class CpuMeter:
    """CPU seconds used by the gunicorn processes, PostgreSQL and the whole machine over an interval."""

    def __init__(self, master: int):
        self.master = master

    def snapshot(self) -> dict:
        server = [self.master] + children(self.master)
        pg = _postgres_pids()
        return {"server": {p: _proc_cpu(p) for p in server}, "pg": {p: _proc_cpu(p) for p in pg},
                "machine": _machine_busy()}

    @staticmethod
    def delta(a: dict, b: dict) -> tuple[float, float, float]:
        def d(kind):   # processes that came or went during the interval count from 0
            return sum(v - a[kind].get(p, 0.0) for p, v in b[kind].items())
        return d("server"), d("pg"), b["machine"] - a["machine"]

    @staticmethod
    def per_pid(a: dict, b: dict, pids: list[int]) -> dict[int, float]:
        """CPU seconds each of `pids` (server processes) used between snapshots a and b."""
        return {p: b["server"].get(p, 0.0) - a["server"].get(p, 0.0) for p in pids}


def connections_per_worker(port: int, workers: list[int], clients: list[int] | None = None) -> dict[int, int]:
    """How many ESTABLISHED connections to the server port each worker process holds (from /proc);
    with `clients`, only those whose other end is a socket of one of those processes (not, say, the
    outbox's own requests to the fake platform on the same server)."""
    peers = None if clients is None else {lp for _, lp, rp, st in _tcp(clients) if rp == port and st == "01"}
    counts = {pid: 0 for pid in workers}
    for pid, lp, rp, st in _tcp(workers):
        if lp == port and st == "01" and (peers is None or rp in peers):
            counts[pid] += 1
    return counts


def listeners_per_process(port: int, pids: list[int]) -> dict[int, int]:
    """How many sockets LISTENing on the port each process holds, a socket shared by several (the
    master's, inherited by the workers it forks) counted once, for the last of them in `pids`. With
    gunicorn's reuse_port every web worker has one of its own and the master none."""
    counts = {pid: 0 for pid in pids}
    for pid, lp, _rp, st in _tcp(pids):
        if lp == port and st == "0A":
            counts[pid] += 1
    return counts


def _tcp(pids: list[int]) -> list[tuple[int, int, int, str]]:
    """(pid, local port, remote port, state as /proc/net/tcp's hex code) of the TCP sockets the
    processes hold; a socket several hold is listed once, for the last of them."""
    inode_pid = {}
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    link = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if link.startswith("socket:["):
                    inode_pid[link[8:-1]] = pid
        except OSError:
            continue
    out = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    if cols[9] in inode_pid:
                        out.append((inode_pid[cols[9]], int(cols[1].rsplit(":", 1)[1], 16),
                                    int(cols[2].rsplit(":", 1)[1], 16), cols[3]))
        except OSError:
            continue
    return out


# -- the server ------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_ready(proc: subprocess.Popen, port: int, log: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"run_bot.py exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            c = http.client.HTTPConnection(HOST, port, timeout=2)
            c.request("GET", "/healthz")
            if c.getresponse().status == 200:
                c.close()
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server not ready after {timeout:.0f} s:\n{log.read_text(errors='replace')[-3000:]}")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)           # gunicorn: graceful stop of the workers
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)    # our own session (start_new_session): only what we started
        proc.wait(timeout=5)


def new_pg_schema(base: str) -> tuple[str, str]:
    import psycopg
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True, connect_timeout=5) as c:
        c.execute(f"CREATE SCHEMA {schema}")
    return schema, f"{base}?options=-csearch_path%3D{schema}"


def drop_pg_schema(base: str, schema: str) -> None:
    import psycopg
    with psycopg.connect(base, autocommit=True, connect_timeout=5) as c:
        c.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


# -- the server's life cycle, with history ----------------------------------------------------------

def start_server(argv: list[str], env: dict, port: int, log: Path) -> subprocess.Popen:
    for attempt in (1, 2):
        with open(log, "ab") as logf:
            proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_ready(proc, port, log)
            return proc
        except RuntimeError:
            text = log.read_text(errors="replace")
            if attempt == 2 or "grid_name_key" not in text:
                raise
            # Known race in the server: on a fresh database each worker runs sync_grids() in
            # create_app, both insert the grids, one dies on grid_name_key and gunicorn stops.
            print("warning: run_bot.py failed to boot: two workers raced to insert the grids on the fresh "
                  "database (UniqueViolation grid_name_key; storage.repositories.sync_grids); starting it again",
                  file=sys.stderr, flush=True)
            stop_server(proc)
    raise AssertionError("unreachable")


def prefill(db_url: str, n: int) -> None:
    """N tickets of history in the fresh schema, migrated first (the server then finds it current)."""
    from datetime import datetime, timezone

    import desk_data

    from handlers.directory import Directory
    from storage.db import make_engine
    from storage.migrate import upgrade
    from bot.config import load_config
    cfg = load_config(ROOT / "config.yaml", environ={}, overrides={"database.url": db_url})
    engine = make_engine(db_url, pool_size=1)
    upgrade(engine)
    engine.dispose()
    print(f"filling the schema with {n:,} tickets of history (bench/desk_data.py):", flush=True)
    t0 = time.perf_counter()
    desk_data.generate(db_url, n, datetime.now(timezone.utc).replace(microsecond=0), cfg.community.timezone,
                       Directory.from_config(cfg).policy, log=lambda line: None)
    print(f"  done in {time.perf_counter() - t0:.0f} s", flush=True)
