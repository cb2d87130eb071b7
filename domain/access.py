"""Who may make which move on which ticket: one matrix of roles × moves, one table of the states
each move starts from, and the scope rules (a grid leader's grid, a party's referrals, the property
company never judging complaints about itself). Every move calls check(); tests walk the matrix."""
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
    Move.REOPEN: DONE,
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
PROPERTY_NOT_ON_SELF = frozenset({Move.RESOLVE, Move.RECATEGORISE, Move.CANCEL, Move.CLEAR_EMERGENCY, Move.MERGE})


class Refused(Exception):
    """A move that is not allowed; the message says why, in words the person can act on."""


@dataclass(frozen=True)
class Actor:
    role: Role
    id: str                      # WeCom userid, resident openid, or the job's name
    name: str
    grid: str | None = None      # the grid a leader leads
    party: str | None = None     # the party a property/outside member belongs to
    resident_id: int | None = None

    @property
    def tag(self) -> str:
        """How the actor is written on events: staff:<userid>, resident:<openid>, system:<job>."""
        kind = {Role.RESIDENT: "resident", Role.SYSTEM: "system"}.get(self.role, "staff")
        return f"{kind}:{self.id}"


SWEEP = Actor(Role.SYSTEM, "sweep", "系统督办")
BOT = Actor(Role.SYSTEM, "bot", "接诉")


def check(move: Move, actor: Actor, t, *, involved: bool = False, parties: frozenset[str] = frozenset()) -> None:
    """Raise Refused unless `actor` may make `move` on ticket `t` now. `involved`: the resident
    reported or follows the ticket; `parties`: the parties the ticket is referred to."""
    if actor.role not in ALLOWED[move]:
        allowed = "、".join(ROLE_NAMES[r] for r in sorted(ALLOWED[move]) if r != Role.SYSTEM)
        raise Refused(f"这一步仅限{allowed}操作")
    if t is None:
        return
    status = Status(t.status)
    start = RESIDENT_CANCEL_FROM if (move == Move.CANCEL and actor.role == Role.RESIDENT) else FROM[move]
    if status not in start:
        raise Refused(f"#{t.code} {status_name(status)}，不能{MOVE_NAMES[move]}")
    if actor.role == Role.RESIDENT and not involved and move not in (Move.OPEN, Move.FOLLOW):
        raise Refused(f"#{t.code} 不是您反映的问题")
    if actor.role == Role.GRID_LEADER and actor.grid and t.grid_name != actor.grid:
        raise Refused(f"#{t.code} 属于{t.grid_name}，你负责的是{actor.grid}")
    if actor.role == Role.PROPERTY and t.category == PROPERTY_SELF and move in PROPERTY_NOT_ON_SELF:
        raise Refused(f"#{t.code} 是对物业服务的投诉，需由居委会{MOVE_NAMES[move]}")
    if actor.role == Role.PARTY and move != Move.NOTE and (actor.party or "") not in parties:
        raise Refused(f"#{t.code} 没有转给你所在的单位")


MOVE_NAMES = {Move.OPEN: "登记", Move.ASSIGN: "派单", Move.ARRIVE: "记录到场", Move.PLAN: "记录方案", Move.REFER: "转派",
              Move.REPLY: "记录答复", Move.RESOLVE: "办结", Move.REOPEN: "重新打开", Move.RECATEGORISE: "改类",
              Move.MERGE: "合并", Move.MARK_EMERGENCY: "标为紧急", Move.CLEAR_EMERGENCY: "取消紧急",
              Move.CANCEL: "撤销", Move.VISIT: "记录回访", Move.RATE: "评价", Move.NOTE: "备注", Move.URGE: "催办",
              Move.FOLLOW: "附议", Move.ADD_DETAIL: "补充"}
