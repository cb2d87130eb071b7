"""What staff type when they ask residents (/poll, /vote, /notice and the desk's form): who is
asked (对象:), by when (截止:), and key:value settings. Each reader raises ValueError with the
sentence to show the staff member."""
from __future__ import annotations

import re
import unicodedata
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from nlp import categories

from handlers.routing import GridRule, parse_buildings


def say_time(t: datetime, tz: str) -> str:
    """A deadline or meeting time as residents and staff read it: 12月06日 19:30 (local)."""
    return f"{t.astimezone(ZoneInfo(tz)):%m月%d日 %H:%M}"

ALL_WORDS = frozenset({"全体", "全社区", "所有", "所有人", "全部", "all"})
KEY = re.compile(r"^(对象|截止|规则|户数|法定|名额|时间|标题)[:：](.*)$")


def split_settings(text: str) -> tuple[str, dict[str, str], set[str]]:
    """"问题 1/2 对象:3号楼 截止:12-20 18:00 匿名" -> ("问题 1/2", {"对象": "3号楼", "截止": "12-20 18:00"},
    {"匿名"}). A time (HH:MM) right after 截止:/时间: belongs to it; flags are words from FLAGS."""
    words = text.replace("\u3000", " ").split()      # the question keeps its own punctuation (？ not ?)
    rest, settings, flags = [], {}, set()
    i = 0
    while i < len(words):
        m = KEY.match(unicodedata.normalize("NFKC", words[i]))
        if m:
            value = m.group(2)
            nxt = unicodedata.normalize("NFKC", words[i + 1]) if i + 1 < len(words) else ""
            if m.group(1) in ("截止", "时间") and re.fullmatch(r"\d{1,2}:\d{2}", nxt):
                value, i = f"{value} {nxt}", i + 1
            settings[m.group(1)] = value
        elif words[i] in FLAGS:
            flags.add(words[i])
        else:
            rest.append(words[i])
        i += 1
    return " ".join(rest), settings, flags


FLAGS = frozenset({"匿名", "实名", "多选", "打分", "填空", "报名"})


def audience(spec: str | None, grids: tuple[GridRule, ...], *, default_all: bool = True) -> dict:
    """对象: "全体", "3号楼", "3-5号楼、8号楼", "第一网格", "反映过垃圾" (a category's reporters), combined with 、or ,."""
    if not spec:
        if default_all:
            return {"all": True}
        raise ValueError("请写明对象，例如 对象:3号楼 或 对象:全体")
    buildings: set[str] = set()
    category = None
    by_name = {c.name: code for code, c in categories.all_categories().items()}
    for part in filter(None, (p.strip() for p in re.split(r"[、,，;；]", spec))):
        if part in ALL_WORDS:
            return {"all": True}
        grid = next((g for g in grids if g.name == part), None)
        if grid is not None:
            buildings |= set(grid.buildings)
            continue
        word = part.removeprefix("反映过").removeprefix("反映")
        if word in by_name or word in categories.CODES:
            category = by_name.get(word, word)
            continue
        m = re.fullmatch(r"([0-9A-Za-z]+(?:\s*-\s*[0-9A-Za-z]+)?)\s*(?:号楼|栋|幢|号|楼)?", part)
        if m:
            buildings |= set(parse_buildings(m.group(1)))
            continue
        names = "、".join(g.name for g in grids)
        raise ValueError(f"看不懂对象“{part}”：可写 全体、楼栋（3号楼、3-5号楼）、网格（{names}）或 反映过+类别（反映过垃圾）")
    out: dict = {}
    if buildings:
        out["buildings"] = sorted(buildings, key=lambda b: (len(b), b))
    if category:
        out["category"] = category
    return out


def describe(aud: dict) -> str:
    if aud.get("all"):
        return "全体居民"
    parts = []
    if aud.get("buildings"):
        parts.append("、".join(f"{b}号楼" for b in aud["buildings"][:8]) + (" 等" if len(aud["buildings"]) > 8 else ""))
    if aud.get("category"):
        parts.append(f"反映过{categories.name_of(aud['category'])}的居民")
    return "、".join(parts) or "（无）"


def moment(spec: str, now: datetime, tz: str, *, end_of_day: bool = True) -> datetime:
    """截止/时间: "3天" (from now), "明天", "12-20", "12月20日", "2027-1-5", each optionally with
    " 18:00"; a day without a time is its end (23:59) for a deadline, 09:00 for an event."""
    zone = ZoneInfo(tz)
    local = now.astimezone(zone)
    s = unicodedata.normalize("NFKC", spec).strip()
    m = re.fullmatch(r"(\d{1,2})\s*(天|小时)", s)
    if m:
        n = int(m.group(1))
        return now + (timedelta(days=n) if m.group(2) == "天" else timedelta(hours=n))
    clock = None
    tm = re.search(r"\s*(\d{1,2}):(\d{2})$", s)
    if tm:
        clock = time(int(tm.group(1)), int(tm.group(2)))
        s = s[:tm.start()].strip()
    relative = {"今天": 0, "明天": 1, "后天": 2}
    if s in relative:
        day = local.date() + timedelta(days=relative[s])
    else:
        m = re.fullmatch(r"(?:(\d{4})[-年./])?(\d{1,2})[-月./](\d{1,2})日?号?", s)
        if not m:
            raise ValueError(f"看不懂时间“{spec}”：可写 3天、明天、12-20、12月20日 18:00")
        year = int(m.group(1)) if m.group(1) else local.year
        try:
            day = datetime(year, int(m.group(2)), int(m.group(3))).date()
        except ValueError:
            raise ValueError(f"没有这一天：“{spec}”") from None
        if not m.group(1) and day < local.date():
            day = day.replace(year=year + 1)           # "1-5" written in December is next January
    if clock is None:
        clock = time(23, 59) if end_of_day else time(9, 0)
    when = datetime.combine(day, clock, zone)
    if when <= now:
        raise ValueError(f"“{spec}”已经过去了")
    return when


def count(spec: str, what: str, *, low: int = 1, high: int = 100_000) -> int:
    s = unicodedata.normalize("NFKC", spec).strip().removesuffix("户").removesuffix("人").removesuffix("个")
    if not s.isdigit() or not low <= int(s) <= high:
        raise ValueError(f"{what}应是 {low} 到 {high} 之间的整数，不是“{spec}”")
    return int(s)
