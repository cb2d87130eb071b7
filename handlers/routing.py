"""Which grid a place belongs to (pure)."""
from __future__ import annotations

import re
from dataclasses import dataclass

from nlp.types import Location


@dataclass(frozen=True)
class GridRule:
    name: str
    buildings: frozenset[str]
    places: tuple[str, ...]
    community: str = "default"


@dataclass(frozen=True)
class CommunityRule:
    """A community of the deployment: the words that name it in a message (its name, with and
    without 社区, and its places) and the grid that takes what names no place in it."""
    code: str
    words: tuple[str, ...]
    default_grid: str


def pick_community(text: str, communities: tuple[CommunityRule, ...], remembered: str | None) -> str | None:
    """The community a message is about, on an account several communities share: the one it
    names, else the one the resident last reported in; None when it cannot tell (or there is one)."""
    if len(communities) < 2:
        return None
    named = {c.code for c in communities if any(w and w in text for w in c.words)}
    if len(named) == 1:
        return named.pop()
    return remembered if remembered in {c.code for c in communities} else None


def parse_buildings(spec: str) -> frozenset[str]:
    """"1-12, 15, A3" -> {"1", ..., "12", "15", "A3"}."""
    out: set[str] = set()
    for part in filter(None, (p.strip().removesuffix("号楼") for p in re.split(r"[,，、]", spec))):
        m = re.fullmatch(r"(\d+)\s*-\s*(\d+)", part)
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            out.update(str(n) for n in range(min(lo, hi), max(lo, hi) + 1))
        else:
            out.add(part.upper().lstrip("0") or "0")
    return frozenset(out)


def route(location: Location | None, rules: list[GridRule], default: str) -> tuple[str, bool]:
    """(grid name, located): located is False when the message named no place we could route."""
    if location is not None:
        if location.building:
            key = location.building.upper().lstrip("0") or "0"
            for r in rules:
                if key in r.buildings:
                    return r.name, True
        place = " ".join(filter(None, (location.area, location.text)))
        for r in rules:
            if any(p and p in place for p in r.places):
                return r.name, True
    return default, False


def route_in(location: Location | None, text: str, rules: tuple[GridRule, ...], default: str,
             communities: tuple[CommunityRule, ...], remembered: str | None) -> tuple[str, bool, str | None]:
    """route() within the community the message is about (pick_community), when there are several:
    (grid name, located, the community picked or None)."""
    community = pick_community(text, communities, remembered)
    if community is not None:
        rules = tuple(g for g in rules if g.community == community)
        default = next(c.default_grid for c in communities if c.code == community)
    name, located = route(location, list(rules), default)
    return name, located, community
