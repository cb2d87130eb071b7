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
    from Pinyin2Hanzi import DefaultDagParams, all_pinyin, dag, simplify_pinyin
    return DefaultDagParams(), dag, simplify_pinyin, frozenset(all_pinyin())


def syllables(word: str) -> list[str] | None:
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
        if part and best[n] is None and part.endswith("r") and n > 1:     # erhua: nar, zher
            inner = syllables(part[:-1])
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
    params, dag, _, _ = _engine()

    def chars(sylls: list[str]) -> str:
        found = dag(params, sylls, path_num=1) if sylls else None
        return "".join(found[0].path) if found else ""

    def write(m: re.Match) -> str:
        sylls = [s for w in m.group(0).split() for s in split[w]]
        head = ""
        if re.search(r"\d\s*$", text[:m.start()]) and sylls[0] in _AFTER_NUMBER:
            head = _AFTER_NUMBER[sylls.pop(0)]
            if head == "号" and sylls[:1] == ["lou"]:
                head, sylls = "号楼", sylls[1:]
        return head + chars(sylls) if head or sylls else m.group(0)
    return _RUN.sub(write, text)
