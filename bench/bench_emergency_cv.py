"""Where the learned emergency signal's threshold (nlp/emergency.py THRESHOLD) comes from.

    .venv/bin/python bench/bench_emergency_cv.py

5-fold cross-validation on the training rows only: the labelled CSVs in nlp/data/emergency/ plus
the ordinary complaints of the seed and tuning sets (those the rules leave alone), each head fitted
on the shipped category model's features, as nlp.train does. Per threshold it prints the head's
recall, the precision of rules-or-head, and the share of near-misses and of ordinary complaints it
flags. THRESHOLD is the lowest one whose precision is at least 0.9. (The rules' figures here are
optimistic: they were written with these CSVs in view; bench_taxonomy.py measures on held-out data.)
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)


def main() -> None:
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    from nlp import emergency, train as T
    from nlp.normalize import normalize
    from nlp.store import get_classifier
    from nlp.textmodel import TextModel

    vocabulary = get_classifier().model
    labelled = emergency.training_rows()
    ordinary = [(t, emergency.NONE) for t, _ in T.seed_rows() + T.tune_rows() if emergency.detect(t) is None]
    rows = labelled + ordinary
    is_ordinary = np.array([False] * len(labelled) + [True] * len(ordinary))
    texts = [normalize(t) for t, _ in rows]
    y = np.array([label for _, label in rows])
    truth = y != emergency.NONE
    rules = np.array([emergency.detect(t) is not None for t, _ in rows])
    p_emergency = np.zeros(len(rows))
    for fit_idx, test_idx in StratifiedKFold(5, shuffle=True, random_state=0).split(texts, y):
        head = TextModel().fit([texts[i] for i in fit_idx], list(y[fit_idx]), vocabulary=vocabulary)
        p = head.predict_proba([texts[i] for i in test_idx])
        p_emergency[test_idx] = 1 - p[:, head.classes_.index(emergency.NONE)]
    near = ~is_ordinary & ~truth
    print(f"{len(labelled)} labelled rows ({truth.sum()} emergencies), {len(ordinary)} ordinary complaints; 5-fold CV")
    for th in THRESHOLDS:
        head = p_emergency > th
        either = head | rules
        print(f"threshold {th:.1f}: head recall {(head & truth).sum() / truth.sum():.3f} | rules-or-head "
              f"precision {(either & truth).sum() / max(1, either.sum()):.3f} | near-misses flagged "
              f"{(either & near).sum() / max(1, near.sum()):.3f} | ordinary flagged by the head "
              f"{(head & is_ordinary).sum() / max(1, is_ordinary.sum()):.4f}")
    print(f"in use: THRESHOLD = {emergency.THRESHOLD}")


if __name__ == "__main__":
    main()
