"""Personal information (个人信息保护法): retention, a resident's copy of their data, and erasure.

    python -m storage.privacy export OPENID [--config config.yaml]   everything kept about a resident (JSON)
    python -m storage.privacy erase OPENID [--yes] [--config …]      anonymise them (right to deletion)
    python -m storage.privacy purge [--config …]                     apply the retention period now

purge_expired() (run daily by the background worker) handles what is older than
privacy.retention_days: an inbound message loses its raw XML and keeps its texts with phone and ID
numbers masked; ticket texts, event texts, parties' notes and outbox payloads are masked likewise.
Categories, statuses, times and ratings stay for statistics.

Erasure replaces the resident's openid by a random token everywhere it is kept, clears what they told
us about themselves and the texts they wrote; tickets stay as rows (category, status, times, ratings)
so the community's statistics still add up.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import secrets
import sys
from datetime import datetime, timedelta, timezone
from itertools import takewhile

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from nlp.extract import mask_pii
from storage import repositories as repo
from storage import search
from storage.db import transaction
from storage.models import (InboundMessage, NoticeSignup, Outbox, PointEntry, PollAnswer, Resident, Ticket, TicketEvent,
                            TicketFollower, TicketParty, TicketRating)

ERASED_TEXT = "（已删除）"                 # a message text the resident asked us to delete
ERASED_TICKET_TEXT = "（居民已要求删除）"    # a ticket's text, ditto (storage.corrections must skip it)
ERASED_PREFIX = "erased:"
BATCH = 1000
# Keys of ticket_event data that hold free text (moves.py: text, note, result, reason; intake: label).
_TEXT_KEYS = ("text", "label", "reason", "result", "note")
# How far each table has been purged, kept in kv_cache. Only a shortcut: without it a purge starts
# from the oldest row again, changes nothing twice (masking is idempotent) and catches up.
_MARK = "privacy:purged:"


# --- retention ---------------------------------------------------------------------------------

def purge_expired(session: Session, now: datetime, retention_days: int, batch: int = BATCH) -> int:
    """One batch (at most `batch` rows of each table) of what has outlived the retention period, in
    the caller's transaction. Returns how many rows were processed: call again until it returns 0.

    Every query reads an index from where the last one stopped: inbound_message by received_at
    (ix_inbound_received_at, rows with purged_at set skipped), the others by primary key (ids grow
    with time), so a daily run costs the day's rows, not the whole history."""
    cutoff = now - timedelta(days=retention_days)
    return (_purge_inbound(session, now, cutoff, batch) + _purge_tickets(session, now, cutoff, batch)
            + _purge_events(session, now, cutoff, batch) + _purge_outbox(session, now, cutoff, batch))


def purge_all(factory, now: datetime, retention_days: int, batch: int = BATCH) -> int:
    """purge_expired in one transaction per batch until nothing is left; returns the rows processed."""
    total = 0
    while True:
        with transaction(factory) as session:
            n = purge_expired(session, now, retention_days, batch)
        if not n:
            return total
        total += n


def _mask_inbound(value: dict | None) -> dict | None:
    if not value:
        return value
    return {**value, **{k: mask_pii(value[k]) for k in ("content", "label") if isinstance(value.get(k), str)}}


def _mask_json(value):
    """Every string inside a JSON value masked (outbox payloads)."""
    if isinstance(value, str):
        return mask_pii(value)
    if isinstance(value, list):
        return [_mask_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _mask_json(v) for k, v in value.items()}
    return value


def _mask_texts(data: dict | None) -> dict | None:
    if not data:
        return data
    return {k: mask_pii(v) if k in _TEXT_KEYS and isinstance(v, str) else v for k, v in data.items()}


def _mark(session: Session, name: str, now: datetime) -> str | None:
    return repo.kv_get(session, _MARK + name, now)


def _set_mark(session: Session, name: str, value) -> None:
    repo.kv_set(session, _MARK + name, str(value), None)


def _purge_inbound(session: Session, now: datetime, cutoff: datetime, batch: int) -> int:
    m = InboundMessage
    q = select(m.id, m.reply, m.error, m.inbound, m.received_at).where(m.received_at < cutoff, m.purged_at.is_(None))
    since = _mark(session, "inbound", now)
    if since:      # the range scan starts where the last batch ended, not at the oldest purged row
        q = q.where(m.received_at >= datetime.fromisoformat(since))
    rows = session.execute(q.order_by(m.received_at, m.id).limit(batch)).all()
    if not rows:
        return 0
    # (a missing parsed message stays SQL NULL: written as None it would become JSON null)
    session.execute(update(InboundMessage), [
        {"id": r.id, "raw": "", "reply": r.reply and mask_pii(r.reply), "error": r.error and mask_pii(r.error),
         "purged_at": now, **({"inbound": _mask_inbound(r.inbound)} if r.inbound is not None else {})} for r in rows])
    _set_mark(session, "inbound", rows[-1].received_at.isoformat())
    return len(rows)


def _older(rows, at: str, cutoff: datetime) -> list:
    """The leading rows (in id order) older than the cutoff: ids grow with time, so the first newer
    row ends the batch (one a few seconds out of order waits for the next run)."""
    return list(takewhile(lambda r: getattr(r, at) < cutoff, rows))


def _purge_tickets(session: Session, now: datetime, cutoff: datetime, batch: int) -> int:
    after = int(_mark(session, "ticket", now) or 0)
    rows = _older(session.execute(select(Ticket.id, Ticket.text, Ticket.location_text, Ticket.created_at)
                                  .where(Ticket.id > after).order_by(Ticket.id).limit(batch)).all(), "created_at", cutoff)
    if not rows:
        return 0
    changed = [{"id": r.id, "text": mask_pii(r.text), "search": search.document(r.text, r.location_text)}
               for r in rows if r.text and mask_pii(r.text) != r.text]
    if changed:
        session.execute(update(Ticket), changed)
    # the parties' notes and answers belong to the ticket's time (ix_ticket_party_ticket_id)
    parties = session.execute(select(TicketParty.id, TicketParty.note, TicketParty.reply)
                              .where(TicketParty.ticket_id.in_([r.id for r in rows]))).all()
    changed = [{"id": p.id, "note": p.note and mask_pii(p.note), "reply": p.reply and mask_pii(p.reply)}
               for p in parties if (p.note and mask_pii(p.note) != p.note) or (p.reply and mask_pii(p.reply) != p.reply)]
    if changed:
        session.execute(update(TicketParty), changed)
    _set_mark(session, "ticket", rows[-1].id)
    return len(rows)


def _purge_events(session: Session, now: datetime, cutoff: datetime, batch: int) -> int:
    after = int(_mark(session, "event", now) or 0)
    rows = _older(session.execute(select(TicketEvent.id, TicketEvent.data, TicketEvent.at).where(TicketEvent.id > after)
                                  .order_by(TicketEvent.id).limit(batch)).all(), "at", cutoff)
    if not rows:
        return 0
    changed = [{"id": r.id, "data": _mask_texts(r.data)} for r in rows if _mask_texts(r.data) != r.data]
    if changed:
        session.execute(update(TicketEvent), changed)
    _set_mark(session, "event", rows[-1].id)
    return len(rows)


def _purge_outbox(session: Session, now: datetime, cutoff: datetime, batch: int) -> int:
    # Group pushes and notices quote residents' texts (masked when sent; masked again costs nothing)
    after = int(_mark(session, "outbox", now) or 0)
    rows = _older(session.execute(select(Outbox.id, Outbox.payload, Outbox.last_error, Outbox.created_at)
                                  .where(Outbox.id > after).order_by(Outbox.id).limit(batch)).all(), "created_at", cutoff)
    if not rows:
        return 0
    changed = [{"id": r.id, "payload": _mask_json(r.payload), "last_error": r.last_error and mask_pii(r.last_error)}
               for r in rows if _mask_json(r.payload) != r.payload or (r.last_error and mask_pii(r.last_error) != r.last_error)]
    if changed:
        session.execute(update(Outbox), changed)
    _set_mark(session, "outbox", rows[-1].id)
    return len(rows)


# --- a resident's data -------------------------------------------------------------------------

def _iso(v):
    return v.isoformat() if isinstance(v, datetime) else v


def _row(obj, *fields) -> dict:
    return {f: _iso(getattr(obj, f)) for f in fields}


def _their_tickets(session: Session, resident_id: int | None) -> tuple[list[Ticket], list[int]]:
    """(tickets they reported, ids of tickets they follow as "+1")."""
    if resident_id is None:
        return [], []
    own = list(session.scalars(select(Ticket).where(Ticket.resident_id == resident_id).order_by(Ticket.id)))
    followed = list(session.scalars(select(TicketFollower.ticket_id).where(TicketFollower.resident_id == resident_id)))
    return own, followed


def _messages(session: Session, openid: str) -> list[InboundMessage]:
    return list(session.scalars(select(InboundMessage).where(InboundMessage.openid == openid).order_by(InboundMessage.id)))


def export_resident(session: Session, openid: str) -> dict | None:
    """Everything kept about the resident with this openid (None: nothing is)."""
    r = session.scalar(select(Resident).where(Resident.openid == openid))
    messages = _messages(session, openid)
    sent = list(session.scalars(select(Outbox).where(Outbox.target == openid).order_by(Outbox.id)))
    if r is None and not messages and not sent:
        return None
    own, followed_ids = _their_tickets(session, r.id if r else None)
    codes = dict(session.execute(select(Ticket.id, Ticket.code).where(
        Ticket.id.in_([t.id for t in own] + followed_ids))).all())
    tickets = []
    for t in own:
        d = _row(t, "code", "category", "priority", "emergency", "status", "round", "source", "text", "location_text",
                 "building", "unit", "room", "latitude", "longitude", "created_at", "updated_at", "onsite_at",
                 "planned_at", "resolved_at", "visited_at", "closed_at", "rating")
        d["attachments"] = [_row(a, "kind", "label", "url", "path", "created_at") for a in t.attachments]
        tickets.append(d)
    following = [_row(t, "code", "category", "status", "created_at") for t in session.scalars(
        select(Ticket).where(Ticket.id.in_(followed_ids)).order_by(Ticket.id))]
    events = [{"ticket": codes.get(e.ticket_id), **_row(e, "at", "kind", "data")} for e in session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id.in_(list(codes)), TicketEvent.actor == f"resident:{openid}")
        .order_by(TicketEvent.id))]
    ratings = [{"ticket": codes.get(x.ticket_id), **_row(x, "round", "score", "requested_at", "rated_at")}
               for x in session.scalars(select(TicketRating).where(TicketRating.resident_id == r.id)
                                        .order_by(TicketRating.id))] if r else []
    return {
        "openid": openid,
        "resident": _row(r, "building", "unit", "room", "phone", "state", "points_name", "created_at",
                         "last_seen_at") if r else None,
        "tickets": tickets,
        "following": following,
        "events": events,
        "messages": [{**_row(m, "received_at", "msg_type", "status", "reply", "raw"),
                      "content": (m.inbound or {}).get("content"), "label": (m.inbound or {}).get("label"),
                      "ticket": codes.get(m.ticket_id)} for m in messages],
        "ratings": ratings,
        "points": [{"ticket": codes.get(x.ticket_id), **_row(x, "created_at", "kind", "amount", "name", "reason")}
                   for x in session.scalars(select(PointEntry).where(PointEntry.resident_id == r.id)
                                            .order_by(PointEntry.id))] if r else [],
        "poll_answers": [{"poll": a.poll_id, **_row(a, "position", "value", "household", "created_at", "updated_at")}
                         for a in session.scalars(select(PollAnswer).where(PollAnswer.resident_id == r.id)
                                                  .order_by(PollAnswer.poll_id, PollAnswer.position))] if r else [],
        "signups": [{"notice": x.notice_id, **_row(x, "status", "created_at", "attended_at")}
                    for x in session.scalars(select(NoticeSignup).where(NoticeSignup.resident_id == r.id)
                                             .order_by(NoticeSignup.id))] if r else [],
        "sent_to_resident": [{**_row(o, "created_at", "sent_at", "status", "channel"),
                              "kind": (o.payload or {}).get("kind"), "content": (o.payload or {}).get("content")}
                             for o in sent],
    }


def erased_token(openid: str) -> str:
    """What replaces an erased openid: a salted hash, so it neither reveals the openid nor can be
    matched against a list of openids (a plain hash could); two erasures never share a token."""
    return ERASED_PREFIX + hashlib.sha256(secrets.token_bytes(16) + openid.encode()).hexdigest()[:24]


def _scrub(value, needles: list[str]):
    """`value` (JSON) with every occurrence of the needles replaced by ERASED_TEXT."""
    if isinstance(value, str):
        for n in needles:
            value = value.replace(n, ERASED_TEXT)
        return value
    if isinstance(value, list):
        return [_scrub(v, needles) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v, needles) for k, v in value.items()}
    return value


def erase_resident(session: Session, openid: str, now: datetime) -> dict | None:
    """Anonymise the resident (个人信息保护法 第四十七条), in the caller's transaction. Returns counts
    of what changed, or None when nothing is kept under this openid.

    Kept for statistics: the resident row (id, times) and every ticket row (category, status,
    times, building and unit of the problem), its ratings and history, under the new token."""
    r = session.scalar(select(Resident).where(Resident.openid == openid))
    messages = _messages(session, openid)
    sent = list(session.scalars(select(Outbox).where(Outbox.target == openid)))
    if r is None and not messages and not sent:
        return None
    token = erased_token(openid)
    own, followed_ids = _their_tickets(session, r.id if r else None)

    if r is not None:
        r.openid, r.building, r.phone, r.state, r.points_name = token, None, None, {}, None
        r.unit, r.room = None, None
        # answers stay counted (a vote's tally must not change after the fact); words and room go
        for a in session.scalars(select(PollAnswer).where(PollAnswer.resident_id == r.id)):
            if isinstance(a.value, str):
                a.value = ERASED_TEXT
            if a.household:        # a random key: still one household in the count, no longer a room
                a.household = "erased-" + secrets.token_hex(6)

    # Their tickets: what they wrote and where they are (room, map position) go; the building and
    # unit of the problem stay for the grid's statistics.
    needles: list[str] = []
    for t in own:
        if t.text:    # as quoted in pushes and notices: masked, whole or cut (handlers/push.py, render.py)
            needles += {t.text, *(mask_pii(t.text)[:n] for n in (None, 300, 120, 80))}
        t.text = ERASED_TICKET_TEXT
        if t.room or t.latitude is not None:
            if t.location_text:
                needles.append(t.location_text)
            t.location_text = (f"{t.building}号楼" + (f"{t.unit}单元" if t.unit else "")) if t.building else None
        t.room, t.latitude, t.longitude = None, None, None
        for a in t.attachments:
            a.label, a.url = None, None            # a map label; WeChat's link to the photo
    needles = sorted({n for n in needles if len(n) >= 4}, key=len, reverse=True)

    # Their history: the actor tag carries the openid; texts they wrote go; others' texts on their
    # tickets keep their words with numbers masked.
    tag, new_tag = f"resident:{openid}", f"resident:{token}"
    ticket_ids = [t.id for t in own] + followed_ids
    for e in session.scalars(select(TicketEvent).where(TicketEvent.ticket_id.in_(ticket_ids))) if ticket_ids else ():
        if e.actor == tag:
            e.actor = new_tag
            e.data = {k: (ERASED_TEXT if k in _TEXT_KEYS and v else None if k == "media_id" else v)
                      for k, v in (e.data or {}).items()}
        else:
            e.data = _mask_texts(e.data)

    for m in messages:
        m.openid, m.raw = token, ""
        if m.dedupe_key.startswith(f"evt:{openid}:"):       # an event's key is FromUserName + CreateTime
            m.dedupe_key = (f"evt:{token}:" + m.dedupe_key[len(f"evt:{openid}:"):])[:128]
        if m.reply:
            m.reply = ERASED_TEXT
        if m.error:
            m.error = mask_pii(m.error)
        if m.inbound:
            m.inbound = {**m.inbound, "openid": token, "dedupe_key": m.dedupe_key, "media_id": None, "pic_url": None,
                         "latitude": None, "longitude": None,
                         **{k: ERASED_TEXT for k in ("content", "label") if m.inbound.get(k)}}
        if m.status in ("received", "failed"):  # never handled again: its words are gone
            m.status, m.lease_until, m.next_attempt_at = "dead", None, None
            m.error = "erased at the resident's request"
        m.purged_at = m.purged_at or now

    # What we sent them, and what we told staff and groups about their tickets
    for o in sent:
        o.target = token
        o.payload = {"kind": (o.payload or {}).get("kind"), "content": ERASED_TEXT}
        if o.status in ("pending", "sending"):
            o.status = "cancelled"
    if needles and own:
        for o in session.scalars(select(Outbox).where(Outbox.ticket_id.in_([t.id for t in own]))):
            scrubbed = _scrub(o.payload, needles)
            if scrubbed != o.payload:
                o.payload = scrubbed
    session.flush()
    return {"token": token, "tickets": len(own), "messages": len(messages), "sent": len(sent),
            "following": len(followed_ids)}


# --- command line ------------------------------------------------------------------------------

class _Fail(Exception):
    """One line for the operator, exit status 1."""


def _sessions(config_path: str):
    from bot.config import load_config
    from storage.db import make_engine, make_session_factory
    cfg = load_config(config_path)
    return cfg, make_session_factory(make_engine(cfg.database.url))


def _export(factory, openid: str) -> None:
    with factory() as session:
        data = export_resident(session, openid)
    if data is None:
        raise _Fail(f"no resident with openid {openid!r}")
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def _erase(factory, openid: str, yes: bool) -> None:
    if not yes:
        try:
            answer = input(f"Erase everything kept about {openid}? Tickets stay, anonymised. "
                           f"This cannot be undone. [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            raise _Fail("not erased (answer y, or pass --yes)")
    with transaction(factory) as session:
        done = erase_resident(session, openid, datetime.now(timezone.utc))
    if done is None:
        raise _Fail(f"no resident with openid {openid!r}")
    print(f"erased {openid}: now {done['token']}; {done['tickets']} tickets, {done['messages']} messages, "
          f"{done['sent']} deliveries anonymised")


def main(argv: list[str] | None = None) -> int:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default="config.yaml")
    ap = argparse.ArgumentParser(prog="python -m storage.privacy", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("export", parents=[common], help="print everything kept about a resident (JSON)")
    p.add_argument("openid")
    p = sub.add_parser("erase", parents=[common], help="anonymise a resident (right to deletion)")
    p.add_argument("openid")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    sub.add_parser("purge", parents=[common], help="apply privacy.retention_days now")
    a = ap.parse_args(argv)

    from bot.config import ConfigError
    from sqlalchemy.exc import SQLAlchemyError
    try:
        cfg, factory = _sessions(a.config)
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        return 2
    try:
        if a.command == "export":
            _export(factory, a.openid)
        elif a.command == "erase":
            _erase(factory, a.openid, a.yes)
        else:
            n = purge_all(factory, datetime.now(timezone.utc), cfg.privacy.retention_days)
            print(f"purged {n} row(s) older than {cfg.privacy.retention_days} days")
    except _Fail as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except SQLAlchemyError as e:
        print(f"database error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
