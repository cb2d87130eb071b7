"""The weighted phrase table (nlp/data/phrases.yaml): scores that explain themselves.

score(text) -> (vector over CODES, hits). A phrase found only inside a longer phrase found does
not count, so the more specific wording decides (楼道充电 -> flying_wire, not hallway_fire).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from nlp.categories import CODES

_DATA = Path(__file__).with_name("data") / "phrases.yaml"


@dataclass(frozen=True)
class Hit:
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
        # first two characters -> [(phrase, code index, weight)], longest first; one-character
        # phrases (臭 吵 狗) by that character. Two characters rule out most candidates at once.
        self.by_two: dict[str, list[tuple[str, int, float]]] = {}
        self.single: dict[str, list[tuple[str, int, float]]] = {}
        for code, groups in (table or {}).items():
            if code not in self.index:
                raise ValueError(f"phrases.yaml: unknown category {code!r}")
            for weight, phrases in groups.items():
                for p in phrases or []:
                    p = str(p).strip()
                    if p:
                        into = self.by_two.setdefault(p[:2], []) if len(p) > 1 else self.single.setdefault(p, [])
                        into.append((p, self.index[code], float(weight)))
        for lst in self.by_two.values():
            lst.sort(key=lambda x: -len(x[0]))

    def hits(self, text: str) -> list[Hit]:
        """Phrases found in `text`, those inside a longer found phrase dropped."""
        found: list[Hit] = []
        by_two, single, codes = self.by_two, self.single, self.codes
        for i in range(len(text)):
            cands = by_two.get(text[i:i + 2])
            if cands:
                for p, ci, w in cands:
                    if len(p) == 2 or text.startswith(p, i):
                        found.append(Hit(p, codes[ci], w, i))
            cands = single.get(text[i])
            if cands:
                found += [Hit(p, codes[ci], w, i) for p, ci, w in cands]
        if len(found) < 2:
            return found
        found.sort(key=lambda h: -len(h.phrase))
        kept: list[Hit] = []
        for h in found:
            if not any(k.start <= h.start and h.end <= k.end and len(k.phrase) > len(h.phrase) for k in kept):
                kept.append(h)
        # One phrase counts once per message however often it is repeated.
        seen: set[tuple[str, str]] = set()
        out = []
        for h in sorted(kept, key=lambda h: h.start):
            if (h.phrase, h.code) not in seen:
                seen.add((h.phrase, h.code))
                out.append(h)
        return out

    def score(self, text: str) -> tuple[np.ndarray, list[Hit]]:
        hs = self.hits(text)
        v = np.zeros(len(self.codes))
        for h in hs:
            v[self.index[h.code]] += h.weight
        return v, hs

    def score_many(self, texts: list[str]) -> tuple[np.ndarray, list[list[Hit]]]:
        m = np.zeros((len(texts), len(self.codes)))
        all_hits = []
        for r, t in enumerate(texts):
            hs = self.hits(t)
            for h in hs:
                m[r, self.index[h.code]] += h.weight
            all_hits.append(hs)
        return m, all_hits


_lock = threading.Lock()
_table: PhraseTable | None = None


def table() -> PhraseTable:
    """The bundled phrase table, loaded once per process."""
    global _table
    if _table is None:
        with _lock:
            if _table is None:
                _table = PhraseTable(yaml.safe_load(_DATA.read_text(encoding="utf-8")))
    return _table


def distribution(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Phrase scores -> (probability-like rows, has_hits). Only positive evidence is shared out;
    negative cues are applied separately as a penalty (see nlp/classifier.py)."""
    pos = np.clip(scores, 0, None)
    total = pos.sum(axis=1, keepdims=True)
    has = total[:, 0] > 0
    dist = np.divide(pos, total, out=np.zeros_like(pos), where=total > 0)
    return dist, has
