"""Cheap pre-checks for rule sets of regular expressions.

required_chars(pattern) reads the pattern's syntax tree and returns a set of characters of which
every match must contain at least one ("(被)?困在电梯" -> {困} or {电}), or None when no such set is
found. A message holding none of them cannot match, and testing that is one set operation in C,
where running a dozen patterns that begin with alternations (人|我|孩子|...) costs microseconds each.
Derived from the rules themselves, the check stays right when the rules are edited.
"""
from __future__ import annotations

import re
import warnings
from typing import Callable, Iterable

with warnings.catch_warnings():                     # sre_parse: public name, deprecated alias
    warnings.simplefilter("ignore", DeprecationWarning)
    import sre_constants as C
    import sre_parse

_MAX_SET = 64           # a class wider than this ([\u4e00-\u9fff], \d) says nothing useful


Cost = Callable[[str], float]


def _count(ch: str) -> float:
    return 1.0


def required_chars(pattern: str | re.Pattern, cost: Cost = _count) -> frozenset[str] | None:
    """Characters of which every match of `pattern` holds at least one, or None if unknown.
    Where a sequence offers several such sets, the one of least total `cost` per character
    is taken (pass how common a character is, and rare characters are preferred)."""
    if isinstance(pattern, re.Pattern):
        if pattern.flags & re.IGNORECASE:
            return None
        pattern = pattern.pattern
    try:
        tree = sre_parse.parse(pattern)
    except Exception:                               # pragma: no cover - only valid patterns get here
        return None
    if tree.state.flags & re.IGNORECASE:
        return None
    return _Walk(cost).seq(tree)


def union(patterns: Iterable[str | re.Pattern | None], cost: Cost = _count) -> frozenset[str] | None:
    """required_chars over several patterns, any of which may match: None if any is unknown."""
    out: set[str] = set()
    for p in patterns:
        if p is None:
            continue
        s = required_chars(p, cost)
        if s is None:
            return None
        out |= s
    return frozenset(out)


class _Walk:
    def __init__(self, cost: Cost) -> None:
        self.cost = cost

    def seq(self, items) -> frozenset[str] | None:
        """A sequence matches only if each element does: any element's set will do."""
        best, best_cost = None, 0.0
        for op, av in items:
            s = self.item(op, av)
            if s is not None:
                c = sum(map(self.cost, s))
                if best is None or c < best_cost:
                    best, best_cost = s, c
        return best

    def item(self, op, av) -> frozenset[str] | None:
        if op is C.LITERAL:
            return frozenset(chr(av))
        if op is C.IN:
            return _class(av)
        if op is C.SUBPATTERN:
            return self.seq(av[-1])
        if op is C.BRANCH:
            out: set[str] = set()
            for alt in av[1]:
                s = self.seq(alt)
                if s is None:
                    return None
                out |= s
            return frozenset(out)
        if op in _REPEATS:
            lo, _hi, sub = av
            return self.seq(sub) if lo >= 1 else None
        if op is getattr(C, "ATOMIC_GROUP", None):
            return self.seq(av)
        return None                                 # ANY, AT, lookarounds, back-references ...


_REPEATS = tuple(getattr(C, n) for n in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT") if hasattr(C, n))


def _class(items) -> frozenset[str] | None:
    out: set[str] = set()
    for op, av in items:
        if op is C.LITERAL:
            out.add(chr(av))
        elif op is C.RANGE and av[1] - av[0] < _MAX_SET:
            out.update(chr(c) for c in range(av[0], av[1] + 1))
        else:                                       # NEGATE, CATEGORY (\d \w), wide ranges
            return None
    return frozenset(out) if len(out) <= _MAX_SET else None
