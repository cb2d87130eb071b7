"""Applying a move's Outcome in the caller's transaction: events with their actor, milestone rows,
rating requests, and one outbox row per notice and recipient (keyed by delivery_key, so a notice
is never queued twice). Intake, staff commands and the sweep all end here."""
from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from domain.access import Actor
from domain.moves import MilestoneOp, Notice, Outcome, Tell
from domain.promises import first_check
from domain.states import Channel, Role, status_name
from handlers import cards, render
from handlers.directory import Directory
from storage import cards as card_store
from storage import repositories as repo
from storage.models import TicketMilestone


# Notices that may save a life: the group's @all page and the number residents should call. Their
# outbox rows are claimed first and alone and never held back by the group's flood limit.
EMERGENCY_NOTICES = frozenset({Notice.EMERGENCY_PAGE, Notice.EMERGENCY_ADVICE})


def outbox_priority(notice) -> int:
    """The one place a delivery's outbox priority is decided (0 normal, repo.EMERGENCY)."""
    return repo.EMERGENCY if notice in EMERGENCY_NOTICES else 0


def delivery_key(ticket_id: int, round_: int, key: str, recipient: str) -> str:
    """The one way a delivery's dedupe key is built: ticket, round, what, to whom."""
    return f"t{ticket_id}:r{round_}:{key}:{recipient}"[:128]


class Deliveries:
    """The outbox rows (and the ticket_card rows beside card rows) one outcome queues, written in
    one INSERT each when flushed instead of a statement per recipient: a new report queues a push,
    cards and party notices (six statements, issue 14), and a row whose dedupe key is already
    queued is skipped as enqueue_once() skips it."""

    def __init__(self) -> None:
        self.rows: dict[str, dict] = {}          # by dedupe key: the first queued wins
        self.cards: dict[str, dict] = {}         # by its card row's dedupe key
        self._parties: dict[int, frozenset[str]] = {}

    def add(self, key: str, channel: str, target: str, payload: dict, now: datetime, ticket_id: int | None,
            not_before: datetime | None = None, priority: int = 0, card: dict | None = None) -> None:
        if key in self.rows:
            return
        self.rows[key] = repo.outbox_row(key, channel, target, payload, now, ticket_id, not_before, priority)
        if card is not None:
            self.cards[key] = card

    def parties(self, session: Session, ticket_id: int) -> frozenset[str]:
        if ticket_id not in self._parties:
            self._parties[ticket_id] = repo.party_codes(session, ticket_id)
        return self._parties[ticket_id]

    def read_parties(self, session: Session, ticket_ids: list[int]) -> None:
        """Read the parties of many tickets at once (the sweep's), instead of one SELECT per card."""
        self._parties.update(repo.party_codes_of(session, ticket_ids))

    def flush(self, session: Session) -> int:
        """Write what was queued; returns how many rows were new, cards not counted."""
        if not self.rows:
            return 0
        new = repo.enqueue_rows(session, list(self.rows.values()))
        cards = [self.cards[k] for k in new if k in self.cards]
        if cards:
            card_store.add_cards(session, cards)
        n = len(new - self.cards.keys())
        self.rows.clear()
        self.cards.clear()
        return n


def apply(session: Session, t, out: Outcome, actor: Actor, now: datetime, d: Directory, grid) -> None:
    for kind, data in out.events:
        repo.add_event(session, t, actor.tag, str(kind), now, **data)
    apply_milestones(session, t, out.milestones, now, d)
    if out.ask_ratings:
        repo.request_ratings(session, t, now)
    batch = Deliveries()
    for tell in out.tells:
        if tell.to == f"staff:{actor.id}":      # nobody is told what they have just done themselves
            continue
        send(session, t, tell, now, d, grid, batch)
    batch.flush(session)


def apply_milestones(session: Session, t, ops: list[MilestoneOp], now: datetime, d: Directory) -> None:
    """Starts are written in one multi-row upsert (a milestone started and met in the same move,
    like registration, is written met); other meets and drops are one UPDATE each."""
    m_t = TicketMilestone
    started = {(op.milestone, op.party): op.due for op in ops if op.op == "start"}
    met_now = {(op.milestone, op.party) for op in ops if op.op == "meet"} & started.keys()
    copies = dict(round_started_at=t.round_started_at or t.created_at, grid_id=t.grid_id)   # for handlers/stats.py
    rows = [dict(ticket_id=t.id, round=t.round, name=str(m), party=party, due_at=due, stage=0, **copies,
                 met_at=now if (m, party) in met_now else None,
                 late_seconds=0 if (m, party) in met_now else None,
                 next_check_at=None if (m, party) in met_now else first_check(d.policy, m, now, due))
            for (m, party), due in started.items()]
    repo.upsert_milestones(session, rows)
    for op in ops:
        if (op.milestone, op.party) in started:
            continue
        where = (m_t.ticket_id == t.id, m_t.round == t.round, m_t.name == str(op.milestone), m_t.party == op.party)
        if op.op == "meet":
            row = session.execute(select(m_t.id, m_t.due_at).where(*where, m_t.met_at.is_(None))).first()
            if row is None:           # met without a deadline (e.g. fixed before any was set): on record
                repo.upsert_milestones(session, [dict(ticket_id=t.id, round=t.round, name=str(op.milestone),
                                                      party=op.party, due_at=None, stage=0, met_at=now,
                                                      late_seconds=0, next_check_at=None, **copies)])
                continue
            late = d.policy.late_by(op.milestone, row.due_at, now, t.category)
            session.execute(update(m_t).where(m_t.id == row.id).values(met_at=now, late_seconds=late, next_check_at=None))
        elif op.op == "drop":             # no longer owed this round (cancelled, merged, reopened)
            session.execute(update(m_t).where(*where, m_t.met_at.is_(None)).values(next_check_at=None))


def send(session: Session, t, tell: Tell, now: datetime, d: Directory, grid, batch: Deliveries | None = None) -> int:
    """Queue one notice to its recipients. Alone (no batch) it writes them now and returns how many
    notice rows were queued (the cards queued beside staff-app notices are not counted); with a
    batch it adds to it and returns 0: the batch's flush() writes and counts."""
    mine = batch is None
    batch = Deliveries() if mine else batch
    to, key = tell.to, tell.key
    priority = outbox_priority(tell.notice)

    def staff(userid: str) -> None:
        text = render.for_staff(tell.notice, t, tell.data, d)
        if text and userid:
            batch.add(delivery_key(t.id, t.round, key, userid), str(Channel.WECOM_TEXT), userid,
                      {"kind": str(tell.notice), "content": text}, now, t.id, priority=priority)
            queue_card(session, t, tell, now, d, userid, batch)   # the one-tap card beside it (the text stays)

    def group() -> None:
        if grid is not None and grid.leader_userid:      # the leader's card; the group reads the push
            queue_card(session, t, tell, now, d, grid.leader_userid, batch)
        body = render.for_group(tell.notice, t, tell.data, d, grid)
        if body is not None:
            batch.add(delivery_key(t.id, t.round, key, f"g{grid.id}"), str(Channel.ROBOT), grid.robot_key,
                      {"kind": str(tell.notice), "body": body}, now, t.id, not_before=tell.not_before, priority=priority)

    if to in ("group", "group_all"):
        group()
    elif to == "residents":
        text = render.for_residents(tell.notice, t, tell.data, d)
        if text:
            for r_id, openid in repo.residents_of(session, t):
                batch.add(delivery_key(t.id, t.round, key, f"r{r_id}"), str(Channel.MP_TEXT), openid,
                          {"kind": str(tell.notice), "content": text,
                           "template": {"code": t.code, "status": status_name(t.status), "detail": text[:100]}},
                          now, t.id, priority=priority)
    elif to == "assignee":
        if t.assignee:
            staff(t.assignee)
        else:
            group()
    elif to in ("committee", "street"):
        people = d.with_role(Role(to))
        if not people:                    # nobody configured for this rung: the group hears it
            group()
        for userid in people:
            staff(userid)
    elif to.startswith("staff:"):
        staff(to.removeprefix("staff:"))
    elif to.startswith("party:"):
        party = d.parties.get(to.removeprefix("party:"))
        for userid in party.members if party else ():
            staff(userid)
        if party is not None and party.robot_key:
            text = render.for_staff(tell.notice, t, tell.data, d)
            if text:
                batch.add(delivery_key(t.id, t.round, key, f"p{party.code}"), str(Channel.ROBOT), party.robot_key,
                          {"kind": str(tell.notice), "body": {"msgtype": "text", "text": {"content": text}}},
                          now, t.id, priority=priority)
    return batch.flush(session) if mine else 0


def working_parties(session: Session, t, d: Directory, batch: Deliveries | None = None) -> frozenset[str]:
    """The parties working the ticket: referred to, and the assignee's (a ticket assigned to one
    property worker is in the remit of the whole property company). For the access rules of chat,
    cards and the desk alike."""
    assignee = d.staff.get(t.assignee) if t.assignee else None
    extra = {assignee.party} if assignee is not None and assignee.party else set()
    referred = getattr(t, "parties", None)      # a new ticket's values (intake) carry them
    if referred is None:
        referred = batch.parties(session, t.id) if batch is not None else repo.party_codes(session, t.id)
    return referred | extra


def queue_card(session: Session, t, tell: Tell, now: datetime, d: Directory, userid: str, batch: Deliveries) -> None:
    """A "wecom_card" row and its ticket_card row, when the notice comes with a card and the
    recipient may tap something now (domain/access.py decides which buttons). A new ticket's card
    goes at once, once a round (a push held for the resident's menu choice, and the push that
    replaces it, are one card: its category may be corrected later, the leader can start now)."""
    actor = d.staff.get(userid)
    if not d.cards or tell.notice not in cards.CARD_NOTICES or actor is None or actor.role not in cards.CARD_ROLES:
        return
    if not hasattr(t, "assignee"):        # a new ticket's values before it is a row (intake): nobody on it yet
        t = SimpleNamespace(**{"assignee": None, "onsite_at": None, **vars(t)})
    keys = cards.buttons_for(actor, t, working_parties(session, t, d, batch))
    if not keys:
        return
    dkey = delivery_key(t.id, t.round, "card:new" if tell.notice == Notice.NEW_TICKET else f"card:{tell.key}", userid)
    task = cards.task_id(t.id, t.round, userid, dkey)
    body = cards.card(t, task=task, keys=keys, tz=d.tz, name_of=d.name_of)
    batch.add(dkey, "wecom_card", userid, {"kind": f"card:{tell.notice}", "task_id": task, "card": body}, now, t.id,
              priority=outbox_priority(tell.notice),
              card=dict(task_id=task, ticket_id=t.id, round=t.round, userid=userid, notice=str(tell.notice),
                        shows=cards.shows(t), created_at=now))
