"""Every move of the ticket domain and its refusals, without HTTP or a database: a ticket here is
a plain object with the model's attributes, the outcome is inspected directly."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pytest

from domain import moves
from domain.access import ALLOWED, FROM, Actor, Move, Refused, check
from domain.moves import Notice
from domain.policy import Policy
from domain.states import ACTIVE, DONE, ENDED, Milestone, Role, Status

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=timezone.utc)        # a Monday, 10:00 in Shanghai
P = Policy()
LEADER = Actor(Role.GRID_LEADER, "wangfang", "王芳", grid="第一网格")
OTHER_LEADER = Actor(Role.GRID_LEADER, "liqiang", "李强", grid="第二网格")
COMMITTEE = Actor(Role.COMMITTEE, "zhaomin", "赵敏")
PROPERTY = Actor(Role.PROPERTY, "wuye01", "孙师傅", party="wuye")
POLICE = Actor(Role.PARTY, "minjing01", "刘警官", party="police")
RESIDENT = Actor(Role.RESIDENT, "o-1", "居民", resident_id=1)


@dataclass
class T:
    id: int = 1
    code: str = "20261207-0001"
    category: str = "garbage"
    priority: str = "normal"
    emergency: str | None = None
    status: str = "open"
    round: int = 1
    text: str = "5号楼垃圾没人清"
    grid_name: str = "第一网格"
    assignee: str | None = None
    onsite_at: datetime | None = None
    planned_at: datetime | None = None
    resolved_at: datetime | None = None
    visited_at: datetime | None = None
    closed_at: datetime | None = None
    due_onsite_at: datetime | None = None
    due_fix_at: datetime | None = None
    created_at: datetime = NOW
    updated_at: datetime = NOW
    round_started_at: datetime | None = None
    merged_into_id: int | None = None
    last_urged_at: datetime | None = None
    rating: int | None = None
    category_confirmed: bool = True
    needs_detail: bool = False
    extra: dict = field(default_factory=dict)


def opened(**kw) -> T:
    t = T(**kw)
    moves.open_ticket(t, RESIDENT, NOW, P)
    return t


def notices(out) -> list[tuple[Notice, str]]:
    return [(tl.notice, tl.to) for tl in out.tells]


def test_open_sets_the_54321_deadlines_and_meets_registration():
    t = T()
    out = moves.open_ticket(t, RESIDENT, NOW, P)
    assert t.status == Status.OPEN and t.due_onsite_at == NOW + timedelta(minutes=40)
    assert t.due_fix_at == NOW + timedelta(hours=3)
    ops = {(op.op, op.milestone) for op in out.milestones}
    assert ("meet", Milestone.REGISTER) in ops and ("start", Milestone.FIX) in ops
    assert (Notice.NEW_TICKET, "group") in notices(out)


def test_complex_categories_get_a_plan_line_on_working_days():
    t = T(category="neighbor", created_at=NOW)
    moves.open_ticket(t, RESIDENT, NOW, P)
    assert t.due_fix_at == NOW + timedelta(days=2) and P.deadlines("neighbor", "normal", None, NOW).fix_is_plan


def test_an_emergency_pages_at_once_and_has_no_three_hour_line():
    t = T(category="hallway_fire", emergency="fire", priority="urgent")
    out = moves.open_ticket(t, RESIDENT, NOW, P)
    assert (Notice.EMERGENCY_PAGE, "group_all") in notices(out)
    assert t.due_fix_at is None and t.due_onsite_at == NOW + timedelta(minutes=10)


def test_lead_party_is_told_at_once():
    policy = Policy(category_party={"garbage": "wuye"})
    out = moves.open_ticket(T(), RESIDENT, NOW, policy)
    assert (Notice.REFERRED, "party:wuye") in notices(out)


def test_assign_arrive_resolve_visit_close_the_round():
    t = opened()
    moves.assign(t, LEADER, NOW, to_userid="wuye01", to_name="孙师傅")
    assert t.status == Status.ASSIGNED
    out = moves.arrive(t, PROPERTY, NOW + timedelta(minutes=20))
    assert t.status == Status.ONSITE and ("meet", Milestone.ONSITE) in {(o.op, o.milestone) for o in out.milestones}
    out = moves.resolve(t, PROPERTY, NOW + timedelta(hours=1), P, "已清运")
    assert t.status == Status.RESOLVED and out.ask_ratings
    assert any(o.op == "start" and o.milestone == Milestone.VISIT for o in out.milestones)
    moves.visit(t, LEADER, NOW + timedelta(days=2), "居民满意")
    assert t.status == Status.CLOSED and t.closed_at is not None


def test_resolve_needs_words_and_an_active_ticket():
    t = opened()
    with pytest.raises(Refused, match="处理结果"):
        moves.resolve(t, LEADER, NOW, P, "")
    moves.resolve(t, LEADER, NOW, P, "已处理")
    with pytest.raises(Refused, match="已办结"):
        moves.resolve(t, LEADER, NOW, P, "再办一次")


def test_reopen_starts_a_new_round_and_resets_the_clocks():
    t = opened()
    moves.arrive(t, LEADER, NOW)
    moves.resolve(t, LEADER, NOW, P, "已处理")
    later = NOW + timedelta(hours=6)
    out = moves.reopen(t, RESIDENT, later, P, "没解决", involved=True)
    assert t.round == 2 and t.status == Status.OPEN and t.onsite_at is None and t.resolved_at is None
    assert t.due_onsite_at == later + timedelta(minutes=40)
    assert (Notice.REOPENED, "group") in notices(out)
    staff_out = moves.reopen(_resolved(), COMMITTEE, later, P, "复查发现仍有")
    assert (Notice.REOPENED, "residents") in notices(staff_out)   # staff reopening tells the residents


def _resolved() -> T:
    t = opened()
    moves.resolve(t, LEADER, NOW, P, "已处理")
    return t


def test_a_resident_may_reopen_only_what_they_reported_or_follow():
    with pytest.raises(Refused, match="不是您反映"):
        moves.reopen(_resolved(), RESIDENT, NOW, P, "没解决", involved=False)


def test_plan_and_refer_and_reply():
    t = opened(category="neighbor")
    out = moves.plan(t, LEADER, NOW, "周三约双方调解")
    assert t.status == Status.PLANNED and (Notice.PLAN, "residents") in notices(out)
    out = moves.refer(t, LEADER, NOW, P, party="legal", party_name="法律顾问", note="涉及赔偿", already=frozenset())
    assert t.status == Status.REFERRED and (Notice.REFERRED, "party:legal") in notices(out)
    with pytest.raises(Refused, match="已经转给"):
        moves.refer(t, LEADER, NOW, P, party="legal", party_name="法律顾问", note="", already=frozenset({"legal"}))
    with pytest.raises(Refused, match="没有转给你所在的单位"):
        moves.reply(t, POLICE, NOW, party="police", text="已出警", referred=frozenset({"legal"}))
    out = moves.reply(t, COMMITTEE, NOW, party="legal", text="建议先调解", referred=frozenset({"legal"}))
    assert t.status == Status.OPEN and (Notice.PARTY_REPLY, "residents") in notices(out)


def test_recategorise_never_lowers_urgency_and_same_category_is_refused():
    t = opened(priority="urgent")
    moves.recategorise(t, COMMITTEE, NOW, P, "parking", category_urgent=False)
    assert t.category == "parking" and t.priority == "urgent"
    with pytest.raises(Refused, match="已经是"):
        moves.recategorise(t, COMMITTEE, NOW, P, "parking", category_urgent=False)


def test_menu_choice_of_the_same_category_pushes_no_correction():
    t = opened(category="other", category_confirmed=False)
    out = moves.recategorise(t, RESIDENT, NOW, P, "other", category_urgent=False, chosen_by_resident=True, pushed=True)
    assert not [n for n, _ in notices(out) if n == Notice.RECATEGORISED] and t.category_confirmed


def test_merge_cancel_and_their_refusals():
    a, b = opened(id=1), opened(id=2, code="20261207-0002")
    moves.merge(b, a, LEADER, NOW)
    assert b.status == Status.MERGED and b.merged_into_id == 1
    with pytest.raises(Refused):
        moves.merge(opened(id=3, code="x"), b, LEADER, NOW)         # not into a merged one
    c = opened(id=4)
    moves.arrive(c, LEADER, NOW)
    with pytest.raises(Refused, match="处理中"):
        moves.cancel(c, RESIDENT, NOW, "不用了", involved=True)    # residents withdraw only what nobody started
    moves.cancel(c, COMMITTEE, NOW, "重复登记")
    assert c.status == Status.CANCELLED


def test_rating_low_schedules_the_visit_now_and_happy_closes_when_visits_are_for_the_unhappy():
    t = _resolved()
    out = moves.rate(t, RESIDENT, NOW, P, 1, reporter=True)
    assert t.rating == 1 and (Notice.LOW_RATING, "group") in notices(out)
    assert any(o.op == "start" and o.milestone == Milestone.VISIT and o.due == NOW for o in out.milestones)
    t2 = _resolved()
    moves.rate(t2, RESIDENT, NOW, Policy(visit_for="unhappy"), 5, reporter=False)
    assert t2.status == Status.CLOSED and t2.rating is None          # a follower's score is not the reporter's


def test_urge_at_most_once_an_hour():
    t = opened()
    moves.urge(t, RESIDENT, NOW)
    with pytest.raises(Refused, match="催办过"):
        moves.urge(t, RESIDENT, NOW + timedelta(minutes=30))
    moves.urge(t, RESIDENT, NOW + timedelta(minutes=61))


def test_emergency_mark_and_clear():
    t = opened()
    out = moves.mark_emergency(t, LEADER, NOW, "fire", "火情")
    assert t.priority == "urgent" and (Notice.EMERGENCY_PAGE, "group_all") in notices(out)
    with pytest.raises(Refused, match="火情"):
        moves.mark_emergency(t, LEADER, NOW, "fire", "火情")
    out = moves.clear_emergency(t, LEADER, NOW, "误报", category_urgent=False)
    assert t.emergency is None and t.priority == "normal" and (Notice.EMERGENCY_CLEARED, "group") in notices(out)


# -- the access matrix ------------------------------------------------------------------------

def test_grid_leaders_work_only_their_grid():
    t = opened()
    with pytest.raises(Refused, match="第一网格"):
        moves.arrive(t, OTHER_LEADER, NOW)


def test_the_property_company_does_not_judge_complaints_about_itself():
    t = opened(category="property_service")
    mine = frozenset({"wuye"})                # 一键派单 sends these to the property company too
    for move in (lambda: moves.resolve(t, PROPERTY, NOW, P, "居民误会", parties=mine),
                 lambda: moves.recategorise(t, PROPERTY, NOW, P, "other", category_urgent=False, parties=mine),
                 lambda: moves.cancel(t, PROPERTY, NOW, "无效", parties=mine)):
        with pytest.raises(Refused, match="居委会"):
            move()
    assert t.status == Status.OPEN and t.category == "property_service"
    moves.arrive(t, PROPERTY, NOW, parties=mine)            # but it can go and look
    moves.resolve(t, COMMITTEE, NOW, P, "已约谈物业经理，整改保洁排班")     # and the committee judges


@pytest.mark.parametrize("move", list(Move))
@pytest.mark.parametrize("role", [r for r in Role])
def test_every_role_and_move_is_decided_by_the_matrix(move, role):
    """Walk the whole matrix: allowed roles pass the role check from a state the move starts from,
    every other role is refused with a reason naming who may."""
    actor = Actor(role, "x", "某人", grid="第一网格", party="legal")   # in scope: the matrix alone decides
    start = next((s for s in (Status.OPEN, Status.RESOLVED) if s in FROM[move]), None)
    t = T(status=str(start) if start else "open", grid_name="第一网格")
    parties = frozenset({"legal"})
    if role in ALLOWED[move]:
        if move != Move.OPEN:
            check(move, actor, t, involved=True, parties=parties)
    else:
        with pytest.raises(Refused, match="仅限"):
            check(move, actor, t if move != Move.OPEN else None, involved=True, parties=parties)


@pytest.mark.parametrize("move", [m for m in Move if m != Move.OPEN])
def test_every_move_is_refused_from_states_it_does_not_start_from(move):
    for status in set(Status) - FROM[move]:
        with pytest.raises(Refused):
            check(move, COMMITTEE if COMMITTEE.role in ALLOWED[move] else RESIDENT, T(status=str(status)),
                  involved=True)


def test_state_families_partition_the_states():
    assert ACTIVE | DONE | ENDED == set(Status) and not (ACTIVE & DONE) and not (DONE & ENDED)
