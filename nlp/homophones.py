"""Keyboard and voice slips of the words an emergency turns on: 没起 for 煤气, 电梯坤人 for 电梯困人,
点提 for 电梯 — another character with the same sound (tones ignored), as pinyin input and voice
recognition produce. A window of the message that sounds like one of `homophone_terms`
(nlp/data/terms.yaml) but is spelt otherwise is replaced, unless it is a word of its own, the
message's words run across its edge (他还没起床: 起床 is a word, so 没起 stays), or jieba's words
do not begin and end with it.

The sound of each character comes from pypinyin, read once by `python -m nlp.homophones` into
nlp/data/homophones.json (only the characters that sound like some syllable of the terms), so the bot
itself needs no pinyin tables at run time. tests/nlp/test_homophones.py fails when the JSON is stale.
"""
from __future__ import annotations

import hashlib
import json
import sys
from operator import add
from pathlib import Path

from nlp import segment
from nlp.datafile import load_yaml

_DATA = Path(__file__).with_name("data")
_TERMS = _DATA / "terms.yaml"
TABLE = _DATA / "homophones.json"
MIN_FREQ = 50            # jieba's count of a character on its own, below which it is not a likely slip


def terms() -> list[str]:
    return [str(t) for t in (load_yaml(_TERMS) or {}).get("homophone_terms") or []]


def fingerprint(words: list[str]) -> str:
    return hashlib.sha1("\n".join(words).encode("utf-8")).hexdigest()[:16]


def build(out: Path = TABLE) -> dict:
    """Write the table: for each term its syllables, for each character that shares one its syllables."""
    from pypinyin import Style, pinyin
    from pypinyin.pinyin_dict import pinyin_dict

    words = terms()
    syllables = {w: [pinyin(c, style=Style.NORMAL)[0][0] for c in w] for w in words}
    wanted = {s for sy in syllables.values() for s in sy}
    chars: dict[str, list[str]] = {}
    for cp, readings in pinyin_dict.items():
        c = chr(cp)
        # the first reading only: a slip comes from typing a character's usual sound (和 is he, not huo)
        sounds = sorted({_plain(readings.split(",")[0])} & wanted)
        # a keyboard offers common characters first: rare ones are not what a slip produces
        if sounds and (segment.count(c) >= MIN_FREQ or any(c in w for w in words)):
            chars[c] = sounds
    table = {"fingerprint": fingerprint(words), "terms": syllables, "chars": chars}
    out.write_text(json.dumps(table, ensure_ascii=False, sort_keys=True, indent=0), encoding="utf-8")
    return table


_TONES = str.maketrans("āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜüńňǹḿ", "aaaaeeeeiiiioooouuuuvvvvvnnnm")


def _plain(reading: str) -> str:
    return reading.strip().translate(_TONES)


class Homophones:
    def __init__(self, table: dict) -> None:
        self.chars: dict[str, frozenset[str]] = {c: frozenset(s) for c, s in table["chars"].items()}
        self.terms: dict[str, list[str]] = table["terms"]
        # character -> the terms it can begin (it sounds like their first syllable), longest first
        by_first: dict[str, list[str]] = {}
        for w, syl in sorted(self.terms.items(), key=lambda kv: -len(kv[0])):
            by_first.setdefault(syl[0], []).append(w)
        self.first: dict[str, list[str]] = {}
        for c, sounds in self.chars.items():
            cands = [w for s in sorted(sounds) for w in by_first.get(s, ())]
            if cands:
                self.first[c] = sorted(cands, key=len, reverse=True)
        # a window can only start on a pair of characters that sound like a term's first two
        # syllables: the pairs are listed once, and a message is scanned for them in C
        sounding: dict[str, set[str]] = {}
        for c, sounds in self.chars.items():
            for syl in sounds:
                sounding.setdefault(syl, set()).add(c)
        pairs: set[str] = set()
        for w, syl in self.terms.items():
            pairs |= {a + b for a in sounding.get(syl[0], ()) | {w[0]} for b in sounding.get(syl[1], ()) | {w[1]}}
        self.pairs = frozenset(pairs)

    def repair(self, text: str) -> str:
        """`text` with sound-alike spellings of the terms repaired; a window that is a word is left alone."""
        bigrams = list(map(add, text, text[1:]))
        if self.pairs.isdisjoint(bigrams):            # most messages
            return text
        first, pairs = self.first, self.pairs
        out, done, cuts = [], 0, None
        for i, pair in enumerate(bigrams):
            if i < done or pair not in pairs:
                continue
            for term in first.get(text[i], ()):
                window = text[i:i + len(term)]
                if len(window) == len(term) and window != term and self._sounds_like(window, term) \
                        and self._free(text, i, i + len(term)):
                    if cuts is None:
                        cuts = _boundaries(text)
                    if i not in cuts or i + len(term) not in cuts:     # inside a word: 地垫踢到
                        continue
                    out += [text[done:i], term]
                    done = i + len(term)
                    break
        return "".join(out) + text[done:] if out else text

    def _sounds_like(self, window: str, term: str) -> bool:
        syl = self.terms[term]
        return all(a == b or syl[k] in self.chars.get(a, ()) for k, (a, b) in enumerate(zip(window, term)))

    @staticmethod
    def _free(text: str, start: int, end: int) -> bool:
        """Neither the window nor a word running across its edges is in the dictionary."""
        return not segment.is_word(text[start:end]) and not segment.word_across(text, start, end)


def _boundaries(text: str) -> set[int]:
    """Offsets where jieba's words of `text` begin and end."""
    return {0, len(text)} | {x for span in segment.spans(text) for x in span}


def load() -> Homophones | None:
    """The table, or None (with a note) when it is missing or stale."""
    if not TABLE.exists():
        return None
    table = json.loads(TABLE.read_text(encoding="utf-8"))
    if table.get("fingerprint") != fingerprint(terms()):
        print("nlp/data/homophones.json is stale: run python -m nlp.homophones", file=sys.stderr)
        return None
    return Homophones(table)


if __name__ == "__main__":
    t = build()
    print(f"{len(t['terms'])} terms, {len(t['chars'])} characters -> {TABLE}")
