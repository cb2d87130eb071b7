"""Messages typed as toneless pinyin ("zhao huo le 8 dong", "meiqi wei hen da"), written in
characters so that the classifier, the emergency rules and the learned head read them like any
other message. People type pinyin when the input method is missing or in a panic; without this the
head, which reads only Chinese, has no say on them at all.

Only a message with no Han character whose letter words are all pinyin is converted: English
("help grandpa fall in bathroom") and mixed messages stay as written. Pinyin2Hanzi's phrase graph
chooses the characters; this module finds the syllables (meiqi -> mei qi).
"""
from __future__ import annotations

import re
from functools import cache

_HAN = re.compile(r"[\u4e00-\u9fff]")
_WORD = re.compile(r"[a-zA-Z]+(?:'[a-zA-Z]+)*")
_RUN = re.compile(r"[a-zA-Z]+(?:'[a-zA-Z]+)*(?:\s+[a-zA-Z]+(?:'[a-zA-Z]+)*)*")
MIN_WORDS = 2           # "ok", "hi": one word is too little to tell pinyin from English
# After a number a syllable is a measure word of the address ("3 dong" is 3栋, not 3动)
_AFTER_NUMBER = {"dong": "栋", "hao": "号", "lou": "楼", "ceng": "层", "shi": "室", "hu": "户",
                 "zhuang": "幢", "ge": "个", "qu": "区"}
_MAX_SYLLABLE = 6       # zhuang, shuang


@cache
def _engine():
    # loaded on the first message without Han characters (0.3 s), not with the classifier
    from Pinyin2Hanzi import DefaultDagParams, all_pinyin, simplify_pinyin
    params = DefaultDagParams()
    longest = max(k.count(",") + 1 for k in params.phrase_dict)
    return params, longest, simplify_pinyin, frozenset(all_pinyin())


def best_path(params, sylls: list[str], longest: int) -> list[str]:
    """The characters Pinyin2Hanzi's dag(params, sylls, path_num=1) chooses: the path of phrases
    with the highest product of scores, ties going to the path found last, as there. Its dag tries
    every span of the run, costing the run's length cubed (a 1,200-syllable message: 5 s); no
    phrase of its dictionary is longer than `longest` syllables, so only such spans are tried."""
    n = len(sylls)
    best: list[tuple[float, int, str] | None] = [None] * n    # (score, start of last phrase, phrase)
    for end in range(n):
        for start in range(max(0, end - longest + 1), end + 1):
            prev = best[start - 1] if start else None
            if start and prev is None:
                continue
            for phrase, score in params.get_phrase(sylls[start:end + 1], num=1):
                total = prev[0] * score if prev else score
                if best[end] is None or total >= best[end][0]:
                    best[end] = (total, start, phrase)
    if not n or best[-1] is None:
        return []
    out, end = [], n - 1
    while end >= 0:
        _, start, phrase = best[end]
        out.append(phrase)
        end = start - 1
    return out[::-1]


def syllables(word: str, erhua: bool = True) -> list[str] | None:
    """`word` split into pinyin syllables, as few as possible (xian stays xian, not xi an), in the
    spelling the converter knows (que -> qve); None when it is not pinyin."""
    _, _, simplify, known = _engine()
    out: list[str] = []
    for part in word.lower().split("'"):
        n = len(part)
        best: list[list[str] | None] = [[]] + [None] * n
        for i in range(n):
            if best[i] is None:
                continue
            for j in range(i + 1, min(n, i + _MAX_SYLLABLE) + 1):
                s = simplify(part[i:j])
                if s in known and (best[j] is None or len(best[i]) + 1 < len(best[j])):
                    best[j] = best[i] + [s]
        if erhua and part and best[n] is None and part.endswith("r") and n > 1:     # erhua: nar, zher
            inner = syllables(part[:-1], erhua=False)     # one r: "rrrr…" is not erhua all the way down
            best[n] = inner + ["er"] if inner else None
        if not part or best[n] is None:
            return None
        out += best[n]
    return out


def to_hanzi(text: str) -> str:
    """`text` with its pinyin written in characters, or `text` itself when it is not pinyin."""
    if not text or _HAN.search(text):
        return text
    words = _WORD.findall(text)
    if len(words) < MIN_WORDS:
        return text
    split = {}
    for w in words:
        s = syllables(w)
        if s is None:
            return text
        split[w] = s
    params, longest, _, _ = _engine()

    def chars(sylls: list[str]) -> str:
        return "".join(best_path(params, sylls, longest))

    def after_number(at: int) -> bool:
        """Whether a digit (then perhaps spaces) comes right before text[at]."""
        while at > 0 and text[at - 1].isspace():
            at -= 1
        return at > 0 and text[at - 1].isdecimal()

    def write(m: re.Match) -> str:
        sylls = [s for w in m.group(0).split() for s in split[w]]
        head = ""
        if after_number(m.start()) and sylls[0] in _AFTER_NUMBER:
            head = _AFTER_NUMBER[sylls.pop(0)]
            if head == "号" and sylls[:1] == ["lou"]:
                head, sylls = "号楼", sylls[1:]
        return head + chars(sylls) if head or sylls else m.group(0)
    return _RUN.sub(write, text)
