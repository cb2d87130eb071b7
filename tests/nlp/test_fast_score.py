"""The single-message path (nlp/fast_score.py and the one-row branches of the classifier) gives what
the scipy path gives, to the bit: every labelled message of nlp/data, random strings and edge cases.

Bit-identical, not close: the reply rounds probabilities to 4 places and ranks equal term scores by
order, so any difference could show. Rows, scores and term rankings are checked on every message;
whole Classifications (which add only shared code on top) on a fixed sample of them."""
from __future__ import annotations

import random

import numpy as np
import pytest

import nlp
from nlp import classifier as classifier_module
from nlp import fast_score
from nlp.classifier import Classifier, _best_columns
from nlp.emergency import training_rows
from nlp.limits import read
from nlp.normalize import normalize
from nlp.store import get_classifier
from nlp.textmodel import TextModel
from nlp.train import seed_rows, tune_rows

from tests.nlp.conftest import tiny_rows


def _edge_cases() -> list:
    rng = random.Random(14)
    alphabet = "电梯坏了漏水噪音楼上着火救命停车物业 abcXYZ123，。！？🔥😡樓層燒煤氣\n\t\u200b"
    texts = ["".join(rng.choice(alphabet) for _ in range(n)) for n in (0, 1, 2, 5, 30, 200, 3000) for _ in range(15)]
    return texts + ["", " ", "\u3000", None, 123, "a" * 20000, "电梯" * 5000, "ok", "3-502", "不是物业的问题",
                    "Fire in the kitchen, help!! my grandpa is choking on food", "樓上冒煙了好像是著火 請快點派人",
                    "🔥🔥🔥电梯坏了😡", "\x00\ud800abc", "😀" * 50, "123456789012345678"]


@pytest.fixture(scope="module")
def shipped():
    return get_classifier()


@pytest.fixture(scope="module")
def messages():
    """Every labelled message under nlp/data (categories, tuning set, emergencies), then the rest."""
    return [t for t, _ in seed_rows() + tune_rows() + training_rows()] + _edge_cases()


def _check_rows(model: TextModel, texts: list, heads: list[TextModel]) -> list:
    """fast_score rows == rows of TextModel.features() on all texts at once (rows are independent
    there), and so are their scores and probabilities under `model` and each of `heads`. Returns
    the rows."""
    docs, X = model.features(texts)
    rows = [fast_score.row(model, doc) for doc in docs]
    assert [r.nnz for r in rows] == np.diff(X.indptr).tolist()
    assert np.array_equal(np.concatenate([r.indices for r in rows]), X.indices)
    assert np.array_equal(np.concatenate([r.data for r in rows]), X.data)
    for m in [model, *heads]:
        assert np.array_equal(np.vstack([r @ m._w for r in rows]), np.asarray(X @ m._w))
        assert np.array_equal(np.vstack([m.proba_of(r) for r in rows]), m.proba_of(X))
    return rows


def test_rows_scores_and_term_rankings_of_every_labelled_message(shipped, messages):
    """Term rankings too: equal contributions are common (n-grams that always occur together), and
    their order must be numpy's, as in TextModel._ranked."""
    model = shipped.model
    texts = [normalize(read(t)) if isinstance(t, str) else t for t in messages]
    rows = _check_rows(model, texts, [shipped.emergency_model])
    for t, row in zip(texts, rows):
        lab = int(np.argmax((row @ model._w)[0]))
        assert fast_score.ranked(model, row, lab) == model._ranked(row, np.array([lab])), t


@pytest.mark.parametrize("params", [{}, {"head_tokens": 0}, {"word_ngram": [1, 2], "char_ngram": [2, 4], "head_tokens": 3}])
def test_rows_of_other_model_layouts(params):
    rows = tiny_rows()
    model = TextModel(calibration_folds=0, **params).fit([t for t, _ in rows], [y for _, y in rows])
    _check_rows(model, [t for t, _ in rows] + _edge_cases(), [])


def test_best_columns_of_one_row_match_the_batch_code():
    rng = np.random.default_rng(14)
    rows = [rng.random(18), np.full(18, 1 / 18), np.r_[[0.5, 0.5, 0.25, 0.25], np.zeros(14)],
            np.r_[[0.4, 0.3, 0.2, 0.1, 0.1], np.zeros(13)], np.r_[[np.nan, 0.3], rng.random(16)],
            np.round(rng.random(18), 1), rng.random(5), rng.random(3)]
    for p in rows:
        one = _best_columns(p[None, :])
        batch = _best_columns(np.vstack([p, p]))            # two rows: always the numpy code
        assert one == ([batch[0][0]], [batch[1][0]]), p


@pytest.fixture
def reference(monkeypatch):
    """classify_many as it was: scipy features, numpy ranking and top columns for one row too."""
    def run(clf: Classifier, text):
        with monkeypatch.context() as m:
            m.setattr(Classifier, "_features", staticmethod(lambda model, texts: model.features(texts)))
            m.setattr(fast_score, "ranked", lambda model, X, lab: model._ranked(X, np.array([lab])))
            m.setattr(classifier_module, "_best_one", lambda p, k: None)
            return clf.classify_many([text])[0], clf.proba([_norm(text)])[0][0]
    return run


def _norm(text) -> str:
    return normalize(read(text)) if isinstance(text, str) else ""


def test_whole_classification_is_unchanged(shipped, messages, reference):
    sample = messages[::25] + _edge_cases()
    emergencies = unsure = 0
    for t in sample:
        expected, p_expected = reference(shipped, t)
        got = shipped.classify_many([t])[0]
        assert got == expected, t                    # category, scores, terms, emergency, caution, place
        assert np.array_equal(shipped.proba([_norm(t)])[0][0], p_expected), t
        emergencies += got.emergency is not None
        unsure += got.low_confidence
    assert emergencies > 50 and unsure > 20          # the sample exercises those branches
    assert nlp.classify("3号楼电梯坏了，困了人") == reference(shipped, "3号楼电梯坏了，困了人")[0]


@pytest.mark.parametrize("labels", ["ours", "foreign"])
def test_models_that_know_some_or_none_of_our_categories(labels, reference):
    """A model of 3 of our categories (the others' columns stay 0) and one of a foreign label set."""
    rows = [(t, y if labels == "ours" else f"x-{y}") for t, y in tiny_rows()]
    clf = Classifier(TextModel(calibration_folds=0).fit([t for t, _ in rows], [y for _, y in rows]),
                     classifier_module.Settings())
    for t in [t for t, _ in rows] + _edge_cases()[::5]:
        assert clf.classify_many([t])[0] == reference(clf, t)[0], t
