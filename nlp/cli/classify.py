"""JSON lines in, JSON lines out: `python -m nlp.cli.classify [--model DIR] < in.jsonl > out.jsonl`.

Each input line is {"text": "...", ...}; each output line has category, confidence, top, terms,
emergency (bool), emergency_kind, emergency_number, emergency_advice, emergency_rules, location
(object or null), low_confidence, caution_kind, and every other field of the input line as it came
(one whose name the output already uses comes back as "input_<name>": a "category" you labelled is
kept beside ours). A bad line gives {"error": "..."} with its fields: never a traceback.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from nlp.types import Classification

_BATCH = 256


def to_json(c: Classification) -> dict:
    return {
        "category": c.category,
        "confidence": round(c.confidence, 4),
        "top": [[code, round(score, 4)] for code, score in c.top],
        "terms": c.terms,
        "emergency": c.emergency is not None,
        "emergency_kind": c.emergency.kind if c.emergency else None,
        "emergency_number": c.emergency.number if c.emergency else None,
        "emergency_advice": c.emergency.advice if c.emergency else None,
        "location": asdict(c.location) if c.location else None,
        "low_confidence": c.low_confidence,
        "caution_kind": c.caution.kind if c.caution else None,     # a possible emergency (see nlp/types.py)
        "emergency_rules": list((c.emergency or c.caution).rules) if (c.emergency or c.caution) else [],
    }


def _merge(result: dict, extra: dict) -> dict:
    """The result with every input field kept; a field named like one of ours as input_<name>."""
    out = dict(result)
    for k, v in extra.items():
        out[f"input_{k}" if k in result else k] = v
    return out


def _parse(line: str) -> tuple[str | None, dict]:
    """(text, extra fields to echo) or (None, {"error": ...})."""
    try:
        obj = json.loads(line)
    except ValueError as e:
        return None, {"error": f"not JSON: {e}"}
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        fields = {k: v for k, v in obj.items() if k != "text"} if isinstance(obj, dict) else {}
        return None, _merge({"error": 'expected an object with a string field "text"'}, fields)
    return obj["text"], {k: v for k, v in obj.items() if k != "text"}


def run(lines, out, model_dir: str | None = None) -> int:
    from nlp.store import get_classifier
    clf = get_classifier(model_dir)
    pending: list[tuple[str | None, dict]] = []

    def flush():
        texts = [t for t, _ in pending if t is not None]
        try:
            results = iter(clf.classify_many(texts))
            errors = None
        except Exception as e:          # keep the contract: one JSON line per input line
            results, errors = iter(()), f"classification failed: {type(e).__name__}: {e}"
        for text, extra in pending:
            if text is None:
                row = extra
            elif errors:
                row = _merge({"error": errors}, extra)
            else:
                row = _merge(to_json(next(results)), extra)
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        out.flush()
        pending.clear()

    for line in lines:
        if not line.strip():
            continue
        pending.append(_parse(line))
        if len(pending) >= _BATCH:
            flush()
    flush()
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m nlp.cli.classify", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="model directory from `python -m nlp.cli.train` (default: shipped)")
    a = ap.parse_args(argv)
    sys.stdin.reconfigure(encoding="utf-8", errors="replace")
    sys.stdout.reconfigure(encoding="utf-8")
    try:
        return run(sys.stdin, sys.stdout, a.model)
    except (OSError, ValueError) as e:
        print(json.dumps({"error": f"cannot load model: {e}"}, ensure_ascii=False))
        return 2


if __name__ == "__main__":
    sys.exit(main())
