"""The weighted phrase table (nlp/data/phrases.yaml): scores that explain themselves.

score(text) -> (vector over CODES, hits). A phrase found only inside a longer phrase found does
not count, so the more specific wording decides (楼道充电 -> flying_wire, not hallway_fire).
"""
from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import NamedTuple

import ahocorasick
import numpy as np

from nlp.categories import CODES
from nlp.datafile import load_yaml

_DATA = Path(__file__).with_name("data") / "phrases.yaml"


class Hit(NamedTuple):                      # a tuple: made by the thousand, cheaply
    phrase: str
    code: str
    weight: float
    start: int

    @property
    def end(self) -> int:
        return self.start + len(self.phrase)


class PhraseTable:
    def __init__(self, table: dict, codes: tuple[str, ...] = CODES) -> None:
        self.codes = codes
        self.index = {c: i for i, c in enumerate(codes)}
        # One Aho-Corasick automaton finds every occurrence of every phrase in a single pass in C.
        entries: dict[str, list[tuple[int, float]]] = {}
        for code, groups in (table or {}).items():
            if code not in self.index:
                raise ValueError(f"phrases.yaml: unknown category {code!r}")
            for weight, phrases in groups.items():
                for p in phrases or []:
                    p = str(p).strip()
                    if p:
                        entries.setdefault(p, []).append((self.index[code], float(weight)))
        self.automaton = ahocorasick.Automaton()
        for p, targets in entries.items():
            self.automaton.add_word(p, (p, tuple(targets)))
        if entries:
            self.automaton.make_automaton()
        self.n_phrases = len(entries)
        self.max_len = max(map(len, entries), default=0)

    def hits(self, text: str) -> list[Hit]:
        """Phrases found in `text`, those inside a longer found phrase dropped."""
        if not self.n_phrases or not text:
            return []
        codes = self.codes
        found = [Hit(p, codes[ci], w, end - len(p) + 1)
                 for end, (p, targets) in self.automaton.iter(text) for ci, w in targets]
        if len(found) < 2:
            return found
        found.sort(key=lambda h: -len(h.phrase))
        kept: list[Hit] = []
        # kept hits by start: a longer phrase holding h starts at most max_len characters before
        # h's end, so each hit looks at a few starts instead of at every hit kept so far
        starting: dict[int, list[Hit]] = {}
        longest = self.max_len
        for h in found:
            n, end = len(h.phrase), h.end
            if not any(len(k.phrase) > n and end <= k.end
                       for s in range(max(0, end - longest), h.start + 1) for k in starting.get(s, ())):
                kept.append(h)
                starting.setdefault(h.start, []).append(h)
        # One phrase counts once per message however often it is repeated.
        seen: set[tuple[str, str]] = set()
        out = []
        for h in sorted(kept, key=lambda h: h.start):
            if (h.phrase, h.code) not in seen:
                seen.add((h.phrase, h.code))
                out.append(h)
        return out

    def score(self, text: str) -> tuple[np.ndarray, list[Hit]]:
        m, hits = self.score_many([text])
        return m[0], hits[0]

    def score_many(self, texts: list[str]) -> tuple[np.ndarray, list[list[Hit]]]:
        rows, cols, vals, all_hits = [], [], [], []
        index = self.index
        for r, t in enumerate(texts):
            hs = self.hits(t)
            for h in hs:
                rows.append(r)
                cols.append(index[h.code])
                vals.append(h.weight)
            all_hits.append(hs)
        m = np.zeros((len(texts), len(self.codes)))
        np.add.at(m, (np.array(rows, dtype=np.intp), np.array(cols, dtype=np.intp)), vals)
        return m, all_hits


@cache
def table() -> PhraseTable:
    """The bundled phrase table, loaded once per process."""
    return PhraseTable(load_yaml(_DATA))


def distribution(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Phrase scores -> (probability-like rows, has_hits). Only positive evidence is shared out;
    negative cues are applied separately as a penalty (see nlp/classifier.py)."""
    pos = np.clip(scores, 0, None)
    total = pos.sum(axis=1, keepdims=True)
    has = total[:, 0] > 0
    dist = np.divide(pos, total, out=np.zeros_like(pos), where=total > 0)
    return dist, has
