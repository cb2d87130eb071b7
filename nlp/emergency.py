"""Danger to life happening now, detected apart from the category (rules: nlp/data/emergency_rules/).

A trigger ("着火", "电梯里关了个老人") counts unless its clause places it in the past ("上周电梯关过人"),
makes it a fear or hazard ("飞线充电容易着火", "火灾隐患"), negates it ("没有人受伤") or the word has
another sense ("火锅", "气死我了"). Recall matters more than precision: a missed fire is worse than
an extra 119 hint, so blockers are deliberately narrow and look inside the trigger's clause; only
a few look at the whole message (the scare is over: 虚惊一场; an animal was the victim).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from nlp import emergency_rules as rules_file
from nlp import segment
from nlp.anchors import required_chars
from nlp.limits import read
from nlp.normalize import normalize
from nlp.types import Emergency

# Clause ends: punctuation, and whitespace, which residents type for punctuation ("电梯停了 人出不来";
# voice input has neither: the whole message is one clause).
_CLAUSE_END = re.compile(r"[,，。.!！?？;；\n、…~\s]")
# "关过人" / "着过火": 过 right after the verb marks experience in the past.
_EXPERIENTIAL = re.compile(r"^[^,，。.!！?？;；]{0,1}过")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")   # keeps offsets
_NEAR = 8           # characters either side of a trigger in which 现在/正在 ... say "still going on"
# How far a trigger's clause reaches either side of it. The longest clause among the 14,634 labelled
# messages (nlp/data, bench/data) has 88 characters; a longer run without punctuation is a paste or
# a long voice message, and reading each trigger's whole run would cost triggers x run length.
_CLAUSE_REACH = 100


@dataclass(frozen=True)
class _Kind:
    name: str
    label: str                                       # Chinese name staff see and type
    number: str
    advice: str
    triggers: _Named | None
    weak: _Named | None                              # counts only without `weak_unless` in the clause
    weak_unless: re.Pattern | None
    conditional: tuple[tuple[str, re.Pattern, re.Pattern], ...]   # (id, pattern, what the message must hold)
    unless: re.Pattern | None                        # the kind is not reported with this in the clause
    unless_message: re.Pattern | None                # ... or anywhere in the message
    elsewhere: tuple[re.Pattern, str, str] | None = None   # (where the usual number holds, number, advice)
    evidence: re.Pattern | None = None               # danger words the learned head needs (evidence())
    needs_person: bool = False                       # ... and a person at risk


@dataclass(frozen=True)
class _Named:
    """A kind's rules of one role as one alternation, each rule a named group: matches come out
    leftmost first as with one pattern, and each says which rule it is (m.lastgroup)."""
    rx: re.Pattern
    ids: dict[str, str]                              # group name -> rule id
    patterns: tuple[re.Pattern, ...]                 # each rule alone, for the prefilter

    @classmethod
    def of(cls, rules: list[rules_file.Rule]) -> "_Named | None":
        if not rules:
            return None
        rx = re.compile("|".join(f"(?P<r{i}>{r.pattern})" for i, r in enumerate(rules)))
        return cls(rx, {f"r{i}": r.id for i, r in enumerate(rules)}, tuple(re.compile(r.pattern) for r in rules))


def _alt(rules: list[rules_file.Rule]) -> re.Pattern | None:
    return re.compile("|".join(f"(?:{r.pattern})" for r in rules)) if rules else None


def _elsewhere(e: dict | None) -> tuple[re.Pattern, str, str] | None:
    return (re.compile(e["named"]), str(e["number"]), e["advice"]) if e else None


class _Rules:
    def __init__(self, rs: rules_file.RuleSet) -> None:
        self.kinds: list[_Kind] = []
        for name in rs.order:
            k = rs.kinds[name]
            self.kinds.append(_Kind(
                name, k["name"], str(k["number"]), k["advice"],
                _Named.of(rs.of(name, "trigger")), _Named.of(rs.of(name, "weak")),
                _alt(rs.of(name, "weak_unless")),
                tuple((r.id, re.compile(r.pattern), re.compile(r.requires)) for r in rs.of(name, "conditional")),
                _alt(rs.of(name, "unless")), _alt(rs.of(name, "unless_message")), _elsewhere(k.get("elsewhere")),
                _alt(rs.of(name, "evidence")), bool(k.get("needs_person"))))
        # One pass over the message first: most messages name no trigger at all. Each pattern
        # runs only if the message holds one of the characters every match of it needs
        # (nlp/anchors.py). One pattern per rule: a rule needs fewer characters than a kind's
        # whole alternation, and one big alternation is slower in `re`.
        patterns = [p for k in self.kinds for n in (k.triggers, k.weak) if n for p in n.patterns]
        patterns += [p for k in self.kinds for _, p, _ in k.conditional]
        # prefer anchors that everyday text seldom holds
        # (digits and letters are rare words but common in messages: 3号楼, 120)
        prefilter = [(required_chars(p, cost=lambda c: 10 ** 9 if c.isascii() else 1 + segment.count(c)), p)
                     for p in patterns]
        # anchor character -> the patterns it lets through, in rule order; patterns without an
        # anchor are always tried
        self.always = [i for i, (need, _) in enumerate(prefilter) if need is None]
        self.by_anchor: dict[str, list[int]] = {}
        for i, (need, _) in enumerate(prefilter):
            for c in need or ():
                self.by_anchor.setdefault(c, []).append(i)
        self.anchors = frozenset(self.by_anchor)
        self.by_name = {k.name: k for k in self.kinds}
        self.patterns = [p for _, p in prefilter]
        ctx = {role: _alt(rs.of("context", role)) for role in rules_file.CONTEXT_ROLES}
        self.senses, self.false_alarm, self.past = ctx["senses"], ctx["false_alarm"], ctx["past"]
        self.present, self.before, self.after = ctx["present"], ctx["before"], ctx["after"]
        self.prefix = re.compile(f"(?:{ctx['prefix'].pattern}).{{0,2}}$")
        self.person = ctx["person"]
        self.question = ctx["question"]

    @staticmethod
    def clause(text: str, start: int, end: int) -> tuple[int, int]:
        lo, hi = max(0, start - _CLAUSE_REACH), min(len(text), end + _CLAUSE_REACH)
        c0 = max((m.end() for m in _CLAUSE_END.finditer(text, lo, start)), default=lo)
        m = _CLAUSE_END.search(text, end, hi)
        return c0, (m.start() if m else hi)

    def blocked(self, text: str, start: int, end: int, unless: re.Pattern | None = None) -> bool:
        """Whether the trigger text[start:end] is past, hypothetical or negated in its clause."""
        c0, c1 = self.clause(text, start, end)
        head, tail, clause = text[c0:start], text[end:c1], text[c0:c1]
        if unless is not None and unless.search(clause):
            return True
        if self.prefix.search(head[-4:]):
            return True
        if self.before.search(text, c0, end) or self.after.search(tail):
            return True
        if _EXPERIENTIAL.match(tail) or tail.startswith(("过人", "过火")):
            return True
        if self.asks(text, c0, c1):
            return True
        # "still going on" counts near the trigger only: in a long unpunctuated message, 现在 may
        # belong to a later question (昨天有人被关在电梯里 ... 那个电梯现在能坐吗)
        near = text[max(c0, start - _NEAR):min(c1, end + _NEAR)]
        return bool(self.past.search(clause)) and not self.present.search(near)

    def asks(self, text: str, c0: int, c1: int) -> bool:
        """Whether the clause text[c0:c1] is a question about the danger rather than a report of it:
        it ends in ?/？ or 吗/呢 and holds a question word ("着火了是往上跑还是往下跑？", "被蜜蜂蛰了
        要去医院吗"). A cry for help is no such question ("着火了怎么办！", "快来人啊？")."""
        if self.question is None:
            return False
        clause = text[c0:c1].rstrip()
        ends = text[c1:c1 + 1] in ("?", "？") or clause.endswith(("吗", "呢", "么"))
        return ends and self.question.search(clause) is not None

    def fired(self, kind: _Kind, text: str) -> list[str]:
        """The ids of `kind`'s rules that report it in `text` (empty: not reported)."""
        if kind.unless_message is not None and kind.unless_message.search(text):
            return []
        ids: list[str] = []
        if kind.triggers is not None:
            for m in kind.triggers.rx.finditer(text):
                if not self.blocked(text, m.start(), m.end(), kind.unless):
                    ids.append(kind.triggers.ids[m.lastgroup])
        if kind.weak is not None:
            for m in kind.weak.rx.finditer(text):
                c0, c1 = self.clause(text, m.start(), m.end())
                if kind.weak_unless is not None and kind.weak_unless.search(text, c0, c1):
                    continue
                if not self.blocked(text, m.start(), m.end(), kind.unless):
                    ids.append(kind.weak.ids[m.lastgroup])
        for rid, rx, required in kind.conditional:
            if required.search(text) and any(not self.blocked(text, m.start(), m.end(), kind.unless)
                                             for m in rx.finditer(text)):
                ids.append(rid)
        return list(dict.fromkeys(ids))

    def evidenced(self, text: str, guess: str) -> _Kind | None:
        """The kind a person would accept the learned head's `guess` as: `guess` itself when the
        message holds one of its danger words (and a person at risk where the kind needs one),
        else the first kind that has such evidence, else None (an unusual message, not a danger)."""
        text = self.senses.sub(lambda m: "□" * len(m.group(0)), text.translate(_ASCII_LOWER))
        person = self.person is not None and self.person.search(text) is not None

        def ok(k: _Kind) -> bool:
            # a danger word the rules' own blockers leave standing: "着火了该打什么电话" asks,
            # "上周电梯困过人" is past, whatever the head's P
            # (not the kind's own `unless`: that says what the rules' triggers mean, and the head
            # is there for the wording they miss: "被锁在储藏间出不来了 手机快没电")
            return (k.evidence is not None and (person or not k.needs_person)
                    and any(not self.blocked(text, m.start(), m.end()) for m in k.evidence.finditer(text)))
        first = self.by_name.get(guess)
        if first is not None and ok(first):
            return first
        return next((k for k in self.kinds if ok(k)), None)

    def detect(self, text: str) -> tuple[_Kind, list[str]] | None:
        """The first kind reported and the ids of its rules that fired, or None."""
        text = text.translate(_ASCII_LOWER)               # the English rules are written in lower case
        anchored = self.anchors.intersection(text)
        if not anchored and not self.always:
            return None
        candidates = set(self.always).union(*map(self.by_anchor.__getitem__, anchored))
        if not any(self.patterns[i].search(text) for i in sorted(candidates)):
            return None
        if self.false_alarm is not None and self.false_alarm.search(text):
            return None
        # Other senses are blanked out with the same length, so positions stay meaningful.
        text = self.senses.sub(lambda m: "□" * len(m.group(0)), text)
        for kind in self.kinds:
            ids = self.fired(kind, text)
            if ids:
                return kind, ids
        return None


@cache
def _load() -> _Rules:
    return _Rules(rules_file.load())


def kind_names() -> dict[str, str]:
    """{kind: Chinese name}, in the order of nlp/data/emergency_rules/kinds.yaml."""
    return {k.name: k.label for k in _load().kinds}


def fit(e: Emergency | None, text: str) -> Emergency | None:
    """`e` with the number and advice for where the message places it: someone trapped anywhere but
    in a lift needs 119, not the lift-rescue line (`elsewhere` in nlp/data/emergency_rules/kinds.yaml)."""
    if e is None:
        return None
    kind = _load().by_name.get(e.kind)
    if kind is None or kind.elsewhere is None:
        return e
    named, number, advice = kind.elsewhere
    if named.search(read(text).translate(_ASCII_LOWER)):
        return e
    return Emergency(e.kind, number, advice, e.rules)


def of_kind(name: str) -> Emergency:
    """The Emergency (number, advice) of a kind named in nlp/data/emergency_rules/kinds.yaml."""
    kind = _load().by_name[name]
    return Emergency(kind.name, kind.number, kind.advice)


# --- the learned signal ----------------------------------------------------------------------
# Rules miss wording nobody wrote a rule for (dialect, slips of the keyboard, a scene described
# rather than named, a long letter). A head on the category model's features, trained on labelled
# messages (nlp/data/emergency/*.csv: "none" or the kind) and on ordinary complaints, gives
# P(emergency). The bot reports an emergency when P > THRESHOLD or the rules fire. The policy comes
# from cross-validation on the training rows (python bench/bench_emergency_cv.py), judged on the
# CSVs the rules were not written from: the highest recall with precision >= 0.9
# and at most 0.5% of ordinary complaints flagged. A missed emergency costs more than a false
# alarm, so recall decides and precision only has to clear its bar. bench/bench_taxonomy.py
# measures the result on bench/data/emergency_*.csv, which nothing was trained or tuned on.
TRAIN_DIR = Path(__file__).with_name("data") / "emergency"
MODEL_SUBDIR = "emergency"
NONE = "none"
THRESHOLD = 0.85
# Below THRESHOLD the head still knows something: above CAUTION (where, in the same cross-validation,
# the head alone finds 98% of emergencies) the resident is told the number to call and the
# ticket is urgent, but nobody is paged with @all (nlp.types.Classification.caution).
CAUTION = 0.3


def training_rows(sources: list[str] | None = None) -> list[tuple[str, str]]:
    """(text, kind or "none") from every CSV in nlp/data/emergency/; `sources`, if given, gets
    each row's file name (without .csv) appended."""
    import csv
    rows = []
    for f in sorted(TRAIN_DIR.glob("*.csv")):
        with open(f, encoding="utf-8-sig", newline="") as fh:
            for r in csv.DictReader(fh):
                yes = str(r.get("emergency", "")).strip().lower() in ("1", "true", "yes", "y")
                rows.append((r["text"], (r.get("kind") or "").strip() if yes else NONE))
                if sources is not None:
                    sources.append(f.stem)
    return rows


def ordinary_rows(rows: list[tuple[str, str]], labelled_rows: list[tuple[str, str]] | None = None
                  ) -> list[tuple[str, str]]:
    """Ordinary complaints as "none" rows for the head: the category training rows that the rules
    leave alone (most traffic looks like them, not like the near-misses of the CSVs), except those
    labelled in `labelled_rows` (default nlp/data/emergency/: seed_emergencies.csv says a lift with
    people inside that the rules miss is an emergency, whatever its category)."""
    labelled = {normalize(t) for t, _ in (training_rows() if labelled_rows is None else labelled_rows)}
    return [(t, NONE) for t, _ in rows if detect(t) is None and normalize(t) not in labelled]


_HAN = re.compile(r"[\u4e00-\u9fff]")


# A rule that fires on a message the head is sure is ordinary (P below VETO) is overruled: "爆炸消息！
# 团购大闸蟹", "快递柜超时收费，简直是抢劫", "电影里被困电梯的情节" — figures of speech, hearsay and
# questions that no list of blockers will ever finish. Measured on the held-out sets (bench/data/
# emergency_final*.csv, safety_final): P < 0.02 overrules 12 of 16 rule false alarms and none of the
# 248 real emergencies the rules caught (the lowest of those had P 0.117; on the 3,608 training
# emergencies the rules catch, none is below 0.05). Only the Chinese head vetoes.
# Only on a message the head reads like the ones it was measured on: in a long letter the head's P
# is the story's, and a fire in its first line must not be overruled by forty lines of complaint.
VETO = 0.02
VETO_CHARS = 200


def vetoed(rule: Emergency | None, p: float, text: str = "") -> bool:
    """Whether the head overrules the rules' report on `text` (see VETO)."""
    return rule is not None and p < VETO and len(text) <= VETO_CHARS


def head_reads(text: str) -> bool:
    """Whether the learned head may speak on `text`: it has only read Chinese, and on a message
    without two Han characters ("1", "ting dian le", English) its P is noise from digits and letters."""
    found = _HAN.search(text)
    return found is not None and _HAN.search(text, found.end()) is not None


def head_scores(model, X) -> list[tuple[float, Emergency | None]]:
    """Per row of a feature matrix of `model` (TextModel.features): P(emergency), likeliest kind."""
    import numpy as np
    if X.shape[0] == 0 or NONE not in model.classes_:
        return [(0.0, None)] * X.shape[0]
    p = np.asarray(model.proba_of(X))
    none = model.classes_.index(NONE)
    names = {k.name for k in _load().kinds}
    kinds = [j for j, c in enumerate(model.classes_) if c in names]
    p_em = (1.0 - p[:, none]).tolist()
    best = np.asarray(kinds)[np.argmax(p[:, kinds], axis=1)].tolist() if kinds else [None] * len(p_em)
    return [(pe, of_kind(model.classes_[j]) if j is not None else None) for pe, j in zip(p_em, best)]


def evidenced(text: str, guess: Emergency | None, p: float) -> Emergency | None:
    """The learned head's `guess` (with P `p`) as a person would accept it: only with a danger word
    of its kind, or of another kind (which then replaces the guess), and a person at risk where the
    kind needs one (`evidence` rules). A head that fires on an unusual message ("yyds 物业这次给力",
    "3号楼突然停电了") is not evidence of danger. `text` is normalised."""
    if guess is None:
        return None
    kind = _load().evidenced(read(text), guess.kind)
    if kind is None:
        return None
    return Emergency(kind.name, kind.number, kind.advice, (f"model:{p:.2f}",))


def caution(reported: Emergency | None, p: float, kind: Emergency | None) -> Emergency | None:
    """The possible emergency when none is reported but the head's P is above CAUTION."""
    return kind if reported is None and p > CAUTION else None


def decide(rule: Emergency | None, p: float, kind: Emergency | None,
           threshold: float | None = None) -> Emergency | None:
    """The reported emergency from the rules' answer and the head's (P, kind); see above.
    `threshold`: another head's own (nlp/english_head.py)."""
    return rule or kind if p > (THRESHOLD if threshold is None else threshold) else rule


def settled(text: str, normalized: bool = False) -> bool:
    """Whether the message says the scare is over or was never here (虚惊一场, 已经解决了, 转发:,
    all fine now): then neither signal reports an emergency."""
    rules = _load()
    if not text or rules.false_alarm is None:
        return False
    if not normalized:
        text = normalize(read(text))
    return rules.false_alarm.search(read(text).translate(_ASCII_LOWER)) is not None


def ruled_out(text: str, kind: str) -> bool:
    """Whether the (normalised) message rules out `kind` as a whole: its `unless_message` rules in
    nlp/data/emergency_rules/ (the victim was a dog, the bite drew no blood). The head cannot read
    that either, so its guess of that kind is dropped too."""
    k = _load().by_name.get(kind)
    return (k is not None and k.unless_message is not None
            and k.unless_message.search(read(text).translate(_ASCII_LOWER)) is not None)


def detect(text: str, normalized: bool = False) -> Emergency | None:
    """The emergency reported by `text` (first kind found), or None. Its `rules` are the ids of the
    rules that fired (nlp/data/emergency_rules/)."""
    if not text:
        return None
    if not normalized:
        text = normalize(read(text))
    found = _load().detect(read(text))
    if found is None:
        return None
    kind, ids = found
    return fit(Emergency(kind.name, kind.number, kind.advice, tuple(ids)), text)


def example_failures(rule: rules_file.Rule) -> list[str]:
    """The examples of `rule` that do not behave as it says, one line each. A firing rule
    (trigger, weak, conditional) is judged by what detect() reports, so its examples also check the
    blockers around it; any other rule by its own pattern on the normalised example."""
    out = []
    firing = rule.role in rules_file.FIRING_ROLES
    rx = re.compile(rule.pattern)
    for text, want in [(t, True) for t in rule.match] + [(t, False) for t in rule.no_match]:
        if firing:
            e = detect(text)
            got = e is not None and rule.id in e.rules
        else:
            got = rx.search(normalize(read(text)).translate(_ASCII_LOWER)) is not None
        if got != want:
            out.append(f"{rule.source}: {rule.id}: {'should' if want else 'should not'} match: {text}")
    return out
