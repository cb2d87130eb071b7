"""Who may make which move on which ticket: one matrix of roles × moves, one table of the states
each move starts from, and the scope rules (a grid leader's grid, the property company's and outside
parties' remit, the property company never judging complaints about itself). Every move, whatever
the channel (resident chat, staff commands, /emergency and /notemergency), calls check();
tests/domain/test_access_matrix.py walks every role × move × scope case.

The property company's remit is what the community gave it: tickets referred to its party (the
lead party of 一键派单, promises.category_party, or /refer) or assigned to one of its members. There
is no "its buildings" rule: config gives a party no buildings; to widen the remit, refer or assign."""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.states import ACTIVE, DONE, ROLE_NAMES, Role, Status, status_name

PROPERTY_SELF = "property_service"      # complaints about the property company itself


class Move(StrEnum):
    OPEN = "open"
    ASSIGN = "assign"
    ARRIVE = "arrive"
    PLAN = "plan"
    REFER = "refer"
    REPLY = "reply"
    RESOLVE = "resolve"
    REOPEN = "reopen"
    RECATEGORISE = "recategorise"
    MERGE = "merge"
    MARK_EMERGENCY = "mark_emergency"
    CLEAR_EMERGENCY = "clear_emergency"
    CANCEL = "cancel"
    VISIT = "visit"
    RATE = "rate"
    NOTE = "note"
    URGE = "urge"
    FOLLOW = "follow"
    ADD_DETAIL = "add_detail"


R = Role
_DESK = frozenset({R.GRID_LEADER, R.COMMITTEE, R.STREET})          # who runs the case
_ALL_STAFF = frozenset({R.GRID_LEADER, R.COMMITTEE, R.OWNERS, R.PROPERTY, R.PARTY, R.STREET})

ALLOWED: dict[Move, frozenset[Role]] = {
    Move.OPEN: frozenset({R.RESIDENT, R.GRID_LEADER, R.COMMITTEE, R.PROPERTY, R.STREET, R.SYSTEM}),
    Move.ASSIGN: _DESK,
    Move.ARRIVE: _DESK | {R.PROPERTY, R.PARTY},
    Move.PLAN: _DESK | {R.PROPERTY, R.OWNERS},
    Move.REFER: _DESK,
    Move.REPLY: _ALL_STAFF,
    Move.RESOLVE: _DESK | {R.PROPERTY},
    Move.REOPEN: _DESK | {R.RESIDENT},
    Move.RECATEGORISE: _DESK | {R.PROPERTY, R.RESIDENT},
    Move.MERGE: _DESK | {R.SYSTEM},
    Move.MARK_EMERGENCY: _DESK | {R.PROPERTY},
    Move.CLEAR_EMERGENCY: _DESK,
    Move.CANCEL: _DESK | {R.RESIDENT},
    Move.VISIT: _DESK | {R.OWNERS},
    Move.RATE: frozenset({R.RESIDENT}),
    Move.NOTE: _ALL_STAFF,
    Move.URGE: frozenset({R.RESIDENT}),
    Move.FOLLOW: frozenset({R.RESIDENT, R.SYSTEM}),
    Move.ADD_DETAIL: frozenset({R.RESIDENT}),
}

ANY = frozenset(Status)
FROM: dict[Move, frozenset[Status]] = {
    Move.OPEN: frozenset(),
    Move.ASSIGN: ACTIVE,
    Move.ARRIVE: ACTIVE - {Status.ONSITE},
    Move.PLAN: ACTIVE,
    Move.REFER: ACTIVE,
    Move.REPLY: ACTIVE | DONE,
    Move.RESOLVE: ACTIVE,
    Move.REOPEN: DONE | {Status.OUTSIDE},     # staff may take on what the bot sent elsewhere
    Move.RECATEGORISE: ACTIVE | DONE,
    Move.MERGE: ACTIVE,
    Move.MARK_EMERGENCY: ACTIVE | DONE,
    Move.CLEAR_EMERGENCY: ACTIVE | DONE,
    Move.CANCEL: ACTIVE,
    Move.VISIT: DONE,
    Move.RATE: DONE,
    Move.NOTE: ANY,
    Move.URGE: ACTIVE,
    Move.FOLLOW: ACTIVE,
    Move.ADD_DETAIL: ACTIVE,
}
# Residents may withdraw only what nobody has started on.
RESIDENT_CANCEL_FROM = frozenset({Status.OPEN, Status.ASSIGNED})
# The property company may work complaints about itself but not judge them: these need the committee.
# (Cancel, merge and clearing an emergency are not the property's moves at all; they stay listed so
# that widening ALLOWED later cannot open them on complaints about itself.)
PROPERTY_NOT_ON_SELF = frozenset({Move.RESOLVE, Move.RECATEGORISE, Move.CANCEL, Move.CLEAR_EMERGENCY, Move.MERGE})
# Roles that work only the tickets in their remit: referred to their party (一键派单's lead or /refer)
# or assigned to them or a colleague. The 业委会 speaks for every owner (plan, visit, note anywhere)
# but answers only its own referrals.
REMIT_ROLES = frozenset({Role.PROPERTY, Role.PARTY})
REMIT_MOVES = {Role.OWNERS: frozenset({Move.REPLY})}
# A party's members record their own party's answer, never another's (staff may for any party).
ANSWERS_ONLY_FOR_OWN_PARTY = REMIT_ROLES | {Role.OWNERS}
# Moves a resident makes on tickets that are not (yet) theirs.
RESIDENT_ANY_TICKET = frozenset({Move.OPEN, Move.FOLLOW})


class Refused(Exception):
    """A move that is not allowed; the message says why, in words the person can act on.
    `ticket` is set when the ticket's state is the reason (e.g. someone else closed it a moment
    ago), so the caller can say who moved it."""

    def __init__(self, message: str, *, ticket=None):
        super().__init__(message)
        self.ticket = ticket


@dataclass(frozen=True)
class Actor:
    role: Role
    id: str                      # WeCom userid, resident openid, or the job's name
    name: str
    grid: str | None = None      # the grid a leader leads
    party: str | None = None     # the party a property/outside member belongs to
    resident_id: int | None = None
    community: str | None = None  # the community they work in; None: all (街道, outside bodies, one community)

    @property
    def tag(self) -> str:
        """How the actor is written on events: staff:<userid>, resident:<openid>, system:<job>."""
        kind = {Role.RESIDENT: "resident", Role.SYSTEM: "system"}.get(self.role, "staff")
        return f"{kind}:{self.id}"


SWEEP = Actor(Role.SYSTEM, "sweep", "系统督办")
BOT = Actor(Role.SYSTEM, "bot", "接诉")


def check(move: Move, actor: Actor, t, *, involved: bool = False, parties: frozenset[str] = frozenset()) -> None:
    """Raise Refused unless `actor` may make `move` on ticket `t` now. `involved`: the resident
    reported or follows the ticket. `parties`: the parties working the ticket, i.e. those it is
    referred to (lead or co) and the party of its assignee; for REPLY only those it is referred to.

    Order: the role, then the scope, then the state, so that someone who may not touch a ticket
    is told so rather than what state it is in."""
    if actor.role not in ALLOWED[move]:
        allowed = "、".join(ROLE_NAMES[r] for r in sorted(ALLOWED[move]) if r != Role.SYSTEM)
        raise Refused(f"这一步仅限{allowed}操作")
    if t is None:
        return
    why = out_of_scope(move, actor, t, involved=involved, parties=parties)
    if why:
        raise Refused(why)
    status = Status(t.status)
    start = RESIDENT_CANCEL_FROM if (move == Move.CANCEL and actor.role == Role.RESIDENT) else FROM[move]
    if status not in start:
        raise Refused(f"#{t.code} {status_name(status)}，不能{MOVE_NAMES[move]}", ticket=t)


def in_remit(actor: Actor, t, parties: frozenset[str]) -> bool:
    """The ticket is referred to the actor's party, assigned to the actor, or to a colleague."""
    return t.assignee == actor.id or (actor.party is not None and actor.party in parties)


def out_of_scope(move: Move, actor: Actor, t, *, involved: bool = False,
                 parties: frozenset[str] = frozenset()) -> str | None:
    """Why `actor` may not make `move` on this ticket (None: in scope). Fails closed: a grid
    leader without a grid works no ticket, a party member without a party only those assigned to
    them."""
    role = actor.role
    if role == Role.PROPERTY and t.category == PROPERTY_SELF and move in PROPERTY_NOT_ON_SELF:
        name = MOVE_NAMES[move]         # first: the reason that holds wherever the ticket is
        return f"#{t.code} 是对物业服务的投诉，物业不能自己{name}，需由居委会{name}"
    if role == Role.RESIDENT:
        if not involved and move not in RESIDENT_ANY_TICKET:
            return f"#{t.code} 不是您反映的问题"
    elif role == Role.GRID_LEADER:
        if not actor.grid:
            return "你还没有负责的网格，请居委会在配置的 grids 里登记"
        if t.grid_name != actor.grid:
            return f"#{t.code} 属于{t.grid_name}，你负责的是{actor.grid}"
    elif role in REMIT_ROLES or move in REMIT_MOVES.get(role, ()):
        if not in_remit(actor, t, parties):
            return f"#{t.code} 没有转给你所在的单位，也没有派给你"
    return None


MOVE_NAMES = {Move.OPEN: "登记", Move.ASSIGN: "派单", Move.ARRIVE: "记录到场", Move.PLAN: "记录方案", Move.REFER: "转派",
              Move.REPLY: "记录答复", Move.RESOLVE: "办结", Move.REOPEN: "重新打开", Move.RECATEGORISE: "改类",
              Move.MERGE: "合并", Move.MARK_EMERGENCY: "标为紧急", Move.CLEAR_EMERGENCY: "取消紧急",
              Move.CANCEL: "撤销", Move.VISIT: "记录回访", Move.RATE: "评价", Move.NOTE: "备注", Move.URGE: "催办",
              Move.FOLLOW: "附议", Move.ADD_DETAIL: "补充"}
