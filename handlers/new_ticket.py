"""A new ticket's columns and what its creation event records, as the intake fills them in before
the domain opens the ticket (domain/moves.py open_ticket / open_outside)."""
from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

from domain import moves
from domain.states import Source, Status
from nlp import categories
from nlp.types import Classification, Location
from storage import ticket_numbers


def reasons(c: Classification | None) -> dict:
    """Why the safety line was raised, for /show: the emergency rules that fired or the head's P."""
    e = c and (c.emergency or c.caution)
    return {"safety_rules": list(e.rules)} if e and e.rules else {}


def new_ticket_values(session, tz: str, now: datetime, *, grid, category: str, text: str, emergency: str | None,
                      caution: bool, c: Classification | None, confirmed: bool, needs_detail: bool,
                      resident_id: int | None, source: Source) -> SimpleNamespace:
    """A new ticket's columns before the domain opens it (status, round and deadlines come from there)."""
    return SimpleNamespace(
        code=ticket_numbers.next_ticket_code(session, now, tz), category=category,
        priority=str(moves.priority_for(categories.get(category).is_urgent(emergency), emergency, caution)),
        emergency=emergency, status=str(Status.OPEN), round=1, source=str(source), text=text,
        confidence=c.confidence if c else 0.0, terms=(c.terms[:8] if c else []), category_confirmed=confirmed,
        needs_detail=needs_detail, grid_id=grid.id, grid_name=grid.name, resident_id=resident_id, created_at=now,
        updated_at=now, round_started_at=None, due_onsite_at=None, due_fix_at=None, location_text=None, building=None, unit=None, room=None,
        latitude=None, longitude=None)


def remember_building(r, loc: Location | None) -> None:
    """The building a resident names is theirs as far as staff are told ("3号楼的居民") and
    routing goes (their next report without a place)."""
    if r is not None and loc is not None and loc.building:
        r.building = loc.building


def set_location(t, loc: Location | None) -> None:
    if loc is not None:
        t.location_text = loc.label()[:128]
        t.building, t.unit, t.room = loc.building, loc.unit, loc.room
