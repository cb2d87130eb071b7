"""Per-class precision/recall/F1 and the confusion matrix of a classifier on labelled messages.

    python -m nlp.evaluate --data F.csv [--model DIR]
    python -m nlp.evaluate --data-dir bench/data/unseen [--model DIR]

Without --model: the shipped classifier (model + phrase table) on our taxonomy. The last line is
always exactly `macro_f1=0.xxxx accuracy=0.xxxx` (other tools parse it). Macro-F1 averages over the
labels present in the data: a prediction outside them counts as a miss, not as an extra class.
"""
from __future__ import annotations

import argparse
import sys

from nlp.train import Rows, read_sources


def predict(rows: Rows, model_dir: str | None = None, batch: int = 512) -> list[str]:
    from nlp.store import get_classifier
    clf = get_classifier(model_dir)
    out: list[str] = []
    texts = [t for t, _ in rows]
    for i in range(0, len(texts), batch):
        out += [c.category for c in clf.classify_many(texts[i:i + batch], explain=False)]
    return out


def report(y_true: list[str], y_pred: list[str]) -> tuple[str, float, float]:
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support
    labels = sorted(set(y_true))
    p, r, f, n = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    width = max(len(x) for x in labels + ["label"])
    lines = [f"{'label':<{width}}  precision  recall  f1      n"]
    for i, lab in enumerate(labels):
        lines.append(f"{lab:<{width}}  {p[i]:9.4f}  {r[i]:6.4f}  {f[i]:6.4f}  {n[i]}")
    cols = labels + sorted(set(y_pred) - set(labels))
    cm = confusion_matrix(y_true, y_pred, labels=cols)
    short = [c[:6] for c in cols]
    lines += ["", "confusion matrix (rows: true, columns: predicted)",
              " " * width + " " + " ".join(f"{s:>6}" for s in short)]
    for i, lab in enumerate(labels):
        lines.append(f"{lab:<{width}} " + " ".join(f"{v:>6}" for v in cm[i]))
    macro = float(f.mean()) if len(f) else 0.0
    return "\n".join(lines), macro, float(accuracy_score(y_true, y_pred))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m nlp.evaluate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", action="append", help="CSV with columns text,label")
    ap.add_argument("--data-dir", help="directory of <label>.txt files (e.g. bench/data/unseen)")
    ap.add_argument("--model", help="model directory from `python -m nlp.train` (default: shipped)")
    a = ap.parse_args(argv)
    if not a.data and not a.data_dir:
        ap.error("give --data F.csv or --data-dir DIR")
    try:
        rows = read_sources(a.data, a.data_dir)
        if not rows:
            raise ValueError("no labelled rows")
        y_pred = predict(rows, a.model)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    text, macro, acc = report([label for _, label in rows], y_pred)
    print(text)
    print(f"macro_f1={macro:.4f} accuracy={acc:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
