"""jieba segmentation with the domain user dictionary (nlp/data/userdict.txt).

`cut` gives what ``jieba.Tokenizer.lcut(text, HMM=False)`` gives (whitespace dropped), computed by
jieba-rs (the `rjieba` binding): jieba's algorithm and dictionary in Rust, 6-7x faster than the
pure-Python loop that used to live here, and segmentation was the largest cost of classifying a
message. The one difference: when two routes through a message are exactly equally probable
(咚咚咚: 咚|咚咚 or 咚咚|咚) jieba-rs may take the other one. tests/nlp/test_segment.py holds it to
Python jieba's output up to such ties.

`is_word` and `count` answer dictionary questions (is 没起 a word? how common is 火?) from the same
dictionary, so nothing needs Python jieba's 1-second, 100 MB prefix dictionary at run time.
"""
from __future__ import annotations

import threading
from pathlib import Path

import rjieba

USERDICT = Path(__file__).with_name("data") / "userdict.txt"
_lock = threading.Lock()
_jieba: rjieba.Jieba | None = None


def userdict_entries(path: Path = USERDICT) -> list[tuple[str, int]]:
    """(word, count) per line of a jieba user dictionary; every line of ours gives its count."""
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 2 or not parts[1].isdigit():
            raise ValueError(f"{path}:{n}: expected 'word count [tag]', got {line!r}")
        out.append((parts[0], int(parts[1])))
    return out


def _segmenter() -> rjieba.Jieba:
    """One jieba-rs instance per process with the domain words, built once (about 0.3 s)."""
    global _jieba
    if _jieba is None:
        with _lock:
            if _jieba is None:
                j = rjieba.Jieba()
                for word, count in userdict_entries():
                    j.add_word(word, count, None)
                _jieba = j
    return _jieba


def warm() -> None:
    """Load the dictionary now rather than in the first resident's reply."""
    _segmenter()


def cut(text: str) -> list[str]:
    """Words of `text`, whitespace dropped (already-segmented text passes through intact)."""
    return [w for w in _segmenter().cut(text, False) if not w.isspace()]


def is_word(text: str) -> bool:
    """Whether `text` is a word of the dictionary (jieba's own plus ours)."""
    return bool(text) and _segmenter().has_word(text)


def count(word: str) -> int:
    """The dictionary's count for `word` (0 if it is not a word); for single characters, how
    common the character is in everyday text."""
    j = _segmenter()
    # suggest_freq is max(count, the count its own route implies + 1): the word's count, give or take one
    return j.suggest_freq(word) if word and j.has_word(word) else 0


MAX_WORD = 4            # longest dictionary word looked for across a span's edges


def word_across(text: str, start: int, end: int) -> bool:
    """Whether any dictionary word of 2+ characters runs across an edge of text[start:end] (虽然气温:
    虽然 runs across the start of 然气), however unlikely that reading of the text."""
    for a in range(max(0, start - MAX_WORD + 1), end):
        for b in range(a + 2, min(len(text), a + MAX_WORD) + 1):
            if ((a < start < b) or (a < end < b)) and is_word(text[a:b]):
                return True
    return False


def spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each word of cut(text) in `text`."""
    out, pos = [], 0
    for w in cut(text):
        at = text.find(w, pos)
        if at < 0:
            break
        out.append((at, at + len(w)))
        pos = at + len(w)
    return out
