"""jieba segmentation with the domain user dictionary (nlp/data/userdict.txt)."""
from __future__ import annotations

import logging
import threading
from pathlib import Path

import jieba

_USERDICT = Path(__file__).with_name("data") / "userdict.txt"
_lock = threading.Lock()
_tokenizer: jieba.Tokenizer | None = None

jieba.setLogLevel(logging.WARNING)


def tokenizer() -> jieba.Tokenizer:
    """One jieba Tokenizer per process, initialised once with the domain words."""
    global _tokenizer
    if _tokenizer is None:
        with _lock:
            if _tokenizer is None:
                tok = jieba.Tokenizer()
                tok.initialize()
                if _USERDICT.exists():
                    tok.load_userdict(str(_USERDICT))
                _tokenizer = tok
    return _tokenizer


def cut(text: str) -> list[str]:
    """Words of `text`, whitespace dropped (already-segmented text passes through intact)."""
    return [w for w in tokenizer().lcut(text, HMM=False) if w.strip()]
