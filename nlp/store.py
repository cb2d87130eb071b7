"""Where the classifier's model lives, and loading it lazily, once per process, thread-safely.

The shipped model is nlp/model/ (written by `python -m nlp.train`, committed: it is small). When it
is missing (a fresh checkout before anyone trained), the seed corpus is trained at first use and
cached under ./data/model; when even that is impossible, the phrase table works alone.

A deployment that learns from corrections calls use_model_root(root): then <root>/current, when it
holds a model, wins over the shipped one, and reload_if_changed() (every worker, every minute)
switches to whatever `current` points at after a retraining (bot/learning.py).
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
_root: Path | None = None               # see use_model_root()
_default_path: Path | None = None       # the directory the default classifier came from
_failed: set[Path] = set()              # retrained directories that would not load


def use_model_root(root: str | Path | None) -> None:
    """Classify with <root>/current when it holds a model; None: the shipped model only."""
    global _root
    _root = Path(root) if root is not None else None


def current_dir() -> Path | None:
    """The retrained model <root>/current points at, if there is one."""
    if _root is None:
        return None
    cur = _root / "current"
    return cur.resolve() if is_model_dir(cur) else None


def is_model_dir(path: Path) -> bool:
    return path.is_dir() and any(p.name != "combine.json" for p in path.iterdir())


def _load_model(path: Path):
    from nlp.textmodel import TextModel
    return TextModel.load(str(path))


def _load_emergency_model(path: Path | None, model):
    """The learned emergency signal trained next to the category model (on its features)."""
    from nlp.emergency import MODEL_SUBDIR
    from nlp.textmodel import TextModel
    if path is None or model is None or not is_model_dir(path / MODEL_SUBDIR):
        return None
    try:
        return TextModel.load(str(path / MODEL_SUBDIR), vocabulary=model)
    except Exception:
        log.exception("could not load the emergency model in %s; rules only", path / MODEL_SUBDIR)
        return None


def _load_english_head(path: Path | None):
    """The English emergency head trained next to the Chinese one (nlp/english_head.py), loaded on
    first use (a file that will not load is logged by the classifier, which then uses the rules)."""
    from nlp import english_head
    from nlp.emergency import MODEL_SUBDIR
    return english_head.Lazy.of(path / MODEL_SUBDIR) if path is not None else None


def _default_dir() -> Path | None:
    cur = current_dir()
    if cur is not None and cur not in _failed:
        return cur
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


def _build(path: Path | None, explicit: bool) -> Classifier:
    t0 = time.perf_counter()
    model = None
    if path is not None:
        if explicit and not is_model_dir(path):
            raise FileNotFoundError(f"no model in {path}")
        try:
            model = _load_model(path)
        except Exception:
            if explicit:
                raise                  # an explicit --model must work
            log.exception("could not load the model in %s; phrase table only", path)
    c = Classifier(model, Settings.load(path), _load_emergency_model(path, model), _load_english_head(path))
    # warm the tokenizer and the rule tables now rather than in the first resident's reply
    from nlp import segment
    segment.warm()
    c.classify_many(["3号楼电梯坏了", "电平车"], explain=False)
    load_seconds[str(path) if explicit else ""] = time.perf_counter() - t0
    return c


def get_classifier(model_dir: str | Path | None = None) -> Classifier:
    """The classifier for `model_dir` (None: the one in use), loaded once per process."""
    global _default_path
    key = str(model_dir) if model_dir is not None else ""
    c = _loaded.get(key)
    if c is not None:
        return c
    with _lock:
        c = _loaded.get(key)
        if c is None:
            if model_dir is not None:
                c = _build(Path(model_dir), explicit=True)
            else:
                _default_path = _default_dir()
                c = _build(_default_path, explicit=False)
            _loaded[key] = c
    return c


def reload_if_changed() -> bool:
    """Switch the default classifier to the model <root>/current now points at, if that is not the
    one in use. Loading (about a second) happens before the switch: messages meanwhile use the old
    one. A directory that fails to load is logged once and skipped."""
    global _default_path
    cur = current_dir()
    if cur is None or cur == _default_path or cur in _failed or "" not in _loaded:
        return False
    try:
        c = _build(cur, explicit=True)
    except Exception:
        log.exception("retrained model in %s would not load; keeping %s", cur, _default_path)
        _failed.add(cur)
        return False
    with _lock:
        _loaded[""] = c
        _default_path = cur
    log.info("classifier switched to %s", cur)
    return True
