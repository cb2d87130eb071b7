"""One function per move of a ticket. Each checks that the move is allowed (domain/access.py),
changes the ticket in place and returns an Outcome: the events to record, the notices to send,
the milestones to start or meet. Nothing here reads or writes the database: the caller (intake,
staff commands, the sweep, the web desk) applies the outcome in its transaction
(handlers/effects.py), so every channel makes the same move the same way.

A ticket here is anything with the Ticket model's attributes (storage.models.Ticket, or the
plain TicketView the unit tests use)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from domain.access import ANSWERS_ONLY_FOR_OWN_PARTY, Actor, Move, Refused, check
from domain.policy import Policy
from domain.states import ACTIVE, EventKind, Milestone, Priority, Status

URGE_EVERY = timedelta(hours=1)


class Notice(StrEnum):
    """What someone is told; handlers/render.py turns each into words."""
    NEW_TICKET = "new_ticket"              # group: a new ticket (held back while a menu is open)
    EMERGENCY_PAGE = "emergency_page"      # group: @all
    EMERGENCY_ADVICE = "emergency_advice"  # residents: the number to call (staff marked it later)
    EMERGENCY_CLEARED = "emergency_cleared"
    RECATEGORISED = "recategorised"        # group: the category changed after the push
    DETAIL_ADDED = "detail_added"          # group: words arrived for a photo-only report
    ASSIGNED = "assigned"                  # the assignee (staff app)
    ONSITE = "onsite"                      # residents
    PLAN = "plan"                          # residents
    REFERRED = "referred"                  # the party; residents (who is handling it)
    PARTY_REPLY = "party_reply"            # residents and the group
    RESOLVED = "resolved"                  # residents: result and "please rate"
    REOPENED = "reopened"                  # group (and residents, when staff reopened)
    CANCELLED = "cancelled"                # group
    MERGED = "merged"                      # residents of the merged ticket
    VISITED = "visited"                    # residents
    LOW_RATING = "low_rating"              # group: a 1-2 rating, visit now
    URGED = "urged"                        # group: a resident asks again
    WARNING = "warning"                    # a deadline is near
    ESCALATION = "escalation"              # a deadline passed: a rung of the ladder


@dataclass
class Tell:
    notice: Notice
    to: str                       # residents | group | group_all | assignee | committee | street | staff:<id> | party:<code> | parties
    key: str                      # unique within the ticket's round (with the recipient): never sent twice
    data: dict = field(default_factory=dict)
    not_before: datetime | None = None


@dataclass
class MilestoneOp:
    op: str                       # start | meet | drop
    milestone: Milestone
    due: datetime | None = None
    party: str = ""


@dataclass
class Outcome:
    events: list[tuple[EventKind, dict]] = field(default_factory=list)
    tells: list[Tell] = field(default_factory=list)
    milestones: list[MilestoneOp] = field(default_factory=list)
    ask_ratings: bool = False     # ask every resident of the ticket to rate this round

    def event(self, kind: EventKind, **data) -> "Outcome":
        self.events.append((kind, data))
        return self

    def tell(self, notice: Notice, to: str, key: str, **data) -> "Outcome":
        self.tells.append(Tell(notice, to, key, data))
        return self


def _stamp(now: datetime) -> str:
    return f"{now.timestamp():.0f}"


def priority_for(category_urgent: bool, emergency: str | None, caution: bool = False) -> Priority:
    """The one rule: an emergency, a caution or an urgent category makes a ticket urgent."""
    return Priority.URGENT if (emergency or caution or category_urgent) else Priority.NORMAL


# -- opening ------------------------------------------------------------------------------------

def start_round(t, now: datetime, policy: Policy, out: Outcome) -> None:
    """Deadlines for the ticket's current round, from `now` (a report or a reopen)."""
    d = policy.deadlines(t.category, t.priority, t.emergency, now)
    t.due_onsite_at, t.due_fix_at = d.onsite, d.fix
    for m, due in d.due.items():
        out.milestones.append(MilestoneOp("start", m, due))
    out.milestones.append(MilestoneOp("meet", Milestone.REGISTER))     # registered as it is written


def open_ticket(t, actor: Actor, now: datetime, policy: Policy, *, hold_push_until: datetime | None = None,
                **created) -> Outcome:
    """A new ticket (already filled in by the caller: text, category, place, priority)."""
    check(Move.OPEN, actor, None)
    t.status, t.round, t.created_at, t.updated_at = Status.OPEN, 1, now, now
    out = Outcome().event(EventKind.CREATED, **created)
    start_round(t, now, policy, out)
    if t.emergency:
        out.tell(Notice.EMERGENCY_PAGE, "group_all", f"emergency:{t.emergency}")
    push = Tell(Notice.NEW_TICKET, "group", "new", not_before=hold_push_until)
    out.tells.append(push)
    lead = policy.category_party.get(t.category)
    if lead:
        out.tell(Notice.REFERRED, f"party:{lead}", f"lead:{lead}", party=lead, lead=True)
    return out


def open_outside(t, actor: Actor, now: datetime, *, body: str, **created) -> Outcome:
    """A message beyond the community's remit (wages, schools, city roads ...): recorded for the
    numbers and ended at once. The resident is told where it goes; no grid is paged and no promise
    clock starts. Staff who think otherwise reopen it (a new round, pushed as usual)."""
    check(Move.OPEN, actor, None)
    t.status, t.round, t.created_at, t.updated_at = Status.OUTSIDE, 1, now, now
    return Outcome().event(EventKind.CREATED, **created).event(EventKind.REFERRED_OUT, body=body[:64])


def recategorise(t, actor: Actor, now: datetime, policy: Policy, category: str, *, category_urgent: bool,
                 chosen_by_resident: bool = False, pushed: bool = True,
                 parties: frozenset[str] = frozenset()) -> Outcome:
    """A new category (staff /recat or the resident's menu choice). Urgency is never lowered here:
    what made the ticket urgent (a caution, an emergency) is not undone by a category."""
    check(Move.RECATEGORISE, actor, t, involved=True, parties=parties)
    old = t.category
    out = Outcome()
    if category == old:
        if chosen_by_resident:              # the resident confirmed what the bot guessed
            t.category_confirmed = True
            out.event(EventKind.CATEGORY_CHOSEN, old=old, new=category)
            if not pushed:
                out.tell(Notice.NEW_TICKET, "group", "new:chosen")
            return out
        raise Refused(f"#{t.code} 已经是这个类别")
    t.category, t.category_confirmed, t.updated_at = category, True, now
    if priority_for(category_urgent, t.emergency) == Priority.URGENT:
        t.priority = Priority.URGENT
    out.event(EventKind.CATEGORY_CHOSEN if chosen_by_resident else EventKind.RECATEGORISED, old=old, new=category)
    if Status(t.status) in ACTIVE:          # the new category's promises, from the round's start
        d = policy.deadlines(category, t.priority, t.emergency, _round_start(t))
        t.due_onsite_at, t.due_fix_at = d.onsite, d.fix
        for m in (Milestone.FIX, Milestone.PLAN):
            if m in d.due:
                out.milestones.append(MilestoneOp("start", m, d.due[m]))
            else:
                out.milestones.append(MilestoneOp("drop", m))
        if pushed:
            out.tell(Notice.RECATEGORISED, "group", f"recat:{_stamp(now)}", old=old, new=category)
        else:                               # the held push never went: send it now, with the new category
            out.tell(Notice.NEW_TICKET, "group", "new:chosen")
    return out


def _round_start(t) -> datetime:
    return t.round_started_at or t.created_at


def add_detail(t, actor: Actor, now: datetime, policy: Policy, *, category: str, emergency: str | None,
               caution: bool, category_urgent: bool, pushed: bool) -> Outcome:
    """Words for a photo-only report: they may say what it is, and that it is an emergency."""
    check(Move.ADD_DETAIL, actor, t, involved=True)
    t.category, t.needs_detail, t.category_confirmed, t.updated_at = category, False, True, now
    if emergency and not t.emergency:
        t.emergency = emergency
    if priority_for(category_urgent, t.emergency, caution) == Priority.URGENT:
        t.priority = Priority.URGENT
    out = Outcome().event(EventKind.DETAIL_ADDED, category=category, emergency=emergency, caution=caution)
    d = policy.deadlines(category, t.priority, t.emergency, _round_start(t))
    t.due_onsite_at, t.due_fix_at = d.onsite, d.fix
    for m in (Milestone.ONSITE, Milestone.FIX, Milestone.PLAN):
        out.milestones.append(MilestoneOp("start", m, d.due[m]) if m in d.due else MilestoneOp("drop", m))
    out.tell(Notice.DETAIL_ADDED if pushed else Notice.NEW_TICKET, "group", "detail" if pushed else "new:detail")
    if emergency:
        out.tell(Notice.EMERGENCY_PAGE, "group_all", f"emergency:{emergency}")
    return out


# -- working it ---------------------------------------------------------------------------------

def assign(t, actor: Actor, now: datetime, *, to_userid: str, to_name: str,
           parties: frozenset[str] = frozenset()) -> Outcome:
    check(Move.ASSIGN, actor, t, parties=parties)
    if t.assignee == to_userid:
        raise Refused(f"#{t.code} 已经派给{to_name}")
    t.assignee, t.updated_at = to_userid, now
    if t.status == Status.OPEN:
        t.status = Status.ASSIGNED
    return (Outcome().event(EventKind.ASSIGNED, to=to_userid)
            .tell(Notice.ASSIGNED, f"staff:{to_userid}", f"assign:{_stamp(now)}", by=actor.name))


def arrive(t, actor: Actor, now: datetime, *, parties: frozenset[str] = frozenset()) -> Outcome:
    check(Move.ARRIVE, actor, t, parties=parties)
    t.onsite_at, t.updated_at = now, now
    if t.status in (Status.OPEN, Status.ASSIGNED):
        t.status = Status.ONSITE
    out = Outcome().event(EventKind.ONSITE)
    out.milestones.append(MilestoneOp("meet", Milestone.ONSITE))
    return out.tell(Notice.ONSITE, "residents", "onsite", by=actor.name)


def plan(t, actor: Actor, now: datetime, text: str, *, parties: frozenset[str] = frozenset()) -> Outcome:
    check(Move.PLAN, actor, t, parties=parties)
    if not text:
        raise Refused("请写上处理方案，居民会看到")
    t.status, t.planned_at, t.updated_at = Status.PLANNED, now, now
    out = Outcome().event(EventKind.PLANNED, text=text[:1000])
    out.milestones.append(MilestoneOp("meet", Milestone.PLAN))
    return out.tell(Notice.PLAN, "residents", f"plan:{_stamp(now)}", text=text[:300], by=actor.name)


def refer(t, actor: Actor, now: datetime, policy: Policy, *, party: str, party_name: str, note: str,
          already: frozenset[str], parties: frozenset[str] = frozenset()) -> Outcome:
    """Bring in another party (专科医生, 吹哨报到) with its own deadline to answer."""
    check(Move.REFER, actor, t, parties=parties)
    if party in already:
        raise Refused(f"#{t.code} 已经转给{party_name}")
    t.status, t.updated_at = Status.REFERRED, now
    out = Outcome().event(EventKind.REFERRED, party=party, note=note[:500])
    out.milestones.append(MilestoneOp("start", Milestone.REPLY, policy.due(Milestone.REPLY, now), party=party))
    out.tell(Notice.REFERRED, f"party:{party}", f"refer:{party}", party=party, note=note[:300], by=actor.name)
    return out.tell(Notice.REFERRED, "residents", f"refer:{party}", party=party, note="", by=actor.name)


def reply(t, actor: Actor, now: datetime, *, party: str, text: str, referred: frozenset[str]) -> Outcome:
    """A party's answer (by its member, or recorded by staff on its behalf)."""
    check(Move.REPLY, actor, t, parties=referred)
    if actor.role in ANSWERS_ONLY_FOR_OWN_PARTY and party != actor.party:
        raise Refused(f"#{t.code} 你只能记录你所在单位的答复")
    if party not in referred:
        raise Refused(f"#{t.code} 没有转给这个单位")
    if not text:
        raise Refused("请写上答复内容")
    t.updated_at = now
    if t.status == Status.REFERRED and len(referred) <= 1:   # back to whoever works it
        t.status = Status.ONSITE if t.onsite_at else (Status.ASSIGNED if t.assignee else Status.OPEN)
    out = Outcome().event(EventKind.PARTY_REPLIED, party=party, text=text[:1000])
    out.milestones.append(MilestoneOp("meet", Milestone.REPLY, party=party))
    out.tell(Notice.PARTY_REPLY, "group", f"reply:{party}:{_stamp(now)}", party=party, text=text[:300])
    return out.tell(Notice.PARTY_REPLY, "residents", f"reply:{party}:{_stamp(now)}", party=party, text=text[:300])


def resolve(t, actor: Actor, now: datetime, policy: Policy, result: str, *,
            parties: frozenset[str] = frozenset()) -> Outcome:
    check(Move.RESOLVE, actor, t, parties=parties)
    if not result:
        raise Refused("请写上处理结果，居民会看到，例如：已清理完毕")
    t.status, t.resolved_at, t.updated_at = Status.RESOLVED, now, now
    out = Outcome().event(EventKind.RESOLVED, result=result[:500])
    if t.onsite_at is None:       # fixed without an /onsite: being there is implied
        out.milestones.append(MilestoneOp("meet", Milestone.ONSITE))
    out.milestones.append(MilestoneOp("meet", Milestone.PLAN if policy.is_complex(t.category) else Milestone.FIX))
    out.milestones.append(MilestoneOp("start", Milestone.VISIT, policy.due(Milestone.VISIT, now, t.category)))
    out.ask_ratings = True
    return out.tell(Notice.RESOLVED, "residents", "resolved", result=result[:200])


def reopen(t, actor: Actor, now: datetime, policy: Policy, reason: str, *, involved: bool = False,
           parties: frozenset[str] = frozenset()) -> Outcome:
    """A new round: clocks reset, the old round's open milestones dropped, reminders keyed anew."""
    check(Move.REOPEN, actor, t, involved=involved, parties=parties)
    out = Outcome().event(EventKind.REOPENED, reason=reason[:500], round=t.round + 1)
    for m in Milestone:
        out.milestones.append(MilestoneOp("drop", m))        # what is left of the old round
    t.round += 1
    t.status, t.updated_at = Status.OPEN, now
    t.resolved_at = t.onsite_at = t.planned_at = t.visited_at = t.closed_at = None
    t.round_started_at = now
    start_round(t, now, policy, out)
    by_resident = actor.tag.startswith("resident:")
    out.tell(Notice.REOPENED, "group", "reopened", reason=reason[:200], by=actor.name, by_resident=by_resident)
    if not by_resident:
        out.tell(Notice.REOPENED, "residents", "reopened", reason=reason[:200], by=actor.name, by_resident=False)
    return out


def visit(t, actor: Actor, now: datetime, result: str, *, parties: frozenset[str] = frozenset()) -> Outcome:
    """The return visit (上门回访) closes the round."""
    check(Move.VISIT, actor, t, parties=parties)
    if not result:
        raise Refused("请写上回访情况")
    t.visited_at, t.updated_at = now, now
    if t.status == Status.RESOLVED:
        t.status, t.closed_at = Status.CLOSED, now
    out = Outcome().event(EventKind.VISITED, result=result[:500])
    out.milestones.append(MilestoneOp("meet", Milestone.VISIT))
    return out.tell(Notice.VISITED, "residents", "visited", by=actor.name)


def rate(t, actor: Actor, now: datetime, policy: Policy, score: int, *, reporter: bool) -> Outcome:
    check(Move.RATE, actor, t, involved=True)
    if not 1 <= score <= 5:
        raise Refused("请回复 1 到 5 分")
    if reporter:
        t.rating = score
    out = Outcome().event(EventKind.RATED, score=score)
    if score <= policy.low_rating:           # an unhappy resident: the return visit is due now
        out.milestones.append(MilestoneOp("start", Milestone.VISIT, now))
        out.tell(Notice.LOW_RATING, "group", f"low:{actor.id}", score=score)
    elif policy.visit_for == "unhappy" and score >= 4 and t.status == Status.RESOLVED:
        t.status, t.closed_at = Status.CLOSED, now           # a happy resident: no visit needed
        out.milestones.append(MilestoneOp("drop", Milestone.VISIT))
        out.event(EventKind.CLOSED, why="rating")
    return out


def note(t, actor: Actor, now: datetime, text: str, *, parties: frozenset[str] = frozenset()) -> Outcome:
    check(Move.NOTE, actor, t, parties=parties)
    if not text:
        raise Refused("备注内容为空")
    return Outcome().event(EventKind.NOTE, text=text[:1000])


def cancel(t, actor: Actor, now: datetime, reason: str, *, involved: bool = False,
           parties: frozenset[str] = frozenset()) -> Outcome:
    check(Move.CANCEL, actor, t, involved=involved, parties=parties)
    t.status, t.updated_at = Status.CANCELLED, now
    out = Outcome().event(EventKind.CANCELLED, reason=reason[:500])
    for m in Milestone:
        out.milestones.append(MilestoneOp("drop", m))
    return out.tell(Notice.CANCELLED, "group", "cancelled", reason=reason[:200], by=actor.name)


def merge(t, into, actor: Actor, now: datetime, *, parties: frozenset[str] = frozenset()) -> Outcome:
    """`t` joins `into` (same problem reported twice): its residents follow `into` from now on."""
    check(Move.MERGE, actor, t, parties=parties)
    if into.id == t.id or Status(into.status) not in ACTIVE:
        raise Refused(f"只能合并到另一个未办结的工单（#{into.code} {into.status}）")
    t.status, t.merged_into_id, t.updated_at = Status.MERGED, into.id, now
    out = Outcome().event(EventKind.MERGED, into=into.code)
    for m in Milestone:
        out.milestones.append(MilestoneOp("drop", m))
    return out.tell(Notice.MERGED, "residents", "merged", into=into.code)


def urge(t, actor: Actor, now: datetime) -> Outcome:
    """催办: the resident asks again; the handler is reminded, at most once an hour."""
    check(Move.URGE, actor, t, involved=True)
    if t.last_urged_at is not None and now - t.last_urged_at < URGE_EVERY:
        raise Refused(f"已在 {int((now - t.last_urged_at).total_seconds() // 60)} 分钟前催办过 #{t.code}，工作人员正在处理，请耐心等待")
    t.last_urged_at = now
    return (Outcome().event(EventKind.URGED)
            .tell(Notice.URGED, "group", f"urge:{now:%Y%m%d%H}"))


def mark_emergency(t, actor: Actor, now: datetime, kind: str, kind_name: str = "这种紧急情况", *,
                   parties: frozenset[str] = frozenset()) -> Outcome:
    check(Move.MARK_EMERGENCY, actor, t, parties=parties)
    if t.emergency == kind:
        raise Refused(f"#{t.code} 已经标为{kind_name}")
    old, t.emergency, t.priority, t.updated_at = t.emergency, kind, Priority.URGENT, now
    out = Outcome().event(EventKind.EMERGENCY_MARKED, old=old, new=kind)
    if Status(t.status) in ACTIVE:       # after the fact it is only a label for learning
        out.tell(Notice.EMERGENCY_PAGE, "group_all", f"emergency:{kind}:{_stamp(now)}")
        out.tell(Notice.EMERGENCY_ADVICE, "residents", f"emergency:{_stamp(now)}", kind=kind)
    return out


def clear_emergency(t, actor: Actor, now: datetime, reason: str, *, category_urgent: bool,
                    parties: frozenset[str] = frozenset()) -> Outcome:
    check(Move.CLEAR_EMERGENCY, actor, t, parties=parties)
    if t.emergency is None and t.priority != Priority.URGENT:
        raise Refused(f"#{t.code} 没有标为紧急")
    old, t.emergency, t.updated_at = t.emergency, None, now
    t.priority = priority_for(category_urgent, None)     # back to what the category alone asks for
    out = Outcome().event(EventKind.EMERGENCY_CLEARED, old=old, reason=reason[:500])
    if old is not None and Status(t.status) in ACTIVE:
        out.tell(Notice.EMERGENCY_CLEARED, "group", f"cleared:{_stamp(now)}", by=actor.name, reason=reason[:100])
    return out
