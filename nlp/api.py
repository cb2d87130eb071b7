"""The public functions of nlp/ (re-exported by nlp/__init__.py). Signatures are stable."""
from __future__ import annotations

import logging

from nlp.categories import OTHER
from nlp.extract import find_location as _find_location
from nlp.extract import mask_pii as _mask_pii
from nlp.types import Classification, Location

log = logging.getLogger(__name__)


def classify_many(texts: list[str], model_dir: str | None = None) -> list[Classification]:
    """Classify a batch (vectorised: much faster per message than classify() in a loop)."""
    from nlp.store import get_classifier
    return get_classifier(model_dir).classify_many(list(texts))


def classify(text: str) -> Classification:
    """Category, confidence, top 3, deciding terms, emergency and place of one message, with the
    shipped model (the bot classifies with its own nlp.store.Models, which may hold a retrained one).

    Never raises for any input: a resident's message must always get a ticket. A long message is
    read as its head and tail (nlp/limits.py), so its length costs nothing past a few KB."""
    from nlp.store import SHARED
    return classify_with(SHARED.get, text)


def classify_with(get_classifier, text: str) -> Classification:
    """classify() with the classifier `get_classifier()` returns; never raises."""
    try:
        return get_classifier().classify_many([text])[0]
    except Exception:
        log.exception("classify failed; filing under other")
    try:                                   # the emergency hint matters most: keep it if we can
        from nlp.emergency import detect
        em, loc = detect(text or ""), _find_location(text or "")
    except Exception:
        em, loc = None, None
    return Classification(OTHER, 0.0, [(OTHER, 0.0)], [], em, loc, low_confidence=True)


def find_location(text: str) -> Location | None:
    return _find_location(text)


def mask_pii(text: str) -> str:
    return _mask_pii(text)
