"""TextModel (its defaults) against a plain baseline on the tipdm2020 benchmark.

    .venv/bin/python bench/bench_tipdm.py --data /work/shared/data/tipdm2020/train.csv [--folds 5] [--jobs 2] [--seed 42]
        [--param fold_digits=false ...]      (TextModel parameters other than the defaults, as JSON values)

Stratified k-fold cross-validation with a fixed seed; both models see exactly the same folds.
Baseline: TF-IDF of jieba word unigrams + LinearSVC (scikit-learn defaults), the usual published
reference. Prints per-fold and mean macro-F1 and accuracy of both, the ratio model/baseline and the
training times. Folds run in `--jobs` worker processes. The data is read from its path and
nothing derived from it is written anywhere (its licence does not allow redistribution).
"""
from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SEED = 42


def read(path: str) -> tuple[list[str], list[str]]:
    csv.field_size_limit(10_000_000)
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = [(r["text"] or "", (r["label"] or "").strip()) for r in csv.DictReader(f)]
    rows = [r for r in rows if r[1]]
    return [t for t, _ in rows], [label for _, label in rows]


def run_fold(k: int, texts: list[str], labels: list[str], train_idx, test_idx, params: dict) -> dict:
    for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(v, "1")
    import warnings

    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.svm import LinearSVC

    from nlp.segment import cut
    from nlp.textmodel import TextModel

    tr_x = [texts[i] for i in train_idx]
    tr_y = [labels[i] for i in train_idx]
    te_x = [texts[i] for i in test_idx]
    te_y = [labels[i] for i in test_idx]
    out: dict = {"fold": k, "n_train": len(tr_x), "n_test": len(te_x)}

    t0 = time.perf_counter()
    model = TextModel(**params).fit(tr_x, tr_y)
    t1 = time.perf_counter()
    pred = model.predict(te_x)
    t2 = time.perf_counter()
    out["model"] = {"f1": f1_score(te_y, pred, average="macro"), "acc": accuracy_score(te_y, pred),
                    "train_s": t1 - t0, "predict_s": t2 - t1, "temperature": model.temperature_,
                    "n_features": int(model.meta()["n_features"])}

    t0 = time.perf_counter()
    vec = TfidfVectorizer(tokenizer=cut, token_pattern=None, lowercase=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        svm = LinearSVC().fit(vec.fit_transform(tr_x), tr_y)
    t1 = time.perf_counter()
    pred = svm.predict(vec.transform(te_x))
    t2 = time.perf_counter()
    out["baseline"] = {"f1": f1_score(te_y, pred, average="macro"), "acc": accuracy_score(te_y, pred),
                       "train_s": t1 - t0, "predict_s": t2 - t1}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="tipdm2020 train.csv (columns id,text,label)")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=2, help="folds run in parallel (worker processes)")
    ap.add_argument("--seed", type=int, default=SEED, help="seed of the fold split (default %(default)s)")
    ap.add_argument("--param", action="append", default=[], metavar="KEY=JSON",
                    help="a TextModel parameter other than its default, e.g. fold_digits=false")
    a = ap.parse_args(argv)
    import json
    try:
        params = {k: json.loads(v) for k, v in (x.split("=", 1) for x in a.param)}
    except ValueError:
        ap.error("--param takes KEY=JSON, e.g. C=0.5 or fold_digits=false")

    from joblib import Parallel, delayed
    from sklearn.model_selection import StratifiedKFold

    from nlp.textmodel import DEFAULT_PARAMS

    texts, labels = read(a.data)
    print(f"{a.data}: {len(texts)} rows, {len(set(labels))} labels; {a.folds}-fold stratified CV, "
          f"seed {a.seed}, {a.jobs} worker(s)")
    print("TextModel parameters:", ", ".join(f"{k}={v}" for k, v in {**DEFAULT_PARAMS, **params}.items()))
    folds = list(StratifiedKFold(a.folds, shuffle=True, random_state=a.seed).split(texts, labels))
    t0 = time.perf_counter()
    results = Parallel(n_jobs=a.jobs)(delayed(run_fold)(k, texts, labels, tr, te, params)
                                      for k, (tr, te) in enumerate(folds, 1))
    wall = time.perf_counter() - t0

    print(f"\n{'fold':>4} | {'model F1':>8} {'acc':>6} {'train s':>7} {'T':>5} | "
          f"{'base F1':>8} {'acc':>6} {'train s':>7}")
    for r in results:
        m, b = r["model"], r["baseline"]
        print(f"{r['fold']:>4} | {m['f1']:8.4f} {m['acc']:6.4f} {m['train_s']:7.1f} {m['temperature']:5.2f} | "
              f"{b['f1']:8.4f} {b['acc']:6.4f} {b['train_s']:7.1f}")

    def mean(key: str, what: str) -> float:
        return statistics.mean(r[key][what] for r in results)

    def sd(key: str, what: str) -> float:
        return statistics.stdev(r[key][what] for r in results) if len(results) > 1 else 0.0

    print(f"mean | {mean('model', 'f1'):8.4f} {mean('model', 'acc'):6.4f} {mean('model', 'train_s'):7.1f} "
          f"{'':>5} | {mean('baseline', 'f1'):8.4f} {mean('baseline', 'acc'):6.4f} {mean('baseline', 'train_s'):7.1f}")
    print(f"\nTextModel macro-F1 {mean('model', 'f1'):.4f} ± {sd('model', 'f1'):.4f}, "
          f"accuracy {mean('model', 'acc'):.4f}")
    print(f"baseline  macro-F1 {mean('baseline', 'f1'):.4f} ± {sd('baseline', 'f1'):.4f}, "
          f"accuracy {mean('baseline', 'acc'):.4f}")
    print(f"ratio model/baseline: macro-F1 {mean('model', 'f1') / mean('baseline', 'f1'):.4f}, "
          f"accuracy {mean('model', 'acc') / mean('baseline', 'acc'):.4f}")
    n_test = results[0]["n_test"]
    print(f"training time per fold: model {mean('model', 'train_s'):.1f} s, baseline "
          f"{mean('baseline', 'train_s'):.1f} s; prediction {n_test / mean('model', 'predict_s'):.0f} texts/s "
          f"(long texts); wall time {wall:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
