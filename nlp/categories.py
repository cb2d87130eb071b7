"""The grievance taxonomy (../shared/spec/categories.md), loaded from nlp/data/categories.yaml.

Everything that names a category uses these codes; names are only for display.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from nlp.datafile import load_yaml


_DATA = Path(__file__).with_name("data") / "categories.yaml"


@dataclass(frozen=True)
class Category:
    code: str
    name: str
    handler: str
    # True: always urgent; frozenset of emergency kinds: urgent only when one of them is detected.
    urgent: bool | frozenset[str]

    def is_urgent(self, emergency_kind: str | None = None) -> bool:
        if self.urgent is True:
            return True
        if isinstance(self.urgent, frozenset):
            return emergency_kind in self.urgent
        return False


@cache
def all_categories() -> dict[str, Category]:
    rows = load_yaml(_DATA)
    out: dict[str, Category] = {}
    for row in rows:
        urgent = row["urgent"]
        out[row["code"]] = Category(
            code=row["code"], name=row["name"], handler=row["handler"],
            urgent=frozenset(urgent) if isinstance(urgent, list) else bool(urgent),
        )
    return out


CODES: tuple[str, ...] = tuple(all_categories())
OTHER = "other"


def get(code: str) -> Category:
    """The category for `code`; unknown codes fall back to `other` rather than failing a resident."""
    return all_categories().get(code) or all_categories()[OTHER]


def name_of(code: str) -> str:
    return get(code).name
