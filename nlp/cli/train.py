"""Train a model directory usable by nlp.cli.classify / nlp.cli.evaluate --model.

    python -m nlp.cli.train --out nlp/model                    the seed corpus (nlp/data/seed/): the shipped model
    python -m nlp.cli.train --extra fixes.csv --out DIR        seed + extra rows (e.g. staff corrections)
    python -m nlp.cli.train --data F.csv --out DIR             any label set (a community's history, tipdm ...)

--out is always required: replacing the shipped model is said, never done by default.
CSV files have columns text,label (others ignored); see nlp/train.py for the tuning.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nlp.train import SHIPPED_DIR, dir_size, read_csv, read_dir, read_sources, seed_rows, train, tune_rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m nlp.cli.train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", action="append", help="CSV text,label to train on (instead of the seed corpus)")
    ap.add_argument("--data-dir", help="directory of <label>.txt files to train on")
    ap.add_argument("--extra", action="append", default=[], help="CSV text,label rows added to the training set")
    ap.add_argument("--out", required=True,
                    help="model directory to write (nlp/model replaces the shipped model)")
    ap.add_argument("--tune-dir", help="directory of <label>.txt files to tune the phrase weight on "
                    "(default for the seed corpus: nlp/data/tune/)")
    ap.add_argument("--no-tune", action="store_true", help="keep the configured phrase weight")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    a = ap.parse_args(argv)
    out = Path(a.out)
    try:
        rows = read_sources(a.data, a.data_dir)
        custom = bool(rows)
        if not custom:
            rows = seed_rows()
        for f in a.extra:
            rows += read_csv(f)
        tuning = read_dir(a.tune_dir) if a.tune_dir else (None if custom else tune_rows())
        if out.resolve() == SHIPPED_DIR.resolve():
            print(f"replacing the shipped model in {SHIPPED_DIR}", file=sys.stderr)
        info = train(rows, out, progress=not a.quiet, tune=not a.no_tune, tune_rows=tuning)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"trained {info['n_rows'] + info.get('n_tune_rows', 0)} rows, {len(info['labels'])} labels -> {out} "
          f"({dir_size(out) / 1e6:.2f} MB)" + (f", phrase_weight={info['phrase_weight']}" if "phrase_weight" in info else ""),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
