"""Danger to life happening now, detected apart from the category (rules: nlp/data/emergency.yaml).

A trigger ("着火", "电梯里关了个老人") counts unless its clause places it in the past ("上周电梯关过人"),
makes it a fear or hazard ("飞线充电容易着火", "火灾隐患"), negates it ("没有人受伤") or the word has
another sense ("火锅", "气死我了"). Recall matters more than precision: a missed fire is worse than
an extra 119 hint, so blockers are deliberately narrow and only look inside the trigger's clause.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path

import yaml

from nlp.normalize import normalize
from nlp.types import Emergency

_DATA = Path(__file__).with_name("data") / "emergency.yaml"
# Clause ends: punctuation and line breaks (voice input has none: the whole message is one clause).
_CLAUSE_END = re.compile(r"[,，。.!！?？;；\n、…~]")
# "关过人" / "着过火": 过 right after the verb marks experience in the past.
_EXPERIENTIAL = re.compile(r"^[^,，。.!！?？;；]{0,1}过")
_MAX_CHARS = 5000   # emergencies are reported at the start of a message; bounds the work


@dataclass(frozen=True)
class _Kind:
    name: str
    number: str
    advice: str
    trigger: re.Pattern
    conditional: tuple[tuple[re.Pattern, str], ...]   # (pattern, word the message must also hold)


class _Rules:
    def __init__(self, data: dict) -> None:
        def rx(s: str) -> re.Pattern:
            return re.compile(s.strip())
        self.kinds: list[_Kind] = []
        for name in data["order"]:
            k = data["kinds"][name]
            cond = tuple((rx(c["pattern"]), c["requires"]) for c in k.get("requires_any") or [])
            self.kinds.append(_Kind(name, str(k["number"]), k["advice"],
                                    rx("|".join(f"(?:{t})" for t in k["triggers"])), cond))
        self.senses = rx(data["senses"])
        self.past = rx(data["past"])
        self.present = rx(data["present"])
        self.before = rx(data["before"])
        self.after = rx(data["after"])
        self.prefix = rx(f"(?:{data['prefix']}).{{0,2}}$")

    def blocked(self, text: str, start: int, end: int) -> bool:
        """Whether the trigger text[start:end] is past, hypothetical or negated in its clause."""
        c0 = max((m.end() for m in _CLAUSE_END.finditer(text, 0, start)), default=0)
        m = _CLAUSE_END.search(text, end)
        c1 = m.start() if m else len(text)
        head, tail = text[c0:start], text[end:c1]
        clause = text[c0:c1]
        if self.prefix.search(head[-4:]):
            return True
        if self.before.search(text, c0, end) or self.after.search(tail):
            return True
        if _EXPERIENTIAL.match(tail) or tail.startswith(("过人", "过火")):
            return True
        return bool(self.past.search(clause)) and not self.present.search(clause)

    def detect(self, text: str) -> _Kind | None:
        # Other senses are blanked out with the same length, so positions stay meaningful.
        text = self.senses.sub(lambda m: "□" * len(m.group(0)), text)
        for kind in self.kinds:
            for m in kind.trigger.finditer(text):
                if not self.blocked(text, m.start(), m.end()):
                    return kind
            for pattern, required in kind.conditional:
                if required in text:
                    for m in pattern.finditer(text):
                        if not self.blocked(text, m.start(), m.end()):
                            return kind
        return None


_lock = threading.Lock()
_rules: _Rules | None = None


def _load() -> _Rules:
    global _rules
    if _rules is None:
        with _lock:
            if _rules is None:
                _rules = _Rules(yaml.safe_load(_DATA.read_text(encoding="utf-8")))
    return _rules


def detect(text: str, normalized: bool = False) -> Emergency | None:
    """The emergency reported by `text` (first kind found), or None."""
    if not text:
        return None
    if not normalized:
        text = normalize(text[:_MAX_CHARS])
    kind = _load().detect(text[:_MAX_CHARS])
    return Emergency(kind.name, kind.number, kind.advice) if kind else None
