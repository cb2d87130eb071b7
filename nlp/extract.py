"""Places and personal numbers in a message.

find_location: 3号楼502, 5栋2单元, 十二幢三单元601室, 3#楼, A座, 3-2-502, 东门, B区地库, 2号楼楼下
-> Location(building, unit, room, area), digits as arabic strings, for routing to the grid leader.
mask_pii: mobile and landline numbers and ID numbers (18 and 15 digits) masked before a message is shown
in a group chat or written to a log.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from nlp.anchors import required_chars
from nlp.datafile import load_yaml
from nlp.normalize import clean
from nlp.types import Location

_PLACES = Path(__file__).with_name("data") / "places.yaml"

_CN_DIGIT = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
             "七": 7, "八": 8, "九": 9}
_CN_UNIT = {"十": 10, "百": 100, "千": 1000}
_CN = "零〇一二两三四五六七八九十百千"


def cn_to_int(s: str) -> int | None:
    """十二 -> 12, 二十 -> 20, 一百零八 -> 108, 六零一 -> 601 (read digit by digit), 12 -> 12."""
    if not s:
        return None
    if s.isdigit():
        return int(s)
    if not any(c in _CN_UNIT for c in s):
        if not all(c in _CN_DIGIT for c in s):
            return None
        return int("".join(str(_CN_DIGIT[c]) for c in s))
    total, cur = 0, 0
    for c in s:
        if c in _CN_DIGIT:
            cur = _CN_DIGIT[c]
        elif c in _CN_UNIT:
            total += (cur or 1) * _CN_UNIT[c]   # 十二: a bare 十 means 一十
            cur = 0
        else:
            return None
    return total + cur


def _num(s: str | None) -> str | None:
    if s is None:
        return None
    s = s.strip()
    head = s[0] if s and s[0].isascii() and s[0].isalpha() else ""   # A3栋 keeps its letter
    body = s[len(head):]
    if not body:
        return head.upper() or None
    n = cn_to_int(body)
    return None if n is None else f"{head.upper()}{n}"


_NUM = rf"(?:\d{{1,4}}|[{_CN}]{{1,5}})"
_BNUM = r"(?:[A-Za-z]?\d{1,3}|[一二三四五六七八九十]{1,3}|[A-Za-z])"
# Building: 3号楼 3栋 3幢 3座 3#楼 3# and 3号 when a room number follows (3号502); not a date (5月3号).
_BUILDING = (rf"(?<![\d月A-Za-z])(?P<b>{_BNUM})\s*(?:号楼|栋楼|幢楼|栋|幢|座|#楼|#|号(?=\s*\d{{3,4}}))")
_UNIT = rf"(?P<u>{_NUM})\s*(?:单元|门洞)"
_ROOM = r"(?P<r>\d{3,4}|[零〇一二三四五六七八九]{3,4})(?:\s*(?:室|号|户))?"
_ROOM_ALONE = r"(?<![\d.])(?P<r>\d{3,4})\s*(?:室|户)"
_SEP = r"\s*[-－—的]?\s*"
_FULL = re.compile(rf"{_BUILDING}(?:{_SEP}{_UNIT})?(?:{_SEP}(?!\d{{3,4}}\s*(?:年|元|块|米|平))(?:{_ROOM})(?!\d))?")
_UNIT_ROOM = re.compile(rf"(?<![\d{_CN}]){_UNIT}(?:{_SEP}{_ROOM})?")
_DASHED = re.compile(r"(?<![\d\-.:])(\d{1,3})-(\d{1,2})-(\d{3,4})(?![\d\-.:])")
_ROOM_RE = re.compile(_ROOM_ALONE)
# A count, not a name: 一栋楼的人 / 两栋楼之间.
_COUNT = re.compile(r"^[一两]\s*(?:栋|幢)楼")


@lru_cache(maxsize=1)
def _area_patterns() -> tuple[re.Pattern, re.Pattern]:
    data = load_yaml(_PLACES)

    def alt(words):
        return "|".join(map(re.escape, sorted(set(words), key=len, reverse=True)))
    after = re.compile(rf"\s*(?:的)?\s*(?P<a>{alt(data['after_building'])})")
    anywhere = re.compile(
        rf"(?P<a>(?<![A-Za-z0-9])[A-Za-z0-9一二三四五六七八九十]{{1,2}}区(?:{alt(data['anywhere'])})?"
        rf"|{alt(data['anywhere'])})")
    return after, anywhere


@lru_cache(maxsize=1)
def _anchors() -> dict[str, frozenset[str] | None]:
    """Per pattern, characters a match needs one of (nlp/anchors.py): most messages name no place,
    and a set test is far cheaper than a search."""
    after, anywhere = _area_patterns()
    pats = {"dashed": _DASHED, "full": _FULL, "unit_room": _UNIT_ROOM, "anywhere": anywhere, "room": _ROOM_RE}
    return {name: required_chars(p) for name, p in pats.items()}


def _may(name: str, chars: set[str]) -> bool:
    need = _anchors()[name]
    return need is None or not need.isdisjoint(chars)


def find_location(text: str, cleaned: bool = False) -> Location | None:
    """The first place named in `text`, or None (cleaned=True: `text` is already normalised)."""
    text = (text or "")[:5000] if cleaned else clean((text or "")[:5000])
    if not text:
        return None
    after, anywhere = _area_patterns()
    chars = set(text)
    m = _DASHED.search(text) if _may("dashed", chars) else None
    if m:
        return Location(text=m.group(0), building=m.group(1).lstrip("0") or "0",
                        unit=m.group(2), room=m.group(3))
    for m in (_FULL.finditer(text) if _may("full", chars) else ()):
        if _COUNT.match(m.group(0)):
            continue
        building = _num(m.group("b"))
        if building is None:
            continue
        span_end = m.end()
        area = None
        a = after.match(text, span_end)
        if a:
            area, span_end = a.group("a"), a.end()
        return Location(text=text[m.start():span_end], building=building,
                        unit=_num(m.group("u")), room=_num(m.group("r")), area=area)
    m = _UNIT_ROOM.search(text) if _may("unit_room", chars) else None
    if m:
        area, span_end = None, m.end()
        a = after.match(text, span_end) if m.group("r") is None else None
        if a:                                        # 3单元楼道: the place is in that unit
            area, span_end = a.group("a"), a.end()
        return Location(text=text[m.start():span_end], unit=_num(m.group("u")), room=_num(m.group("r")),
                        area=area)
    a = anywhere.search(text) if _may("anywhere", chars) else None
    if a:
        return Location(text=a.group(0), area=a.group("a").upper() if a.group("a").isascii() else a.group("a"))
    m = _ROOM_RE.search(text) if _may("room", chars) else None
    if m:
        return Location(text=m.group(0), room=m.group("r"))
    return None


# --- personal numbers -------------------------------------------------------------------------

# 18-digit IDs (6 area + 8 birth date + 4), and the old 15-digit ones (6 + YYMMDD + 3) still in use.
_ID = re.compile(r"(?<![0-9A-Za-z])(\d{6})\s?(\d{8})\s?(\d{3}[\dXx])(?![0-9A-Za-z])")
# The 15-digit form must look like one (area 1-8xxxxx, a real YYMMDD), so that a 15-digit parcel
# or order number is left readable.
_ID15 = re.compile(r"(?<![0-9A-Za-z])([1-8]\d{5})\s?(\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))\s?(\d{3})"
                   r"(?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<![\d])((?:\+|00)?86[\s-]?)?(1[3-9]\d)[\s-]?(\d{4})[\s-]?(\d{4})(?!\d)")
_LANDLINE = re.compile(r"(?<![\d])(\(?0\d{2,3}\)?)([\s-]?)(\d{3,4})[\s-]?(\d{4})(?!\d)")


def find_phones(text: str) -> list[str]:
    """Phone numbers in `text`, digits only (mobile 11 digits, landline with area code)."""
    text = text or ""
    out = ["".join(m.group(2, 3, 4)) for m in _MOBILE.finditer(text)]
    rest = _MOBILE.sub(" ", _ID15.sub(" ", _ID.sub(" ", text)))
    out += [re.sub(r"\D", "", m.group(0)) for m in _LANDLINE.finditer(rest)]
    return out


def mask_pii(text: str) -> str:
    """138 1234 5678 -> 138****5678; 0571-88886666 -> 0571-****6666; ID -> first 3 + last 4."""
    text = text or ""
    text = _ID.sub(lambda m: m.group(1)[:3] + "*" * 11 + m.group(3)[-4:], text)
    text = _ID15.sub(lambda m: m.group(1)[:3] + "*" * 9 + m.group(3), text)
    text = _MOBILE.sub(lambda m: (m.group(1) or "") + m.group(2) + "****" + m.group(4), text)
    return _LANDLINE.sub(lambda m: m.group(1) + m.group(2) + "****" + m.group(4), text)
