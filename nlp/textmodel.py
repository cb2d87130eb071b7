"""A generic, explainable linear text classifier (label-set agnostic).

Features, each block TF-IDF (sublinear tf, smooth idf) with its own L2 norm, then concatenated:
  * jieba words (``nlp.segment.cut``), 1-grams by default (``word_ngram``);
  * character n-grams, 1-3 by default, of the text with whitespace and punctuation removed (they
    cross word boundaries, so they survive segmentation mistakes and typos in short messages);
  * the same two blocks again for the first ``head_tokens`` words only, weighted ``head_weight``:
    the opening words of a message (its title, its first sentence) name its topic far more often
    than the rest. For a message of at most ``head_tokens`` words the head is the whole message,
    so there it is only a re-weighting (and costs one array look-up, not a second pass).

Model: NB-SVM (Wang & Manning 2012), one-vs-rest. For every class the features are scaled by the
naive-Bayes log-count ratio of that class against the rest and a LinearSVC is trained on them.
The scaling folds into the weights: the score of class c is ``x @ (r_c * w_c) + b_c``, so
prediction is one sparse-dense product and every score is a sum of per-feature contributions,
which is what ``explain`` reports (shared out over the words each feature covers).

Probabilities: softmax of the one-vs-rest scores with one temperature, fitted (negative
log-likelihood) on out-of-fold scores of an internal cross-validation of the training set, so
``predict_proba(...).max(1)`` is a usable confidence for a "low confidence -> ask" rule.

Any input is accepted as a text and nothing raises on it: None -> "", other objects -> str, cut to
``max_chars`` characters, lone surrogates dropped, NFKC (full-width -> ASCII), control / zero-width
characters and punctuation -> spaces, ASCII lower-cased.
"""
from __future__ import annotations

import json
import math
import re
import time
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Iterable, Sequence

import joblib
import numpy as np
import scipy.sparse as sp
from tqdm import tqdm

from nlp import fast_score
from nlp.segment import cut
from nlp.textfeatures import BLOCK_NAMES, MAX_CHARS, Block, char_grams, softmax, word_grams, normalize

_DIGITS = re.compile(r"\d+")

FORMAT = "jiesu-textmodel"
FORMAT_VERSION = 2
MODEL_FILE = "model.joblib"
META_FILE = "meta.json"

# Chosen by 5-fold stratified CV on the tipdm2020 benchmark (bench/bench_tipdm.py) and checked on the
# seed corpus of short messages (nlp/data/seed, bench/data/unseen). Nothing here depends on the
# corpus size: the only min_df > 1 is on character n-grams, which recur even among a few hundred
# short messages, and a block that would come out empty falls back to min_df=1.
DEFAULT_PARAMS: dict[str, Any] = {
    "word_ngram": [1, 1],       # jieba word n-gram range
    "char_ngram": [1, 3],       # character n-gram range (whitespace and punctuation removed)
    "word_min_df": 1,
    "char_min_df": 2,           # drops character n-grams seen in a single training text
    "fold_digits": True,        # every run of digits reads as "0": a phone number, a room or a date
                                # says nothing about the topic, and its n-grams are noise
    "head_tokens": 20,          # the first N words form the "head" blocks; 0 disables them
    "head_weight": 0.5,         # weight of the head blocks relative to the whole-text blocks
    "C": 1.0,                   # LinearSVC regularisation
    "nb_alpha": 1.0,            # smoothing of the NB log-count ratios
    "class_weight": "balanced",  # or None
    "calibration_folds": 3,     # internal CV folds to fit the softmax temperature; 0: fixed
    "temperature": 4.0,         # used when calibration is off or impossible (a class of 1 text)
    "max_chars": MAX_CHARS,         # longer texts are cut (the bot must never stall on a huge text)
    "max_iter": 2000,           # LinearSVC iterations
    "tol": 1e-3,                # LinearSVC tolerance (1e-2 .. 1e-4 give the same CV figures)
    "n_jobs": 1,                # threads for the one-vs-rest fits (liblinear releases the GIL)
}


@cache
def _sklearn_version() -> str:
    """scikit-learn itself is imported only to train: loading and predicting do not need it."""
    try:
        return version("scikit-learn")
    except PackageNotFoundError:
        import sklearn
        return sklearn.__version__


class TextModel:
    """See the module docstring. ``classes_`` is sorted; probability columns follow it."""

    classes_: list[str]

    def __init__(self, **params: Any) -> None:
        unknown = set(params) - set(DEFAULT_PARAMS)
        if unknown:
            raise ValueError(f"unknown TextModel parameter(s): {', '.join(sorted(unknown))}; "
                             f"known: {', '.join(DEFAULT_PARAMS)}")
        p = {**DEFAULT_PARAMS, **params}
        for key in ("word_ngram", "char_ngram"):
            lo, hi = (int(v) for v in p[key])
            if not 1 <= lo <= hi:
                raise ValueError(f"{key} must be [lo, hi] with 1 <= lo <= hi, got {p[key]!r}")
            p[key] = [lo, hi]
        if p["class_weight"] not in ("balanced", None):
            raise ValueError("class_weight must be 'balanced' or None")
        p["head_tokens"] = int(p["head_tokens"] or 0)
        p["head_weight"] = float(p["head_weight"] or 0.0)
        self.params: dict[str, Any] = p
        self.classes_ = []
        self._blocks: list[Block] = []             # one per kind (word, char)
        self._w: np.ndarray | None = None           # (n_features, n_classes) float32, NB ratios folded in
        self._intercept: np.ndarray | None = None   # (n_classes,)
        self.temperature_: float = float(p["temperature"])
        self.n_train_: int = 0
        self.class_counts_: dict[str, int] = {}
        self.fit_seconds_: float = 0.0
        self._colinfo: tuple[list[str], np.ndarray] | None = None    # cache of _columns()

    # ----------------------------------------------------------------- features
    @property
    def _head(self) -> bool:
        return bool(self.params["head_tokens"] and self.params["head_weight"])

    def _words(self, text: Any) -> list[str]:
        s = normalize(text, self.params["max_chars"])
        if self.params["fold_digits"]:
            s = _DIGITS.sub("0", s)
        return cut(s) if s and not s.isspace() else []

    def _analyse(self, text: Any) -> tuple[list[str], list[str], list[str], list[str]]:
        """(words, char n-grams, head words, head char n-grams) of one text, computed once; for a
        short text the head entries are the very same list objects."""
        p = self.params
        words = self._words(text)
        wlo, whi = p["word_ngram"]
        clo, chi = p["char_ngram"]
        wf = word_grams(words, wlo, whi)
        cf = char_grams("".join(words), clo, chi)
        n_head = p["head_tokens"]
        if n_head and len(words) > n_head:
            head = words[:n_head]
            return wf, cf, word_grams(head, wlo, whi), char_grams("".join(head), clo, chi)
        return wf, cf, wf, cf

    def _analyse_all(self, texts: Iterable[Any], bar: tqdm | None = None) -> list[tuple]:
        if bar is None:
            return [self._analyse(t) for t in texts]
        out = []
        for t in texts:
            out.append(self._analyse(t))
            bar.update(1)
        return out

    def _layout(self) -> list[tuple[str, int, int]]:
        """(block name, kind index, width) in column order: word, char, head_word, head_char."""
        out = [(name, k, len(b.names)) for name, k, b in zip(BLOCK_NAMES, range(2), self._blocks)]
        if self._head:
            out += [(name, k, b.n_head) for name, k, b in zip(BLOCK_NAMES[2:], range(2), self._blocks)]
        return out

    def _transform(self, docs: Sequence[tuple], dtype=np.float32) -> sp.csr_matrix:
        """The feature matrix; columns: word, char, head_word, head_char (see _layout)."""
        whole, heads = [], []
        for k, block in enumerate(self._blocks):
            parts = block.transform(docs, k, self.params["head_weight"])
            whole.append(parts[0])
            heads += parts[1:]
        rows, cols, vals = [], [], []
        offset = 0
        for (r, c, v), (_name, _kind, width) in zip(whole + heads, self._layout()):
            rows.append(r)
            cols.append(c + offset)
            vals.append(v)
            offset += width
        n = len(docs)
        r = np.concatenate(rows)
        order = np.argsort(r, kind="stable")        # blocks in column order, each sorted by (row, col)
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(r, minlength=n), out=indptr[1:])
        X = sp.csr_matrix((np.concatenate(vals)[order].astype(dtype, copy=False),
                           np.concatenate(cols)[order], indptr), shape=(n, offset))
        X.has_sorted_indices = True
        return X

    # ------------------------------------------------------------------- model
    def _fit_linear(self, X: sp.csr_matrix, y: np.ndarray, n_classes: int,
                    bar: tqdm | None = None) -> tuple[np.ndarray, np.ndarray]:
        """NB-SVM one-vs-rest: (coef with the NB ratios folded in (n_classes, n_features), intercepts)."""
        from sklearn.svm import LinearSVC

        p = self.params
        alpha = float(p["nb_alpha"])
        Xb = X.copy()
        Xb.data[:] = 1.0
        Y = sp.csr_matrix((np.ones(len(y)), (y, np.arange(len(y)))), shape=(n_classes, len(y)))
        df_pos = np.asarray((Y @ Xb).todense())                       # (n_classes, n_features)
        df_all = df_pos.sum(axis=0)
        del Xb

        def one(c: int) -> tuple[np.ndarray, float]:
            pos = y == c
            if not pos.any() or pos.all():                            # class absent from a subset
                return np.zeros(X.shape[1]), (1.0 if pos.all() else -1.0)
            pp = alpha + df_pos[c]
            qq = alpha + (df_all - df_pos[c])
            r = np.log(pp / pp.sum()) - np.log(qq / qq.sum())
            svm = LinearSVC(C=float(p["C"]), class_weight=p["class_weight"], max_iter=int(p["max_iter"]),
                            tol=float(p["tol"]), random_state=0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")                        # ConvergenceWarning
                svm.fit(X @ sp.diags(r), pos)
            return svm.coef_.ravel() * r, float(svm.intercept_[0])

        n_jobs = max(1, int(p["n_jobs"] or 1))
        results = []
        with ThreadPoolExecutor(n_jobs) if n_jobs > 1 else _Serial() as pool:
            for res in pool.map(one, range(n_classes)):
                results.append(res)
                if bar is not None:
                    bar.update(1)
        return np.vstack([r[0] for r in results]), np.array([r[1] for r in results])

    def _n_calibration_folds(self, counts: Iterable[int]) -> int:
        folds = min(int(self.params["calibration_folds"] or 0), min(counts))
        return folds if folds >= 2 else 0

    def _calibrate(self, X: sp.csr_matrix, y: np.ndarray, n_classes: int, bar: tqdm | None) -> float:
        from scipy.optimize import minimize_scalar
        from sklearn.model_selection import StratifiedKFold

        folds = self._n_calibration_folds(np.bincount(y, minlength=n_classes))
        if not folds:
            return float(self.params["temperature"])
        scores = np.zeros((len(y), n_classes))
        for tr, te in StratifiedKFold(folds, shuffle=True, random_state=0).split(np.zeros(len(y)), y):
            coef, b = self._fit_linear(X[tr], y[tr], n_classes, bar)
            scores[te] = np.asarray(X[te] @ coef.T) + b
        idx = np.arange(len(y))

        def nll(log_t: float) -> float:
            z = scores * math.exp(log_t)
            z = z - z.max(axis=1, keepdims=True)
            return float(-(z[idx, y] - np.log(np.exp(z).sum(axis=1))).mean())

        res = minimize_scalar(nll, bounds=(math.log(0.1), math.log(100.0)), method="bounded")
        return float(math.exp(res.x))

    # -------------------------------------------------------------- public API
    def fit(self, texts: list[str], labels: list[str], progress: bool = False,
            vocabulary: "TextModel | None" = None) -> "TextModel":
        """vocabulary: a fitted model whose analysis and features this one adopts instead of its own
        (a second head on the same features: one feature matrix then serves both models)."""
        texts, labels = list(texts), [str(label) for label in labels]
        if len(texts) != len(labels):
            raise ValueError(f"fit: {len(texts)} texts but {len(labels)} labels")
        classes = sorted(set(labels))
        if len(classes) < 2:
            raise ValueError(f"fit: need at least 2 classes, got {classes}")
        start = time.perf_counter()
        p = self.params
        n_classes = len(classes)
        counts = Counter(labels)
        n_fits = n_classes * (1 + self._n_calibration_folds(counts.values()))
        if vocabulary is not None:
            vocabulary._check_fitted()
            self.params = p = {**vocabulary.params}
        with tqdm(total=len(texts), desc="features", unit="text", disable=not progress) as bar:
            docs = self._analyse_all(texts, bar)
        min_dfs = (p["word_min_df"], p["char_min_df"])
        self._blocks = (list(vocabulary._blocks) if vocabulary is not None
                        else [Block.fit(docs, k, min_dfs[k], self._head) for k in range(2)])
        if not any(b.names for b in self._blocks):
            raise ValueError("fit: the training texts yield no features at all")
        X = self._transform(docs, dtype=np.float64)
        del docs
        y = np.searchsorted(np.array(classes), np.array(labels))
        with tqdm(total=n_fits, desc="training", unit="fit", disable=not progress) as bar:
            self.temperature_ = self._calibrate(X, y, n_classes, bar)
            coef, intercept = self._fit_linear(X, y, n_classes, bar)
        self._w = np.ascontiguousarray(coef.T, dtype=np.float32)
        self._intercept = intercept.astype(np.float64)
        self._colinfo = None
        self.classes_ = classes
        self.n_train_ = len(texts)
        self.class_counts_ = {c: counts[c] for c in classes}
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def _check_fitted(self) -> None:
        if self._w is None:
            raise RuntimeError("TextModel is not fitted (call fit() or TextModel.load())")

    def decision_function(self, texts: Sequence[Any]) -> np.ndarray:
        """Raw one-vs-rest scores, shape (n, n_classes)."""
        self._check_fitted()
        if isinstance(texts, str):
            texts = [texts]
        if len(texts) == 0:
            return np.zeros((0, len(self.classes_)))
        X = self._transform(self._analyse_all(texts))
        return np.asarray(X @ self._w, dtype=np.float64) + self._intercept

    def predict_proba(self, texts: Sequence[Any]) -> np.ndarray:
        """Softmax of the scores at the calibrated temperature. A text with no known feature (empty,
        punctuation only, never-seen characters) has only the intercepts for scores: it gets their
        softmax at temperature 1, which keeps predict()'s ranking but claims no confidence."""
        self._check_fitted()
        if isinstance(texts, str):
            texts = [texts]
        if len(texts) == 0:
            return np.zeros((0, len(self.classes_)))
        return self.proba_of(self._transform(self._analyse_all(texts)))

    def same_features(self, other: "TextModel") -> bool:
        """Whether a feature matrix of `other` is one of this model too (see fit(vocabulary=))."""
        return (self.params == other.params and len(self._blocks) == len(other._blocks) and all(
            a.names == b.names and np.array_equal(a.idf, b.idf) for a, b in zip(self._blocks, other._blocks)))

    # --------------------------------------------- batch use by the classifier (one analysis)
    def features(self, texts: Sequence[Any]) -> tuple[list[tuple], sp.csr_matrix]:
        """(analysed docs, feature matrix): compute once, then proba_of() and top_words()."""
        self._check_fitted()
        docs = self._analyse_all(texts)
        return docs, self._transform(docs)

    def proba_of(self, X: sp.csr_matrix) -> np.ndarray:
        """predict_proba() of an already computed feature matrix."""
        scores = np.asarray(X @ self._w, dtype=np.float64) + self._intercept
        empty = X.indptr[1:] == X.indptr[:-1]           # np.diff costs more on one row
        z = scores * self.temperature_
        if empty.any():
            z[empty] = scores[empty]
        return softmax(z)

    def _columns(self) -> tuple[list[str], np.ndarray]:
        """Per feature column: its name and whether it is a word (True) or a character n-gram."""
        if getattr(self, "_colinfo", None) is None:
            names: list[str] = []
            is_word: list[bool] = []
            for name, kind, _width in self._layout():
                block = self._blocks[kind]
                if name.startswith("head"):
                    whole = np.flatnonzero(block.head_of >= 0)
                    cols = whole[np.argsort(block.head_of[whole])]
                    names += [block.names[j] for j in cols]
                else:
                    names += block.names
                is_word += [kind == 0] * (len(names) - len(is_word))
            self._colinfo = (names, is_word)
        return self._colinfo

    def top_words(self, doc: tuple, x, label: str, k: int = 5) -> list[str]:
        """Fast explain() for one row of features() (a csr row, or (indices, data) of it)."""
        indices, data = (x.indices, x.data) if hasattr(x, "indices") else x
        row = sp.csr_matrix((data, indices, [0, len(indices)]), shape=(1, len(self._columns()[0])))
        return self.top_words_many([doc], row, [label], [k])[0]

    def top_words_many(self, docs: Sequence[tuple], X: sp.csr_matrix, labels: Sequence[str | None],
                       ks: Sequence[int]) -> list[list[str]]:
        """Per row of features(): the (up to) ks[i] words of the text whose features pushed it most
        towards labels[i] (None or an unknown label: no words). A character n-gram's credit goes to
        the words that contain it. All rows are scored and ranked in a few array operations."""
        n = X.shape[0]
        out: list[list[str]] = [[] for _ in range(n)]
        index = {c: j for j, c in enumerate(self.classes_)}
        lab = np.array([index.get(l, -1) if l is not None else -1 for l in labels], dtype=np.int64)
        if n == 0 or X.nnz == 0 or (lab < 0).all():
            return out
        names, is_word = self._columns()
        starts, cols, vals = fast_score.ranked(self, X, int(lab[0])) if n == 1 else self._ranked(X, lab)
        for i in range(n):
            k = ks[i]
            if lab[i] < 0 or k <= 0:
                continue
            # a folded number ("0") is not a word of the text: it takes no credit
            words = [w for w in dict.fromkeys(docs[i][0]) if " " not in w and not w.isdigit()]
            score: dict[str, float] = {}
            owners_of: dict[str, list[str]] = {}            # a char n-gram of the head block recurs
            for j in range(starts[i], min(starts[i + 1], starts[i] + 3 * k)):
                v = vals[j]
                col = cols[j]
                name = names[col]
                if is_word[col]:
                    for w in name.split(" "):
                        if not w.isdigit():
                            score[w] = score.get(w, 0.0) + v
                    continue
                owners = owners_of.get(name)
                if owners is None:
                    owners = owners_of[name] = ([w for w in words if name in w]
                                                or [w for w in words if w in name])
                for w in owners:
                    score[w] = score.get(w, 0.0) + v / len(owners)
            out[i] = [w for w, _ in sorted(score.items(), key=lambda kv: -kv[1])[:k]]
        return out

    def _ranked(self, X, lab: np.ndarray) -> tuple[list[int], list[int], list[float]]:
        """(row starts, columns, contributions) of the features that pushed each row towards its
        label (lab[i], -1: none), biggest contribution first within a row."""
        n = X.shape[0]
        rows = np.repeat(np.arange(n), np.diff(X.indptr))
        contrib = X.data.astype(np.float64) * self._w[X.indices, np.maximum(lab[rows], 0)]
        keep = (contrib > 0) & (lab[rows] >= 0)             # only what pushed towards the label
        rows, cols, contrib = rows[keep], X.indices[keep], contrib[keep]
        # One sort orders rows and, within a row, the biggest contribution first:
        # the key is row + 1/(1+v), and 1/(1+v) is in (0, 1) and falls as v grows.
        order = np.argsort(rows + 1.0 / (1.0 + contrib))
        starts = np.searchsorted(rows[order], np.arange(n + 1)).tolist()
        return starts, cols[order].tolist(), contrib[order].tolist()

    def predict(self, texts: Sequence[Any]) -> list[str]:
        scores = self.decision_function(texts)
        return [self.classes_[i] for i in scores.argmax(axis=1)]

    def explain(self, text: str, label: str, k: int = 5) -> list[str]:
        """The k words of `text` that pushed it most towards `label`, best first.

        Every feature's contribution to the score of `label` (its tf-idf value times its weight)
        is shared out over the words it covers: a word n-gram over its words, a character n-gram
        over the words it overlaps, by characters. So the answer is words of the normalised text
        (as jieba cut it), never fragments such as "楼电梯"; only words with a positive total.
        """
        self._check_fitted()
        if label not in self.classes_:
            raise ValueError(f"explain: unknown label {label!r}; classes: {self.classes_}")
        if k <= 0:
            return []
        c = self.classes_.index(label)
        doc = self._analyse(text)
        words = self._words(text) if self.params["word_ngram"] != [1, 1] else list(doc[0])
        if not words:
            return []
        x = self._transform([doc], dtype=np.float64)
        contrib = x.data * self._w[x.indices, c]
        # feature -> contribution, per block
        tables: dict[str, dict[str, float]] = {}
        offset = 0
        for name, kind, width in self._layout():
            sel = (x.indices >= offset) & (x.indices < offset + width)
            block = self._blocks[kind]
            cols = x.indices[sel] - offset
            if name.startswith("head"):
                whole = np.flatnonzero(block.head_of >= 0)
                cols = whole[np.argsort(block.head_of[whole])][cols]
            tables[name] = {block.names[j]: float(v) for j, v in zip(cols, contrib[sel])}
            offset += width
        score = np.zeros(len(words))
        wlo, whi = self.params["word_ngram"]
        clo, chi = self.params["char_ngram"]
        n_head = self.params["head_tokens"]
        for name, table in tables.items():
            ws = words[:n_head] if name.startswith("head") else words
            if name.endswith("word"):
                occ: dict[str, list[list[int]]] = {}
                for n in range(wlo, whi + 1):
                    for i in range(len(ws) - n + 1):
                        occ.setdefault(" ".join(ws[i:i + n]), []).append(list(range(i, i + n)))
                for g, spans in occ.items():
                    v = table.get(g)
                    if v:
                        for span in spans:
                            score[span] += v / len(spans) / len(span)
            else:
                owner = np.repeat(np.arange(len(ws)), [len(w) for w in ws])   # char -> word
                joined = "".join(ws)
                occ_c: dict[str, list[int]] = {}
                for n in range(clo, chi + 1):
                    for i in range(len(joined) - n + 1):
                        occ_c.setdefault(joined[i:i + n], []).append(i)
                for g, starts in occ_c.items():
                    v = table.get(g)
                    if v:
                        share = v / len(starts) / len(g)
                        for s in starts:
                            np.add.at(score, owner[s:s + len(g)], share)
        total: dict[str, float] = {}
        for w, s in zip(words, score):
            total[w] = total.get(w, 0.0) + float(s)
        ranked = sorted((kv for kv in total.items() if kv[1] > 0 and not kv[0].isdigit()), key=lambda kv: -kv[1])
        return [w for w, _ in ranked[:k]]

    # ------------------------------------------------------------- persistence
    def meta(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "classes": list(self.classes_),
            "params": self.params,
            "sklearn_version": _sklearn_version(),
            "numpy_version": np.__version__,
            "n_train": self.n_train_,
            "class_counts": self.class_counts_,
            "n_features": int(self._w.shape[0]) if self._w is not None else 0,
            "temperature": self.temperature_,
            "fit_seconds": round(self.fit_seconds_, 2),
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }

    def save(self, directory: str | Path, vocabulary: "TextModel | None" = None) -> None:
        """vocabulary: the model this one was fitted on the features of (fit(vocabulary=)); its
        blocks are then not stored twice, and load() needs it back."""
        self._check_fitted()
        shared = vocabulary is not None and self.same_features(vocabulary)
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        state = {
            "format_version": FORMAT_VERSION,
            "params": self.params,
            "classes": self.classes_,
            "blocks": None if shared else [b.state() for b in self._blocks],
            "w": self._w,
            "intercept": self._intercept,
            "temperature": self.temperature_,
            "n_train": self.n_train_,
            "class_counts": self.class_counts_,
            "fit_seconds": self.fit_seconds_,
        }
        tmp = d / (MODEL_FILE + ".tmp")
        joblib.dump(state, tmp, compress=3)
        tmp.replace(d / MODEL_FILE)
        (d / META_FILE).write_text(json.dumps(self.meta(), ensure_ascii=False, indent=2) + "\n",
                                   encoding="utf-8")

    @classmethod
    def load(cls, directory: str | Path, vocabulary: "TextModel | None" = None) -> "TextModel":
        d = Path(directory)
        meta_path, model_path = d / META_FILE, d / MODEL_FILE
        if not meta_path.is_file():
            raise ValueError(f"{d}: not a TextModel directory (no {META_FILE})")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{meta_path}: unreadable ({e})") from e
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ValueError(f"{meta_path}: not a {FORMAT} model")
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{meta_path}: format version {meta.get('format_version')!r}, this code "
                             f"reads version {FORMAT_VERSION}; retrain (python -m nlp.train)")
        if not model_path.is_file():
            raise ValueError(f"{d}: {MODEL_FILE} is missing")
        if meta.get("sklearn_version") != _sklearn_version():
            warnings.warn(f"{d}: trained with scikit-learn {meta.get('sklearn_version')}, "
                          f"running {_sklearn_version()}", stacklevel=2)
        try:
            state = joblib.load(model_path)
        except Exception as e:                                   # truncated / foreign file
            raise ValueError(f"{model_path}: unreadable ({e})") from e
        if not isinstance(state, dict) or state.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{model_path}: format version mismatch with {META_FILE}")
        try:
            if state["classes"] != meta.get("classes"):
                raise ValueError(f"{d}: classes of {MODEL_FILE} and {META_FILE} differ")
            saved = {"fold_digits": False, **state["params"]}        # saved before digits were folded
            model = cls(**{k: v for k, v in saved.items() if k in DEFAULT_PARAMS})
            model.classes_ = list(state["classes"])
            if state["blocks"] is None:                  # saved as a second head (save(vocabulary=))
                if vocabulary is None:
                    raise ValueError(f"{d}: shares its features with another model; load it with vocabulary=")
                model._blocks = list(vocabulary._blocks)
            else:
                model._blocks = [Block(*b) for b in state["blocks"]]
            model._w = np.ascontiguousarray(state["w"], dtype=np.float32)
            model._intercept = np.asarray(state["intercept"], dtype=np.float64)
            model.temperature_ = float(state["temperature"])
            model.n_train_ = int(state["n_train"])
            model.class_counts_ = dict(state["class_counts"])
            model.fit_seconds_ = float(state["fit_seconds"])
        except (KeyError, TypeError) as e:
            raise ValueError(f"{model_path}: incomplete or foreign model state ({e!r})") from e
        n_features = sum(len(b.names) + (b.n_head if model._head else 0) for b in model._blocks)
        if model._w.shape != (n_features, len(model.classes_)) or model._intercept.shape != (len(model.classes_),):
            raise ValueError(f"{model_path}: weights do not match the vocabulary")
        return model


class _Serial:
    """The ThreadPoolExecutor interface, run in the calling thread."""

    def __enter__(self) -> "_Serial":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    @staticmethod
    def map(fn, items):
        return map(fn, items)
