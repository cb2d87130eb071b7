"""Speed and memory of the classify path: prints figures, asserts nothing.

    .venv/bin/python bench/bench_nlp_speed.py [--n 5000] [--rounds 5] [--model DIR]

Pinned to one CPU core (and one BLAS thread). Prints messages/s of classify_many on short
messages beside plain jieba.cut on the same messages in the same run, the model load time in a
fresh process, and the resident-set size with the model loaded. Targets: >= 5,000 msg/s, load <= 2 s.
Then ms per message of the same messages classified one at a time (nlp.classify's path, which the
bot takes for every message) beside batches of 8, and their ratio.
The timings are interleaved over --rounds rounds and each is reported at its best round and
its median: on a shared machine other work only ever slows a round down, so the best round is the
steadiest figure, and the ratio to jieba within the same run the fairest.
"""
from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse          # noqa: E402
import statistics        # noqa: E402
import subprocess        # noqa: E402
import sys               # noqa: E402
import time              # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

_LOAD_SNIPPET = """
import os, sys, time
for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[v] = "1"
sys.path.insert(0, {root!r})
t0 = time.perf_counter()
from nlp.store import get_classifier
t1 = time.perf_counter()
get_classifier({model!r})
t2 = time.perf_counter()
print(f"{{t1 - t0:.3f}} {{t2 - t1:.3f}}")
"""


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def short_messages(n: int) -> list[str]:
    """Distinct short messages (<= 30 chars) from the seed corpus, made unique so that no cache helps."""
    from nlp.train import seed_rows
    base = [t[:30] for t, _ in seed_rows()]
    return [f"{base[i % len(base)]}{i}" for i in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--model", default=None)
    a = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    out = subprocess.run([sys.executable, "-c", _LOAD_SNIPPET.format(root=str(ROOT), model=a.model)],
                         capture_output=True, text=True, check=True)
    imp, load = (float(x) for x in out.stdout.split())
    print(f"model load (fresh process): import {imp:.2f} s + load {load:.2f} s = {imp + load:.2f} s")

    rss0 = rss_mb()
    import jieba
    from nlp.api import classify_with
    from nlp.normalize import _normalize_cached
    from nlp.store import get_classifier
    clf = get_classifier(a.model)
    msgs = short_messages(a.n)
    jieba.lcut("预热")                         # the default dictionary loads on first use
    print(f"rss: {rss0:.0f} MB before nlp, {rss_mb():.0f} MB with the model loaded")

    def timed(fn) -> float:
        _normalize_cached.cache_clear()                # no message is ever seen twice
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    runs: dict[str, list[float]] = {"jieba": [], "full": [], "lean": [], "one": [], "eight": []}
    for _ in range(a.rounds):
        runs["jieba"].append(timed(lambda: [jieba.lcut(m) for m in msgs]))
        runs["full"].append(timed(lambda: clf.classify_many(msgs)))
        runs["lean"].append(timed(lambda: clf.classify_many(msgs, explain=False)))
        runs["one"].append(timed(lambda: [classify_with(lambda: clf, m) for m in msgs]))
        runs["eight"].append(timed(lambda: [clf.classify_many(msgs[i:i + 8]) for i in range(0, len(msgs), 8)]))

    n = len(msgs)
    avg = sum(map(len, msgs)) / n
    print(f"messages: {n}, mean length {avg:.1f} chars, one core, {a.rounds} rounds (best / median)")
    best = {k: min(v) for k, v in runs.items()}
    med = {k: statistics.median(v) for k, v in runs.items()}
    for key, label in (("jieba", "jieba.lcut"), ("full", "classify_many (with terms)"),
                       ("lean", "classify_many (explain=False)")):
        line = f"{label + ':':31s} {n / best[key]:6.0f} / {n / med[key]:6.0f} msg/s"
        if key != "jieba":
            line += f"  ratio to jieba {best['jieba'] / best[key]:.2f} / {med['jieba'] / med[key]:.2f}"
        print(line)
    for key, label in (("one", "one at a time (nlp.classify)"), ("eight", "classify_many, batches of 8")):
        print(f"{label + ':':31s} {best[key] / n * 1e3:.3f} / {med[key] / n * 1e3:.3f} ms per message")
    print(f"one at a time / batches of 8:   {best['one'] / best['eight']:.2f} / {med['one'] / med['eight']:.2f}")
    print(f"rss after run: {rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
