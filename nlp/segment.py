"""jieba segmentation with the domain user dictionary (nlp/data/userdict.txt).

`cut` gives exactly what ``jieba.Tokenizer.lcut(text, HMM=False)`` gives (whitespace dropped): the
same dictionary, the same most-probable route through the same word graph, the same tie-breaks.
It is jieba's algorithm in one tighter loop (the graph and the route in a single right-to-left pass,
lists instead of dicts, logarithms memoised), about twice as fast, and segmentation is the largest
cost of classifying a message. tests/nlp/test_segment.py holds it to jieba's output.
"""
from __future__ import annotations

import logging
import re
import threading
from math import log
from pathlib import Path

import jieba

_USERDICT = Path(__file__).with_name("data") / "userdict.txt"
_lock = threading.Lock()
_tokenizer: jieba.Tokenizer | None = None
_cutter: "_Cutter | None" = None

jieba.setLogLevel(logging.WARNING)

# jieba's own block splitter: runs of Han characters, letters, digits and +#&._%- are segmented,
# anything else is taken a character at a time.
_HAN = re.compile("([\u4E00-\u9FD5a-zA-Z0-9+#&\\._%\\-]+)")
_ASCII_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


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


class _Cutter:
    def __init__(self, tok: jieba.Tokenizer) -> None:
        self.freq = tok.FREQ                       # words (count > 0) and their prefixes (count 0)
        self.logtotal = log(tok.total)
        self.logp: dict[str, float] = {}           # memo: word -> log(count) - log(total)

    def block(self, s: str) -> list[str]:
        """One run of _HAN characters, as jieba's __cut_DAG_NO_HMM cuts it."""
        n = len(s)
        freq, logp, logtotal = self.freq, self.logp, self.logtotal
        best = [0.0] * (n + 1)
        end = [0] * n
        for k in range(n - 1, -1, -1):
            top = None
            top_i = k
            i = k
            frag = s[k]
            while frag in freq:
                f = freq[frag]
                if f:
                    lp = logp.get(frag)
                    if lp is None:
                        lp = logp[frag] = log(f) - logtotal
                    score = lp + best[i + 1]
                    if top is None or score >= top:     # jieba's max((score, i)): ties go to the longer word
                        top, top_i = score, i
                i += 1
                if i >= n:
                    break
                frag = s[k:i + 1]
            if top is None:                             # not a word: the character alone
                top = log(freq.get(s[k]) or 1) - logtotal + best[k + 1]
            best[k] = top
            end[k] = top_i + 1
        out: list[str] = []
        buf = ""
        x = 0
        while x < n:                                    # single letters and digits run together
            y = end[x]
            word = s[x:y]
            if y - x == 1 and word in _ASCII_ALNUM:
                buf += word
            else:
                if buf:
                    out.append(buf)
                    buf = ""
                out.append(word)
            x = y
        if buf:
            out.append(buf)
        return out


def _get_cutter() -> _Cutter:
    global _cutter
    if _cutter is None:
        tok = tokenizer()
        with _lock:
            if _cutter is None:
                _cutter = _Cutter(tok)
    return _cutter


def cut(text: str) -> list[str]:
    """Words of `text`, whitespace dropped (already-segmented text passes through intact)."""
    cutter = _get_cutter()
    out: list[str] = []
    for i, blk in enumerate(_HAN.split(text)):
        if not blk:
            continue
        if i % 2:                                       # a captured run
            out += cutter.block(blk)
        else:
            out += [c for c in blk if c.strip()]
    return out
