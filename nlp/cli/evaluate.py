"""Per-class precision/recall/F1 and the confusion matrix of a classifier on labelled messages.

    python -m nlp.cli.evaluate --data F.csv [--model DIR]
    python -m nlp.cli.evaluate --data-dir bench/data/unseen [--model DIR]

Without --model: the shipped classifier (model + phrase table) on our taxonomy. The last line is
always exactly `macro_f1=0.xxxx accuracy=0.xxxx` (other tools parse it). Labels the model does not
know are named on stderr; when none of the data's labels is the model's, that is an error (exit 2)
rather than a report of macro_f1=0.0000.
"""
from __future__ import annotations

import argparse
import sys

from nlp.evaluate import predict, report
from nlp.train import read_sources


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m nlp.cli.evaluate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", action="append", help="CSV with columns text,label")
    ap.add_argument("--data-dir", help="directory of <label>.txt files (e.g. bench/data/unseen)")
    ap.add_argument("--model", help="model directory from `python -m nlp.cli.train` (default: shipped)")
    a = ap.parse_args(argv)
    if not a.data and not a.data_dir:
        ap.error("give --data F.csv or --data-dir DIR")
    try:
        rows = read_sources(a.data, a.data_dir)
        if not rows:
            raise ValueError("no labelled rows")
        from nlp.store import get_classifier
        known = set(get_classifier(a.model).labels)
        labels = {label for _, label in rows}
        unknown = sorted(labels - known)
        if unknown and len(unknown) == len(labels):
            raise ValueError(f"none of the labels in the data ({', '.join(unknown[:8])}) is one the model "
                             f"predicts ({', '.join(sorted(known)[:8])}...): is this the right model, or "
                             "are the labels category codes (nlp/data/categories.yaml)?")
        if unknown:
            print(f"warning: labels the model never predicts (each counts as a miss): {', '.join(unknown)}",
                  file=sys.stderr)
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
