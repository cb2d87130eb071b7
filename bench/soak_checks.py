"""Soak check (bench/soak.py), the checks: reading what happened (the bot's database and the fake
platform's record, collected in one snapshot) and checking and printing the invariants."""
from __future__ import annotations

import collections
import json
import re
import sqlite3
from datetime import timezone
from pathlib import Path

HOLDING_PREFIX = "已收到您的消息"   # replies.holding() and replies.failed(): "kept, answer follows"
CODE = r"\d{8}-\d{4,}"

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
