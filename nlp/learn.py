"""Learning from staff corrections: the shipped recipe retrained with them, behind a gate.

retrain(corrections, out) trains the seed corpus plus the corrections into `out` exactly as the
shipped model is trained (phrase share tuned on nlp/data/tune/, which then joins the training rows).
First the gate: the same recipe runs on 80% of the seed with and without the corrections, and both
models classify the other 20%. The corrections are refused when they cost more than `max_drop`
macro-F1 there, for the whole classifier or for its text model alone (the phrase table can hide a
damaged model on seed-like wording, not on the wording it has no phrase for): a batch of wrong
corrections (everything /recat-ed to `other`) must not reach residents. Only rows whose label is
one of our codes count.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from nlp.categories import CODES
from nlp.train import Rows, macro_f1, seed_rows, split, train, tune_rows


@dataclass(frozen=True)
class Outcome:
    accepted: bool
    n_corrections: int
    baseline_f1: float          # 80% seed (+ tuning set) -> the other 20%
    candidate_f1: float         # the same, with the corrections
    reason: str
    baseline_model_f1: float = 0.0      # the same two, text model alone
    candidate_model_f1: float = 0.0
    info: dict = field(default_factory=dict)    # what nlp.train wrote to combine.json (accepted only)


def _f1_on(model_dir: Path, rows: Rows) -> tuple[float, float]:
    """macro-F1 on `rows` of the classifier in model_dir, and of its text model alone."""
    # built directly, not through nlp.store: these throw-away models must not stay cached
    from nlp.classifier import Classifier, Settings
    from nlp.normalize import normalize
    from nlp.textmodel import TextModel
    clf = Classifier(TextModel.load(model_dir), Settings.load(model_dir))
    truth = [label for _, label in rows]
    pred = [c.category for c in clf.classify_many([t for t, _ in rows], explain=False)]
    alone = clf._model_proba([normalize(t) for t, _ in rows]).argmax(axis=1)
    return macro_f1(truth, pred), macro_f1(truth, [clf.labels[j] for j in alone])


def retrain(corrections: Rows, out: str | Path, max_drop: float = 0.01, base: Rows | None = None,
            tuning: Rows | None = None) -> Outcome:
    """Gate, then (if it passes) train base + corrections into `out`. `base` and `tuning` default to
    the seed corpus and nlp/data/tune/ (tests pass small ones)."""
    base = seed_rows() if base is None else list(base)
    tuning = tune_rows() if tuning is None else list(tuning)
    fixes = [(t, label) for t, label in corrections if label in CODES and t and t.strip()]
    if not fixes:
        return Outcome(False, 0, 0.0, 0.0, "no corrections with a known category")
    fit_rows, check_rows = split(base)
    with tempfile.TemporaryDirectory(prefix="jiesu-gate-") as d:
        train(fit_rows, Path(d) / "baseline", tune_rows=tuning)
        baseline, baseline_model = _f1_on(Path(d) / "baseline", check_rows)
        train(fit_rows + fixes, Path(d) / "candidate", tune_rows=tuning)
        candidate, candidate_model = _f1_on(Path(d) / "candidate", check_rows)
    figures = dict(baseline_model_f1=baseline_model, candidate_model_f1=candidate_model)
    drop = max(baseline - candidate, baseline_model - candidate_model)
    if drop > max_drop:
        return Outcome(False, len(fixes), baseline, candidate,
                       f"the corrections lower macro-F1 on held-out seed messages by {drop:.3f} "
                       f"(more than {max_drop})", **figures)
    info = train(base + fixes, out, tune_rows=tuning)
    return Outcome(True, len(fixes), baseline, candidate, "accepted", info=info, **figures)
