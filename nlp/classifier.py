"""The combined classifier: TextModel probabilities + the phrase table, plus emergency and place.

final = (1 - w) * model + w * phrases  (w and the menu threshold tuned by `python -m nlp.train`),
then categories with negative cues ("不是物业的问题") are damped. A model trained on a foreign label
set (not our codes) is used alone: the phrase table only speaks our taxonomy.
"""
from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nlp import emergency, english_head, fast_score, phrases
from nlp.categories import CODES, OTHER
from nlp.datafile import load_yaml
from nlp.extract import find_location
from nlp.limits import read
from nlp.normalize import normalize
from nlp.types import Classification

log = logging.getLogger(__name__)
_CONFIG = Path(__file__).with_name("data") / "config.yaml"
COMBINE_FILE = "combine.json"      # written next to the TextModel by nlp.train
# Terms shown to staff must say something: Han characters or letters, and not place words.
_MEANINGFUL = re.compile(r"[\u4e00-\u9fffA-Za-z]")
_NOT_TERMS = frozenset("号楼 栋 幢 单元 号 楼 室 有人 我 我们 你 你们 他 她 的 了 是 在 就 都 也 还 又 这 那 "
                       "一个 这个 那个 没有 什么 怎么 小区 一下 请 麻烦 谢谢 你好 您好".split())


@dataclass(frozen=True)
class Settings:
    phrase_weight: float = 0.35
    negative_scale: float = 0.5
    low_confidence: float = 0.45
    max_terms: int = 6

    @classmethod
    def load(cls, model_dir: str | Path | None = None) -> "Settings":
        data = load_yaml(_CONFIG) or {}
        model_dir = Path(model_dir) if model_dir is not None else None
        if model_dir is not None and (model_dir / COMBINE_FILE).exists():
            tuned = json.loads((model_dir / COMBINE_FILE).read_text(encoding="utf-8"))
            for key in ("phrase_weight", "low_confidence"):
                if key in tuned:
                    data[key] = tuned[key]
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def combine(model_p: np.ndarray, phrase_scores: np.ndarray, weight: float, negative_scale: float) -> np.ndarray:
    """Rows of probabilities over CODES from model probabilities and raw phrase scores.

    Messages without any phrase hit keep the model's probabilities unchanged."""
    dist, has = phrases.distribution(phrase_scores)
    out = model_p.copy()
    out[has] = (1 - weight) * model_p[has] + weight * dist[has]
    neg = np.minimum(phrase_scores, 0)
    if neg.any():
        out *= np.exp(negative_scale * neg)
    total = out.sum(axis=1, keepdims=True)
    return np.divide(out, total, out=np.full_like(out, 1.0 / out.shape[1]), where=total > 0)


def _best_columns(p: np.ndarray, k: int = 4) -> tuple[list[list[int]], list[list[float]]]:
    """The k best columns of every row, best first, and their probabilities rounded to 4 places,
    as plain Python lists: per-element numpy indexing would cost more than the rest of the loop."""
    k = min(k, p.shape[1])
    one = _best_one(p, k) if len(p) == 1 and p.shape[1] > k else None
    if one is not None:
        return one
    best = np.argpartition(-p, k - 1, axis=1)[:, :k] if p.shape[1] > k else np.tile(np.arange(k), (len(p), 1))
    best = np.take_along_axis(best, np.argsort(-np.take_along_axis(p, best, axis=1), axis=1), axis=1)
    return best.tolist(), np.round(np.take_along_axis(p, best, axis=1), 4).tolist()


def _best_one(p: np.ndarray, k: int) -> tuple[list[list[int]], list[list[float]]] | None:
    """_best_columns() of one row by a sort in Python (six numpy calls cost more on one message),
    or None when two of the k + 1 best are equal (or a value is NaN): only argpartition + argsort
    order those as the batch does. Without such a tie every correct sort agrees."""
    row = p[0].tolist()
    cols = sorted(range(len(row)), key=row.__getitem__, reverse=True)[:k + 1]
    top = [row[j] for j in cols]
    if all(a > b for a, b in zip(top, top[1:])) and all(map(math.isfinite, row)):
        return [cols[:k]], np.round(np.array([top[:k]]), 4).tolist()
    return None


class Classifier:
    def __init__(self, model, settings: Settings, emergency_model=None, english_model=None) -> None:
        self.model = model                      # a TextModel, or None: phrase table only
        self.s = settings
        self.emergency_model = emergency_model  # the learned emergency signal (nlp/emergency.py), or None
        self.english_model = english_model      # ... for English: an english_head.Lazy, or None
        # a head trained on the category model's features (nlp.train does so) reads its matrix
        self._shared_features = (model is not None and emergency_model is not None
                                 and emergency_model.same_features(model))
        self.labels: list[str] = [str(c) for c in model.classes_] if model is not None else list(CODES)
        self.model_labels = frozenset(self.labels)
        self.taxonomy = set(self.labels) <= set(CODES)
        self._explain_failed = False
        if self.taxonomy:
            # our codes in CODES order; model columns re-ordered into it
            self.cols = [self.labels.index(c) if c in self.labels else -1 for c in CODES]
            self.labels = list(CODES)

    @staticmethod
    def _features(model, texts: list[str]):
        """model.features(texts); for one text a OneRow: scipy's per-call overhead was most of the
        cost of a single message (nlp/fast_score.py), and its results are bit-identical."""
        return fast_score.features(model, texts[0]) if len(texts) == 1 else model.features(texts)

    def _model_proba(self, texts: list[str]) -> np.ndarray:
        return self._model_features(texts)[0]

    def _model_features(self, texts: list[str]):
        """(probabilities in self.labels order, analysed docs, feature matrix) from one analysis."""
        n, k = len(texts), len(self.labels)
        if self.model is None:
            return np.full((n, k), 1.0 / k), None, None
        docs, X = self._features(self.model, texts)
        p = np.asarray(self.model.proba_of(X), dtype=float)
        if not self.taxonomy:
            return p, docs, X
        if -1 not in self.cols:                 # every code in the model: one gather, not 18 copies
            return p[:, self.cols], docs, X
        out = np.zeros((n, k))
        for j, col in enumerate(self.cols):
            if col >= 0:
                out[:, j] = p[:, col]
        return out, docs, X

    def proba(self, norm_texts: list[str]) -> tuple[np.ndarray, list[list[phrases.Hit]]]:
        """Final probabilities (n, len(labels)) for normalised texts, and the phrase hits."""
        p, hits, _docs, _X = self._proba(norm_texts)
        return p, hits

    def _proba(self, norm_texts: list[str]):
        model_p, docs, X = self._model_features(norm_texts)
        if not self.taxonomy:
            return model_p, [[] for _ in norm_texts], docs, X
        scores, hits = phrases.table().score_many(norm_texts)
        weight = self.s.phrase_weight if self.model is not None else 1.0
        return combine(model_p, scores, weight, self.s.negative_scale), hits, docs, X

    def classify_many(self, texts: list[str], explain: bool = True) -> list[Classification]:
        raw = [t if isinstance(t, str) else ("" if t is None else str(t)) for t in texts]
        norm = [normalize(read(t)) for t in raw]          # head and tail of a long letter (nlp/limits.py)
        if not norm:
            return []
        p, hits, docs, X = self._proba([t or "" for t in norm])
        best, best_p = _best_columns(p)
        labels = self.labels
        rows = []
        for i, (text, cols, probs) in enumerate(zip(norm, best, best_p)):
            top = [(labels[j], q) for j, q in zip(cols[:3], probs)]
            menu = ([labels[j] for j in cols if labels[j] != OTHER][:3] + [OTHER]
                    if self.taxonomy else [])
            if not text.strip():
                top = [(OTHER if self.taxonomy else top[0][0], 0.0)]
            terms = [h.phrase for h in hits[i] if h.code == top[0][0] and h.weight > 0]
            rows.append((top, menu, terms))
        if explain and self.model is not None:
            self._add_model_terms(norm, rows, docs, X)
        alerts = self._emergencies(norm, X)
        out = []
        for text, (top, menu, terms), (alert, maybe) in zip(norm, rows, alerts):
            category, conf = top[0]
            out.append(Classification(
                category=category, confidence=float(conf), top=top, terms=terms[: self.s.max_terms],
                emergency=alert,
                location=find_location(text, cleaned=True) if text else None,
                low_confidence=bool(conf < self.s.low_confidence), menu=menu, caution=maybe,
            ))
        return out

    def _emergencies(self, norm: list[str], X) -> list[tuple]:
        """(emergency, caution) per message: the rules' answer weighed with the learned head's when
        this model has one, and the head's unsure "maybe" (nlp/emergency.py, CAUTION)."""
        rules = [emergency.detect(t, normalized=True) if t else None for t in norm]
        if self.emergency_model is None or not norm:
            return [(r, None) for r in rules]
        try:
            if not self._shared_features:
                X = self._features(self.emergency_model, norm)[1]
            scores = emergency.head_scores(self.emergency_model, X)
        except Exception:                     # the rules' answer stands
            log.exception("the learned emergency signal failed; rules only")
            return [(r, None) for r in rules]
        english = self._english_scores(norm)
        out = []
        for r, (p, k), t in zip(rules, scores, norm):
            threshold = None
            if not emergency.head_reads(t):
                if t not in english:
                    out.append((r, None))
                    continue
                (p, k), threshold = english[t], english_head.THRESHOLD
            if threshold is None and emergency.vetoed(r, p, t):     # a figure of speech, not a fire (VETO)
                out.append((None, None))
                continue
            # the head alone speaks only with evidence a person would want: a danger word of the
            # kind and, for people's kinds, a person at risk (nlp/emergency.py, evidenced)
            k = emergency.evidenced(t, k, p) if r is None else k
            e = emergency.decide(r, p, k, threshold)
            # no caution from the English head: too few ordinary English complaints to calibrate it
            maybe = emergency.caution(e, p, k) if threshold is None else None
            # the head cannot read "虚惊一场" / "已经解决了"; the rules' list of such phrases holds for both
            if (e is not None or maybe is not None) and emergency.settled(t, normalized=True):
                e = maybe = None
            # ... and so does what rules a kind out ("小狗被车撞了" is no injury to call 120 for)
            if r is None and e is not None and emergency.ruled_out(t, e.kind):
                e = None
            if maybe is not None and emergency.ruled_out(t, maybe.kind):
                maybe = None
            out.append((emergency.fit(e, t), emergency.fit(maybe, t)))
        return out

    def _english_scores(self, norm: list[str]) -> dict:
        """{text: (P, kind)} from the English head for the messages it reads (nlp/english_head.py)."""
        texts = sorted({t for t in norm if t and english_head.reads(t)}) if self.english_model is not None else []
        if not texts:
            return {}
        try:
            head = self.english_model.get()
            return dict(zip(texts, english_head.scores(head, texts))) if head is not None else {}
        except Exception:                     # the rules' answer stands
            log.exception("the English emergency head failed; rules only")
            return {}

    def _add_model_terms(self, norm: list[str], rows: list, docs, X) -> None:
        """Tops up each row's phrase-table terms with the words the text model weighed most."""
        if self._explain_failed:
            return
        labels, ks = [], []
        for text, (top, _menu, terms) in zip(norm, rows):
            wanted = self.s.max_terms - len(terms)
            ok = top[0][0] in self.model_labels and text.strip() and wanted > 0
            labels.append(top[0][0] if ok else None)
            ks.append(wanted + len(terms) + 3 if ok else 0)
        try:
            found = self.model.top_words_many(docs, X, labels, ks)
        except Exception:                     # an explanation is a courtesy, never a failure
            log.exception("TextModel.top_words_many failed; terms come from the phrase table only")
            self._explain_failed = True
            return
        for (_top, _menu, terms), words, label in zip(rows, found, labels):
            if label is None:
                continue
            wanted = self.s.max_terms - len(terms)
            words = [w for w in words if _MEANINGFUL.search(w) and w not in _NOT_TERMS]
            terms += [w for w in words if w not in terms and not any(w in a for a in terms)][:wanted]
