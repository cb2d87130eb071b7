"""How well nlp/ files messages: prints figures, asserts nothing.

    .venv/bin/python bench/bench_taxonomy.py

1. macro-F1 on a held-out 20% of the seed corpus (fixed split nlp.train.SPLIT_SEED): trained as the
   shipped model is (phrase weight tuned on nlp/data/tune/, then fitted on the other 80% + that
   set), then the full classifier on the 20%.
2. macro-F1 of the shipped classifier (nlp/model/) on bench/data/unseen/ (styles the seed lacks,
   never used for training or tuning). Target >= 0.90.
3. Emergency recall/precision on bench/data/emergency.csv. Target recall 1.0, precision >= 0.9.
"""
from __future__ import annotations

import csv
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nlp import train as T                       # noqa: E402
from nlp.evaluate import predict, report          # noqa: E402

UNSEEN = ROOT / "bench" / "data" / "unseen"
EMERGENCY = ROOT / "bench" / "data" / "emergency.csv"


def seed_holdout() -> None:
    rows = T.seed_rows()
    train_rows, test_rows = T.split(rows)
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        info = T.train(train_rows, d, tune_rows=T.tune_rows())
        secs = time.perf_counter() - t0
        pred = predict(test_rows, d)
    _, macro, acc = report([l for _, l in test_rows], pred)
    print(f"seed held-out: train={len(train_rows)} test={len(test_rows)} "
          f"phrase_weight={info.get('phrase_weight')} train_s={secs:.1f}")
    print(f"  macro_f1={macro:.4f} accuracy={acc:.4f}")


def unseen() -> None:
    if not UNSEEN.is_dir():
        print("unseen: bench/data/unseen/ missing")
        return
    rows = T.read_dir(UNSEEN)
    pred = predict(rows)
    text, macro, acc = report([l for _, l in rows], pred)
    print(f"unseen (shipped classifier): n={len(rows)} labels={len({l for _, l in rows})}")
    print("  " + "\n  ".join(text.splitlines()[: len({l for _, l in rows}) + 1]))
    print(f"  macro_f1={macro:.4f} accuracy={acc:.4f}")
    # the model alone, without the phrase table: what the table adds
    from nlp.store import get_classifier
    clf = get_classifier()
    if clf.model is not None:
        from nlp.normalize import normalize
        p = clf._model_proba([normalize(t) for t, _ in rows])
        _, m2, a2 = report([l for _, l in rows], [clf.labels[j] for j in p.argmax(axis=1)])
        print(f"  model alone: macro_f1={m2:.4f} accuracy={a2:.4f}")
    # the numbered menu (confidence below the model's threshold): how many it asks, what it catches
    res = get_classifier().classify_many([t for t, _ in rows], explain=False)
    wrong = [c.category != label for c, (_, label) in zip(res, rows)]
    asked = [c.low_confidence for c in res]
    caught = sum(a and w for a, w in zip(asked, wrong))
    in_menu = sum(a and label in c.menu for a, c, (_, label) in zip(asked, res, rows))
    print(f"  menu (confidence < {clf.s.low_confidence}): shown for {sum(asked) / len(rows):.1%} of messages, "
          f"catching {caught}/{sum(wrong)} misfiled ones; the right category is in {in_menu}/{sum(asked)} menus")


def emergencies() -> None:
    if not EMERGENCY.exists():
        print("emergency: bench/data/emergency.csv missing")
        return
    from nlp.emergency import detect
    with open(EMERGENCY, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    tp = fp = fn = tn = kind_ok = 0
    misses, false_alarms = [], []
    for r in rows:
        truth = str(r.get("emergency", "")).strip().lower() in ("1", "true", "yes", "y")
        e = detect(r["text"])
        if truth and e:
            tp += 1
            kind_ok += (e.kind == (r.get("kind") or "").strip())
        elif truth:
            fn += 1
            misses.append(r["text"])
        elif e:
            fp += 1
            false_alarms.append(f"{r['text']}  -> {e.kind}")
        else:
            tn += 1
    recall = tp / (tp + fn) if tp + fn else 1.0
    precision = tp / (tp + fp) if tp + fp else 1.0
    print(f"emergency: n={len(rows)} positives={tp + fn} recall={recall:.4f} precision={precision:.4f} "
          f"kind_agreement={kind_ok}/{tp}")
    for m in misses:
        print(f"  missed: {m}")
    for m in false_alarms:
        print(f"  false alarm: {m}")


if __name__ == "__main__":
    seed_holdout()
    unseen()
    emergencies()
