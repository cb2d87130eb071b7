"""Where the classifier's model lives, and loading it lazily, once per process, thread-safely.

The shipped model is nlp/model/ (written by `python -m nlp.train`, committed: it is small). When it
is missing (a fresh checkout before anyone trained), the seed corpus is trained at first use and
cached under ./data/model; when even that is impossible, the phrase table works alone.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from nlp.classifier import Classifier, Settings

log = logging.getLogger(__name__)

SHIPPED_DIR = Path(__file__).with_name("model")
CACHE_DIR = Path(os.environ.get("JIESU_MODEL_CACHE", "data/model"))

_lock = threading.Lock()
_loaded: dict[str, Classifier] = {}
load_seconds: dict[str, float] = {}     # for the speed benchmark


def is_model_dir(path: Path) -> bool:
    return path.is_dir() and any(p.name != "combine.json" for p in path.iterdir())


def _load_model(path: Path):
    from nlp.textmodel import TextModel
    return TextModel.load(str(path))


def _default_dir() -> Path | None:
    if is_model_dir(SHIPPED_DIR):
        return SHIPPED_DIR
    if is_model_dir(CACHE_DIR):
        return CACHE_DIR
    try:
        from nlp.train import train_shipped
        log.warning("no shipped model in %s: training the seed corpus into %s", SHIPPED_DIR, CACHE_DIR)
        train_shipped(CACHE_DIR, progress=False)
        return CACHE_DIR
    except Exception:
        log.exception("could not train the seed model; classifying with the phrase table only")
        return None


def get_classifier(model_dir: str | Path | None = None) -> Classifier:
    """The classifier for `model_dir` (None: the shipped one), loaded once per process."""
    key = str(model_dir) if model_dir is not None else ""
    c = _loaded.get(key)
    if c is not None:
        return c
    with _lock:
        c = _loaded.get(key)
        if c is None:
            t0 = time.perf_counter()
            path = Path(model_dir) if model_dir is not None else _default_dir()
            model = None
            if path is not None:
                if model_dir is not None and not is_model_dir(path):
                    raise FileNotFoundError(f"no model in {path}")
                try:
                    model = _load_model(path)
                except Exception:
                    if model_dir is not None:
                        raise                  # an explicit --model must work
                    log.exception("could not load the model in %s; phrase table only", path)
            c = Classifier(model, Settings.load(path))
            # warm the tokenizer and the rule tables now rather than in the first resident's reply
            from nlp.segment import tokenizer
            tokenizer()
            c.classify_many(["3号楼电梯坏了", "电平车"], explain=False)
            load_seconds[key] = time.perf_counter() - t0
            _loaded[key] = c
    return c
