"""What staff type for a category, read the way they mean it: the code (garbage), the name
(垃圾与环境卫生), the start or a part of either (垃圾, ga), a word of theirs (漏水, 其它, 供暖), or a near
spelling (噪声扰民, garbge). One lookup for every command that names a category; an ambiguous word
is refused with the candidates, never guessed."""
from __future__ import annotations

import unicodedata

from rapidfuzz import fuzz, process

from handlers.commands.registry import CommandError
from nlp import categories

# Words staff use for a category besides its name (each word names one category only: checked at
# import). Kept with the commands, not the classifier: these are for looking up, not for scoring.
ALIASES: dict[str, tuple[str, ...]] = {
    "high_throw": ("抛物", "坠物", "高空坠物", "扔东西"),
    "flying_wire": ("飞线", "私拉电线", "电动车充电", "电瓶车充电", "充电"),
    "garbage": ("垃圾", "卫生", "环境", "环境卫生", "环卫", "保洁", "清运", "异味"),
    "hallway_fire": ("堆物", "楼道堆物", "消防", "消防通道", "杂物"),
    "parking": ("停车", "车辆", "乱停车", "车位", "僵尸车"),
    "illegal_build": ("违建", "搭建", "私搭乱建"),
    "repair": ("维修", "报修", "漏水", "渗水", "管道", "下水道"),
    "facility": ("设施", "路灯", "灯", "门禁", "井盖"),
    "elevator": ("电梯故障", "困梯"),
    "greenery": ("树", "草坪", "绿地", "修剪"),
    "noise": ("噪音", "噪声", "扰民", "吵"),
    "neighbor": ("邻里", "邻居", "纠纷", "矛盾"),
    "property_service": ("物业", "物业费", "保安"),
    "utilities": ("水电", "停水", "停电", "燃气", "煤气", "暖气", "供暖"),
    "pets": ("宠物", "狗", "猫", "遛狗", "动物"),
    "security": ("小偷", "盗窃", "偷盗", "可疑人员"),
    "public_service": ("便民", "咨询", "办事", "开证明"),
    "other": ("其它", "别的", "未分类"),
}
FUZZY_CUTOFF = 70          # rapidfuzz ratio: 噪声扰民 ~ 噪音扰民 75, garbge ~ garbage 92, 飞碟 ~ 飞线 50
FUZZY_MARGIN = 10          # a near match wins only this far ahead of the next category


def _norm(word: str) -> str:
    return unicodedata.normalize("NFKC", word or "").strip().lstrip("#").strip().lower()


def _words() -> dict[str, str]:
    """Every code, name and alias -> its category code."""
    table: dict[str, str] = {}
    for c in categories.all_categories().values():
        for w in (c.code, c.name, *ALIASES.get(c.code, ())):
            w = _norm(w)
            if table.setdefault(w, c.code) != c.code:
                raise ValueError(f"category word {w!r} names both {table[w]} and {c.code}")
    return table


WORDS = _words()


def _names(codes) -> str:
    return "、".join(f"{categories.name_of(c)}（{c}）" for c in codes)


def candidates(word: str) -> list[str]:
    """The categories `word` may mean, best first (one: it is that one; none: nothing like it)."""
    w = _norm(word)
    if not w:
        return []
    if w in WORDS:
        return [WORDS[w]]
    order = list(categories.all_categories())

    def distinct(codes) -> list[str]:
        return sorted(set(codes), key=order.index)

    cats = categories.all_categories().values()
    # the start of a code, name or alias, or a part of a name: 垃圾, ga, 停车, 电
    hits = distinct([c.code for c in cats if c.code.startswith(w) or w in c.name.lower() or (len(w) >= 3 and w in c.code)]
                    + [code for alias, code in WORDS.items() if alias.startswith(w)])
    if hits:
        return hits
    # a longer phrase holding a name or an alias: 垃圾分类问题, 楼道堆物堵了消防通道
    inside = [(len(alias), code) for alias, code in WORDS.items() if len(alias) >= 2 and alias in w]
    if inside:
        longest = max(n for n, _ in inside)
        hits = distinct([code for n, code in inside if n == longest])
        if hits:
            return hits
    # a near spelling: the best category, unless another is about as near
    best: dict[str, float] = {}
    for alias, score, _ in process.extract(w, list(WORDS), scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF, limit=None):
        code = WORDS[alias]
        best[code] = max(best.get(code, 0.0), score)
    ranked = sorted(best, key=lambda c: -best[c])
    if not ranked:
        return []
    top = best[ranked[0]]
    return [c for c in ranked if best[c] > top - FUZZY_MARGIN]


def find_category(word: str) -> str:
    """The category code staff mean by `word`; CommandError says what to type instead."""
    found = candidates(word)
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise CommandError(f"“{word}”可能是：{_names(found)}。请写得更具体，例如写全名称或代码")
    names = "、".join(c.name for c in categories.all_categories().values())
    raise CommandError(f"没有“{word}”这个类别。可选：{names}" if _norm(word) else f"缺少类别。可选：{names}")
