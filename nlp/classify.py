"""JSON lines in, JSON lines out: `python -m nlp.classify [--model DIR] < in.jsonl > out.jsonl`.

Each input line is {"text": "..."} (other fields are echoed back under "id" if present); each output
line has category, confidence, top, terms, emergency (bool), emergency_kind, emergency_number,
location (object or null), low_confidence. A bad line gives {"error": "..."}: never a traceback.
"""
from __future__ import annotations

import argparse
import json
import sys
import types
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
    }


def _parse(line: str) -> tuple[str | None, dict]:
    """(text, extra fields to echo) or (None, {"error": ...})."""
    try:
        obj = json.loads(line)
    except ValueError as e:
        return None, {"error": f"not JSON: {e}"}
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        return None, {"error": 'expected an object with a string field "text"'}
    return obj["text"], ({"id": obj["id"]} if "id" in obj else {})


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
                row = {"error": errors, **extra}
            else:
                row = {**to_json(next(results)), **extra}
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
    ap = argparse.ArgumentParser(prog="python -m nlp.classify", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="model directory from `python -m nlp.train` (default: shipped)")
    a = ap.parse_args(argv)
    sys.stdin.reconfigure(encoding="utf-8", errors="replace")
    sys.stdout.reconfigure(encoding="utf-8")
    try:
        return run(sys.stdin, sys.stdout, a.model)
    except (OSError, ValueError) as e:
        print(json.dumps({"error": f"cannot load model: {e}"}, ensure_ascii=False))
        return 2


class _CallableModule(types.ModuleType):
    """`import nlp.classify` rebinds the attribute nlp.classify from the function to this module;
    keep `nlp.classify(text)` working for the rest of the bot either way."""

    def __call__(self, text: str) -> Classification:
        from nlp.api import classify
        return classify(text)


if __name__ == "__main__":
    sys.exit(main())
else:
    sys.modules[__name__].__class__ = _CallableModule
