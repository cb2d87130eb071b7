"""Places and personal numbers in a message.

find_location: 3号楼502, 5栋2单元, 十二幢三单元601室, 3#楼, A座, 3-2-502, 东门, B区地库, 2号楼楼下
-> Location(building, unit, room, area), digits as arabic strings, for routing to the grid leader.
mask_pii: mobile and landline numbers and ID numbers (18 and 15 digits), as residents write them
(full-width, grouped with spaces, dots or dashes, +86, extensions), masked before a message is shown in
a group chat or written to a log; ticket codes, rooms, dates, times and prices stay readable.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from nlp.anchors import required_chars
from nlp.datafile import load_yaml
from nlp.limits import read
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
    # \s*(?:的\s*)? rather than \s*(?:的)?\s*: the same text, but a run of spaces is not split
    # between two \s* in every possible way before the place word is found missing
    after = re.compile(rf"\s*(?:的\s*)?(?P<a>{alt(data['after_building'])})")
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
    text = read(text or "") if cleaned else clean(read(text or ""))     # a letter's head and tail
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

# Matching reads a copy with full-width digits and punctuation made ASCII, one character for one, so
# a match's span is also its span in the text as written and everything else is left untouched.
_HALF = str.maketrans({**{chr(0xFF10 + i): str(i) for i in range(10)},
                       "＋": "+", "－": "-", "—": "-", "–": "-", "‐": "-", "‑": "-", "−": "-", "．": ".",
                       "（": "(", "）": ")", "　": " ", "Ｘ": "X", "ｘ": "x", "＃": "#"})
# The shortest number masked has 10 digits (010 and 7): texts with fewer are left at C speed.
_DROP_DIGITS = str.maketrans("", "", "0123456789" + "".join(chr(0xFF10 + i) for i in range(10)))
_MIN_DIGITS = 10
_GAP = "\x00"        # stands in for a number already masked, so no later pattern matches across it

# Residents write a number in groups: 138 1234 5678, 138-1234-5678, 138.1234.5678, 021-6123-4567.
_SEP = r"(?:[ \t]*[-.][ \t]*|[ \t]{1,2})"
# 18-digit IDs (6 area + 8 birth date + 3 + check digit or X) and the old 15-digit ones (6 + YYMMDD
# + 3), with a space or dash anywhere. Both must name a real area and birth date, so that long
# order, parcel and ticket numbers are left readable.
_ID = re.compile(r"(?<![0-9A-Za-z])\d(?:[ \-]?\d){16}[ \-]?[\dXx](?![0-9A-Za-z])", re.ASCII)
_ID15 = re.compile(r"(?<![0-9A-Za-z])\d(?:[ \-]?\d){14}(?![0-9A-Za-z])", re.ASCII)
_ID18_DIGITS = re.compile(r"[1-9]\d{5}(?:18|19|20)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]")
_ID15_DIGITS = re.compile(r"[1-9]\d{5}\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}")
# Mobiles: 1[3-9] and 11 digits, optionally +86 / 0086 / 86 / (+86) before them.
_MOBILE = re.compile(rf"(?<!\d)(?P<p>(?:\(\+?86\)|(?:\+|00)?86)(?:{_SEP})?)?(?P<a>1[3-9]\d)(?:{_SEP})?\d{{4}}(?:{_SEP})?"
                     rf"(?P<z>\d{{4}})(?!\d)", re.ASCII)
# Landlines: a real area code (010, 02x, 0xxx), 7-8 digits, perhaps an extension (转123, -802, ext 12).
_LANDLINE = re.compile(rf"(?<!\d)(?P<a>\(0(?:10|2\d|[3-9]\d\d)\)|0(?:10|2\d|[3-9]\d\d))(?P<s>{_SEP}?)"
                       rf"\d{{3,4}}(?:{_SEP})?(?P<z>\d{{4}})(?P<x>[ \t]*(?:转|分机|ext\.?|[-#])[ \t]*\d{{1,5}})?(?!\d)",
                       re.IGNORECASE | re.ASCII)


def _digits(s: str) -> str:
    return re.sub(r"[^0-9Xx]", "", s)


def _pii_spans(text: str) -> list[tuple[int, int, str, str, str]]:
    """(start, end, kind, masked, digits) of every personal number in `text`, in the order of the
    text; digits: a phone number's own (ASCII, no prefix or extension)."""
    if len(text) - len(text.translate(_DROP_DIGITS)) < _MIN_DIGITS:
        return []
    norm = text.translate(_HALF)
    found: list[tuple[int, int, str, str, str]] = []

    def take(spans):
        nonlocal norm
        for span in spans:
            found.append(span)
            norm = norm[:span[0]] + _GAP * (span[1] - span[0]) + norm[span[1]:]

    def ids(pattern, valid, keep):
        for m in pattern.finditer(norm):
            d = _digits(m.group(0))
            if valid.fullmatch(d):
                digits = [text[i] for i in range(m.start(), m.end()) if _digits(norm[i])]
                yield (m.start(), m.end(), "id", "".join(digits[:3]) + "*" * (len(d) - 3 - keep) + "".join(digits[-keep:]),
                       d)

    take(list(ids(_ID, _ID18_DIGITS, 4)))
    take(list(ids(_ID15, _ID15_DIGITS, 3)))

    def part(m, g):
        return text[m.start(g):m.end(g)] if m.start(g) >= 0 else ""

    take([(m.start(), m.end(), "mobile", part(m, "p") + part(m, "a") + "****" + part(m, "z"),
           _digits(m.string[m.start("a"):m.end()])) for m in _MOBILE.finditer(norm)])
    take([(m.start(), m.end(), "landline", part(m, "a") + part(m, "s") + "****" + part(m, "z") + part(m, "x"),
           _digits(m.string[m.start():m.end("z")])) for m in _LANDLINE.finditer(norm)])
    return sorted(found)


def find_phones(text: str) -> list[str]:
    """Phone numbers in `text`, ASCII digits only: mobiles (11 digits) first, then landlines (area
    code and number, without an extension)."""
    spans = _pii_spans(text or "")
    return [d for kind in ("mobile", "landline") for _s, _e, k, _m, d in spans if k == kind]


def mask_pii(text: str) -> str:
    """138 1234 5678 -> 138****5678; 0571-88886666 -> 0571-****6666; ID -> first 3 + last 4 (15-digit
    IDs: last 3). Full-width digits count as digits; everything else stays as written."""
    text = text or ""
    spans = _pii_spans(text)
    if not spans:
        return text
    out, at = [], 0
    for s, e, _kind, masked, _d in spans:
        out += [text[at:s], masked]
        at = e
    out.append(text[at:])
    return "".join(out)
