"""Learning from staff corrections: the shipped recipe retrained with them, behind a gate.

retrain(corrections, out) trains the seed corpus plus the corrections into `out` exactly as the
shipped model is trained (phrase share tuned on nlp/data/tune/, which then joins the training rows).
First the gate: the same recipe runs on 80% of the seed with and without the corrections, and both
models classify the other 20%. The corrections are refused when they cost more than `max_drop`
macro-F1 there, for the whole classifier or for its text model alone (the phrase table can hide a
damaged model on seed-like wording, not on the wording it has no phrase for): a batch of wrong
corrections (everything /recat-ed to `other`) must not reach residents. Only rows whose label is
one of our codes count.

Emergency corrections (/emergency, /notemergency: text and kind or "none") train the learned
emergency signal. Their gate is the same: 80% of the labelled emergency rows with and without them,
judged on the other 20%; refused when emergency recall or precision there drops by more than
`max_drop` (a batch of fires cleared as "none" must not teach the head to miss fires).
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from nlp import emergency
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
    n_emergency_corrections: int = 0
    baseline_emergency: tuple[float, float] = (0.0, 0.0)    # (recall, precision) on held-out labelled rows
    candidate_emergency: tuple[float, float] = (0.0, 0.0)


def _load(model_dir: Path):
    # built directly, not through nlp.store: these throw-away models must not stay cached
    from nlp.classifier import Classifier, Settings
    from nlp.store import load_emergency_model, load_english_head
    from nlp.textmodel import TextModel
    model = TextModel.load(model_dir)
    return Classifier(model, Settings.load(model_dir), load_emergency_model(model_dir, model),
                      load_english_head(model_dir))


def _f1_on(clf, rows: Rows) -> tuple[float, float]:
    """macro-F1 on `rows` of the classifier, and of its text model alone."""
    from nlp.normalize import normalize
    truth = [label for _, label in rows]
    pred = [c.category for c in clf.classify_many([t for t, _ in rows], explain=False)]
    alone = clf._model_proba([normalize(t) for t, _ in rows]).argmax(axis=1)
    return macro_f1(truth, pred), macro_f1(truth, [clf.labels[j] for j in alone])


def _emergency_on(clf, rows: Rows) -> tuple[float, float]:
    """(recall, precision) of the emergencies the classifier reports on labelled rows."""
    if not rows:
        return 0.0, 0.0
    said = [c.emergency is not None for c in clf.classify_many([t for t, _ in rows], explain=False)]
    truth = [label != emergency.NONE for _, label in rows]
    hit = sum(s and t for s, t in zip(said, truth))
    return hit / max(1, sum(truth)), hit / max(1, sum(said))


def emergency_fixes_of(rows: Rows) -> Rows:
    """The rows whose label is a kind of nlp/data/emergency_rules/kinds.yaml or "none", with text."""
    known = set(emergency.kind_names()) | {emergency.NONE}
    return [(t, k) for t, k in rows if k in known and t and t.strip()]


def retrain(corrections: Rows, out: str | Path, max_drop: float = 0.01, base: Rows | None = None,
            tuning: Rows | None = None, emergency_fixes: Rows = (), emergency_base: Rows | None = None
            ) -> Outcome:
    """Gate, then (if it passes) train base + corrections into `out`. `base`, `tuning` and
    `emergency_base` default to the seed corpus, nlp/data/tune/ and nlp/data/emergency/ (tests pass
    small ones)."""
    base = seed_rows() if base is None else list(base)
    tuning = tune_rows() if tuning is None else list(tuning)
    em_base = emergency.training_rows() if emergency_base is None else list(emergency_base)
    fixes = [(t, label) for t, label in corrections if label in CODES and t and t.strip()]
    em_fixes = emergency_fixes_of(list(emergency_fixes))
    if not fixes and not em_fixes:
        return Outcome(False, 0, 0.0, 0.0, "no corrections with a known category or emergency kind")
    fit_rows, check_rows = split(base)
    em_fit, em_check = split(em_base)
    with tempfile.TemporaryDirectory(prefix="jiesu-gate-") as d:
        train(fit_rows, Path(d) / "baseline", tune_rows=tuning, emergency_rows=em_fit)
        clf = _load(Path(d) / "baseline")
        (baseline, baseline_model), baseline_em = _f1_on(clf, check_rows), _emergency_on(clf, em_check)
        train(fit_rows + fixes, Path(d) / "candidate", tune_rows=tuning, emergency_rows=em_fit + em_fixes)
        clf = _load(Path(d) / "candidate")
        (candidate, candidate_model), candidate_em = _f1_on(clf, check_rows), _emergency_on(clf, em_check)
    figures = dict(baseline_model_f1=baseline_model, candidate_model_f1=candidate_model,
                   n_emergency_corrections=len(em_fixes), baseline_emergency=baseline_em,
                   candidate_emergency=candidate_em)
    drop = max(baseline - candidate, baseline_model - candidate_model)
    if drop > max_drop:
        return Outcome(False, len(fixes), baseline, candidate,
                       f"the corrections lower macro-F1 on held-out seed messages by {drop:.3f} "
                       f"(more than {max_drop})", **figures)
    # judged only when there are emergency labels: category fixes move the head a little too (they
    # become its "none" rows), and that noise must not refuse them
    em_drop = max(b - c for b, c in zip(baseline_em, candidate_em)) if em_fixes else 0.0
    if em_drop > max_drop:
        return Outcome(False, len(fixes), baseline, candidate,
                       f"the emergency corrections lower emergency recall or precision on held-out "
                       f"labelled messages by {em_drop:.3f} (more than {max_drop})", **figures)
    info = train(base + fixes, out, tune_rows=tuning, emergency_rows=em_base + em_fixes)
    return Outcome(True, len(fixes), baseline, candidate, "accepted", info=info, **figures)
