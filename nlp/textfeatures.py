"""The features of nlp/textmodel.py: text normalisation for the model, word and character n-grams,
and Block, a vocabulary with idf that turns analysed texts into l2-normalised sublinear tf-idf
entries without scikit-learn's per-call overhead (prediction needs only numpy and scipy)."""
from __future__ import annotations

import unicodedata
from collections import Counter
from itertools import chain, repeat
from operator import add
from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp

MAX_CHARS = 10000            # longer texts are cut (the bot must never stall on a huge text)

BLOCK_NAMES = ("word", "char", "head_word", "head_char")


def _translation() -> dict[int, Any]:
    """Control, zero-width, format characters and punctuation -> space (jieba would emit most
    punctuation as one-character tokens; they say nothing about the topic)."""
    table: dict[int, Any] = {}
    for cp in range(0x10000):
        ch = chr(cp)
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cf", "Zl", "Zp", "Zs") or (cat[0] == "P" and ch not in "#&._%-"):
            table[cp] = " "
    table[0xFFFD] = " "
    return table


_TABLE = _translation()


def normalize(text: Any, max_chars: int = MAX_CHARS) -> str:
    """The text the features are computed from (see the module docstring)."""
    if text is None:
        return ""
    if not isinstance(text, str):
        try:
            text = str(text)
        except Exception:                                # a broken __str__ is not our problem
            return ""
    if max_chars and len(text) > max_chars:
        text = text[:max_chars]
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:                       # lone surrogates
            text = text.encode("utf-8", "ignore").decode("utf-8")
        text = unicodedata.normalize("NFKC", text)
    return text.translate(_TABLE).lower()


def char_grams(s: str, lo: int, hi: int) -> list[str]:
    out: list[str] = []
    grams: Any = s                                   # the n-grams, built from the (n-1)-grams in C
    for n in range(1, hi + 1):
        if n > 1:
            grams = map(add, grams, s[n - 1:])
        if n >= lo:
            grams = list(grams)
            out.extend(grams)
    return out


def word_grams(words: list[str], lo: int, hi: int) -> list[str]:
    if lo == hi == 1:
        return words
    out: list[str] = list(words) if lo <= 1 else []
    for n in range(max(lo, 2), hi + 1):
        out.extend([" ".join(words[i:i + n]) for i in range(len(words) - n + 1)])
    return out


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


class Block:
    """Vocabulary and idf of one feature kind: the whole-text block and its head block.

    The head vocabulary is a subset of the whole-text one (a head feature of a text is a feature
    of the text), so one dict look-up serves both: ``head_of[j]`` is the head column of whole
    column j, or -1."""

    def __init__(self, names: list[str], idf: np.ndarray, head_of: np.ndarray | None,
                 head_idf: np.ndarray | None) -> None:
        self.names = names
        self.index = dict(zip(names, range(len(names))))
        self.idf = idf
        self.head_of = head_of
        self.head_idf = head_idf
        self.n_head = 0 if head_idf is None else len(head_idf)

    @classmethod
    def fit(cls, docs: list[tuple], k: int, min_df: int, head: bool) -> "Block":
        n = len(docs)
        df: Counter = Counter()
        hdf: Counter = Counter()
        for d in docs:
            s = set(d[k])
            df.update(s)
            if head:
                hdf.update(s if d[k + 2] is d[k] else set(d[k + 2]))
        md = max(1, int(min_df))
        names = sorted(f for f, c in df.items() if c >= md)
        if not names and md > 1:                           # a tiny corpus: fall back to 1
            md = 1
            names = sorted(df)
        idf = np.log((1.0 + n) / (1.0 + np.array([df[f] for f in names], dtype=np.float64))) + 1.0
        head_of = head_idf = None
        if head:
            index = dict(zip(names, range(len(names))))
            hnames = sorted(f for f, c in hdf.items() if c >= md and f in index)
            head_of = np.full(len(names), -1, dtype=np.int64)
            head_of[np.array([index[f] for f in hnames], dtype=np.int64)] = np.arange(len(hnames))
            head_idf = np.log((1.0 + n) / (1.0 + np.array([hdf[f] for f in hnames], dtype=np.float64))) + 1.0
        return cls(names, idf, head_of, head_idf)

    def state(self) -> tuple:
        return self.names, self.idf, self.head_of, self.head_idf

    @staticmethod
    def _counts(ids: np.ndarray, lens: Sequence[int], width: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows, cols, counts) sorted by (row, col), from the column id of every feature
        occurrence (-1: not in the vocabulary), lens[i] occurrences for row i."""
        n = len(lens)
        if width == 0 or len(ids) == 0:
            return _EMPTY_I, _EMPTY_I, _EMPTY_F
        rows = np.repeat(np.arange(n, dtype=np.int64), lens)
        keep = ids >= 0
        X = sp.csr_matrix((np.ones(int(keep.sum())), (rows[keep], ids[keep])), shape=(n, width))
        X.sum_duplicates()                                        # sorts, adds up repeats
        return np.repeat(np.arange(n, dtype=np.int64), np.diff(X.indptr)), X.indices.astype(np.int64), X.data

    @staticmethod
    def _tfidf(r: np.ndarray, c: np.ndarray, counts: np.ndarray, idf: np.ndarray, n: int,
               weight: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows, cols, values) of l2-normalised sublinear tf-idf rows."""
        val = (1.0 + np.log(counts)) * idf[c]
        norm = np.sqrt(np.bincount(r, weights=val * val, minlength=n))
        val *= weight / norm[r]
        return r, c, val

    def transform(self, docs: Sequence[tuple], k: int, head_weight: float) -> list[tuple]:
        """Entries (rows, cols, values) of the whole-text block and, when the model has one, of
        the head block of `docs`, each sorted by (row, col)."""
        get = self.index.get
        n = len(docs)
        lens = [len(d[k]) for d in docs]
        # map() over a chained iterator keeps the ~100 look-ups per message in C
        ids = np.fromiter(map(get, chain.from_iterable(d[k] for d in docs), repeat(-1)), dtype=np.int64,
                          count=sum(lens))
        r, c, counts = self._counts(ids, lens, len(self.names))
        out = [self._tfidf(r, c, counts, self.idf, n, 1.0)]
        if self.head_of is None:
            return out
        if all(d[k + 2] is d[k] for d in docs):                   # short texts: head == whole
            hc = self.head_of[c] if len(c) else c
            keep = hc >= 0
            hr, hc, hcounts = r[keep], hc[keep], counts[keep]    # head_of is monotonic: still sorted
        else:
            parts, hlens, start = [], [], 0
            for d, m in zip(docs, lens):
                if d[k + 2] is d[k]:
                    parts.append(ids[start:start + m])
                else:
                    h = d[k + 2]
                    parts.append(np.fromiter(map(get, h, repeat(-1)), dtype=np.int64, count=len(h)))
                hlens.append(len(parts[-1]))
                start += m
            hids = np.concatenate(parts) if parts else ids[:0]
            if len(self.head_of):
                hids = np.where(hids >= 0, self.head_of[np.maximum(hids, 0)], -1)
            hr, hc, hcounts = self._counts(hids, hlens, self.n_head)
        out.append(self._tfidf(hr, hc, hcounts, self.head_idf, n, head_weight))
        return out


_EMPTY_I = np.zeros(0, dtype=np.int64)
_EMPTY_F = np.zeros(0, dtype=np.float64)
