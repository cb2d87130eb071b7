"""Soak check (bench/soak.py), the traffic: what residents write (the messages) and sending them as
WeChat does (the delivery plan with WeChat's retries, keep-alive senders, the subscribe events)."""
from __future__ import annotations

import collections
import heapq
import http.client
import random
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:          # (bench/soak.py has put it there already)
    sys.path.insert(0, str(ROOT))

from bot.wire import message_xml, open_reply, signed_request  # noqa: E402
from bot.wxcrypto import Crypto  # noqa: E402

HOST = "127.0.0.1"
WECHAT_ATTEMPTS = 3          # WeChat gives up on a message after three deliveries without an answer

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
