"""The access matrix, walked exhaustively: every role × move × scope case (own grid / other grid,
referred to me / to another party / assigned to me / nobody, about the property company or not,
the resident's own ticket or not) against a table written here by hand, from the rules as the
community states them, not from domain/access.py. A change to who may do what must change this
table too, on purpose."""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timezone

import pytest

from domain import moves
from domain.access import Actor, Move, Refused, check
from domain.states import ROLE_NAMES, Role, Status

# Who may make which move, and where. Cells:
#   Y   anywhere                        .   never (the role may not make this move)
#   G   only tickets of the leader's grid
#   I   only a ticket the resident reported or follows ("+1")
#   R   only tickets in the party's remit: referred to its party, or assigned to the member
#   R!  as R, and never on a complaint about the property company itself (property_service),
#       wherever it is: that needs the committee (and is the reason given)
TABLE = """
move             resident  grid_leader  committee  owners  property  party  street  system
open             Y         Y            Y          .       Y         .      Y       Y
assign           .         G            Y          .       .         .      Y       .
arrive           .         G            Y          .       R         R      Y       .
plan             .         G            Y          Y       R         .      Y       .
refer            .         G            Y          .       .         .      Y       .
reply            .         G            Y          R       R         R      Y       .
resolve          .         G            Y          .       R!        .      Y       .
reopen           I         G            Y          .       .         .      Y       .
recategorise     I         G            Y          .       R!        .      Y       .
merge            .         G            Y          .       .         .      Y       Y
mark_emergency   .         G            Y          .       R         .      Y       .
clear_emergency  .         G            Y          .       .         .      Y       .
cancel           I         G            Y          .       .         .      Y       .
visit            .         G            Y          Y       .         .      Y       .
rate             I         .            .          .       .         .      .       .
note             .         G            Y          Y       R         R      Y       .
urge             I         .            .          .       .         .      .       .
follow           Y         .            .          .       .         .      .       Y
add_detail       I         .            .          .       .         .      .       .
"""


def _parse(table: str) -> dict[tuple[Role, Move], str]:
    lines = [line.split() for line in table.strip().splitlines()]
    roles = [Role(r) for r in lines[0][1:]]
    return {(role, Move(row[0])): cell for row in lines[1:] for role, cell in zip(roles, row[1:], strict=True)}


EXPECTED = _parse(TABLE)

# One member of each role; the grid leader leads 第一网格, the party members belong to a party.
ACTORS = {
    Role.RESIDENT: Actor(Role.RESIDENT, "o-resident", "居民", resident_id=1),
    Role.GRID_LEADER: Actor(Role.GRID_LEADER, "wangfang", "王芳", grid="第一网格"),
    Role.COMMITTEE: Actor(Role.COMMITTEE, "zhaomin", "赵敏"),
    Role.OWNERS: Actor(Role.OWNERS, "yeweihui01", "周主任", party="owners"),
    Role.PROPERTY: Actor(Role.PROPERTY, "wuye01", "孙师傅", party="wuye"),
    Role.PARTY: Actor(Role.PARTY, "minjing01", "刘警官", party="police"),
    Role.STREET: Actor(Role.STREET, "jiedao01", "吴科长"),
    Role.SYSTEM: Actor(Role.SYSTEM, "bot", "接诉"),
}

# Moves that act on a ticket already handled; every other move is tried on an open ticket.
ON_DONE_TICKETS = {Move.REOPEN, Move.VISIT, Move.RATE}


@dataclass(frozen=True)
class Scope:
    grid: str          # own | other (the grid leader's grid)
    link: str          # none | other_party (referred elsewhere) | my_party (referred to me) | me (assigned to me)
    about_property: bool
    involved: bool     # the resident reported or follows it

    def __str__(self) -> str:
        return (f"{self.grid} grid, {self.link}{', about the property company' if self.about_property else ''}"
                f"{', involved' if self.involved else ''}")


SCOPES = [Scope(g, link, about, inv) for g, link, about, inv in
          itertools.product(("own", "other"), ("none", "other_party", "my_party", "me"), (False, True), (False, True))]


@dataclass
class Ticket:
    code: str
    status: str
    category: str
    grid_name: str
    assignee: str | None


def _situation(actor: Actor, move: Move, s: Scope) -> tuple[Ticket, frozenset[str]]:
    status = Status.RESOLVED if move in ON_DONE_TICKETS else Status.OPEN
    t = Ticket("20261207-0001", str(status), "property_service" if s.about_property else "garbage",
               "第一网格" if s.grid == "own" else "第二网格", actor.id if s.link == "me" else None)
    parties = {"none": frozenset(), "me": frozenset(), "other_party": frozenset({"legal"}),
               "my_party": frozenset({actor.party or "legal"})}[s.link]
    return t, parties


def expected(cell: str, s: Scope) -> str:
    """'ok' or why not: role | grid | resident | remit | self."""
    in_remit = s.link in ("my_party", "me")
    match cell:
        case "Y":
            return "ok"
        case ".":
            return "role"
        case "G":
            return "ok" if s.grid == "own" else "grid"
        case "I":
            return "ok" if s.involved else "resident"
        case "R":
            return "ok" if in_remit else "remit"
        case "R!":
            return "self" if s.about_property else ("ok" if in_remit else "remit")
    raise AssertionError(f"unknown cell {cell!r}")


# What each refusal must say (in Chinese, to the person refused).
REASON_WORDS = {"role": "仅限", "grid": "属于第二网格", "resident": "不是您反映", "remit": "没有转给你所在的单位",
                "self": "物业服务的投诉"}


def decide(move: Move, actor: Actor, s: Scope | None) -> tuple[str, str]:
    """(decision, message) of check(); the decision is read from the message's words."""
    if s is None:
        t, parties, involved = None, frozenset(), False
    else:
        (t, parties), involved = _situation(actor, move, s), s.involved
    try:
        check(move, actor, t, involved=involved, parties=parties)
    except Refused as e:
        msg = str(e)
        kinds = [k for k, words in REASON_WORDS.items() if words in msg]
        return (kinds[0] if len(kinds) == 1 else f"unclear: {msg}"), msg
    return "ok", ""


def test_the_table_decides_every_role_and_every_move():
    assert {r for r, _ in EXPECTED} == set(Role) and {m for _, m in EXPECTED} == set(Move)
    assert len(EXPECTED) == len(Role) * len(Move)


@pytest.mark.parametrize("move", list(Move), ids=str)
@pytest.mark.parametrize("role", list(Role), ids=str)
def test_role_move_and_scope(role, move):
    actor, cell = ACTORS[role], EXPECTED[(role, move)]
    if move == Move.OPEN:                      # no ticket yet: only the role counts
        want = expected(cell, SCOPES[0]) if cell in ("Y", ".") else "ok"
        got, msg = decide(move, actor, None)
        assert got == want, f"{role} {move}: expected {want}, got {got} {msg}"
        return
    wrong = []
    for s in SCOPES:
        want = expected(cell, s)
        got, msg = decide(move, actor, s)
        if got != want:
            wrong.append(f"  {s}: expected {want}, got {got} {msg}")
        if got == "role":                      # the refusal names who may, never the one refused
            assert ROLE_NAMES[role] not in msg.removeprefix("这一步仅限"), msg
    assert not wrong, f"{role} × {move} (cell {cell}):\n" + "\n".join(wrong)


# -- the rules around the matrix -------------------------------------------------------------------

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=timezone.utc)


def _ticket(**kw) -> Ticket:
    base = dict(code="20261207-0002", status="open", category="garbage", grid_name="第一网格", assignee=None)
    return Ticket(**{**base, **kw})


def test_scope_is_judged_before_state_and_a_state_refusal_names_the_ticket():
    """Someone out of scope hears that, not the ticket's state; a refusal for the state carries the
    ticket, so the staff desk can say who moved it first."""
    done = _ticket(status="resolved")
    with pytest.raises(Refused, match="没有转给") as e:
        check(Move.RESOLVE, ACTORS[Role.PROPERTY], done)
    assert e.value.ticket is None
    with pytest.raises(Refused, match="已办结，不能办结") as e:
        check(Move.RESOLVE, ACTORS[Role.COMMITTEE], done)
    assert e.value.ticket is done


def test_a_grid_leader_without_a_grid_works_no_ticket():
    # a staff entry with role grid_leader that config names as leader of no grid: fails closed
    loose = Actor(Role.GRID_LEADER, "deputy", "副网格长")
    with pytest.raises(Refused, match="还没有负责的网格"):
        check(Move.RESOLVE, loose, _ticket())


def test_a_colleagues_assignment_is_in_remit_through_the_parties_given():
    # the staff desk adds the assignee's party to `parties`: assigned to 孙师傅, his colleague may act
    t = _ticket(assignee="wuye02")
    with pytest.raises(Refused, match="没有转给"):
        check(Move.ARRIVE, ACTORS[Role.PROPERTY], t)
    check(Move.ARRIVE, ACTORS[Role.PROPERTY], t, parties=frozenset({"wuye"}))


def test_party_members_record_only_their_own_partys_answer():
    class T:
        id, code, status, category, grid_name, assignee, onsite_at, updated_at = (
            1, "20261207-0003", "referred", "neighbor", "第一网格", None, None, None)
    both = frozenset({"police", "legal"})
    with pytest.raises(Refused, match="只能记录你所在单位的答复"):
        moves.reply(T(), ACTORS[Role.PARTY], NOW, party="legal", text="建议调解", referred=both)
    moves.reply(T(), ACTORS[Role.PARTY], NOW, party="police", text="已出警", referred=both)
    moves.reply(T(), ACTORS[Role.COMMITTEE], NOW, party="legal", text="律师电话答复：建议调解", referred=both)
