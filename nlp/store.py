"""Where the classifier's model lives, and loading it lazily, once per process, thread-safely.

The shipped model is nlp/model/ (written by `python -m nlp.train`, committed: it is small). When it
is missing (a fresh checkout before anyone trained), the seed corpus is trained at first use and
cached under ./data/model; when even that is impossible, the phrase table works alone.

A deployment that learns from corrections owns a Models(root): then <root>/current, when it holds a
model, wins over the shipped one, and Models.reload_if_changed() (every worker, every minute)
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

load_seconds: dict[str, float] = {}     # for the speed benchmark


def is_model_dir(path: Path) -> bool:
    return path.is_dir() and any(p.name != "combine.json" for p in path.iterdir())


def _load_model(path: Path):
    from nlp.textmodel import TextModel
    return TextModel.load(str(path))


def load_emergency_model(path: Path | None, model):
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


def load_english_head(path: Path | None):
    """The English emergency head trained next to the Chinese one (nlp/english_head.py), loaded on
    first use (a file that will not load is logged by the classifier, which then uses the rules)."""
    from nlp import english_head
    from nlp.emergency import MODEL_SUBDIR
    return english_head.Lazy.of(path / MODEL_SUBDIR) if path is not None else None


def _fallback_dir() -> Path | None:
    """The shipped model, else the cache, else one trained now from the seed corpus."""
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


def build(path: Path | None, explicit: bool = True) -> Classifier:
    """A classifier from the model in `path` (None: the phrase table alone). `explicit`: a model
    that will not load is an error, not a fallback to the phrase table."""
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
    c = Classifier(model, Settings.load(path), load_emergency_model(path, model), load_english_head(path))
    # warm the tokenizer and the rule tables now rather than in the first resident's reply
    from nlp import segment
    segment.warm()
    c.classify_many(["3号楼电梯坏了", "电平车"], explain=False)
    load_seconds[str(path) if explicit else ""] = time.perf_counter() - t0
    return c


class Models:
    """The classifiers one owner (the bot's services, a command line, a benchmark) uses: each
    model directory loaded once, thread-safely. With a `root` (config nlp.model_root), a model
    retrained from corrections in <root>/current wins over the shipped one, and reload_if_changed()
    (every worker, every minute) switches to whatever `current` points at (bot/learning.py)."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else None
        self._lock = threading.Lock()
        self._loaded: dict[str, Classifier] = {}
        self.default_path: Path | None = None     # the directory the default classifier came from
        self._failed: set[Path] = set()           # retrained directories that would not load

    def current_dir(self) -> Path | None:
        """The retrained model <root>/current points at, if there is one."""
        if self.root is None:
            return None
        cur = self.root / "current"
        return cur.resolve() if is_model_dir(cur) else None

    def _default_dir(self) -> Path | None:
        cur = self.current_dir()
        return cur if cur is not None and cur not in self._failed else _fallback_dir()

    def get(self, model_dir: str | Path | None = None) -> Classifier:
        """The classifier for `model_dir` (None: the one in use), loaded once."""
        key = str(model_dir) if model_dir is not None else ""
        c = self._loaded.get(key)
        if c is not None:
            return c
        with self._lock:
            c = self._loaded.get(key)
            if c is None:
                if model_dir is not None:
                    c = build(Path(model_dir), explicit=True)
                else:
                    self.default_path = self._default_dir()
                    c = build(self.default_path, explicit=False)
                self._loaded[key] = c
        return c

    def classify(self, text: str):
        """One message with the classifier in use; never raises (nlp.api.classify_with)."""
        from nlp.api import classify_with
        return classify_with(self.get, text)

    def reload_if_changed(self) -> bool:
        """Switch the default classifier to the model <root>/current now points at, if that is not
        the one in use. Loading (about a second) happens before the switch: messages meanwhile use
        the old one. A directory that fails to load is logged once and skipped."""
        cur = self.current_dir()
        if cur is None or cur == self.default_path or cur in self._failed or "" not in self._loaded:
            return False
        try:
            c = build(cur, explicit=True)
        except Exception:
            log.exception("retrained model in %s would not load; keeping %s", cur, self.default_path)
            self._failed.add(cur)
            return False
        with self._lock:
            self._loaded[""] = c
            self.default_path = cur
        log.info("classifier switched to %s", cur)
        return True


# the shipped model, for code with no owner of its own (nlp.classify(), command lines, benchmarks)
SHARED = Models()


def get_classifier(model_dir: str | Path | None = None) -> Classifier:
    """The shipped classifier (or the one in `model_dir`), loaded once per process."""
    return SHARED.get(model_dir)
