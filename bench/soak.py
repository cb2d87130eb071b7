"""Soak check (issue 10): thousands of residents' messages through the production server while its
processes are killed and its database goes away, then proof that nothing was lost, doubled or left
unanswered.

    .venv/bin/python bench/soak.py [--messages 10000] [--db postgresql|sqlite] [--quick] [--keep]
                                   [--spare-outage] [--seed N] [--no-chaos] (--help for the rest)

What it does, and why:

 1. Starts the bot as production does, `run_bot.py serve` (gunicorn web workers + the background worker
    child that serve restarts when it dies), in local mode (the fake WeChat platform records every
    outbound call), with a temporary config: config.yaml with database.url, local.fake_store,
    inbound.spool, media.folder and nlp.model_root moved to a temp dir, server.workers 2, a free port.
    PostgreSQL (127.0.0.1:5432, database test) is reached THROUGH a TCP proxy (bench/tcp_proxy.py, run
    in a child process of its own so that its pumping threads do not compete with the senders for this
    process's GIL), in a fresh schema of its own, so that the proxy can play a database outage. With
    --db sqlite the outage is an exclusive lock held on the SQLite file instead.
    One deliberate change besides those: limits.group_pushes_per_minute is raised (default 600;
    --group-pushes-per-minute). The fake robot does not enforce WeCom's 20 a minute, and at the
    shipped pacing the few thousand new-ticket pushes of a soak need tens of minutes to drain, far
    past the settle bound. The pacing itself is not what this check is about.
 2. Every resident follows the account first (a subscribe event each, as on WeChat, where one can only
    message an account one follows); playing WeChat's servers, the script tells the fake platform of
    that interaction, which opens the 48-hour customer-service window the late answers need.
 3. Sends N distinct messages (MsgIds) from about N/6 residents, each sending several distinct short
    complaints (templates with building numbers: clutter, flying wires, lights, lifts, noise, rubbish,
    leaks...; a few "进度"/"谢谢" and a rare real emergency), each delivered 1-3 times with the same MsgId
    (WeChat's retries), by a pool of 16 senders over keep-alive connections, encrypted ("safe" mode as
    shipped). A delivery that fails at the HTTP level (connection dropped because its worker was killed,
    timeout after WeChat's 5 s, any non-200) is retried as WeChat does, until one delivery is answered
    or three have failed ("WeChat gave up").
    Meanwhile a chaos thread SIGKILLs, every 3-5 s, alternately a random gunicorn web worker and the
    background worker, and once, half-way, the database is cut for --outage seconds. (--spare-outage
    kills no web worker from 5 s before the cut to its end: a web worker booting while the database is
    down makes gunicorn halt the whole server, and this lets a run look at everything else.)
 4. Waits (at most --settle seconds) until the system settles: spool empty, no inbound_message left
    received/failed, no outbox row pending/sending (pushes deliberately held for a resident's category
    menu apart).
 5. Checks, from the database and the fake platform's record, and prints:
      - deliveries and HTTP answers by status (no 5xx), connection errors and timeouts separately;
      - one inbound_message row per MsgId answered with HTTP 200 (none missing, none doubled);
      - no ticket opened twice, no message opening two tickets ("+1" and neighbours' duplicates counted
        apart, they are not errors);
      - every ticket whose new-ticket notice is due pushed to its group exactly once (0 pushes and >1
        pushes both 0), emergency pages likewise;
      - every message answered: a passive reply (a ticket code or another real answer), or the holding
        reply ("已收到您的消息…") and later a customer-service message recorded by the fake platform;
      - duration, throughput, kills and outage seconds.
    Exit status: 0 all invariants hold, 1 one failed, 2 the run itself could not be made.
"""
from __future__ import annotations

import argparse
import collections
import heapq
import http.client
import json
import multiprocessing as mp
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from bot.config import ENV_OVERRIDES, load_config  # noqa: E402
from bot.wire import message_xml, open_reply, signed_request  # noqa: E402
from bot.wxcrypto import Crypto  # noqa: E402

from tcp_proxy import TcpProxy  # noqa: E402  (bench/ is on sys.path when run as a script)
from webhook_support import children, drop_pg_schema, free_port, new_pg_schema, stop_server, wait_ready  # noqa: E402

HOST = "127.0.0.1"
PG_BASE = os.environ.get("JIESU_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
WECHAT_ATTEMPTS = 3          # WeChat gives up on a message after three deliveries without an answer
HOLDING_PREFIX = "已收到您的消息"   # replies.holding() and replies.failed(): "kept, answer follows"
CODE = r"\d{8}-\d{4,}"

# -- what residents write -------------------------------------------------------------------------
# Checked against nlp.classify: each reads as one confident category (some "N单元" variants also raise a
# "caution" line, which is a normal ticket too); none is an emergency except the one marked so.
COMPLAINTS = [
    "{b}号楼{u}单元楼道堆满杂物，人都过不去",
    "{b}号楼楼道里堆了好多纸箱和旧家具",
    "{b}号楼有人飞线充电，电线从窗户拉下来",
    "{b}号楼有人把电动车推进楼道充电",
    "{b}号楼楼道灯坏了，晚上黑漆漆的",
    "{b}号楼门口路灯不亮了",
    "{b}号楼{u}单元电梯坏了，老人上下楼很不方便",
    "{b}号楼电梯经常停在半层，很吓人",
    "{b}号楼楼上装修太吵了，中午也不停",
    "{b}号楼楼下广场舞音乐太吵",
    "{b}号楼旁边工地晚上十点还在施工",
    "{b}号楼垃圾桶满了没人倒",
    "{b}号楼门口垃圾堆了三天没人清",
    "{b}号楼水管漏水，楼道里全是水",
    "{b}号楼下水道堵了，污水冒出来",
    "{b}号楼门禁坏了，陌生人随便进出",
    "{b}号楼有人遛狗不牵绳",
    "{b}号楼停水了，什么时候恢复",
    "{b}号楼楼下有车堵住了消防通道",
    "{b}号楼楼道里有人抽烟，烟头乱扔",
]
EMERGENCY = "{b}号楼{u}单元电梯困人了，快来人"          # a real emergency, rarely
CHATTER = ["进度", "谢谢", "查一下进度", "好的谢谢"]       # not reports: real answers without a ticket
SUFFIXES = ["", "，麻烦尽快处理", "，已经好几天了", "，希望尽快解决", "。请派人来看看", "，谢谢！", "，我住{u}单元{f}0{d}室"]
BUILDINGS = range(1, 37)     # config.yaml's three grids: 1-12, 13-24, 25-36


@dataclass(eq=False)
class Msg:
    """One message (one MsgId) and everything its deliveries got."""
    msg_id: int
    openid: str
    text: str
    planned: int                 # deliveries planned (1-3: the same MsgId again, as WeChat retries)
    create_time: int = 0         # CreateTime: set at the first delivery, the same in every retry
    queued: int = 0              # deliveries waiting in the plan
    running: int = 0             # deliveries in flight
    failures: int = 0            # deliveries that got no HTTP answer (or a non-200)
    answers: list = field(default_factory=list)    # reply Content of each HTTP 200 ("" when none)
    gave_up: bool = False
    log: list = field(default_factory=list)        # (wall time sent, seconds, status, reply head) per delivery


def make_messages(n: int, residents: int, rng: random.Random) -> list[Msg]:
    """n messages from `residents` residents, each sending several distinct texts, mostly about their
    own building. Deliveries: 1 (60%), 2 (30%) or 3 (10%)."""
    base = rng.randrange(10 ** 15, 10 ** 17)           # MsgIds of this run: never seen by any other
    per = [n // residents + (i < n % residents) for i in range(residents)]
    msgs: list[Msg] = []
    for r, count in enumerate(per):
        openid = f"o-soak-{base % 10 ** 6:06d}-{r:05d}"
        home = rng.choice(BUILDINGS)
        texts: list[str] = []
        while len(texts) < count:
            roll = rng.random()
            if roll < 0.04:                       # "进度", "谢谢": may repeat, they open nothing
                texts.append(rng.choice(CHATTER))
                continue
            b = home if rng.random() < 0.8 else rng.choice(BUILDINGS)
            u = rng.randint(1, 6)
            tpl = EMERGENCY if roll > 0.995 else rng.choice(COMPLAINTS)
            text = tpl.format(b=b, u=u) + rng.choice(SUFFIXES).format(u=u, f=rng.randint(1, 18), d=rng.randint(1, 4))
            if text not in texts:                 # a resident's complaints are distinct: one ticket per text at most
                texts.append(text)
        for text in texts:
            planned = 1 if (x := rng.random()) < 0.6 else 2 if x < 0.9 else 3
            msgs.append(Msg(base + len(msgs), openid, text, planned))
    rng.shuffle(msgs)      # residents' messages interleave over the run, as in life
    return msgs


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


# -- sending as WeChat does -----------------------------------------------------------------------

class Plan:
    """The deliveries still to make: first deliveries and planned retries in order, and the retries
    of failed deliveries (due a moment after the failure). Senders take from it until nothing is
    queued or running."""

    def __init__(self, msgs: list[Msg], rng: random.Random, retry_delay: tuple[float, float]):
        self.cond = threading.Condition()
        slots = []
        for i, m in enumerate(msgs):
            slots.append((float(i), 0, m))
            for k in range(1, m.planned):
                # a duplicate 0-48 positions later: with 16 senders some overlap the first delivery
                # (WeChat retried a slow answer), most come after it
                slots.append((i + rng.uniform(0, 48), k, m))
            m.queued = m.planned
        slots.sort(key=lambda s: (s[0], s[1]))
        self.main = collections.deque(s[2] for s in slots)
        self.total_main = len(self.main)
        self.retries: list = []
        self.running = 0
        self.rng = rng
        self.retry_delay = retry_delay
        self._seq = 0
        self.status = collections.Counter()        # per delivery: 200, 403, 500, "ConnectionResetError", "timeout"...
        self.deliveries = 0
        self.resent = 0                            # retries after a failed delivery

    def take(self) -> Msg | None:
        with self.cond:
            while True:
                now = time.monotonic()
                if self.retries and self.retries[0][0] <= now:
                    m = heapq.heappop(self.retries)[2]
                elif self.main:
                    m = self.main.popleft()
                elif not self.retries and not self.running:
                    return None
                else:
                    self.cond.wait(min(0.2, self.retries[0][0] - now) if self.retries else 0.2)
                    continue
                m.queued -= 1
                m.running += 1
                self.running += 1
                self.deliveries += 1
                if not m.create_time:
                    m.create_time = int(time.time())
                return m

    def done(self, m: Msg, status, content: str | None) -> None:
        with self.cond:
            self.running -= 1
            m.running -= 1
            self.status[status] += 1
            if status == 200:
                m.answers.append(content or "")
            else:
                m.failures += 1
            if not m.answers and not m.queued and not m.running:
                if m.failures < WECHAT_ATTEMPTS:       # nobody answered yet and no other delivery coming
                    self._seq += 1
                    heapq.heappush(self.retries, (time.monotonic() + self.rng.uniform(*self.retry_delay), self._seq, m))
                    m.queued += 1
                    self.resent += 1
                else:
                    m.gave_up = True
            self.cond.notify_all()

    def first_half_sent(self) -> bool:
        return len(self.main) <= self.total_main // 2


class Sender:
    """One keep-alive connection, as one of WeChat's senders: reconnects after any failure."""

    def __init__(self, port: int, crypto: Crypto, app_id: str, timeout: float):
        self.port, self.crypto, self.app_id, self.timeout = port, crypto, app_id, timeout
        self.conn: http.client.HTTPConnection | None = None

    def post(self, xml: str) -> tuple[object, str | None]:
        """(HTTP status or the error's name, reply Content or None)."""
        params, body = signed_request(self.crypto, xml, int(time.time()), "safe")
        if self.conn is None:
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
        try:
            self.conn.request("POST", "/wechat?" + urlencode(params), body=body,
                              headers={"Content-Type": "text/xml", "Connection": "keep-alive"})
            resp = self.conn.getresponse()
            data = resp.read()
            if resp.will_close:
                self.close()
        except (socket.timeout, TimeoutError):
            self.close()
            return "timeout", None
        except (http.client.HTTPException, OSError) as e:
            self.close()
            return type(e).__name__, None
        if resp.status != 200:
            return resp.status, None
        try:
            return 200, open_reply(self.crypto, data).get("Content", "")
        except Exception as e:  # noqa: BLE001 - an answer WeChat could not open is no answer
            return f"unreadable reply ({type(e).__name__})", None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def send_all(plan: Plan, senders: int, port: int, crypto: Crypto, app_id: str, timeout: float) -> None:
    def run():
        s = Sender(port, crypto, app_id, timeout)
        while (m := plan.take()) is not None:
            xml = message_xml(app_id, m.openid, "text", m.create_time, m.msg_id, Content=m.text)
            at, t = time.time(), time.monotonic()
            status, content = s.post(xml)
            m.log.append((at, time.monotonic() - t, status, (content or "")[:10]))
            plan.done(m, status, content)
        s.close()
    threads = [threading.Thread(target=run, name=f"sender-{i}", daemon=True) for i in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def subscribe_all(openids: list[str], port: int, crypto: Crypto, app_id: str, fake_store, senders: int) -> int:
    """Each resident follows the account (a subscribe event, retried like any callback); as WeChat's
    servers we tell the fake platform, which opens the 48-hour customer-service window. Returns how
    many subscribe events were not answered."""
    todo = collections.deque(openids)
    lock = threading.Lock()
    failed = []
    now = datetime.now(timezone.utc)
    for openid in openids:
        fake_store.record(now, "resident", openid, {"type": "event", "event": "subscribe", "content": "关注了公众号"})

    def run():
        s = Sender(port, crypto, app_id, 10.0)
        while True:
            with lock:
                if not todo:
                    break
                openid = todo.popleft()
            xml = message_xml(app_id, openid, "event", int(time.time()), None, Event="subscribe")
            for _ in range(WECHAT_ATTEMPTS):
                status, content = s.post(xml)
                if status == 200:
                    break
            else:
                with lock:
                    failed.append(openid)
        s.close()
    threads = [threading.Thread(target=run, daemon=True) for _ in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(failed)


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


# -- reading what happened ------------------------------------------------------------------------

class Record:
    """The bot's database (directly, not through the proxy) and the fake platform's store."""

    def __init__(self, url: str, fake_store: str, spool: str):
        from sqlalchemy import create_engine

        from storage.db import make_engine
        self.engine = make_engine(url, pool_size=2)
        self.fake = create_engine(f"sqlite:///{fake_store}", connect_args={"timeout": 30})
        self.spool = spool

    def spooled(self) -> int:
        if not Path(self.spool).exists():
            return 0
        db = sqlite3.connect(self.spool, timeout=30)
        try:
            return db.execute("SELECT count(*) FROM spool").fetchone()[0]
        except sqlite3.OperationalError:
            return 0
        finally:
            db.close()

    def unsettled(self) -> dict:
        """What is still to happen: spooled messages, inbound rows received/failed, outbox rows
        pending or sending (those held for a resident's menu choice counted apart)."""
        from sqlalchemy import func, select

        from storage.models import InboundMessage as IM
        from storage.models import Outbox, Ticket
        with self.engine.connect() as c:
            inbound = dict(c.execute(select(IM.status, func.count()).where(IM.status.in_(["received", "failed"]))
                                     .group_by(IM.status)).all())
            rows = c.execute(select(Outbox.status, Outbox.payload, Ticket.category_confirmed)
                             .outerjoin(Ticket, Ticket.id == Outbox.ticket_id)
                             .where(Outbox.status.in_(["pending", "sending"]))).all()
        held = sum(1 for r in rows if r.status == "pending" and (r.payload or {}).get("kind") == "new_ticket"
                   and r.category_confirmed is False)
        return {"spool": self.spooled(), "received": inbound.get("received", 0), "failed": inbound.get("failed", 0),
                "outbox_pending": sum(r.status == "pending" for r in rows) - held,
                "outbox_sending": sum(r.status == "sending" for r in rows), "held_for_menu": held}

    def snapshot(self) -> dict:
        from sqlalchemy import select

        from bot.fake_store import calls
        from storage.models import InboundMessage as IM
        from storage.models import Outbox, Resident, Ticket
        with self.engine.connect() as c:
            inbound = c.execute(select(IM.id, IM.dedupe_key, IM.openid, IM.status, IM.reply, IM.ticket_id, IM.attempts,
                                       IM.reply_deferred, IM.error, IM.received_at, IM.handled_at)
                                .where(IM.dedupe_key.like("msg:%"))).all()
            tickets = c.execute(select(Ticket.id, Ticket.code, Ticket.resident_id, Ticket.text, Ticket.emergency,
                                       Ticket.category_confirmed, Ticket.created_at)).all()
            outbox = c.execute(select(Outbox.id, Outbox.dedupe_key, Outbox.channel, Outbox.target, Outbox.payload,
                                      Outbox.ticket_id, Outbox.status, Outbox.attempts, Outbox.next_attempt_at,
                                      Outbox.sent_at, Outbox.last_error)).all()
            residents = dict(c.execute(select(Resident.id, Resident.openid)).all())
        with self.fake.connect() as c:
            fake = c.execute(select(calls.c.id, calls.c.at, calls.c.api, calls.c.target, calls.c.body, calls.c.errcode)
                             .where(calls.c.api.in_(["robot", "mp_custom_send", "mp_template_send"]))).all()
        return {"inbound": inbound, "tickets": tickets, "outbox": outbox, "residents": residents, "fake": fake}

    def close(self) -> None:
        self.engine.dispose()
        self.fake.dispose()


def is_holding(reply: str) -> bool:
    """The holding reply (or the apology of a failed handling): "已收到您的消息…", possibly after a
    lead line (Intake.holding_reply puts an emergency's advice first)."""
    return any(line.startswith(HOLDING_PREFIX) for line in reply.splitlines())


def reply_kind(reply: str | None) -> str:
    """What a stored reply means (handlers/replies.py)."""
    r = reply or ""
    if re.search(f"已受理 #{CODE}", r):
        return "opened a ticket"
    if re.search(f"已登记 #{CODE}", r):
        return "opened a ticket (category menu)"
    if "这个问题已有居民反映" in r:
        return "joined a neighbour's ticket (duplicate, +1)"
    if "已有居民报告，正在紧急处置" in r:
        return "joined a neighbour's emergency (+1)"
    if "暂不另开新工单" in r:
        return "flood limit: no new ticket"
    if "您发消息太快了" in r:
        return "flood limit: too fast"
    if "您最近反映的问题" in r or "您还没有反映过问题" in r:
        return "progress"
    if r.startswith("不客气"):
        return "thanks"
    if r.startswith("请具体说一下"):
        return "not a report"
    if r.startswith("您的消息暂时无法自动处理"):
        return "handed to staff (dead)"
    if is_holding(r):
        return "apology (handling failed)"
    return "other: " + r[:30]


def push_code(body) -> tuple[str, str] | None:
    """(kind, ticket code) of a group push recorded by the fake robot: the new-ticket markdown or the
    emergency @all page; None for others."""
    body = body if isinstance(body, dict) else json.loads(body or "{}")
    mtype = body.get("msgtype")
    content = (body.get(mtype) or {}).get("content", "") if mtype in ("markdown", "text") else ""
    if m := re.match(rf"\*\*新工单 #({CODE})", content):
        return "new", m.group(1)
    if m := re.match(rf"【紧急】#({CODE})", content):
        return "emergency", m.group(1)
    return None


# -- the run --------------------------------------------------------------------------------------

def start_server(cfg_path: Path, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ENV_OVERRIDES}     # the temp config rules
    with open(log, "ab") as logf:
        return subprocess.Popen([sys.executable, str(ROOT / "run_bot.py"), "serve", "--config", str(cfg_path)],
                                cwd=ROOT, env=env, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)


def healthy(port: int) -> bool:
    try:
        c = http.client.HTTPConnection(HOST, port, timeout=5)
        c.request("GET", "/healthz")
        ok = c.getresponse().status == 200
        c.close()
        return ok
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=None, help="distinct messages (default 10000; --quick 1000)")
    ap.add_argument("--quick", action="store_true", help="1,000 messages and a 5 s outage")
    ap.add_argument("--residents", type=int, default=None, help="residents (default messages/6: each sends several)")
    ap.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    ap.add_argument("--pg", default=PG_BASE, help=f"PostgreSQL database for the fresh schema (default {PG_BASE})")
    ap.add_argument("--senders", type=int, default=16, help="concurrent keep-alive senders (default 16)")
    ap.add_argument("--timeout", type=float, default=5.0, help="seconds WeChat waits for an answer (default 5)")
    ap.add_argument("--outage", type=float, default=None, help="seconds the database is cut (default 10; --quick 5)")
    ap.add_argument("--kill-every", type=float, nargs=2, default=(3.0, 5.0), metavar=("MIN", "MAX"),
                    help="seconds between kills (default 3 5)")
    ap.add_argument("--no-chaos", action="store_true", help="no kills (the outage still happens)")
    ap.add_argument("--spare-outage", action="store_true",
                    help="kill no web worker from 5 s before the outage to its end (a web worker that boots while "
                         "the database is down stops the whole server: this looks past that known failure)")
    ap.add_argument("--settle", type=float, default=180.0, help="seconds to wait for the system to settle (default 180)")
    ap.add_argument("--group-pushes-per-minute", type=int, default=600,
                    help="limits.group_pushes_per_minute of the soak config (shipped: 20; see the docstring)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (server.log, config, stores) and the schema")
    a = ap.parse_args(argv)
    n = a.messages or (1000 if a.quick else 10000)
    outage_s = a.outage if a.outage is not None else (5.0 if a.quick else 10.0)
    residents = a.residents or max(1, n // 6)
    seed = a.seed if a.seed is not None else random.randrange(10 ** 9)
    rng = random.Random(seed)

    tmp = Path(tempfile.mkdtemp(prefix="jiesu-soak-"))
    schema = proc = rec = switch = None
    try:
        # -- 1. the database, behind its switch, and the server on a temp config --------------------
        if a.db == "postgresql":
            try:
                schema, direct_url = new_pg_schema(a.pg)
            except Exception as e:  # noqa: BLE001
                print(f"PostgreSQL unreachable at {a.pg} ({type(e).__name__}: {e}); try --db sqlite", file=sys.stderr)
                return 2
            from sqlalchemy.engine import make_url
            u = make_url(a.pg)
            switch = ProxyProcess((u.host or HOST, u.port or 5432))
            bot_url = direct_url.replace(f"@{u.host}:{u.port}/", f"@{HOST}:{switch.port}/", 1) if u.port else \
                direct_url.replace(f"@{u.host}/", f"@{HOST}:{switch.port}/", 1)
            if bot_url == direct_url:
                print(f"cannot route {a.pg} through the proxy (expected …@host[:port]/db)", file=sys.stderr)
                return 2
            where = f"PostgreSQL schema {schema} through a TCP proxy on :{switch.port}"
        else:
            db_file = tmp / "jiesu.sqlite3"
            direct_url = bot_url = f"sqlite:///{db_file}"
            switch = SqliteOutage(str(db_file))
            where = f"SQLite {db_file} (outage: an exclusive lock on the file)"
        port = free_port()
        fake_store = str(tmp / "fake_wechat.sqlite3")
        spool = str(tmp / "spool.sqlite3")
        overrides = {"database.url": bot_url, "local.fake_store": fake_store, "inbound.spool": spool,
                     "media.folder": str(tmp / "media"), "nlp.model_root": str(tmp / "models"),
                     "server.host": HOST, "server.port": port, "server.workers": 2, "wechat.message_mode": "safe",
                     "limits.group_pushes_per_minute": a.group_pushes_per_minute}
        cfg = load_config(ROOT / "config.yaml", environ={}, overrides=overrides)
        cfg_path = tmp / "config.yaml"
        cfg_path.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), allow_unicode=True), encoding="utf-8")
        log = tmp / "server.log"
        proc = start_server(cfg_path, log)
        try:
            wait_ready(proc, port, log)
        except RuntimeError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        crypto = Crypto(cfg.wechat.token, cfg.wechat.encoding_aes_key, cfg.wechat.app_id)
        app_id = cfg.wechat.app_id
        from bot.fake_store import FakeStore
        store = FakeStore(fake_store)          # tables exist by now: the workers created them at start
        rec = Record(direct_url, fake_store, spool)

        msgs = make_messages(n, residents, rng)
        openids = sorted({m.openid for m in msgs})
        web, bg = server_children(proc.pid)
        print(f"接诉 soak: run_bot.py serve (gunicorn master {proc.pid}, web workers {web}, background worker {bg}) "
              f"on {HOST}:{port}, {where}")
        print(f"{n} messages from {len(openids)} residents ({sum(m.planned for m in msgs)} deliveries planned), "
              f"{a.senders} senders, WeChat timeout {a.timeout:g} s; kills every {a.kill_every[0]:g}-{a.kill_every[1]:g} s"
              f"{' (off)' if a.no_chaos else ''}, one {outage_s:g} s database outage; seed {seed}", flush=True)

        # -- 2. residents follow the account (no chaos yet) -----------------------------------------
        t_sub = time.monotonic()
        unsubscribed = subscribe_all(openids, port, crypto, app_id, store, a.senders)
        print(f"{len(openids)} residents subscribed in {time.monotonic() - t_sub:.1f} s"
              f"{f' ({unsubscribed} subscribe events unanswered)' if unsubscribed else ''}", flush=True)

        # -- 3. the messages, under chaos and one outage ----------------------------------------------
        plan = Plan(msgs, rng, retry_delay=(0.5, 1.5))
        t0 = time.monotonic()
        outage = Outage(plan, switch, outage_s, t0, spare=a.spare_outage)
        chaos = Chaos(proc.pid, random.Random(seed + 1), tuple(a.kill_every), t0,
                      spare_web=outage.sparing if a.spare_outage else None)
        progress = Progress(plan, chaos, t0)
        if not a.no_chaos:
            chaos.start()
        outage.start()
        progress.start()
        send_all(plan, a.senders, port, crypto, app_id, a.timeout)
        sent_s = time.monotonic() - t0
        chaos.stop.set()
        progress.stop.set()
        outage.join()          # (long over unless the run was shorter than half an outage)
        if chaos.is_alive():
            chaos.join()
        print(f"sending done in {sent_s:.1f} s; waiting for the system to settle (at most {a.settle:g} s)", flush=True)

        # -- 4. settle ----------------------------------------------------------------------------------
        t_settle = time.monotonic()
        busy = ("spool", "received", "failed", "outbox_pending", "outbox_sending")
        last_print = 0.0
        while True:
            try:
                state = rec.unsettled()
            except Exception as e:  # noqa: BLE001 - keep waiting; report it if it persists
                state = {"error": f"{type(e).__name__}: {e}"}
            settled = "error" not in state and not any(state[k] for k in busy)
            # (a server that died settles nothing more: no point waiting for it)
            if settled or time.monotonic() - t_settle >= a.settle or proc.poll() is not None:
                break
            if time.monotonic() - last_print >= 10:
                last_print = time.monotonic()
                print(f"  [settle {time.monotonic() - t_settle:5.1f} s] {state}", flush=True)
            time.sleep(1.0)
        settle_s = time.monotonic() - t_settle
        server_up = proc.poll() is None and healthy(port)
        final_web, final_bg = server_children(proc.pid) if proc.poll() is None else ([], [])

        # -- 5. the checks -------------------------------------------------------------------------------
        snap = rec.snapshot()
        ok = report(a, n, msgs, plan, chaos, outage, sent_s, settle_s, settled, state, snap, server_up,
                    (final_web, final_bg), log)
        if a.keep:
            print(f"kept: {tmp} (server.log, config.yaml, fake_wechat.sqlite3, spool){f'; schema {schema}' if schema else ''}")
        return 0 if ok else 1
    finally:
        if proc is not None:
            stop_server(proc)
        if rec is not None:
            rec.close()
        if switch is not None:
            switch.close()
        if schema and not a.keep:
            try:
                drop_pg_schema(a.pg, schema)
            except Exception as e:  # noqa: BLE001
                print(f"warning: schema {schema} not dropped ({type(e).__name__})", file=sys.stderr)
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def report(a, n, msgs, plan, chaos, outage, sent_s, settle_s, settled, state, snap, server_up, final_procs, log) -> bool:
    failures: list[str] = []

    def check(name: str, good: bool, detail: str) -> None:
        print(f"  {'OK  ' if good else 'FAIL'} {name}: {detail}")
        if not good:
            failures.append(name)

    by_key = {f"msg:{m.msg_id}": m for m in msgs}
    inbound = [r for r in snap["inbound"] if r.dedupe_key in by_key]
    row_of = {r.dedupe_key: r for r in inbound}
    tickets = {t.id: t for t in snap["tickets"]}
    openid_of = snap["residents"]
    outbox_by_key = {o.dedupe_key: o for o in snap["outbox"] if o.dedupe_key}

    # -- deliveries --------------------------------------------------------------------------------
    print()
    print("deliveries")
    answered = [m for m in msgs if m.answers]
    gave_up = [m for m in msgs if m.gave_up]
    http5xx = sum(v for k, v in plan.status.items() if isinstance(k, int) and k >= 500)
    other_http = {k: v for k, v in plan.status.items() if isinstance(k, int) and k != 200 and k < 500}
    conn = {k: v for k, v in plan.status.items() if not isinstance(k, int)}
    print(f"  messages sent (distinct MsgIds): {len(msgs)}; deliveries made: {plan.deliveries} "
          f"(planned {sum(m.planned for m in msgs)}, resent after a failed delivery: {plan.resent})")
    print(f"  HTTP answers: {dict(sorted((k, v) for k, v in plan.status.items() if isinstance(k, int)))}; "
          f"no answer: {dict(sorted(conn.items())) or 0}")
    print(f"  messages answered with HTTP 200: {len(answered)}; WeChat gave up (3 deliveries, no answer): {len(gave_up)}")
    stored_gave_up = [m for m in gave_up if f"msg:{m.msg_id}" in row_of]
    if gave_up:
        print(f"    of those WeChat gave up on, stored anyway (reached a worker that died): {len(stored_gave_up)}")

    # -- time and chaos ----------------------------------------------------------------------------
    kills = collections.Counter(k for _, k, _ in chaos.kills)
    win = outage.window
    print()
    print("run")
    print(f"  sending {sent_s:.1f} s ({len(msgs) / sent_s:.1f} messages/s, {plan.deliveries / sent_s:.1f} deliveries/s); "
          f"settled {'in' if settled else 'NOT within'} {settle_s:.1f} s{'' if settled else f': {state}'}")
    print(f"  kills: {len(chaos.kills)} (web workers {kills['web']}, background worker {kills['background']}; "
          f"{chaos.misses} turns found nothing to kill{f', {chaos.spared} web kills spared around the outage' if a.spare_outage else ''}); outage: "
          + (f"{win[1] - win[0]:.1f} s (from {win[0]:.1f} s to {win[1]:.1f} s into the run)" if win else "none happened"))
    print(f"  server at the end: {'up' if server_up else 'DOWN'} (web workers {final_procs[0]}, background {final_procs[1]})")

    # -- invariants ----------------------------------------------------------------------------------
    print()
    print("invariants")
    check("server still serving", server_up, "gunicorn master alive and /healthz 200" if server_up else
          f"the server is down (see the log tail below)")
    check("system settled", settled, f"spool empty, no inbound received/failed, outbox drained ({settle_s:.1f} s)"
          if settled else f"still {state} after {settle_s:.0f} s")
    check("no HTTP 5xx", http5xx == 0, f"{http5xx} answers 5xx" + (f"; other non-200: {other_http}" if other_http else ""))

    # inbound_message: one per MsgId that got a 200
    keys_answered = {f"msg:{m.msg_id}" for m in answered}
    missing = keys_answered - row_of.keys()
    all_keys = [r.dedupe_key for r in snap["inbound"]]
    doubled = len(all_keys) - len(set(all_keys))
    foreign = [r for r in snap["inbound"] if r.dedupe_key not in by_key]
    check("one inbound_message per answered MsgId", not missing and not doubled,
          f"{len(inbound)} rows for {len(keys_answered)} answered MsgIds; missing {len(missing)}, doubled {doubled}; "
          f"{len(stored_gave_up)} more for messages WeChat gave up on; {len(foreign)} rows not ours")
    statuses = collections.Counter(r.status for r in inbound)
    check("every stored message handled", set(statuses) <= {"handled"}, f"statuses {dict(statuses)}")

    # tickets: each opened by exactly one message, no message opening two
    kinds = collections.Counter(reply_kind(r.reply) for r in inbound)
    print(f"       replies stored: {dict(kinds.most_common())}")
    opened_by = collections.defaultdict(list)       # ticket id -> inbound rows whose reply opened it
    joined = 0
    for r in inbound:
        k = reply_kind(r.reply)
        if k.startswith("opened") and r.ticket_id is not None:
            opened_by[r.ticket_id].append(r)
        elif k.startswith("joined"):
            joined += 1
    opened_twice = {t: rs for t, rs in opened_by.items() if len(rs) > 1}
    resident_tickets = [t for t in tickets.values() if t.resident_id is not None]
    orphans = [t for t in resident_tickets if t.id not in opened_by]
    per_text = collections.Counter((openid_of.get(t.resident_id), t.text) for t in resident_tickets)
    texts_sent = collections.Counter((m.openid, m.text) for m in msgs)
    doubled_tickets = {k: c for k, c in per_text.items() if c > texts_sent.get(k, 0)}
    check("no ticket opened twice", not opened_twice and not doubled_tickets and not orphans,
          f"{len(resident_tickets)} tickets; {len(opened_twice)} opened by two messages, {len(doubled_tickets)} "
          f"(resident, text) with more tickets than messages, {len(orphans)} tickets no stored reply opened; "
          f"{joined} messages joined a neighbour's ticket (+1, not errors)")

    # group pushes per ticket, from the fake platform's record
    pushes = collections.Counter()
    push_calls = collections.defaultdict(list)
    for c in snap["fake"]:
        if c.api == "robot" and c.errcode == 0 and (pc := push_code(c.body)):
            pushes[pc] += 1
            push_calls[pc].append(c)
    codes = {t.code: t for t in tickets.values()}
    due_new, held = set(), set()
    due_page = set()
    for o in snap["outbox"]:
        kind = (o.payload or {}).get("kind")
        t = tickets.get(o.ticket_id)
        if t is None or o.channel != "robot":
            continue
        if kind == "new_ticket" and o.status != "cancelled":
            (held if o.status == "pending" and t.category_confirmed is False else due_new).add(t.code)
        elif kind == "emergency_page" and o.status != "cancelled":
            due_page.add(t.code)
    zero = [c for c in due_new if pushes[("new", c)] == 0]
    many = [c for c in due_new | due_page if pushes[("new", c)] > 1]
    zero_page = [c for c in due_page if pushes[("emergency", c)] == 0]
    many_page = [c for c in due_page if pushes[("emergency", c)] > 1]
    unknown = [code for (_, code) in pushes if code not in codes]

    def killed_mid_send(kind: str, code: str) -> bool:
        """At-least-once, by design (bot/outbox_worker.py): a push WeChat received whose worker was
        killed -9 before it could record "sent" goes again once its lease runs out. A robot webhook
        has no idempotency key, so only that in-flight row may be doubled; any other double is a bug."""
        # every push but the last (the one recorded) must have a kill of the background worker next
        # to it: just after it, or just before the fake platform logged it (the request in flight)
        times = [c.at.replace(tzinfo=timezone.utc).timestamp() for c in push_calls[(kind, code)]]
        return all(any(who == "background" and -1.0 <= at - t <= 2.0 for at, who in chaos.kill_times)
                   for t in times[:-1])
    explained = {c for c in many if killed_mid_send("new", c)} | {c for c in many_page if killed_mid_send("emergency", c)}
    many = [c for c in many if c not in explained]
    many_page = [c for c in many_page if c not in explained]
    check("every new ticket pushed to its group exactly once", not zero and not many and not unknown,
          f"{len(due_new)} tickets due a push: {len(zero)} with 0 pushes, {len(many)} with >1 pushes "
          f"({sum(pushes[('new', c)] - 1 for c in many)} extra); {len(explained)} pushed twice because the "
          f"worker was killed -9 between the send and its record (at-least-once); {len(held)} held for the "
          f"resident's menu; {len(unknown)} pushes of unknown tickets")
    check("every emergency paged exactly once", not zero_page and not many_page,
          f"{len(due_page)} emergency tickets: {len(zero_page)} with 0 pages, {len(many_page)} with >1 "
          f"(besides the killed-mid-send ones above)")

    # every resident answered
    cs = collections.Counter()      # (openid, content) -> customer-service messages recorded
    templates = collections.Counter()
    for c in snap["fake"]:
        if c.errcode == 0 and c.api == "mp_custom_send":
            body = c.body if isinstance(c.body, dict) else json.loads(c.body or "{}")
            cs[(c.target, (body.get("text") or {}).get("content", ""))] += 1
        elif c.errcode == 0 and c.api == "mp_template_send":
            templates[c.target] += 1
    passive = late = late_template = twice = 0
    twice_examples = []
    unanswered = []
    late_via = collections.Counter()
    for m in answered:
        real = [x for x in m.answers if x and not is_holding(x)]
        r = row_of.get(f"msg:{m.msg_id}")
        later = [outbox_by_key[k] for k in ((f"reply:{r.id}", f"dead:{r.id}") if r is not None else ())
                 if k in outbox_by_key]
        delivered = []
        for o in later:
            key = (m.openid, (o.payload or {}).get("content", ""))
            if o.status == "sent" and cs[key] > 0:
                cs[key] -= 1
                delivered.append(o)
            elif o.status == "sent" and templates[m.openid] > 0:
                templates[m.openid] -= 1
                delivered.append(o)
                late_template += 1
        if real:
            passive += 1
            if delivered:
                twice += 1
                twice_examples.append((m, r))
        elif delivered:
            late += 1
            late_via["holding reply first" if any(is_holding(x) for x in m.answers)
                     else "empty passive reply first"] += 1
        else:
            unanswered.append((m, r, later))
    check("every resident answered", not unanswered,
          f"answered {passive}, answered late {late} ({dict(late_via)}; {late_template} as template messages), "
          f"unanswered {len(unanswered)}; answered twice (passive reply and a later message): {twice}")

    # -- evidence for whatever failed --------------------------------------------------------------
    if failures:
        print()
        print("details of the failures (up to 5 each)")
        for m, r, later in unanswered[:5]:
            print(f"  unanswered {m.msg_id} {m.openid} {m.text!r}: HTTP answers {[x[:24] for x in m.answers]}, "
                  f"failures {m.failures}; row: " + (f"id {r.id} status {r.status} attempts {r.attempts} "
                                                       f"reply_deferred {r.reply_deferred} reply {str(r.reply)[:30]!r} "
                                                       f"received {r.received_at:%H:%M:%S.%f} handled "
                                                       f"{r.handled_at and f'{r.handled_at:%H:%M:%S.%f}'}"
                                                       if r else "none")
                  + f"; later rows {[(o.dedupe_key, o.status, o.attempts) for o in later]}")
        for code in (many + many_page)[:5]:
            t = codes.get(code)
            rows = [o for o in snap["outbox"] if o.ticket_id == (t.id if t else None) and o.channel == "robot"]
            kind = "new" if pushes[("new", code)] > 1 else "emergency"
            first = push_calls[(kind, code)][0].at.replace(tzinfo=timezone.utc).timestamp()
            near = min(chaos.kill_times, key=lambda k: abs(k[0] - first), default=None)
            print(f"  pushed {pushes[(kind, code)]}x {kind} #{code}: fake platform calls at "
                  f"{[f'{c.at:%H:%M:%S.%f}' for c in push_calls[(kind, code)]]}; outbox rows "
                  f"{[(o.id, o.dedupe_key, o.status, o.attempts, o.sent_at and f'{o.sent_at:%H:%M:%S.%f}') for o in rows]}"
                  + (f"; nearest kill: {near[1]} worker {near[0] - first:+.2f} s from the first push" if near else "")
                  + ("; during the database outage" if outage.wall and outage.wall[0] - 1 <= first <= outage.wall[1] + 1
                     else ""))
        text = log.read_text(errors="replace")
        for code in (many + many_page)[:5]:     # what the outbox worker said about those rows
            t = codes.get(code)
            for o in (o for o in snap["outbox"] if t is not None and o.ticket_id == t.id and o.channel == "robot"):
                said = [line[11:23] + " " + line.split(": ", 1)[-1][:110] for line in text.splitlines()
                        if f"outbox {o.id} " in line or re.search(rf"outbox \[[^]]*\b{o.id}\b", line)]
                if said:
                    print(f"    server log on outbox {o.id}: {said[:3]}")
        for code in (zero + zero_page)[:5]:
            t = codes[code]
            rows = [o for o in snap["outbox"] if o.ticket_id == t.id and o.channel == "robot"]
            print(f"  not pushed #{code}: outbox rows {[(o.dedupe_key, o.status, o.attempts, o.last_error) for o in rows]}")
        for key in list(missing)[:5]:
            m = by_key[key]
            print(f"  missing row {key}: HTTP answers {[x[:24] for x in m.answers]}, failures {m.failures}")
        for t, rs in list(opened_twice.items())[:5]:
            print(f"  ticket {t} opened by rows {[(r.id, r.dedupe_key) for r in rs]}")
        for k, c in list(doubled_tickets.items())[:5]:
            print(f"  {c} tickets for one message {k}")
        if chaos.kills:
            print(f"  kills (s since start, kind, pid): {[(round(s, 1), k[0], p) for s, k, p in chaos.kills]}")
        errors = collections.Counter(re.sub(r"\d+", "N", line.split(": ", 1)[-1])[:140]
                                     for line in text.splitlines() if " ERROR " in line or " CRITICAL " in line
                                     or "Traceback" in line or "[ERROR]" in line)
        print(f"  server log: {len(text.splitlines())} lines; most frequent error lines:")
        for line, count in errors.most_common(8):
            print(f"    {count:5} {line}")
        lines = text.splitlines()
        for i, line in enumerate(lines):          # the first traceback in full: the mechanism
            if line.startswith("Traceback"):
                end = next((j for j in range(i + 1, len(lines)) if lines[j] and not lines[j].startswith((" ", "\t"))), i)
                print("  first traceback:\n" + "\n".join("    " + x for x in lines[i:end + 1]))
                break
        if not server_up:
            print("  server log tail:\n" + "\n".join("    " + x for x in lines[-25:]))

    if twice_examples:
        print()
        print("observations: messages answered twice (a passive reply and a later customer-service message), up to 3")
        for m, r in twice_examples[:3]:
            t0 = min(x[0] for x in m.log)
            print(f"  {m.msg_id}: deliveries (start s, took s, status, reply) "
                  f"{[(round(at - t0, 2), round(dt, 2), st, head) for at, dt, st, head in sorted(m.log)]}; "
                  f"row handled {(r.handled_at - r.received_at).total_seconds():.2f} s after it was stored")

    print()
    print(f"RESULT: {'PASS' if not failures else 'FAIL (' + '; '.join(failures) + ')'}")
    return not failures


if __name__ == "__main__":
    sys.exit(main())
