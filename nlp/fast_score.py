"""The feature row of ONE text without scipy: the single-message path of the classifier.

Building a 1-row scipy matrix costs more than everything else about a short message (two COO->CSR
conversions per block, index-dtype checks, a csr_matvecs call), so one message costing 3 x as
much as a message in a batch of 8 was mostly that. OneRow holds the same entries and answers the
few parts of the csr_matrix interface the classifier uses (TextModel.proba_of, top_words_many,
emergency.head_scores), so the rest of the path is shared with batches.

Bit-identical to TextModel._transform + ``X @ W``, not merely close: probabilities are rounded to
4 places for the reply, so an error of 1e-12 could still move a digit. Hence the same operations
in the same order: tf-idf in float64 with numpy's log, the l2 norm summed column by column from 0
(as np.bincount does), values cast to float32, and the product summed row by row in float32 (as
scipy's csr_matvecs does; numpy reduces over axis 0 of a C-contiguous array element by element).
tests/nlp/test_fast_score.py checks this on every labelled message of nlp/data.
"""
from __future__ import annotations

import math
from collections import Counter
from functools import reduce
from operator import add, mul
from typing import Any, Sequence

import numpy as np


class OneRow:
    """One row of features: column ids (sorted) and float32 values, with the attributes of a
    (1, width) scipy csr_matrix that the classifier reads, and ``@`` a dense weight matrix."""

    __slots__ = ("indices", "data", "indptr", "shape", "nnz")

    def __init__(self, indices: np.ndarray, data: np.ndarray, width: int) -> None:
        self.indices = indices
        self.data = data
        self.nnz = len(indices)
        self.indptr = np.array([0, self.nnz], dtype=np.int64)
        self.shape = (1, width)

    def __matmul__(self, w: np.ndarray) -> np.ndarray:
        dtype = np.result_type(self.data, w)
        if not self.nnz:
            return np.zeros((1, w.shape[1]), dtype=dtype)
        terms = self.data.astype(dtype, copy=False)[:, None] * w[self.indices]
        return np.add.reduce(terms, axis=0, keepdims=True)


def _tf(n: int) -> list[float]:
    """1 + log(count) for counts 0..n-1 (0 unused), from numpy's log like Block._tfidf's."""
    if len(_TF) < n:
        _TF[:] = [0.0] + (1.0 + np.log(np.arange(1, 2 * n, dtype=np.float64))).tolist()
    return _TF


_TF: list[float] = []


def _tfidf(counts: list[int], idf: list[float], weight: float) -> list[float]:
    """Block._tfidf for one row: its arithmetic in Python floats (the same IEEE doubles)."""
    tf = _tf(max(counts) + 1)
    val = [tf[c] * i for c, i in zip(counts, idf)]
    total = reduce(add, map(mul, val, val), 0.0)      # in column order from 0.0, as np.bincount
    scale = weight / math.sqrt(total)
    return [v * scale for v in val]


def _counts(block, words: Sequence[str]) -> dict[int, int]:
    """{column: occurrences} of the words in the block's vocabulary."""
    found = Counter(words)
    out = dict(zip(map(block.index.get, found), found.values()))
    out.pop(None, None)
    return out


def _block_entries(block, words: Sequence[str], head_words: Sequence[str], head_weight: float
                   ) -> tuple[list[int], list[float], list[int], list[float]]:
    """(whole columns, values, head columns, head values) of one block for one analysed text."""
    found = _counts(block, words)
    ids = sorted(found)
    counts = list(map(found.__getitem__, ids))
    vals = _tfidf(counts, block.idf[ids].tolist(), 1.0) if ids else []
    if block.head_of is None:
        return ids, vals, [], []
    if head_words is words:                  # a short text: its head is the whole text
        hfound = dict(zip(block.head_of[ids].tolist(), counts))
    else:
        whole = _counts(block, head_words)
        hfound = dict(zip(block.head_of[list(whole)].tolist(), whole.values()))
    hfound.pop(-1, None)
    hids = sorted(hfound)
    hvals = _tfidf(list(map(hfound.__getitem__, hids)), block.head_idf[hids].tolist(), head_weight) if hids else []
    return ids, vals, hids, hvals


def row(model, doc: tuple) -> OneRow:
    """The feature row of one analysed text (TextModel._analyse) of a fitted TextModel, in float32
    as TextModel.features() gives it."""
    whole, heads = [], []
    for k, block in enumerate(model._blocks):
        ids, vals, hids, hvals = _block_entries(block, doc[k], doc[k + 2], model.params["head_weight"])
        whole.append((ids, vals))
        heads.append((hids, hvals))
    parts = whole + heads if model._head else whole
    cols: list[int] = []
    data: list[float] = []
    offset = 0
    for (ids, vals), (_name, _kind, width) in zip(parts, model._layout()):
        cols += [j + offset for j in ids] if offset else ids
        data += vals
        offset += width
    return OneRow(np.array(cols, dtype=np.int64), np.array(data, dtype=np.float32), offset)


def ranked(model, X, lab: int) -> tuple[list[int], list[int], list[float]]:
    """TextModel._ranked() of a 1-row X with half the numpy calls. Equal contributions are common
    (n-grams that always occur together), and only numpy's argsort (not stable) of the very same
    keys puts them in the same order, so that sort stays."""
    contrib = X.data.astype(np.float64) * model._w[X.indices, lab]
    keep = contrib > 0
    cols, contrib = X.indices[keep], contrib[keep]
    order = np.argsort(1.0 / (1.0 + contrib))
    return [0, len(order)], cols[order].tolist(), contrib[order].tolist()


def features(model, text: Any) -> tuple[list[tuple], OneRow]:
    """TextModel.features([text]) with a OneRow for the matrix."""
    model._check_fitted()
    doc = model._analyse(text)
    return [doc], row(model, doc)
