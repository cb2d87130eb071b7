"""The rules of asking residents (domain/consultation.py): what counts as an answer, and when a
vote passes: quorum, simple majority, three quarters, two thirds of all households, exactly."""
from __future__ import annotations

from fractions import Fraction

import pytest

from domain import consultation as cs

SINGLE = cs.Question(cs.Kind.SINGLE, "加装电梯？", ("同意", "不同意", "弃权"))
MULTI = cs.Question(cs.Kind.MULTI, "想要哪些活动？", ("讲座", "义诊", "电影", "亲子"))


@pytest.mark.parametrize("text, value", [("1", 0), (" 3 ", 2), ("３", 2), ("不同意", 1), ("弃权。", 2), ("好的", None)])
def test_single_choice_by_number_or_by_name(text, value):
    assert cs.read_answer(SINGLE, text) == value


@pytest.mark.parametrize("text", ["4", "0", "1 2"])
def test_single_choice_out_of_range_says_what_to_send(text):
    with pytest.raises(cs.Invalid, match="1 到 3"):
        cs.read_answer(SINGLE, text)


@pytest.mark.parametrize("text, value", [("1 3", (0, 2)), ("13", (0, 2)), ("3、1、3", (0, 2)), ("义诊", (1,))])
def test_multi_choice(text, value):
    assert cs.read_answer(MULTI, text) == value


def test_not_an_answer_is_none():
    assert cs.read_answer(SINGLE, "3号楼电梯坏了") is None
    assert cs.read_answer(MULTI, "") is None


def test_scale_and_text():
    scale = cs.Question(cs.Kind.SCALE, "打分")
    assert cs.read_answer(scale, "5") == 5
    with pytest.raises(cs.Invalid):
        cs.read_answer(scale, "6")
    text = cs.Question(cs.Kind.TEXT, "建议")
    assert cs.read_answer(text, "跳过") is cs.SKIPPED
    assert cs.read_answer(text, "多装路灯") == "多装路灯"
    assert cs.to_stored(cs.SKIPPED) is None and cs.from_stored(text, None) is cs.SKIPPED


def test_tally_counts_and_shares():
    t = cs.tally(MULTI, [(0, 2), (2,), cs.SKIPPED, (1, 2)])
    assert t.answered == 3 and t.counts == [1, 1, 3, 0] and t.share(2) == 1.0


def test_two_thirds_is_of_all_households_and_exact():
    votes = [cs.AGREE] * 16 + [1] * 2
    assert cs.vote_outcome(cs.Rule.TWO_THIRDS, 24, votes).passed                  # 16/24 is exactly 2/3
    assert not cs.vote_outcome(cs.Rule.TWO_THIRDS, 24, votes[1:] + [2]).passed    # 15/24, turnout unchanged
    assert not cs.vote_outcome(cs.Rule.TWO_THIRDS, 25, votes).passed              # 16/25 < 2/3


def test_quorum_before_any_rule():
    out = cs.vote_outcome(cs.Rule.MAJORITY, 30, [cs.AGREE] * 19)                   # 19 < 2/3 of 30
    assert not out.passed and not out.quorum_met and "参与户数不足" in out.reason
    assert cs.vote_outcome(cs.Rule.MAJORITY, 30, [cs.AGREE] * 20).passed
    assert cs.vote_outcome(cs.Rule.MAJORITY, 30, [cs.AGREE] * 10, quorum=Fraction(1, 3)).passed


def test_majority_is_more_than_half_and_abstentions_do_not_agree():
    assert not cs.vote_outcome(cs.Rule.MAJORITY, 10, [0] * 5 + [1] * 5).passed    # half is not more than half
    assert not cs.vote_outcome(cs.Rule.MAJORITY, 10, [0] * 4 + [2] * 4).passed
    assert cs.vote_outcome(cs.Rule.MAJORITY, 10, [0] * 5 + [1] * 4).passed


def test_three_quarters_of_those_who_voted():
    assert cs.vote_outcome(cs.Rule.THREE_QUARTERS, 12, [0] * 6 + [1] * 2).passed   # 6/8
    assert not cs.vote_outcome(cs.Rule.THREE_QUARTERS, 12, [0] * 5 + [1] * 3).passed


def test_unknown_household_count_never_passes():
    assert not cs.vote_outcome(cs.Rule.MAJORITY, 0, [0, 0]).passed


@pytest.mark.parametrize("word, f", [("2/3", Fraction(2, 3)), ("三分之二", Fraction(2, 3)), ("50%", Fraction(1, 2))])
def test_fractions(word, f):
    assert cs.parse_fraction(word) == f


def test_bad_fraction():
    with pytest.raises(ValueError):
        cs.parse_fraction("3/2")


def test_questions_are_checked():
    assert cs.Question(cs.Kind.SINGLE, "x", ("a",)).problems()
    assert cs.Question(cs.Kind.SINGLE, "x", ("a", "a")).problems()
    assert not SINGLE.problems()
