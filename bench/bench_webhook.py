"""Throughput and latency of the whole /wechat path on the server we ship, beside /healthz.

    .venv/bin/python bench/bench_webhook.py [--seconds 10] [--warmup 3] [--connections 8]
                                            [--db postgresql|sqlite] [--client-procs 1] [--workers N] [--threads N]

Starts run_bot.py (gunicorn, gthread, workers x threads as config.yaml ships them) on a free loopback port with a temporary config
(config.yaml + overrides: a fresh PostgreSQL schema at --pg, or a SQLite file with --db sqlite; the
fake platform's store in a temp dir), then drives it with N keep-alive connections (each its own
http.client.HTTPConnection in its own thread; --client-procs spreads them over processes):

  * POST /wechat: signed, AES-encrypted (safe mode) text messages built with bot/wire.py, each with a
    unique MsgId and one of 30 realistic complaints about different buildings, signed with the real
    clock (the server checks timestamps against time.time());
  * GET /healthz: the hello-world endpoint of the same server, same client, same concurrency.

Warm-up (both endpoints, reconnecting often so that every worker process warms up) first, then
--seconds of each; prints requests, req/s, p50/p99 latency and errors for each, ratio = webhook req/s
/ healthz req/s, PASS/FAIL against the targets (ratio >= 0.15, webhook p99 <= 50 ms), the CPU used
by the client, the gunicorn processes and PostgreSQL in each phase, and afterwards checks the
database: tickets == successful webhook requests (nothing lost or doubled).

Every message about a building comes from the same resident (one openid per building): a resident's
own tickets are never joined as "+1", and reports about different buildings never are either, so
each message must open exactly one ticket and the count is an exact check. The 30 residents follow
the account first (a subscribe event each, as on WeChat); --no-subscribe skips that, and then their
first concurrent messages race to create the resident row (a known server bug: some end "failed").
Client CPU, time spent building each request and how the keep-alive connections spread over the
workers are printed too, to tell whether the client or an uneven spread limits the figures.

The outbox runs as shipped (a scheduler in each worker, woken by each new ticket): in local mode its
group pushes go to the fake platform served by the same gunicorn, so that load is part of the run.

History (issue 14: a message must cost the same with a million tickets behind it):
  --history N         fill the fresh schema with N tickets first (bench/desk_data.py, as bench_desk.py
                      does: two years of tickets, milestones, events, ratings; about 3.5 min for 1M);
  --history-db NAME   use the database NAME as it is (e.g. one left by `bench_desk.py --keep
                      --database NAME`): no fresh schema; the checks count only the rows this run adds.

The floor (--no-floor skips it): after the /wechat phase the server is stopped and
bench/floor_server.py is started on the same port with the same config (same gunicorn settings),
whose /wechat only checks the signature, decrypts, does one INSERT + COMMIT and encrypts a reply;
its throughput is printed beside the real one, so the distance to the floor is part of every run.

Exit status: 0 PASS, 1 FAIL (targets missed), 2 the run itself went wrong (server did not start,
requests lost or doubled).
"""
from __future__ import annotations

import argparse
import http.client
import math
import multiprocessing as mp
import os
import random
import secrets
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from bot.config import ENV_OVERRIDES, load_config  # noqa: E402
from bot.wire import message_xml, open_reply, signed_request  # noqa: E402
from bot.wxcrypto import Crypto  # noqa: E402

PG_BASE = os.environ.get("JIESU_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
TARGET_RATIO = 0.15      # issue 14: 3 x the 0.046-0.050 measured before it
TARGET_P99_MS = 50.0
HOST = "127.0.0.1"

# 30 complaints, each about a different building (1-36: all three grids). {sfx} varies the wording.
COMPLAINTS = [
    (3, "3号楼楼道有人飞线充电，电线从二楼窗户拉下来{sfx}"),
    (5, "5号楼门口垃圾堆了三天没人清，味道很大{sfx}"),
    (7, "7号楼2单元电梯坏了，老人上下楼很不方便{sfx}"),
    (1, "1号楼楼下有人高空抛物，差点砸到小孩{sfx}"),
    (9, "9号楼地下车库有车堵住了消防通道{sfx}"),
    (11, "11号楼3单元楼道灯坏了一个星期，晚上黑漆漆的{sfx}"),
    (2, "2号楼楼上邻居家的狗每天半夜叫，吵得睡不着{sfx}"),
    (12, "12号楼一楼有人私自搭建阳光房，占了公共绿地{sfx}"),
    (14, "14号楼水管漏水，楼道里全是水{sfx}"),
    (16, "16号楼从早上开始停水了，什么时候能恢复{sfx}"),
    (13, "13号楼楼道里堆满了纸箱和旧家具，人都过不去{sfx}"),
    (18, "18号楼门禁坏了，陌生人随便进出{sfx}"),
    (20, "20号楼旁边的路灯不亮了，晚上走路看不见{sfx}"),
    (22, "22号楼楼下的下水道堵了，污水冒出来{sfx}"),
    (24, "24号楼有人把电动车推进楼道充电，很危险{sfx}"),
    (15, "15号楼2单元有人在楼道里抽烟，烟头乱扔{sfx}"),
    (17, "17号楼对面工地晚上十一点还在施工，噪音太大{sfx}"),
    (26, "26号楼门口有一棵树倒了，挡住了路{sfx}"),
    (28, "28号楼旁边的健身器材坏了，小孩玩的时候很危险{sfx}"),
    (30, "30号楼顶楼防水坏了，下雨天家里漏水{sfx}"),
    (32, "32号楼垃圾桶满了没人倒，苍蝇很多{sfx}"),
    (34, "34号楼有人遛狗不牵绳，还不清理狗屎{sfx}"),
    (36, "36号楼的车位被外来车辆占了好几天{sfx}"),
    (25, "25号楼电梯里有异味，按钮也不灵了{sfx}"),
    (27, "27号楼楼道的消防栓玻璃碎了，水带也不见了{sfx}"),
    (29, "29号楼下面乱停电动车，把盲道都挡住了{sfx}"),
    (31, "31号楼3单元楼道里有很重的煤气味{sfx}"),
    (33, "33号楼外墙瓷砖掉下来了，砸坏了一辆车{sfx}"),
    (35, "35号楼单元门口的台阶坏了，老人容易摔倒{sfx}"),
    (19, "19号楼楼下广场舞音乐太吵，晚上九点多还在跳{sfx}"),
]
SUFFIXES = ["", "，麻烦尽快处理", "，已经好几天了", "，希望尽快解决", "。请派人来看看", "，谢谢！",
            "，我住{u}单元{f}0{d}室", "，我家{u}单元{f}0{d}，电话138{p}"]


def complaint(rng: random.Random) -> tuple[int, str]:
    building, text = COMPLAINTS[rng.randrange(len(COMPLAINTS))]
    sfx = rng.choice(SUFFIXES).format(u=rng.randint(1, 6), f=rng.randint(1, 18), d=rng.randint(1, 4),
                                      p=f"{rng.randrange(10 ** 8):08d}")
    return building, text.format(sfx=sfx)


# -- client ----------------------------------------------------------------------------------------

@dataclass
class Job:
    """What one client process runs (picklable, for --client-procs)."""
    kind: str                   # webhook | hello
    port: int
    threads: int
    start_at: float             # time.monotonic() (system-wide on Linux: comparable across processes)
    seconds: float
    wechat: tuple[str, str, str]   # token, encoding_aes_key, app_id
    msg_base: int
    seed: int
    reconnect_every: int = 0    # 0: keep one connection for the whole phase


@dataclass
class ThreadResult:
    ok: int = 0
    errors: int = 0
    retried: int = 0
    latencies: list[float] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)
    build_seconds: float = 0.0
    ended_at: float = 0.0       # time.monotonic() when its last request completed


def _client_thread(job: Job, index: int, crypto: Crypto, out: ThreadResult) -> None:
    rng = random.Random(job.seed * 1000 + index)
    app_id = job.wechat[2]
    msg_ids = iter(range(job.msg_base + index * 10 ** 7, job.msg_base + (index + 1) * 10 ** 7))
    conn = http.client.HTTPConnection(HOST, job.port, timeout=30)
    try:
        conn.connect()          # before the start: the phase measures requests, not connection set-up
    except OSError:
        pass                    # request() connects again and counts the error if it must
    on_this_conn = 0
    hello_headers = {"Connection": "keep-alive"}
    time.sleep(max(0.0, job.start_at - time.monotonic()))
    deadline = job.start_at + job.seconds
    while time.monotonic() < deadline:
        if job.kind == "webhook":
            b0 = time.perf_counter()
            building, text = complaint(rng)
            now = int(time.time())
            xml = message_xml(app_id, f"o-bench-b{building:02d}", "text", now, next(msg_ids), Content=text)
            params, body = signed_request(crypto, xml, now, "safe")
            method, path = "POST", "/wechat?" + urlencode(params)
            headers = {"Content-Type": "text/xml", "Connection": "keep-alive"}
            out.build_seconds += time.perf_counter() - b0
        else:
            method, path, body, headers = "GET", "/healthz", None, hello_headers
        if job.reconnect_every and on_this_conn >= job.reconnect_every:
            conn.close()
            on_this_conn = 0
        t0 = time.perf_counter()
        status, data = None, b""
        for attempt in (1, 2):       # a dropped keep-alive connection: reconnect and resend once
            try:                     # (safe for /wechat: the same MsgId is answered once, like WeChat's retries)
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                status = resp.status
                if resp.will_close:
                    conn.close()
                break
            except (http.client.HTTPException, OSError) as e:
                conn.close()
                if attempt == 2:
                    status = f"{type(e).__name__}: {e}"
                else:
                    out.retried += 1
        dt = time.perf_counter() - t0
        on_this_conn += 1
        if status == 200:
            out.ok += 1
            out.latencies.append(dt)
            if job.kind == "webhook":
                out.bodies.append(data)
        else:
            out.errors += 1
            if len(out.error_samples) < 5:
                out.error_samples.append(f"{status} {data[:120]!r}")
    out.ended_at = time.monotonic()
    conn.close()


def run_client(job: Job) -> tuple[list[ThreadResult], float]:
    """Run job.threads connections in this process; (results, CPU seconds this process used)."""
    crypto = Crypto(*job.wechat)
    results = [ThreadResult() for _ in range(job.threads)]
    cpu0 = time.process_time()
    threads = [threading.Thread(target=_client_thread, args=(job, i, crypto, results[i]), daemon=True)
               for i in range(job.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, time.process_time() - cpu0


@dataclass
class Phase:
    name: str
    seconds: float
    results: list[ThreadResult]
    client_cpu: float
    server_cpu: float = 0.0
    pg_cpu: float = 0.0
    machine_busy: float = 0.0
    per_worker: dict[int, int] = field(default_factory=dict)     # keep-alive connections held
    worker_cpu: dict[int, float] = field(default_factory=dict)    # CPU seconds in the phase

    @property
    def ok(self) -> int:
        return sum(r.ok for r in self.results)

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.results)

    @property
    def retried(self) -> int:
        return sum(r.retried for r in self.results)

    @property
    def rps(self) -> float:
        return self.ok / self.seconds

    def pct(self, p: float) -> float:
        lat = sorted(x for r in self.results for x in r.latencies)
        if not lat:
            return float("nan")
        return lat[max(0, math.ceil(p / 100 * len(lat)) - 1)] * 1000

    @property
    def bodies(self) -> list[bytes]:
        return [b for r in self.results for b in r.bodies]

    @property
    def build_us(self) -> float:
        n = self.ok + self.errors
        return sum(r.build_seconds for r in self.results) / n * 1e6 if n else 0.0


from soak_chaos import server_children  # noqa: E402  (bench/ is on sys.path when run as a script)
from webhook_checks import Db, run_checks  # noqa: E402
from webhook_support import (  # noqa: E402
    CpuMeter, children, connections_per_worker, drop_pg_schema, free_port, new_pg_schema, prefill, start_server,
    stop_server)


# -- the run ---------------------------------------------------------------------------------------

def run_phase(name: str, kind: str, a, port: int, seconds: float, wechat: tuple, meter: CpuMeter,
              seeds, reconnect_every: int = 0) -> Phase:
    procs = max(1, min(a.client_procs, a.connections))
    per_proc = [a.connections // procs + (i < a.connections % procs) for i in range(procs)]
    start_at = time.monotonic() + (1.0 if procs > 1 else 0.3)      # time for every connection to open
    jobs = [Job(kind, port, n, start_at, seconds, wechat, msg_base=next(seeds) * 10 ** 9, seed=next(seeds),
                reconnect_every=reconnect_every) for n in per_proc]
    holder: dict = {}

    def go():
        if procs == 1:
            holder["out"] = [run_client(jobs[0])]
        else:
            with mp.get_context("fork").Pool(procs) as pool:
                holder["out"] = pool.map(run_client, jobs)

    t = threading.Thread(target=go)
    t.start()
    time.sleep(max(0.0, start_at - time.monotonic()))
    before = meter.snapshot()
    time.sleep(min(1.0, seconds / 2))
    web_workers = server_children(meter.master)[0]     # not the background worker (no connections)
    per_worker = connections_per_worker(port, web_workers, [os.getpid(), *children(os.getpid())])
    t.join()
    after = meter.snapshot()
    out = holder["out"]
    results = [r for res, _ in out for r in res]
    elapsed = max([r.ended_at for r in results] + [start_at + seconds]) - start_at   # requests in flight at the end count
    phase = Phase(name, elapsed, results, sum(cpu for _, cpu in out))
    phase.server_cpu, phase.pg_cpu, phase.machine_busy = CpuMeter.delta(before, after)
    phase.per_worker = per_worker
    phase.worker_cpu = CpuMeter.per_pid(before, after, web_workers)
    return phase


def subscribe_all(port: int, wechat: tuple) -> None:
    """Each resident follows the account first, as on WeChat (one can only message an account one
    follows): the subscribe event creates the resident, so the complaints do not race to create it."""
    crypto = Crypto(*wechat)
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    for building in sorted({b for b, _ in COMPLAINTS}):
        now = int(time.time())
        xml = message_xml(wechat[2], f"o-bench-b{building:02d}", "event", now, None, Event="subscribe")
        params, body = signed_request(crypto, xml, now, "safe")
        conn.request("POST", "/wechat?" + urlencode(params), body=body, headers={"Content-Type": "text/xml"})
        resp = conn.getresponse()
        data = resp.read()
        if resp.status != 200 or "您好" not in open_reply(crypto, data).get("Content", ""):
            raise RuntimeError(f"subscribe event refused: {resp.status} {data[:200]!r}")
    conn.close()


def spread(p: Phase) -> str:
    """Keep-alive connections and cores busy per web worker, busiest first: a worker holding none
    leaves its share of the machine idle (gthread keeps a connection on the worker that accepted it)."""
    pids = sorted(p.worker_cpu, key=lambda pid: -p.worker_cpu[pid])
    return (f"{'/'.join(str(p.per_worker.get(pid, 0)) for pid in pids)} conns, "
            f"{'/'.join(f'{p.worker_cpu[pid] / p.seconds:.2f}' for pid in pids)} cores")


def fmt_row(p: Phase) -> str:
    return f"{p.name:<14}{p.ok + p.errors:>9}{p.rps:>10.1f}{p.pct(50):>9.2f}{p.pct(99):>9.2f}{p.errors:>8}"


def run_floor(a, cfg_path: Path, env: dict, port: int, tmp: Path, wechat: tuple, seeds) -> Phase:
    proc = start_server([sys.executable, str(ROOT / "bench" / "floor_server.py"), "--config", str(cfg_path), "--web-only"],
                        env, port, tmp / "floor.log")
    try:
        meter = CpuMeter(proc.pid)
        run_phase("warm-up floor", "webhook", a, port, min(a.warmup, 2.0), wechat, meter, seeds, reconnect_every=10)
        return run_phase("floor /wechat", "webhook", a, port, a.seconds, wechat, meter, seeds)
    finally:
        stop_server(proc)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0, help="measured seconds per endpoint (default 10)")
    ap.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per endpoint (default 3)")
    ap.add_argument("--connections", type=int, default=8, help="concurrent keep-alive connections (default 8)")
    ap.add_argument("--client-procs", type=int, default=1,
                    help="client processes the connections are spread over (default 1: 8 threads in this process)")
    ap.add_argument("--workers", type=int, default=None, help="gunicorn worker processes (default: server.workers, as shipped)")
    ap.add_argument("--threads", type=int, default=None, help="threads per worker (default: server.threads, as shipped)")
    ap.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    ap.add_argument("--pg", default=PG_BASE, help=f"PostgreSQL database for the fresh schema (default {PG_BASE})")
    ap.add_argument("--no-subscribe", action="store_true",
                    help="skip the residents' subscribe events: their first messages then race to create them")
    ap.add_argument("--run-bot", default=str(ROOT / "run_bot.py"),
                    help="the server's entry point (default: run_bot.py; another script taking the same options "
                         "lets you measure a patched server)")
    ap.add_argument("--drain-timeout", type=float, default=60.0,
                    help="seconds to wait for the outbox to deliver before and after the measured phases")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir, server log and schema afterwards")
    ap.add_argument("--history", type=int, default=0, help="tickets to fill the fresh schema with first (e.g. 1000000)")
    ap.add_argument("--history-db", default=None,
                    help="an existing database on --pg's server to run against as it is (e.g. bench_desk.py --keep's)")
    ap.add_argument("--no-floor", action="store_true", help="skip the floor (bench/floor_server.py) phase")
    a = ap.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="jiesu-bench-"))
    schema = None
    proc = None
    db = None
    try:
        if a.db == "postgresql" and a.history_db:
            db_url = a.pg.rsplit("/", 1)[0] + "/" + a.history_db
        elif a.db == "postgresql":
            try:
                schema, db_url = new_pg_schema(a.pg)
            except Exception as e:  # noqa: BLE001
                print(f"PostgreSQL unreachable at {a.pg} ({type(e).__name__}: {e}); try --db sqlite", file=sys.stderr)
                return 2
            if a.history:
                prefill(db_url, a.history)
        else:
            db_url = f"sqlite:///{tmp}/jiesu.sqlite3"
        port = free_port()
        fake_store = str(tmp / "fake_wechat.sqlite3")
        overrides = {"database.url": db_url, "local.fake_store": fake_store, "server.host": HOST, "server.port": port,
                     "wechat.message_mode": "safe",
                     # 30 residents each writing several times a second would hit the flood limits
                     # (then a message is answered and opens nothing, and tickets != requests): the
                     # bench measures the write path, so the limits are lifted out of its way
                     "limits.resident_tickets_per_hour": 1_000_000, "limits.resident_tickets_per_day": 1_000_000,
                     "limits.resident_messages_per_minute": 1_000_000}
        if a.workers:
            overrides["server.workers"] = a.workers
        if a.threads:
            overrides["server.threads"] = a.threads
        cfg = load_config(ROOT / "config.yaml", environ={}, overrides=overrides)
        cfg_path = tmp / "config.yaml"
        cfg_path.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), allow_unicode=True), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k not in ENV_OVERRIDES}   # the temp config rules
        log = tmp / "server.log"
        proc = start_server([sys.executable, a.run_bot, "--config", str(cfg_path)], env, port, log)
        meter = CpuMeter(proc.pid)
        workers = server_children(proc.pid)[0]
        wechat = (cfg.wechat.token, cfg.wechat.encoding_aes_key, cfg.wechat.app_id)
        rng = random.Random(secrets.randbits(32))
        seeds = iter(lambda: rng.randrange(1, 9 * 10 ** 8), None)
        db = Db(db_url, fake_store)

        procs = max(1, min(a.client_procs, a.connections))
        history = db.tickets()
        print(f"接诉 /wechat benchmark: {Path(a.run_bot).name} (gunicorn gthread, {cfg.server.workers} workers x {cfg.server.threads} threads, "
              f"pids {proc.pid}/{','.join(map(str, workers))}) on {HOST}:{port}, {a.db}"
              f"{f' schema {schema}' if schema else ''}{f' database {a.history_db}' if a.history_db else ''}, "
              f"message_mode safe, {history:,} tickets in the database before the run")
        print(f"client: {a.connections} keep-alive connections, {procs} process(es) x threads; "
              f"{a.warmup:g} s warm-up then {a.seconds:g} s per endpoint; machine: {os.cpu_count()} CPUs; "
              f"{len(COMPLAINTS)} residents{' (not subscribed first)' if a.no_subscribe else ', subscribed first'}",
              flush=True)

        if not a.no_subscribe:
            subscribe_all(port, wechat)
        # warm-up: reconnect often so every worker process loads the classifier and opens its pool
        warm = [run_phase("warm-up /wechat", "webhook", a, port, a.warmup, wechat, meter, seeds, reconnect_every=10),
                run_phase("warm-up hello", "hello", a, port, min(a.warmup, 2.0), wechat, meter, seeds, reconnect_every=10)]
        if db.drain(a.drain_timeout):
            print("warning: the outbox did not drain after the warm-up", file=sys.stderr)

        hello = run_phase("GET /healthz", "hello", a, port, a.seconds, wechat, meter, seeds)
        web = run_phase("POST /wechat", "webhook", a, port, a.seconds, wechat, meter, seeds)
        measured_at = time.monotonic()
        still_due = db.drain(a.drain_timeout)
        drain_s = time.monotonic() - measured_at

        print()
        print(f"{'endpoint':<14}{'requests':>9}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
        for p in (hello, web):
            print(fmt_row(p))
        ratio = web.rps / hello.rps if hello.rps else 0.0
        ok_ratio, ok_p99 = ratio >= TARGET_RATIO, web.pct(99) <= TARGET_P99_MS
        print(f"ratio = webhook_throughput / hello_throughput = {web.rps:.1f} / {hello.rps:.1f} = {ratio:.3f}"
              f"   target >= {TARGET_RATIO}: {'PASS' if ok_ratio else 'FAIL'}")
        print(f"webhook p99 = {web.pct(99):.2f} ms   target <= {TARGET_P99_MS:g} ms: {'PASS' if ok_p99 else 'FAIL'}")
        print()
        ncpu = os.cpu_count() or 1
        print(f"CPU during each phase, in cores busy (machine has {ncpu}):")
        print(f"{'phase':<14}{'client':>8}{'gunicorn':>10}{'postgres':>10}{'other':>8}{'machine':>9}  per request: "
              f"client/gunicorn/postgres ms; per web worker: connections, cores")
        for p in (hello, web):
            other = p.machine_busy - p.client_cpu - p.server_cpu - p.pg_cpu
            n = max(1, p.ok)
            print(f"{p.name:<14}{p.client_cpu / p.seconds:>8.2f}{p.server_cpu / p.seconds:>10.2f}{p.pg_cpu / p.seconds:>10.2f}"
                  f"{other / p.seconds:>8.2f}{p.machine_busy / p.seconds:>9.2f}  "
                  f"{p.client_cpu / n * 1000:.2f}/{p.server_cpu / n * 1000:.2f}/{p.pg_cpu / n * 1000:.2f}; "
                  f"{spread(p)}")
        print(f"client time building+encrypting one /wechat request (outside the latency): {web.build_us:.0f} us; "
              f"resent after a dropped connection: {web.retried + hello.retried}")
        for p in (*warm, hello, web):
            for r in p.results:
                for s in r.error_samples[:1]:
                    print(f"  error sample ({p.name}): {s}")

        # -- nothing lost or doubled ---------------------------------------------------------------
        crypto = Crypto(*wechat)
        rep = db.report()
        checks = run_checks(rep, [open_reply(crypto, body).get("Content", "") for body in warm[0].bodies + web.bodies],
                            warm[0].ok, web.ok)
        print()
        print("after the run:")
        all_ok = True
        for what, ok, detail in checks:
            all_ok &= ok
            print(f"  {'OK  ' if ok else 'FAIL'} {what}: {detail}")
        print(f"  outbox {rep['outbox']} (pending: group pushes paced by WeCom's 20 a minute per group robot, and "
              f"pushes held 10 min for a category menu: {rep['menu_tickets']} tickets); "
              f"outbox drained {drain_s:.1f} s after the webhook phase{'' if not still_due else f', {still_due} still due'}")
        print(f"  categories: {dict(sorted(rep['categories'].items(), key=lambda kv: -kv[1]))}")
        if not a.no_floor:
            stop_server(proc)
            floor = run_floor(a, cfg_path, env, port, tmp, wechat, seeds)
            print()
            print("the floor (bench/floor_server.py: signature, AES, one INSERT + COMMIT, encrypted reply; same server settings):")
            print(f"{'endpoint':<14}{'requests':>9}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
            print(fmt_row(floor))
            if floor.rps and hello.rps:
                print(f"floor ratio = {floor.rps:.1f} / {hello.rps:.1f} = {floor.rps / hello.rps:.3f}; the real webhook is at "
                      f"{web.rps / floor.rps:.2f} x the floor's throughput; server CPU per request "
                      f"{web.server_cpu / max(1, web.ok) * 1000:.2f} ms vs {floor.server_cpu / max(1, floor.ok) * 1000:.2f} ms "
                      f"(floor), PostgreSQL {web.pg_cpu / max(1, web.ok) * 1000:.2f} vs {floor.pg_cpu / max(1, floor.ok) * 1000:.2f} ms")
        verdict = ok_ratio and ok_p99
        print()
        print(f"RESULT: {'PASS' if verdict else 'FAIL'} (ratio {ratio:.3f} vs >= {TARGET_RATIO}, "
              f"webhook p99 {web.pct(99):.1f} ms vs <= {TARGET_P99_MS:g} ms at {a.connections} connections)"
              f"{'' if all_ok else '; DATABASE CHECK FAILED'}")
        if a.keep:
            print(f"kept: {tmp} (server.log, config.yaml){f', schema {schema}' if schema else ''}")
        if not all_ok:
            return 2
        return 0 if verdict else 1
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        if db is not None:
            db.close()
        if proc is not None:
            stop_server(proc)
        if schema and not a.keep:
            drop_pg_schema(a.pg, schema)
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
