"""The learned emergency signal for messages the Chinese head cannot read: English from domestic
helpers, tenants and students ("the charger of scooter burning in living room", "grandpa is choking
on food"). Rules alone found 0.74 of such emergencies in a fresh set; the word shapes vary too much.

Character n-grams and words (TF-IDF) into a logistic regression over the kinds and "none", trained
on the labelled rows of nlp/data/emergency/ that have no two Han characters (English and the like;
pinyin is written in characters before anything reads it). Saved next to the Chinese head as
emergency/english.joblib. Used only where emergency.head_reads() is false.

THRESHOLD from cross-validation (python bench/bench_emergency_cv.py, English part), on the same
criterion as the Chinese head: the highest recall with precision >= 0.9, and the head may add at
most 0.5% of the ordinary English complaints (nlp/data/emergency/english_ordinary.csv) to what the
rules flag. It gives no caution (the Chinese head's "maybe"): that tier is not calibrated here.
"""
from __future__ import annotations

import re
import threading
from pathlib import Path

from nlp.emergency import NONE, head_reads, of_kind
from nlp.normalize import normalize
from nlp.types import Emergency

FILE = "english.joblib"
THRESHOLD = 0.5
MIN_WORDS = 3          # "ok", "hi", "3-502": too little to read
_WORD = re.compile(r"[a-zA-Z]{2,}")


def reads(text: str) -> bool:
    """Whether this head speaks on the (normalised) text: not Chinese, a few words of letters."""
    return not head_reads(text) and len(_WORD.findall(text)) >= MIN_WORDS


def rows_for(rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The labelled rows it learns from: (normalised text, kind or "none") it can read."""
    out = []
    for t, k in rows:
        n = normalize(t)
        if reads(n):
            out.append((n, k))
    return out


def make():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union
    return make_pipeline(
        make_union(TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
                   TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True,
                                   token_pattern=r"[a-z']+")),
        LogisticRegression(C=10, max_iter=2000, class_weight="balanced"))


def fit(rows: list[tuple[str, str]]):
    """The head trained on `rows` (already through rows_for), or None when there is too little
    to learn (both classes are needed)."""
    labels = {k for _, k in rows}
    if NONE not in labels or len(labels) < 2:
        return None
    return make().fit([t for t, _ in rows], [k for _, k in rows])


def save(head, model_dir: str | Path) -> None:
    import joblib
    Path(model_dir).mkdir(parents=True, exist_ok=True)
    joblib.dump(head, Path(model_dir) / FILE)


def load(model_dir: str | Path):
    import joblib
    path = Path(model_dir) / FILE
    return joblib.load(path) if path.exists() else None


class Lazy:
    """The head in `model_dir`, loaded on the first message it reads: most traffic is Chinese, and
    loading it costs 0.3-0.6 s of start-up and 70 MB per worker."""

    def __init__(self, model_dir: str | Path) -> None:
        self.path = Path(model_dir)
        self._head = None
        self._loaded = False
        self._lock = threading.Lock()

    @classmethod
    def of(cls, model_dir: str | Path) -> "Lazy | None":
        return cls(model_dir) if (Path(model_dir) / FILE).exists() else None

    def get(self):
        if not self._loaded:
            with self._lock:
                if not self._loaded:
                    self._head, self._loaded = load(self.path), True
        return self._head


def scores(head, texts: list[str]) -> list[tuple[float, Emergency | None]]:
    """Per (normalised) text: P(emergency) and the likeliest kind."""
    p = head.predict_proba(texts)
    classes = list(head.classes_)
    none = classes.index(NONE)
    out = []
    for row in p:
        kinds = [(pr, c) for pr, c in zip(row, classes) if c != NONE]
        kind = max(kinds)[1] if kinds else None
        out.append((1.0 - row[none], of_kind(kind) if kind else None))
    return out
