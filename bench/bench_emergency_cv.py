"""Where the learned emergency signal's THRESHOLD and CONFIRM (nlp/emergency.py) come from.

    .venv/bin/python bench/bench_emergency_cv.py

5-fold cross-validation on the training rows only: the labelled CSVs in nlp/data/emergency/ plus
the ordinary complaints of the seed and tuning sets (those the rules leave alone), each head fitted
on the shipped category model's features, as nlp.train does. Recall and precision are read on the
CSVs the rules were NOT written from (RULES_UNSEEN), so that the rules' share is not flattered. Per
policy ("P > t", or "P > t, or the rules fire and P > c") it prints recall, precision and the share
of ordinary complaints flagged. In use: the highest recall with precision >= 0.9 and at most 0.5%
of ordinary complaints flagged. bench_taxonomy.py measures the result on held-out data.
(The CV rows include ordinary complaints that are emergencies all the same, a lift with people
inside that the rules miss: nlp/data/emergency/seed_emergencies.csv labels them and keeps them out
of "ordinary".)
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

THRESHOLDS = (0.3, 0.5, 0.7, 0.8, 0.85, 0.9)
CONFIRMS = (None, -1.0, 0.05, 0.1, 0.2)     # None: the head alone; -1: the rules on their own or the head
# written after the rules by people who never saw them (and not read since by whoever edits the rules)
RULES_UNSEEN = ("extra_a", "extra_b", "extra_c", "extra_d", "extra_e", "extra_f")


def main() -> None:
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    from nlp import emergency, train as T
    from nlp.normalize import normalize
    from nlp.store import get_classifier
    from nlp.textmodel import TextModel

    vocabulary = get_classifier().model
    source: list[str] = []
    labelled = emergency.training_rows(source)
    ordinary = emergency.ordinary_rows(T.seed_rows() + T.tune_rows())
    rows = labelled + ordinary
    source = np.array(source + ["ordinary"] * len(ordinary))
    texts = [normalize(t) for t, _ in rows]
    y = np.array([label for _, label in rows])
    truth = y != emergency.NONE
    rules = np.array([emergency.detect(t) is not None for t, _ in rows])
    p_emergency = np.zeros(len(rows))
    kind = np.array([emergency.NONE] * len(rows), dtype=object)
    for fit_idx, test_idx in StratifiedKFold(5, shuffle=True, random_state=0).split(texts, y):
        head = TextModel().fit([texts[i] for i in fit_idx], list(y[fit_idx]), vocabulary=vocabulary)
        p = head.predict_proba([texts[i] for i in test_idx])
        none = head.classes_.index(emergency.NONE)
        p_emergency[test_idx] = 1 - p[:, none]
        p[:, none] = -1
        kind[test_idx] = [head.classes_[j] for j in p.argmax(axis=1)]
    # as the classifier does: no say for the head on a message it cannot read, on a scare that is
    # over, or on a kind the message rules out (the victim was a dog)
    p_emergency *= np.array([emergency.head_reads(t) and not emergency.settled(t, normalized=True)
                             and not emergency.ruled_out(t, k) for t, k in zip(texts, kind)])
    judged = np.isin(source, RULES_UNSEEN)
    ordinary_rows = source == "ordinary"
    print(f"{len(labelled)} labelled rows ({truth.sum()} emergencies; {judged.sum()} the rules never saw), "
          f"{len(ordinary)} ordinary complaints; 5-fold CV")
    for th in THRESHOLDS:
        for c in CONFIRMS:
            pred = p_emergency > th
            name = f"P > {th}"
            if c is not None:
                pred = pred | (rules & (p_emergency > c))
                name += " or rules" + (f" & P > {c}" if c >= 0 else "")
            tp = (pred & truth & judged).sum()
            print(f"{name:30s} recall {tp / (truth & judged).sum():.3f}  precision "
                  f"{tp / max(1, (pred & judged).sum()):.3f}  ordinary flagged {(pred & ordinary_rows).mean() / ordinary_rows.mean():.4f}")
    print(f"in use: P > {emergency.THRESHOLD} or rules")
    english(labelled, source)


def english(labelled, source) -> None:
    """The same for the English head (nlp/english_head.py) on the rows it reads."""
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    from nlp import emergency, english_head
    from nlp.normalize import normalize
    ordinary_texts = {normalize(t) for (t, _), src in zip(labelled, source) if src == "english_ordinary"}
    rows = english_head.rows_for(labelled)
    ordinary = np.array([t in ordinary_texts for t, _ in rows])
    texts = [t for t, _ in rows]
    y = np.array([k for _, k in rows])
    truth = y != emergency.NONE
    rules = np.array([emergency.detect(t, normalized=True) is not None for t in texts])
    p = np.zeros(len(rows))
    for fit_idx, test_idx in StratifiedKFold(5, shuffle=True, random_state=0).split(texts, truth):
        head = english_head.fit([rows[i] for i in fit_idx])
        # as the classifier does: nothing on a scare that is over or a kind the message rules out
        p[test_idx] = [pe * (not emergency.settled(t, normalized=True) and not (k and emergency.ruled_out(t, k.kind)))
                       for t, (pe, k) in zip([texts[i] for i in test_idx],
                                             english_head.scores(head, [texts[i] for i in test_idx]))]
    print(f"\nEnglish head: {len(rows)} rows it reads ({truth.sum()} emergencies); 5-fold CV")
    for th in (0.5, 0.6, 0.7, 0.8, 0.9):
        pred = (p > th) | rules
        tp = (pred & truth).sum()
        print(f"P > {th} or rules               recall {tp / truth.sum():.3f}  precision {tp / max(1, pred.sum()):.3f}"
              f"  ordinary flagged {(pred & ordinary).sum() / max(1, ordinary.sum()):.4f}"
              f"  head alone recall {((p > th) & truth).sum() / truth.sum():.3f}")
    print(f"rules alone                    recall {(rules & truth).sum() / truth.sum():.3f}  "
          f"precision {(rules & truth).sum() / max(1, rules.sum()):.3f}")
    print(f"in use: P > {english_head.THRESHOLD} or rules (nlp/data/emergency/english_ordinary.csv are the ordinary)")


if __name__ == "__main__":
    main()
