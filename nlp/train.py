"""Train a model directory usable by nlp.classify / nlp.evaluate --model.

    python -m nlp.train                          seed corpus (nlp/data/seed/) -> nlp/model/
    python -m nlp.train --extra fixes.csv        seed + extra rows (e.g. staff corrections)
    python -m nlp.train --data F.csv --out DIR   any label set (a community's history, tipdm ...)

CSV files have columns text,label (others ignored). When every label is one of our codes, the
phrase table's share is tuned on a held-out 20% of the rows and stored in DIR/combine.json.
"""
from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from pathlib import Path

from tqdm import tqdm

from nlp.categories import CODES
from nlp.classifier import COMBINE_FILE, Settings, combine
from nlp.normalize import normalize

SEED_DIR = Path(__file__).with_name("data") / "seed"
SHIPPED_DIR = Path(__file__).with_name("model")
SPLIT_SEED = 13          # fixed: the held-out split is the same in every run and in bench/
HOLDOUT = 0.2
WEIGHTS = [round(0.05 * i, 2) for i in range(0, 19)]

Rows = list[tuple[str, str]]


def read_csv(path: str | Path) -> Rows:
    csv.field_size_limit(10_000_000)
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "text" not in reader.fieldnames or "label" not in reader.fieldnames:
            raise ValueError(f"{path}: needs columns text,label (has {reader.fieldnames})")
        return [(r["text"] or "", (r["label"] or "").strip()) for r in reader if (r["label"] or "").strip()]


def read_dir(path: str | Path) -> Rows:
    """A directory of <label>.txt files, one message per line (nlp/data/seed, bench/data/unseen)."""
    rows: Rows = []
    for f in sorted(Path(path).glob("*.txt")):
        rows += [(line.strip(), f.stem) for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not rows:
        raise ValueError(f"{path}: no <label>.txt files with messages")
    return rows


def read_sources(csv_files: list[str] | None, data_dir: str | None) -> Rows:
    """Rows from --data CSV files and a --data-dir folder (shared by nlp.train and nlp.evaluate)."""
    rows: Rows = []
    for f in csv_files or []:
        rows += read_csv(f)
    if data_dir:
        rows += read_dir(data_dir)
    return rows


def split(rows: Rows, holdout: float = HOLDOUT, seed: int = SPLIT_SEED) -> tuple[Rows, Rows]:
    """Stratified split: the same share of every label is held out."""
    by_label: dict[str, Rows] = {}
    for r in rows:
        by_label.setdefault(r[1], []).append(r)
    rng = random.Random(seed)
    train, test = [], []
    for label in sorted(by_label):
        group = sorted(by_label[label])
        rng.shuffle(group)
        k = int(round(len(group) * holdout)) if len(group) >= 5 else 0
        test += group[:k]
        train += group[k:]
    return train, test


def fit(rows: Rows, progress: bool = False, **params):
    from nlp.textmodel import TextModel
    texts = [normalize(t) for t, _ in tqdm(rows, desc="normalise", disable=not progress, file=sys.stderr)]
    model = TextModel(**params)
    model.fit(texts, [label for _, label in rows], progress=progress)
    return model


def macro_f1(y_true: list[str], y_pred: list[str]) -> float:
    from sklearn.metrics import f1_score
    return float(f1_score(y_true, y_pred, labels=sorted(set(y_true)), average="macro", zero_division=0))


def tune_phrase_weight(rows: Rows, progress: bool = False) -> tuple[float, dict[float, float]]:
    """The phrase table's share that gives the best macro-F1 on a held-out split of `rows`."""
    from nlp.classifier import Classifier
    train_rows, test_rows = split(rows)
    model = fit(train_rows, progress=progress)
    clf = Classifier(model, Settings.load())
    texts = [normalize(t) for t, _ in test_rows]
    model_p = clf._model_proba(texts)
    from nlp.phrases import table
    scores, _ = table().score_many(texts)
    y_true = [label for _, label in test_rows]
    results = {}
    for w in tqdm(WEIGHTS, desc="tune phrase weight", disable=not progress, file=sys.stderr):
        p = combine(model_p, scores, w, clf.s.negative_scale)
        results[w] = macro_f1(y_true, [clf.labels[j] for j in p.argmax(axis=1)])
    best = max(results.values())
    # among equally good weights take the middle one: least sensitive to the split
    good = [w for w, f in results.items() if f >= best - 1e-9]
    return good[len(good) // 2], results


def train(rows: Rows, out: str | Path, progress: bool = False, tune: bool = True) -> dict:
    out = Path(out)
    labels = sorted({label for _, label in rows})
    if len(labels) < 2:
        raise ValueError("need at least two labels to train")
    info: dict = {"labels": labels, "n_rows": len(rows), "taxonomy": set(labels) <= set(CODES),
                  "trained_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    if info["taxonomy"] and tune and len(rows) >= 50:
        w, results = tune_phrase_weight(rows, progress)
        info["phrase_weight"] = w
        info["tuning_macro_f1"] = {str(k): round(v, 4) for k, v in results.items()}
    model = fit(rows, progress=progress)
    out.mkdir(parents=True, exist_ok=True)
    model.save(str(out))
    (out / COMBINE_FILE).write_text(json.dumps(info, ensure_ascii=False, indent=1), encoding="utf-8")
    return info


def seed_rows() -> Rows:
    return read_dir(SEED_DIR)


def train_shipped(out: str | Path = SHIPPED_DIR, progress: bool = False, extra: Rows = ()) -> dict:
    return train(seed_rows() + list(extra), out, progress=progress)


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m nlp.train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", action="append", help="CSV text,label to train on (instead of the seed corpus)")
    ap.add_argument("--data-dir", help="directory of <label>.txt files to train on")
    ap.add_argument("--extra", action="append", default=[], help="CSV text,label rows added to the training set")
    ap.add_argument("--out", help="model directory to write (default: nlp/model/ for the seed corpus)")
    ap.add_argument("--no-tune", action="store_true", help="keep the configured phrase weight")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    a = ap.parse_args(argv)
    try:
        rows = read_sources(a.data, a.data_dir)
        custom = bool(rows)
        if not custom:
            rows = seed_rows()
        for f in a.extra:
            rows += read_csv(f)
        if custom and not a.out:
            ap.error("--out is required with --data/--data-dir (nlp/model/ is the shipped seed model)")
        out = Path(a.out) if a.out else SHIPPED_DIR
        info = train(rows, out, progress=not a.quiet, tune=not a.no_tune)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"trained {info['n_rows']} rows, {len(info['labels'])} labels -> {out} "
          f"({dir_size(out) / 1e6:.2f} MB)" + (f", phrase_weight={info['phrase_weight']}" if "phrase_weight" in info else ""),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
