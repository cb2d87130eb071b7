"""Is a new report the same problem as an open ticket? (pure; the DB query is storage's job)

The bot compares a new message with the open tickets of the same grid and category from the last
48 hours and joins it as "+1" when similar() >= SIMILAR_THRESHOLD.
"""
from __future__ import annotations

import re
from functools import lru_cache

from rapidfuzz import fuzz

from nlp.limits import FUZZY_NEEDLE, read
from nlp.normalize import normalize
from nlp.segment import cut
from nlp.types import Location

SIMILAR_THRESHOLD = 0.55
THRESHOLD = SIMILAR_THRESHOLD   # the name handlers/intake.py imports
_SAME_BUILDING_BONUS = 0.2
# Place words and filler say nothing about *which* problem it is: compared without them. A place
# starts where its run of digits and letters starts (the look-behind): tried from every character
# of a long run without a place word after it, the pattern cost the run's length squared.
_PLACE = re.compile(r"(?<![0-9A-Za-z一二三四五六七八九十])[0-9A-Za-z一二三四五六七八九十]+\s*(?:号楼|栋|幢|座|#|单元|室|号|楼|层)"
                    r"|[\s,，。.!！?？~…]+")
_FILLER = re.compile(r"请问|你好|您好|麻烦|谢谢|物业|一下|了|的|啊|呀|吧|呢|吗|有人|我们|我家|小区|又|还是|一直")


# A new report is compared with up to 50 open tickets, and a ticket with every report that follows:
# each text is normalised and segmented once, not once per pair.
@lru_cache(maxsize=256)
def _prepared(text: str) -> tuple[str, str]:
    """(core, its words joined by spaces) of the part of a message nlp reads (nlp/limits.py)."""
    core = _FILLER.sub("", _PLACE.sub("", normalize(text)))
    return core, " ".join(cut(core))


def _building_relation(a: Location | None, b: Location | None) -> int:
    """1 same building, -1 different buildings, 0 unknown."""
    if a is None or b is None or not a.building or not b.building:
        return 0
    return 1 if a.building == b.building else -1


def similar(text_a: str, text_b: str, loc_a: Location | None = None,
            loc_b: Location | None = None) -> float:
    """0..1: how likely two messages report the same problem at the same place.

    Different buildings veto (0.0): the same complaint about another building is another ticket.
    The same building adds a bonus: "3号楼飞线充电" and "3号楼又有人从窗户拉线充电" are one problem.
    """
    relation = _building_relation(loc_a, loc_b)
    if relation < 0:
        return 0.0
    (a, words_a), (b, words_b) = _prepared(read(text_a or "")), _prepared(read(text_b or ""))
    if not a or not b:
        return 0.0
    if len(a) > len(b):
        a, b = b, a
    # token_set_ratio forgives word order and extra words; partial_ratio a short report inside
    # a long one. Their mean is steadier than either alone. partial_ratio looks for the shorter
    # text's first FUZZY_NEEDLE characters (a whole report; a letter's head): its cost grows with
    # the needle's length squared times the other's, so a bounded needle keeps it linear.
    score = (fuzz.token_set_ratio(words_a, words_b) + fuzz.partial_ratio(a[:FUZZY_NEEDLE], b)) / 200.0
    if relation > 0:
        score += _SAME_BUILDING_BONUS
    elif loc_a and loc_b and loc_a.area and loc_a.area == loc_b.area:
        score += _SAME_BUILDING_BONUS / 2   # same named place (东门), weaker than a building
    if loc_a and loc_b and loc_a.room and loc_b.room and loc_a.room != loc_b.room and relation > 0:
        score -= _SAME_BUILDING_BONUS / 2   # another flat in the same building: weaker evidence
    return max(0.0, min(1.0, score))
