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
