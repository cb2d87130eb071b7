"""First version (issue 2): keyword table + regexes. Replaced internally by the trained classifier
(issue 3); the signatures stay."""
from __future__ import annotations

import re

from nlp.types import Classification, Emergency, Location

_KEYWORDS = {
    "high_throw": ["高空抛物", "抛物", "扔下来", "丢下来", "坠物", "往下扔"],
    "flying_wire": ["飞线", "充电", "电瓶车", "电动车上楼"],
    "garbage": ["垃圾", "臭", "苍蝇", "老鼠", "蚊子"],
    "hallway_fire": ["楼道堆", "堆物", "消防通道", "灭火器", "安全出口"],
    "parking": ["停车", "乱停", "挡路", "僵尸车", "车位"],
    "illegal_build": ["违建", "违章搭建", "搭建", "加盖", "承重墙"],
    "repair": ["漏水", "渗水", "堵了", "下水道", "水管", "外墙"],
    "facility": ["路灯", "灯不亮", "门禁", "健身器材", "井盖", "监控"],
    "elevator": ["电梯"],
    "greenery": ["树", "绿化", "草坪", "种菜"],
    "noise": ["噪音", "吵", "广场舞", "装修"],
    "neighbor": ["邻居", "吵架", "纠纷"],
    "property_service": ["物业费", "物业不", "保安", "保洁", "业委会"],
    "utilities": ["停水", "停电", "燃气", "煤气", "暖气", "水压", "宽带"],
    "pets": ["狗", "猫", "宠物"],
    "security": ["偷", "被盗", "小偷", "诈骗", "群租", "打架"],
    "public_service": ["社保", "医保", "低保", "老年证", "证明", "疫苗", "报名"],
}
_EMERGENCY = [
    (("着火", "起火", "冒烟", "火灾"), Emergency("fire", "119", "如有火情请立即拨打119并撤离。")),
    (("煤气味", "燃气味", "天然气味"), Emergency("gas", "119", "闻到燃气味请勿开关电器、开窗通风、撤离并拨打119。")),
    (("关在电梯", "困在电梯", "电梯里关"), Emergency("trapped", "96333", "有人被困电梯请拨打96333（或119），不要扒门。")),
    (("受伤", "流血"), Emergency("injury", "120", "有人受伤请立即拨打120。")),
    (("打架", "打人", "持刀"), Emergency("violence", "110", "有人正在打斗请立即拨打110。")),
]
_PHONE = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")
_ID = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{8})(\d{3}[\dXx])(?![0-9A-Za-z])")
_BUILDING = re.compile(r"(\d+)\s*(?:号楼|栋|幢|号)(?:\s*(\d+)\s*单元)?(?:\s*(\d{3,4})\s*室?)?")


def classify(text: str) -> Classification:
    text = text or ""
    scores = {code: sum(1 for w in words if w in text) for code, words in _KEYWORDS.items()}
    best = max(scores, key=scores.get)
    if scores[best] == 0:
        best = "other"
    terms = [w for w in _KEYWORDS.get(best, []) if w in text]
    total = sum(scores.values()) or 1
    conf = scores.get(best, 0) / total if best != "other" else 0.3
    top = sorted(((c, s / total) for c, s in scores.items()), key=lambda x: -x[1])[:3]
    emergency = next((e for words, e in _EMERGENCY if any(w in text for w in words)), None)
    return Classification(best, conf, top, terms, emergency, find_location(text), low_confidence=best == "other")


def find_location(text: str) -> Location | None:
    m = _BUILDING.search(text or "")
    if not m:
        return None
    return Location(text=m.group(0), building=m.group(1), unit=m.group(2), room=m.group(3))


def mask_pii(text: str) -> str:
    text = _ID.sub(lambda m: m.group(1)[:3] + "*" * 11 + m.group(3)[-4:], text or "")
    return _PHONE.sub(lambda m: m.group(1) + "****" + m.group(3), text)
