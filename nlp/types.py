"""Plain result types of nlp/: what the rest of the bot may rely on."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Location:
    """A place named in a message, normalised for routing.

    building/unit/room are arabic-digit strings ("12", "3", "601") or building labels ("A3");
    area is a named place without a number (东门, B区地库, 2号楼楼下 -> building "2", area "楼下").
    """
    text: str                      # the span as the resident wrote it
    building: str | None = None
    unit: str | None = None
    room: str | None = None
    area: str | None = None

    def label(self) -> str:
        parts = []
        if self.building:
            parts.append(f"{self.building}号楼")
        if self.unit:
            parts.append(f"{self.unit}单元")
        if self.room:
            parts.append(f"{self.room}室")
        if self.area:
            parts.append(self.area)
        return "".join(parts) or self.text


@dataclass(frozen=True)
class Emergency:
    kind: str        # fire | gas | trapped | injury | violence
    number: str      # 119 | 110 | 120 | 96333 (first to call)
    advice: str      # the short Chinese line the resident sees first
    # why: ids of the rules that fired (nlp/data/emergency_rules/), or "model:P" for the learned head;
    # not part of equality (two reports of the same kind are the same emergency)
    rules: tuple[str, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class Classification:
    category: str                               # a code from nlp/categories
    confidence: float                           # 0..1
    top: list[tuple[str, float]] = field(default_factory=list)   # best 3 (code, score)
    terms: list[str] = field(default_factory=list)               # what decided it (shown to staff)
    emergency: Emergency | None = None
    location: Location | None = None
    low_confidence: bool = False                # True: ask the resident to pick from `menu`
    menu: list[str] = field(default_factory=list)               # the best 3 codes other than `other`, then `other`
    # a possible emergency: no rule fired and the learned head is unsure (nlp.emergency.CAUTION < P
    # <= THRESHOLD); the resident is shown the number to call and the ticket is urgent, without @all
    caution: Emergency | None = None
