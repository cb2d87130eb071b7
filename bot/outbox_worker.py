"""Sends what the outbox holds: claim a batch of due rows (one atomic statement), send each outside
any transaction and record its outcome as soon as it is answered (one short UPDATE, guarded so only
the lease holder writes). Retries back off exponentially; permanent errors and exhausted rows end
as failed, and the committee is told (one WeCom notice per row).

Leases. A claim holds its rows for a short lease: the time one send may take (two HTTP calls: the
45015 template fallback or a token renewal, each bounded by the timeout) plus a margin, 15 s with
the default 5 s timeout. Before each send the worker extends the lease of the rows it still holds
when less than a send's time is left, so a slow batch that is alive is never taken over, while the
rows of a worker that died are claimable again within one lease. Delivery is at least once: the
row in flight when a worker dies (sent, answer not yet recorded) is sent again by the next claimant;
every other row is sent once, as each outcome is committed before the next send.

Order. Emergencies (priority 1) are claimed before anything else and alone, and a worker looks for
one between the sends of a normal batch (at most once a second), so no queue in front delays them.

Flood limit. A WeCom group robot takes 20 messages a minute (45009 beyond). Normal robot pushes to
one key are paced below that, leaving EMERGENCY_RESERVE places of each minute to emergencies, which
are never held back: a push over the limit is not sent but handed back, due when the oldest push
of the window is a minute old. Other workers' pushes in flight count; two claims at the same instant
may still overshoot by a little.

A `wecom_card` row's send answers a response_code, the key to changing that card later: it is kept
on the card (storage.cards.set_code) in the transaction that records the row as sent. A failed
`wecom_card_update` (mostly a code that expired or was spent) tells nobody: the staff member still
has the earlier card, and the handlers decide whether to send a new one.

An `mp_media` row is a download rather than a send: the photo is fetched (Transports.fetch_media)
and kept by bot/media.py, which may queue its group push; the drain then goes round once more so
the push leaves in the same run.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot import media
from bot.transports import DeliveryError, Transports
from handlers.clock import Clock
from nlp import mask_pii
from storage import cards as card_store
from storage import outbox as outbox_store
from storage import repositories as repo

log = logging.getLogger(__name__)

LEASE_MARGIN = timedelta(seconds=5)      # database round trips and a slow scheduler, on top of a send
WINDOW = timedelta(minutes=1)            # the group robot's flood window
EMERGENCY_RESERVE = 2                    # places per window that normal pushes leave to emergencies
EMERGENCY_PROBE = timedelta(seconds=1)   # between sends, look for a due emergency this often
FLOOD_ERRCODE = 45009                    # "api freq out of limit": wait for the window, not the backoff
RECORD_PATIENCE = 300.0                   # seconds a sent row's outcome waits for the database
FAILED_KIND = "delivery_failed"          # the committee's notice of a row that failed for good
NOBODY_TO_TELL = ("errcode 43004",)      # the resident unfollowed the account


class OutboxWorker:
    def __init__(self, sessions: sessionmaker[Session], transports: Transports, clock: Clock, cfg, *,
                 group_pushes_per_minute: int = 20, committee: Sequence[str] = (),
                 lease_seconds: float | None = None):
        """cfg: bot.config.OutboxConfig. group_pushes_per_minute: cfg.limits' figure for one group
        robot. committee: WeCom userids told of a row that failed for good (none: only logged)."""
        self.sessions = sessions
        self.transports = transports
        self.clock = clock
        self.cfg = cfg
        self.batch = max(1, int(getattr(cfg, "batch_size", 20)))
        self.send_budget = timedelta(seconds=2 * cfg.http_timeout_seconds)
        self.lease = timedelta(seconds=lease_seconds) if lease_seconds else self.send_budget + LEASE_MARGIN
        self.group_limit = max(1, int(group_pushes_per_minute) - EMERGENCY_RESERVE)
        self.committee = tuple(committee)
        self._running = threading.Lock()
        self._followups = False      # this batch queued a row to send now (a photo's push, a failure notice)
        self._pause = threading.Event()  # never set: waits between attempts to record an outcome

    def backoff(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(self.cfg.backoff_seconds * 2 ** max(attempts - 1, 0), self.cfg.max_backoff_seconds))

    def run_once(self) -> int:
        """Deliver every row due now; returns how many were sent. Safe to call from several workers."""
        if not self._running.acquire(blocking=False):
            return 0                      # this process is already draining
        try:
            sent = 0
            while True:
                self._followups = False
                n, more = self._batch()
                sent += n
                if not more and not self._followups:
                    return sent
        finally:
            self._running.release()

    # -- one batch ---------------------------------------------------------------------------------
    def _batch(self) -> tuple[int, bool]:
        """Claim, send and record one batch: (sent, whether more may be due)."""
        now = self.clock.now()
        lease = now + self.lease
        with self.sessions() as s, s.begin():
            rows = outbox_store.claim_due_outbox(s, now, lease, self.batch)
            rows = self._pace(s, rows, now, lease)
            claimed = len(rows.claimed)
        if not claimed:
            return 0, False
        queue = deque(rows.send)
        sent, probed, urgent_seen = 0, now, any(r.priority >= repo.EMERGENCY for r in rows.claimed)
        while queue:
            row = queue.popleft()
            if self.clock.now() + self.send_budget > lease:    # not enough lease left for one more send
                held = [row.id, *(r.id for r in queue)]
                new_lease = self.clock.now() + self.lease
                with self.sessions() as s, s.begin():
                    ours = outbox_store.extend_outbox_lease(s, held, lease, new_lease)
                lease = new_lease
                lost = [i for i in held if i not in ours]
                if lost:                  # we stalled past the lease and another worker took them over
                    log.warning("outbox %s: lease lost while waiting, left to their new holder", lost)
                queue = deque(r for r in queue if r.id in ours)
                if row.id not in ours:
                    continue
            ok = self._send_one(row, lease)
            sent += ok
            if row.priority < repo.EMERGENCY and queue and self.clock.now() - probed >= EMERGENCY_PROBE:
                probed = self.clock.now()
                with self.sessions() as s, s.begin():     # an emergency queued meanwhile goes next
                    urgent = outbox_store.claim_due_outbox(s, probed, lease, 1, emergency_only=True)
                queue.extendleft(urgent)
                urgent_seen = urgent_seen or bool(urgent)
        # a full batch or an emergency (claimed alone) may have more behind it
        return sent, claimed >= self.batch or urgent_seen

    def _send_one(self, row, lease: datetime) -> bool:
        """Send one row and record its outcome at once; True when it was delivered."""
        error: DeliveryError | None = None
        code = None                   # a wecom_card send's response_code
        try:
            if row.channel == "mp_media":
                self._fetch_photo(row)
            else:
                code = self.transports.send(row.channel, row.target, row.payload)
        except Exception as e:        # noqa: BLE001 - one row's bug must not stop the batch
            if not isinstance(e, DeliveryError):
                log.exception("outbox %s (%s): unexpected error", row.id, row.channel)
                e = DeliveryError(f"internal error: {type(e).__name__}")
            error = e
        now = self.clock.now()
        if now > lease:               # the send outlived the lease: someone may have sent it again
            log.warning("outbox %s (%s): the send took until after its lease", row.id, row.channel)
        sent, retry, failed = [], {}, {}
        if error is None:
            sent.append(row.id)
        else:
            message = mask_pii(str(error))[:500]
            if error.permanent or row.attempts >= self.cfg.max_attempts:
                failed[row.id] = message
            else:
                wait = self.backoff(row.attempts)
                if error.errcode == FLOOD_ERRCODE:
                    wait = max(wait, WINDOW)
                retry[row.id] = (now + wait, message)
        task_id = (row.payload or {}).get("task_id") if row.channel == "wecom_card" else None

        def record(s: Session) -> bool:
            ours = row.id in outbox_store.finish_outbox(s, lease, now, sent, retry, failed, [])
            if sent and ours and task_id and isinstance(code, str) and code:
                card_store.set_code(s, task_id, code, now)     # the key to changing the card later
            if failed and ours and self._tell_committee(s, row, failed[row.id], now):
                self._followups = True        # the notice leaves in this run
            return ours
        ours = self._durably(record, row.id)
        if not ours:
            log.warning("outbox %s (%s): outcome not recorded, the row was taken over after its lease",
                        row.id, row.channel)
        elif failed:
            log.error("outbox %s (%s) failed for good after %s attempts: %s", row.id, row.channel, row.attempts,
                      failed[row.id])
        elif retry:
            log.warning("outbox %s (%s) attempt %s failed, retrying: %s", row.id, row.channel, row.attempts,
                        retry[row.id][1])
        return bool(sent) and ours

    def _durably(self, work, row_id: int):
        """Record a send's outcome, waiting out a database outage (up to RECORD_PATIENCE): the
        message has reached WeChat, and an unrecorded send would be sent again once its lease ran
        out. Nothing else can be done meanwhile: the next claim needs the database too."""
        delay, deadline, told = 0.5, time.monotonic() + RECORD_PATIENCE, False
        while True:
            try:
                with self.sessions() as s, s.begin():
                    return work(s)
            except OperationalError:
                if time.monotonic() > deadline:
                    raise
                if not told:
                    log.warning("outbox %s: sent, but the database is unreachable; recording it once it is back", row_id)
                    told = True
                self._pause.wait(delay)
                delay = min(delay * 2, 5.0)

    def _fetch_photo(self, row) -> None:
        """mp_media: download the photo, keep it, maybe queue its group push (bot/media.py)."""
        got = self.transports.fetch_media(row.target)
        if media.keep_photo(self.sessions, self.clock, self.transports.media, row.payload or {}, got):
            self._followups = True

    # -- the group robot's flood limit -----------------------------------------------------------------
    def _pace(self, s: Session, rows: list, now: datetime, lease: datetime) -> "_Paced":
        """Hand back the normal robot pushes that would take a group over its limit for the minute,
        due again when the window's oldest push is a minute old (in the claim's transaction)."""
        robots = sorted({r.target for r in rows if r.channel == "robot"})
        if not robots:
            return _Paced(rows, rows)
        window = outbox_store.robot_sends_in_window(s, robots, now - WINDOW, now, [r.id for r in rows])
        send, defer = [], {}
        for r in rows:
            if r.channel == "robot":
                times = window[r.target]
                if r.priority < repo.EMERGENCY and len(times) >= self.group_limit:
                    defer[r.id] = times[0] + WINDOW
                    continue
                times.append(now)     # this push takes a place (an emergency's too: WeChat counts it)
            send.append(r)
        if defer:
            outbox_store.finish_outbox(s, lease, now, [], {}, {}, [], defer=defer)
            log.info("outbox %s: group over %s pushes a minute, held until %s", sorted(defer), self.group_limit,
                     min(defer.values()))
        return _Paced(rows, send)

    # -- rows that failed for good -----------------------------------------------------------------------
    def _tell_committee(self, s: Session, row, error: str, now: datetime) -> int:
        """One WeCom notice per committee member, in the transaction that records the failure (so a
        row is reported once); returns how many were queued. Not for a failed notice to the
        committee itself: that would loop."""
        kind = str((row.payload or {}).get("kind") or "")
        if kind == FAILED_KIND or (row.channel == "wecom_text" and row.target in self.committee):
            return 0
        if row.channel in ("mp_media", "wecom_card_update") or error.startswith(NOBODY_TO_TELL):
            return 0      # a photo refused by policy, a card left as it was, a resident who unfollowed: nobody can act on it
        if not self.committee:
            log.error("outbox %s failed for good and no committee member is configured to be told", row.id)
            return 0
        code = repo.ticket_code_of(s, row.ticket_id)
        text = (f"【消息未送达】{'工单 #' + code + ' 的' if code else ''}通知（{kind or row.channel}）"
                f"发给{_recipient(row)}失败，已试 {row.attempts} 次：{error}\n请核实配置或人工联系。")
        return sum(repo.enqueue_once(s, f"failed:{row.id}:{userid}"[:128], "wecom_text", userid,
                                     {"kind": FAILED_KIND, "content": text[:1000], "outbox_id": row.id}, now,
                                     ticket_id=row.ticket_id)
                   for userid in self.committee)


class _Paced(NamedTuple):
    """A claim after the flood limit: every row claimed, and those to send now (in order)."""
    claimed: list
    send: list


def _recipient(row) -> str:
    """Who the failed row was for, as staff read it (no full openid or robot key: they are credentials
    or personal data)."""
    head = str(row.target)[:6] + "…"
    return {"robot": f"网格群机器人（{head}）", "mp_text": f"居民（{head}）", "wecom_text": f"工作人员 {row.target}",
            "wecom_card": f"工作人员 {row.target}（卡片）", "wecom_card_update": f"工作人员 {row.target}（卡片更新）",
            "mp_media": "居民照片下载"}.get(row.channel, f"{row.channel} {head}")
