"""The safety line on fresh held-out sets: prints figures, asserts nothing.

    .venv/bin/python bench/bench_safety.py [--show]

bench/data/safety_final/ (written from the spec alone by someone who saw neither the rules, the
training data nor the other sets; README.md there): ordinary.csv, messages that must get no safety line, half of
them the hard kind (灯一直闪, 突然停电了, yyds, 打我电话, past and what-if), and emergencies.csv,
emergencies happening now in every style.

Targets (issue 11): ordinary messages given any safety line (an emergency or a caution) <= 1%,
emergency recall counting cautions >= 0.97. Also printed: the same split by where the line came
from (a rule, the learned head), and how often the kind is right (the number to call).
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# sets nothing was tuned on; once a set has been used to change the rules or the head, it moves
# to nlp/data/emergency/ (as the retired_check*.csv before it) and a fresh one takes its place
SETS = [ROOT / "bench" / "data" / d for d in ("safety_final",)]


def _read(path: Path) -> list[dict]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def _source(e) -> str:
    return "head" if e.rules and e.rules[0].startswith("model:") else "rule"


def main(show: bool) -> None:
    for d in SETS:
        if d.is_dir():
            one(d, show)
        else:
            print(f"{d}: missing")


def one(d: Path, show: bool) -> None:
    from nlp.store import get_classifier
    clf = get_classifier()
    ordinary = [r["text"] for r in _read(d / "ordinary.csv")]
    em_rows = _read(d / "emergencies.csv")
    res = clf.classify_many(ordinary, explain=False)
    flagged = [(t, c) for t, c in zip(ordinary, res) if c.emergency is not None or c.caution is not None]
    n_em = sum(c.emergency is not None for _, c in flagged)
    by_source: dict[str, int] = {}
    for _, c in flagged:
        s = _source(c.emergency or c.caution)
        by_source[s] = by_source.get(s, 0) + 1
    print(f"ordinary ({d.relative_to(ROOT)}/ordinary.csv): n={len(ordinary)}")
    print(f"  given a safety line: {len(flagged)} = {len(flagged) / len(ordinary):.2%} (target <= 1%): "
          f"{n_em} as emergencies, {len(flagged) - n_em} as cautions; from {by_source or '-'}")
    for t, c in flagged:
        e = c.emergency or c.caution
        print(f"    {'emergency' if c.emergency else 'caution'} {e.kind} [{', '.join(e.rules)}]: {t}")
    texts = [r["text"] for r in em_rows]
    kinds = [r["kind"].strip() for r in em_rows]
    res = clf.classify_many(texts, explain=False)
    told = [c.emergency or c.caution for c in res]
    paged = sum(c.emergency is not None for c in res)
    found = sum(e is not None for e in told)
    kind_ok = sum(e is not None and e.kind == k for e, k in zip(told, kinds))
    print(f"emergencies ({d.relative_to(ROOT)}/emergencies.csv): n={len(texts)}")
    print(f"  recall with cautions: {found / len(texts):.4f} (target >= 0.97); as emergencies (paged): "
          f"{paged / len(texts):.4f}; kind right: {kind_ok}/{found}")
    per_kind: dict[str, list[int]] = {}
    for e, k in zip(told, kinds):
        per_kind.setdefault(k, [0, 0])[0] += e is not None
        per_kind[k][1] += 1
    print("  per kind: " + ", ".join(f"{k} {a}/{b}" for k, (a, b) in sorted(per_kind.items())))
    for t, e, k in zip(texts, told, kinds):
        if e is None:
            print(f"    missed {k}: {t}")
        elif show and e.kind != k:
            print(f"    {k} told as {e.kind}: {t}")


if __name__ == "__main__":
    main("--show" in sys.argv)
