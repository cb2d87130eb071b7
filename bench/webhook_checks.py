"""What bench/bench_webhook.py checks after a run, read from the database and the fake platform's
store: nothing lost or doubled, each reply its own ticket, each push delivered once. Only the rows
the run added count (a --history database holds a million before it)."""
from __future__ import annotations

import re
import time

CODE = re.compile(r"#(\d{8}-\d{4,})")
# outbox channel -> the fake platform's API that delivers it (bot/fake_platform.py)
DELIVERY_APIS = {"robot": "robot", "wecom_text": "wecom_send", "wecom_card": "wecom_card", "mp_text": "mp_custom_send"}


class Db:
    def __init__(self, url: str, fake_store: str):
        from sqlalchemy import create_engine, func, select

        from storage.db import make_engine
        from storage.models import InboundMessage, Outbox, Ticket
        self.engine = make_engine(url, pool_size=1)
        # read the fake platform's store directly (FakeStore() would race the workers creating its tables)
        self.fake_engine = create_engine(f"sqlite:///{fake_store}", connect_args={"timeout": 15})
        # rows already there (--history, --history-db) are not this run's: the checks read past them
        self.base = {m: self.scalar(select(func.coalesce(func.max(m.id), 0))) for m in (Ticket, InboundMessage, Outbox)}

    def tickets(self) -> int:
        from sqlalchemy import func, select

        from storage.models import Ticket
        return self.scalar(select(func.count()).select_from(Ticket))

    def scalar(self, stmt):
        from sqlalchemy.orm import Session
        with Session(self.engine) as s:
            return s.scalar(stmt)

    def outbox_due(self) -> int:
        from datetime import datetime, timezone

        from sqlalchemy import and_, func, or_, select

        from storage.models import Outbox
        now = datetime.now(timezone.utc)
        return self.scalar(select(func.count()).select_from(Outbox).where(Outbox.id > self.base[Outbox], or_(
            and_(Outbox.status == "pending", Outbox.next_attempt_at <= now), Outbox.status == "sending")))

    def drain(self, timeout: float = 60.0) -> int:
        """Wait until the server's outbox has nothing due; returns what is still due (0 if drained)."""
        deadline = time.monotonic() + timeout
        while (due := self.outbox_due()) and time.monotonic() < deadline:
            time.sleep(0.2)
        return due

    def report(self) -> dict:
        from sqlalchemy import func, select

        from storage.models import InboundMessage, Outbox, Ticket, TicketFollower
        from bot.fake_store import calls
        new_ticket = Ticket.id > self.base[Ticket]
        with self.engine.connect() as c:
            statuses = dict(c.execute(select(InboundMessage.status, func.count())
                                      .where(InboundMessage.msg_type == "text", InboundMessage.id > self.base[InboundMessage])
                                      .group_by(InboundMessage.status)).all())
            outbox = dict(c.execute(select(Outbox.status, func.count()).where(Outbox.id > self.base[Outbox])
                                    .group_by(Outbox.status)).all())
            sent_by_channel = dict(c.execute(select(Outbox.channel, func.count())
                                             .where(Outbox.id > self.base[Outbox], Outbox.status == "sent")
                                             .group_by(Outbox.channel)).all())
            codes = set(c.scalars(select(Ticket.code).where(new_ticket)))
            followers = c.scalar(select(func.count()).select_from(TicketFollower)
                                 .where(TicketFollower.ticket_id > self.base[Ticket]))
            categories = dict(c.execute(select(Ticket.category, func.count()).where(new_ticket)
                                        .group_by(Ticket.category)).all())
            low = c.scalar(select(func.count()).select_from(Ticket).where(new_ticket, Ticket.category_confirmed.is_(False)))
        with self.fake_engine.connect() as c:      # the calls the fake platform accepted, by API
            accepted = dict(c.execute(select(calls.c.api, func.count()).where(calls.c.errcode == 0)
                                      .group_by(calls.c.api)).all())
        return {"tickets": len(codes), "codes": codes, "inbound": statuses, "outbox": outbox, "followers": followers,
                "sent": sent_by_channel, "accepted": accepted, "categories": categories, "menu_tickets": low}

    def close(self) -> None:
        self.engine.dispose()
        self.fake_engine.dispose()


def run_checks(rep: dict, replies: list[str], warm_ok: int, measured_ok: int) -> list[tuple[str, bool, str]]:
    """(what, passed, detail) for each check; `replies`: the text of every successful /wechat reply."""
    successes = warm_ok + measured_ok
    reply_codes, bad_replies, joined = [], 0, 0
    for content in replies:
        m = CODE.search(content)
        if m is None:
            bad_replies += 1
        else:
            reply_codes.append(m.group(1))
            joined += "已有居民反映" in content
    distinct = set(reply_codes)
    inbound_total = sum(rep["inbound"].values())
    return [
        ("tickets in the database == successful webhook requests", rep["tickets"] == successes,
         f"{rep['tickets']} == {successes} (warm-up {warm_ok} + measured {measured_ok})"),
        ("inbound text messages stored == successful webhook requests, all handled",
         inbound_total == successes and rep["inbound"].get("handled", 0) == successes, f"{rep['inbound']}"),
        ("every reply names a ticket, each a different one, all in the database",
         bad_replies == 0 and len(distinct) == len(reply_codes) == successes and distinct <= rep["codes"],
         f"{len(reply_codes)} codes, {len(distinct)} distinct, {bad_replies} replies without a code, "
         f"{len(distinct - rep['codes'])} unknown to the database"),
        ("no report joined as +1 (one resident per building)", joined == 0 and rep["followers"] == 0,
         f"{joined} '+1' replies, {rep['followers']} followers"),
        # each push delivered once: every outbox row marked sent is one call the platform accepted
        ("each push delivered once (sent outbox rows == calls the fake platform accepted, per kind)",
         all(rep["sent"].get(ch, 0) == rep["accepted"].get(api, 0) for ch, api in DELIVERY_APIS.items()),
         ", ".join(f"{ch} {rep['sent'].get(ch, 0)} == {rep['accepted'].get(api, 0)}" for ch, api in DELIVERY_APIS.items())),
    ]
