"""Per-class precision/recall/F1 and the confusion matrix of a classifier on labelled messages
(the command line is nlp/cli/evaluate.py). Macro-F1 averages over the labels present in the data:
a prediction outside them counts as a miss, not as an extra class.
"""
from __future__ import annotations

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
