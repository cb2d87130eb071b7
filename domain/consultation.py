"""Asking residents before acting (问卷、表决): questions, answers read from chat, tallies and the
rules a vote passes by. Pure: no database, no I/O; chat, the desk, the web page and the scheduler
all read answers and decide outcomes here, so they agree.

A vote counts households, not people: one vote per registered room (民法典 第278条 counts owners by
number and by area; the bot can count rooms, and says so). Rules, with the turnout a vote needs
before it can pass at all (quorum, a share of the eligible households):
- majority (过半数): more than half of the households that voted agree;
- three_quarters (四分之三): at least three quarters of the households that voted agree;
- two_thirds (三分之二): at least two thirds of ALL eligible households agree (lift installation in
  a building: what counts is the building's households, not those who turned up).
Fractions, not floats: 16 of 24 is exactly two thirds.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction

from domain.states import Role


class Kind(StrEnum):
    SINGLE = "single"        # one option
    MULTI = "multi"          # one or more options
    SCALE = "scale"          # 1-5
    TEXT = "text"            # free words


class Rule(StrEnum):
    MAJORITY = "majority"
    THREE_QUARTERS = "three_quarters"
    TWO_THIRDS = "two_thirds"


RULE_NAMES = {Rule.MAJORITY: "参与表决户数过半数同意", Rule.THREE_QUARTERS: "参与表决户数四分之三以上同意",
              Rule.TWO_THIRDS: "全部户数三分之二以上同意"}
RULE_WORDS = {"过半数": Rule.MAJORITY, "过半": Rule.MAJORITY, "半数": Rule.MAJORITY, "majority": Rule.MAJORITY,
              "四分之三": Rule.THREE_QUARTERS, "3/4": Rule.THREE_QUARTERS, "three_quarters": Rule.THREE_QUARTERS,
              "三分之二": Rule.TWO_THIRDS, "2/3": Rule.TWO_THIRDS, "two_thirds": Rule.TWO_THIRDS}
DEFAULT_QUORUM = Fraction(2, 3)           # 民法典 278: 参与表决 两个三分之二以上 (by number)
VOTE_OPTIONS = ("同意", "不同意", "弃权")
AGREE = 0                                  # the option index that counts as agreement in a vote
SCALE = range(1, 6)
SKIP_WORDS = frozenset({"跳过", "不答", "略过", "skip"})
MAX_OPTIONS = 9                            # one digit each: "13" is options 1 and 3
MAX_TEXT = 500

# Who may ask residents: the committee and the 街道 anyone; the owners' committee the owners (业委会
# organises owners' votes); a grid leader the buildings of their own grid.
ASKERS = frozenset({Role.COMMITTEE, Role.STREET, Role.OWNERS, Role.GRID_LEADER})


@dataclass(frozen=True)
class Question:
    kind: Kind
    prompt: str
    options: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {"kind": str(self.kind), "prompt": self.prompt, "options": list(self.options)}

    @classmethod
    def from_json(cls, d: dict) -> "Question":
        return cls(Kind(d["kind"]), d["prompt"], tuple(d.get("options") or ()))

    def problems(self) -> list[str]:
        """Why this question cannot be asked (empty: it can)."""
        out = []
        if not self.prompt.strip():
            out.append("题目是空的")
        if self.kind in (Kind.SINGLE, Kind.MULTI):
            if len(self.options) < 2:
                out.append(f"“{self.prompt[:20]}”至少要两个选项")
            if len(self.options) > MAX_OPTIONS:
                out.append(f"“{self.prompt[:20]}”最多 {MAX_OPTIONS} 个选项")
            if len(set(self.options)) != len(self.options):
                out.append(f"“{self.prompt[:20]}”有重复的选项")
        return out


class Invalid(ValueError):
    """The words are meant as an answer but are not a valid one: the message says what to send."""


SKIPPED = object()                         # a free-text question the resident chose not to answer


def read_answer(q: Question, text: str):
    """The answer `text` gives to `q`: an option index (single), sorted indexes (multi), 1-5 (scale),
    the words (text), SKIPPED, or None when the text is not an answer at all (a complaint, a
    question). Raises Invalid for an answer-shaped text out of range ("7" to three options)."""
    t = unicodedata.normalize("NFKC", text or "").strip().rstrip("。.!！~")
    if not t:
        return None
    if q.kind == Kind.TEXT:
        if t.lower() in SKIP_WORDS:
            return SKIPPED
        return t[:MAX_TEXT]
    by_name = [i for i, o in enumerate(q.options) if unicodedata.normalize("NFKC", o) == t]
    if by_name and q.kind != Kind.SCALE:
        return by_name[0] if q.kind == Kind.SINGLE else (by_name[0],)
    if not re.fullmatch(r"[\d\s,，、/和]+", t) or not re.search(r"\d", t):
        return None
    if q.kind == Kind.SCALE:
        if not re.fullmatch(r"\d", t) or int(t) not in SCALE:
            raise Invalid("请回复 1 到 5 之间的一个数字（1 很不满意，5 很满意）")
        return int(t)
    n = len(q.options)
    groups = re.findall(r"\d+", t)
    # "13" to a multi-choice of up to 9 options is options 1 and 3
    digits = [int(c) for g in groups for c in g] if q.kind == Kind.MULTI else [int(g) for g in groups]
    if q.kind == Kind.SINGLE and len(digits) != 1:
        raise Invalid(f"这题只选一项：请回复 1 到 {n} 中的一个数字")
    if any(not 1 <= d <= n for d in digits):
        raise Invalid(f"请回复 1 到 {n} 之间的数字" + ("（可多选，如 1 3）" if q.kind == Kind.MULTI else ""))
    return digits[0] - 1 if q.kind == Kind.SINGLE else tuple(sorted({d - 1 for d in digits}))


def answer_words(q: Question, value) -> str:
    """An answer as the resident and staff read it."""
    if value is None or value is SKIPPED:
        return "（未答）"
    if q.kind == Kind.SINGLE:
        return q.options[value]
    if q.kind == Kind.MULTI:
        return "、".join(q.options[i] for i in value)
    if q.kind == Kind.SCALE:
        return f"{value} 分"
    return str(value)


def to_stored(value):
    """JSON for the answer row (tuples become lists, SKIPPED a null)."""
    if value is SKIPPED:
        return None
    return list(value) if isinstance(value, tuple) else value


def from_stored(q: Question, stored):
    if stored is None:
        return SKIPPED
    return tuple(stored) if q.kind == Kind.MULTI else stored


def ask_text(q: Question, number: int, total: int) -> str:
    """One question as a chat message, with how to answer it."""
    head = f"第{number}/{total}题：{q.prompt}" if total > 1 else q.prompt
    if q.kind in (Kind.SINGLE, Kind.MULTI):
        lines = [head] + [f"{i}. {o}" for i, o in enumerate(q.options, 1)]
        lines.append("回复数字作答" + ("，可多选，如：1 3" if q.kind == Kind.MULTI else ""))
        return "\n".join(lines)
    if q.kind == Kind.SCALE:
        return f"{head}\n回复 1-5 的数字（1 很不满意，5 很满意）"
    return f"{head}\n直接回复您的意见；不想答请回复“跳过”"


# -- tallies ----------------------------------------------------------------------------------------

@dataclass
class Tally:
    """One question's results: counts per option (or per score), the free-text answers, who answered."""
    question: Question
    answered: int = 0
    counts: list[int] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    total_score: int = 0

    def share(self, i: int) -> float:
        return self.counts[i] / self.answered if self.answered else 0.0

    @property
    def mean(self) -> float | None:
        return self.total_score / self.answered if self.answered and self.question.kind == Kind.SCALE else None


def tally(q: Question, values: list) -> Tally:
    """Count stored answer values (from_stored already applied; SKIPPED answers are not counted)."""
    n = len(q.options) if q.kind in (Kind.SINGLE, Kind.MULTI) else (5 if q.kind == Kind.SCALE else 0)
    t = Tally(q, counts=[0] * n)
    for v in values:
        if v is SKIPPED or v is None:
            continue
        t.answered += 1
        if q.kind == Kind.SINGLE:
            t.counts[v] += 1
        elif q.kind == Kind.MULTI:
            for i in v:
                t.counts[i] += 1
        elif q.kind == Kind.SCALE:
            t.counts[v - 1] += 1
            t.total_score += v
        else:
            t.texts.append(v)
    return t


@dataclass(frozen=True)
class VoteOutcome:
    passed: bool
    eligible: int          # households that may vote
    voted: int             # households that voted
    agree: int
    against: int
    abstain: int
    quorum_met: bool
    reason: str            # one sentence, for the report and the residents


def vote_outcome(rule: Rule, eligible: int, household_votes: list[int], quorum: Fraction = DEFAULT_QUORUM
                 ) -> VoteOutcome:
    """Whether a vote passed: `household_votes` holds one option index per household that voted
    (0 同意, 1 不同意, 2 弃权). Abstentions count as turnout, not as agreement."""
    voted = len(household_votes)
    agree = sum(1 for v in household_votes if v == AGREE)
    against = sum(1 for v in household_votes if v == 1)
    abstain = voted - agree - against
    if eligible <= 0:
        return VoteOutcome(False, eligible, voted, agree, against, abstain, False, "不知道应参与的户数，无法判定")
    quorum_met = Fraction(voted, eligible) >= quorum
    counts = f"应参与 {eligible} 户，参与 {voted} 户，同意 {agree} 户、不同意 {against} 户、弃权 {abstain} 户"
    if not quorum_met:
        return VoteOutcome(False, eligible, voted, agree, against, abstain, False,
                           f"未通过：参与户数不足 {_frac(quorum)}（{counts}）")
    if rule == Rule.TWO_THIRDS:
        passed = Fraction(agree, eligible) >= Fraction(2, 3)
    elif rule == Rule.THREE_QUARTERS:
        passed = Fraction(agree, voted) >= Fraction(3, 4)
    else:
        passed = Fraction(agree, voted) > Fraction(1, 2)
    return VoteOutcome(passed, eligible, voted, agree, against, abstain, True,
                       f"{'通过' if passed else '未通过'}：规则为{RULE_NAMES[rule]}（{counts}）")


def _frac(f: Fraction) -> str:
    names = {Fraction(1, 2): "二分之一", Fraction(2, 3): "三分之二", Fraction(3, 4): "四分之三"}
    return names.get(f, f"{float(f):.0%}")


def parse_fraction(word: str) -> Fraction:
    """"2/3", "三分之二", "50%", "0.5" -> a Fraction in [0, 1]; ValueError otherwise."""
    w = unicodedata.normalize("NFKC", word).strip()
    cn = {"二分之一": Fraction(1, 2), "三分之二": Fraction(2, 3), "四分之三": Fraction(3, 4), "过半": Fraction(1, 2)}
    if w in cn:
        return cn[w]
    try:
        f = Fraction(int(w[:-1]), 100) if w.endswith("%") else Fraction(w)
    except (ValueError, ZeroDivisionError):
        raise ValueError(word) from None
    if not 0 <= f <= 1:
        raise ValueError(word)
    return f


def household(building: str | None, unit: str | None, room: str | None) -> str | None:
    """A room's key ("3-2-502"; "3--502" with no unit), or None without a building and a room."""
    if not building or not room:
        return None
    return f"{building}-{unit or ''}-{room}"
