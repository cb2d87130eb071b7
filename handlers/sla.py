"""The "54321" promise as deadlines (pure): registered at once, on site within 40 minutes, small
problems fixed in 3 hours, a plan for complex ones in 2 days, a return visit within a week."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

ONSITE = timedelta(minutes=40)
FIX_SMALL = timedelta(hours=3)
PLAN_COMPLEX = timedelta(days=2)
RETURN_VISIT = timedelta(days=7)
# Categories that are usually complex (need another body or a plan): the deadline is for a plan.
COMPLEX = frozenset({"illegal_build", "neighbor", "property_service", "security", "greenery"})


@dataclass(frozen=True)
class Deadlines:
    onsite: datetime
    fix: datetime
    fix_is_plan: bool


def deadlines(category: str, created: datetime) -> Deadlines:
    complex_ = category in COMPLEX
    return Deadlines(onsite=created + ONSITE,
                     fix=created + (PLAN_COMPLEX if complex_ else FIX_SMALL),
                     fix_is_plan=complex_)
