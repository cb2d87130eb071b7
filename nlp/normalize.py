"""Text clean-up before anything reads a message: one spelling of everything.

繁體 -> 简体, full-width -> half-width, emoji and WeChat sticker codes dropped, repeated punctuation
collapsed, whitespace tidied, then known misspellings, sound-alike spellings of the emergency words
(nlp/homophones.py) and near misses of domain terms repaired (nlp/data/terms.yaml). Cheap enough to
run on every message (tens of microseconds for a short one).
"""
from __future__ import annotations

import re
from bisect import bisect_right
from collections import Counter
from functools import cache, lru_cache
from itertools import chain, repeat
from pathlib import Path

import zhconv
from rapidfuzz.distance import Hamming

from nlp import homophones, pinyin, segment
from nlp.datafile import load_yaml

_TERMS = Path(__file__).with_name("data") / "terms.yaml"

# Full-width ASCII (！，？３Ａ) and the ideographic space map onto plain ASCII, so "３号楼" and "3号楼"
# are one spelling; 。、 have no ASCII twin and stay (the clause splitters know both forms).
_WIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}
_WIDTH[0x3000] = 0x20
_WIDTH.update({0x00A0: 0x20, 0x200B: None, 0x200C: None, 0x200D: None, 0xFEFF: None, 0xFE0F: None})

_EMOJI = re.compile(
    "[\U0001F000-\U0001FAFF\U0001F1E6-\U0001F1FF\u2600-\u27BF\u2B00-\u2BFF\u2300-\u23FF"
    "\uFE00-\uFE0F\U000E0000-\U000E007F]+"
)
# WeChat stickers arrive as text codes: [捂脸] [强] [Smile] /::) ; a bracket of 1-4 Han characters
# or one English word is a sticker, not content (a place like [3号楼] has digits and stays).
_STICKER = re.compile(r"\[(?:[\u4e00-\u9fff]{1,4}|[A-Za-z]{2,12})\]|/::?[A-Za-z()<>|!@$&*+\-?]{1,3}")
# Runs of the same punctuation (!!!  。。。  ???  ~~~) carry emphasis only; one is enough.
_PUNCT_RUN = re.compile(r"([!?,.。，、;；:：~…\-_=*#])\1+")
_MIXED_EXCL = re.compile(r"[!?]{2,}")
_SPACES = re.compile(r"\s+")
# Anything else unprintable (control characters) becomes a space.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


# jieba frequency above which a single character is a function word (的 了 是 在 到 上 ...).
_FUNCTION_WORD_FREQ = 50_000


# Characters that only a word-level rule converts (著火 -> 着火, 回覆 -> 回复): a message written
# in Traditional script nearly always also holds one of the single-character conversions as well.
_CONTEXT_TRAD = "著覆藉"


@lru_cache(maxsize=1)
def _trad_chars() -> frozenset[str]:
    """Characters that zhconv converts on their own (樓 請 電 ...), plus _CONTEXT_TRAD. A message
    with none of them is already simplified and skips the conversion, which is the slowest step.
    (Taking every character of every word-level rule instead would send 90% of simplified
    messages through zhconv, for 人 上 都 里 ... appear in its rewordings.)"""
    table = zhconv.zhconv.getdict("zh-cn")
    return frozenset({k for k, v in table.items() if len(k) == 1 and k != v} | set(_CONTEXT_TRAD))


def _positions(text: str, ch: str) -> list[int]:
    out = []
    i = text.find(ch)
    while i >= 0:
        out.append(i)
        i = text.find(ch, i + 1)
    return out


class _Repair:
    """Known variants (exact) and near misses of domain terms (one substituted character)."""

    def __init__(self, data: dict) -> None:
        self.variants: dict[str, str] = {k: v for k, v in (data.get("variants") or {}).items() if k != v}
        keys = sorted(self.variants, key=len, reverse=True)
        self.variant_re = re.compile("|".join(map(re.escape, keys))) if keys else None
        self.terms: list[str] = [t for t in data.get("terms") or [] if len(t) >= 3]
        self.term_set = frozenset(self.terms) | frozenset(self.variants.values())
        self.confusable = {k: set(v) for k, v in (data.get("confusable") or {}).items() if len(k) == 1}
        self.protected = frozenset(data.get("protected") or [])
        # char -> indices of terms containing it: a term is only tried when the text holds all but
        # one of its characters, so a short message costs a few dict look-ups.
        self.by_char: dict[str, list[int]] = {}
        for i, t in enumerate(self.terms):
            for c in set(t):
                self.by_char.setdefault(c, []).append(i)
        self.need = [len(set(t)) - 1 for t in self.terms]
        self.homophones = homophones.load()

    def apply(self, text: str) -> str:
        if self.variant_re is not None:
            words = _Words(text)
            text = self.variant_re.sub(lambda m: self._variant(m, words), text)
        if self.homophones is not None:           # 没起泄露 -> 煤气泄露 (nlp/homophones.py)
            text = self.homophones.repair(text)
        # counted in C: how many of each term's characters the text holds
        counts = Counter(chain.from_iterable(map(self.by_char.get, set(text), repeat(()))))
        need = self.need
        for i, n in counts.items():
            if n >= need[i]:
                text = self._fix(text, self.terms[i])
        return text

    def _variant(self, m: re.Match, words: _Words) -> str:
        """The replacement, unless it would break a word that jieba reads across the key's edge:
        然气 is 燃气 typed by sound, but not in 虽然气温 (虽然|气温), nor is 电摩 电瓶车 in
        电摩擦 (电|摩擦); 有然气味 becomes 有燃气味, for 燃气 keeps the 气 of 气味."""
        key, start, end = m.group(0), m.start(), m.end()
        new = self.variants[key]
        if len(key) == 1:
            return new
        across = words.around(start)
        if across is not None:                       # a word runs in across the start ...
            a, b = across
            if b > end or not new.startswith(key[:b - start]):
                return key                           # ... and the replacement breaks it
        across = words.around(end)
        if across is not None and not new.endswith(key[across[0] - start:]):
            return key                               # the same across the end
        return new

    def _fix(self, text: str, term: str) -> str:
        n = len(term)
        # Windows that can be one substitution away agree on the first or the second character.
        starts = set(_positions(text, term[0]))
        starts |= {i - 1 for i in _positions(text, term[1]) if i >= 1}
        # a repair replaces n characters by n: the characters in a list, each repair in place
        # (rebuilding the string per repair cost repairs x length)
        out: list[str] | None = None
        for i in sorted(starts, reverse=True):   # right to left, as windows may overlap a repair
            window = text[i:i + n] if out is None else "".join(out[i:i + n])
            if len(window) != n or window == term or window in self.term_set or window in self.protected:
                continue
            if Hamming.distance(window, term, score_cutoff=1) != 1:
                continue
            pos = next(k for k in range(n) if window[k] != term[k])
            if self._acceptable(window, term, pos):
                if out is None:
                    out = list(text)
                out[i:i + n] = term
        return text if out is None else "".join(out)

    def _acceptable(self, window: str, term: str, pos: int) -> bool:
        wrong, right = window[pos], term[pos]
        if wrong in self.confusable.get(right, ()):
            return not segment.is_word(window)
        if len(term) < 4 or not ("\u4e00" <= wrong <= "\u9fff"):
            return False
        # Any other slip in a long term, unless the wrong character is a function word (违章搭的棚子
        # is what the resident meant) or makes a real word with its neighbours (消防通知: 通知).
        if segment.count(wrong) > _FUNCTION_WORD_FREQ:
            return False
        for a in range(0, pos + 1):
            for b in range(pos + 1, len(window) + 1):
                if b - a >= 2 and segment.is_word(window[a:b]):
                    return False
        return True


class _Words:
    """jieba's words of one text, segmented on first need (once per text, not once per variant)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.spans: list[tuple[int, int]] | None = None
        self.starts: list[int] = []

    def around(self, pos: int) -> tuple[int, int] | None:
        """The word (start, end) that runs across `pos` (start < pos < end), if any."""
        if self.spans is None:
            self.spans = segment.spans(self.text)
            self.starts = [a for a, _ in self.spans]
        i = bisect_right(self.starts, pos) - 1
        if i >= 0 and pos < self.spans[i][1] and self.spans[i][0] < pos:
            return self.spans[i]
        return None


@cache
def _repairer() -> _Repair:
    return _Repair(load_yaml(_TERMS) or {})


def clean(text: str) -> str:
    """Script, width, emoji, punctuation and whitespace only (no spelling repair)."""
    if not text:
        return ""
    if not _trad_chars().isdisjoint(text):
        text = zhconv.convert(text, "zh-cn")
    text = text.translate(_WIDTH)
    text = _CONTROL.sub(" ", text)
    text = _STICKER.sub(" ", text)
    text = _EMOJI.sub(" ", text)
    text = _PUNCT_RUN.sub(r"\1", text)
    text = _MIXED_EXCL.sub(lambda m: m.group(0)[0], text)
    return _join_spaced(_SPACES.sub(" ", text).strip())


_HAN_WORD = re.compile(r"^[\u4e00-\u9fff]+$")
_HAN_GAP = re.compile(r"(?<=[\u4e00-\u9fff]) (?=[\u4e00-\u9fff])")


def _join_spaced(text: str) -> str:
    """"我 房子 外面 有 人 一直 敲门" (a learner's Chinese, or a word per tap) -> "我房子外面有人一直敲门".
    Only when the Chinese words average under 1.6 characters: elsewhere a space is the resident's
    comma ("电梯 坏了 快来"), and the emergency rules read it as a clause end."""
    if " " not in text:
        return text
    words = [w for w in text.split(" ") if _HAN_WORD.match(w)]
    if len(words) < 4 or sum(map(len, words)) > 1.6 * len(words):
        return text
    return _HAN_GAP.sub("", text)


def normalize(text: str) -> str:
    """The one spelling every other part of nlp/ reads."""
    if not text:
        return ""
    # Short messages repeat (and classify + similarity + emergency each ask): cache those only.
    return _normalize_cached(text) if len(text) <= 300 else _normalize(text)


def _normalize(text: str) -> str:
    text = pinyin.to_hanzi(clean(text))
    return _repairer().apply(text) if text else text


_normalize_cached = lru_cache(maxsize=8192)(_normalize)
