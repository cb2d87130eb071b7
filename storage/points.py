"""服务积分: the ledger (point_entry). Every change is a new row with who made it and why; nothing is
edited or deleted. A balance is SUM(amount) over the resident's rows.

The one rule that needs care is that a balance never goes below zero. Redemptions and reversals of
awards check the balance and insert in one transaction, after locking the resident's row: on
PostgreSQL SELECT … FOR UPDATE, so two staff redeeming for one resident at once take turns and the
second reads the first's entry (READ COMMITTED: each statement after the lock sees what was
committed before it); on SQLite the session's BEGIN IMMEDIATE already lets one writer in at a time
(storage/db.py) and SQLAlchemy leaves FOR UPDATE out. The caller owns the transaction: these
functions never commit.

Reversals (decided here, said by the commands): an award's reversal takes its points back and is
refused when the resident has already spent them (the balance would go below zero: reverse the
redemption first, if the goods came back); a redemption's reversal gives the points back; a
reversal is never reversed (give or redeem again instead); an entry is reversed at most once
(point_entry.reverses_id is unique, the lock makes the check exact)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session, aliased

from storage.models import PointEntry, Resident

AWARD, REDEEM, REVERSE = "award", "redeem", "reverse"
REASON_MAX = 200


class PointsRefused(Exception):
    """Nothing was written: the message says why, in words staff can act on."""


class Short(PointsRefused):
    """The balance does not cover a redemption (or the reversal of an award already spent)."""

    def __init__(self, message: str, balance: int):
        super().__init__(message)
        self.balance = balance


def lock_resident(session: Session, resident_id: int) -> None:
    """Hold the resident's row until the transaction ends: every check-then-insert on their
    balance runs one at a time (a no-op statement on SQLite, where the transaction already holds
    the database's write lock)."""
    found = session.execute(select(Resident.id).where(Resident.id == resident_id).with_for_update()).first()
    if found is None:
        raise PointsRefused("找不到这位居民")


def balance(session: Session, resident_id: int) -> int:
    return int(session.scalar(select(func.coalesce(func.sum(PointEntry.amount), 0))
                              .where(PointEntry.resident_id == resident_id)))


def history(session: Session, resident_id: int, limit: int = 5) -> list[PointEntry]:
    """The resident's latest entries, newest first."""
    return list(session.scalars(select(PointEntry).where(PointEntry.resident_id == resident_id)
                                .order_by(PointEntry.id.desc()).limit(limit)))


def reversal_of(session: Session, entry_id: int) -> PointEntry | None:
    """The entry that reversed this one, if any."""
    return session.scalar(select(PointEntry).where(PointEntry.reverses_id == entry_id))


def reversed_ids(session: Session, ids: list[int]) -> set[int]:
    """Which of these entries have been reversed."""
    if not ids:
        return set()
    return set(session.scalars(select(PointEntry.reverses_id).where(PointEntry.reverses_id.in_(ids))))


def _add(session: Session, resident_id: int, kind: str, amount: int, code: str, name: str, reason: str,
         actor: str, now: datetime, ticket_id: int | None, reverses_id: int | None = None) -> PointEntry:
    e = PointEntry(resident_id=resident_id, kind=kind, amount=amount, code=code[:32], name=name[:32],
                   reason=(reason or "").strip()[:REASON_MAX], actor=actor, ticket_id=ticket_id,
                   reverses_id=reverses_id, created_at=now)
    session.add(e)
    session.flush()          # the id is the number staff use to reverse it (/unpoints)
    return e


def award(session: Session, resident_id: int, *, code: str, name: str, amount: int, reason: str, actor: str,
          now: datetime, ticket_id: int | None = None, once_per_ticket: bool = False) -> PointEntry:
    """Give points by a rule. once_per_ticket: the award is for the report itself (有效反映), so a
    ticket earns it once; a reversed one may be given again."""
    if amount <= 0:
        raise ValueError("an award is positive")
    lock_resident(session, resident_id)
    if once_per_ticket and ticket_id is not None:
        rev = aliased(PointEntry)
        given = session.scalar(select(PointEntry.id).where(
            PointEntry.ticket_id == ticket_id, PointEntry.code == code, PointEntry.kind == AWARD,
            ~exists().where(rev.reverses_id == PointEntry.id)).limit(1))
        if given is not None:
            raise PointsRefused(f"这个工单已经记过“{name}”（记录 {given}），每个工单只记一次")
    return _add(session, resident_id, AWARD, amount, code, name, reason, actor, now, ticket_id)


def redeem(session: Session, resident_id: int, *, code: str, name: str, cost: int, reason: str, actor: str,
           now: datetime, ticket_id: int | None = None) -> PointEntry:
    """Spend points on a catalogue item; Short (nothing written) when the balance does not cover it."""
    if cost <= 0:
        raise ValueError("a cost is positive")
    lock_resident(session, resident_id)
    have = balance(session, resident_id)          # read after the lock: includes every committed entry
    if have < cost:
        raise Short(f"积分不足：现有 {have} 分，兑换“{name}”需要 {cost} 分", have)
    return _add(session, resident_id, REDEEM, -cost, code, name, reason, actor, now, ticket_id)


def reverse(session: Session, entry_id: int, *, reason: str, actor: str, now: datetime) -> PointEntry:
    """Cancel an entry with a new one of the opposite amount pointing at it (see the module's rules)."""
    e = session.get(PointEntry, entry_id)
    if e is None:
        raise PointsRefused(f"没有记录 {entry_id}")
    if e.kind == REVERSE:
        raise PointsRefused(f"记录 {entry_id} 本身是对记录 {e.reverses_id} 的撤销，撤销不能再撤销；"
                            f"需要的话请重新发放或兑换")
    lock_resident(session, e.resident_id)
    done = reversal_of(session, e.id)             # read after the lock: a concurrent reversal is seen
    if done is not None:
        raise PointsRefused(f"记录 {entry_id} 已经撤销过（记录 {done.id}）")
    if e.amount > 0:
        have = balance(session, e.resident_id)
        if have < e.amount:
            raise Short(f"撤销后积分会变成负数：现有 {have} 分，这笔发放 {e.amount} 分，已被兑换用掉。"
                        f"如物品已退回，请先撤销那笔兑换", have)
    return _add(session, e.resident_id, REVERSE, -e.amount, e.code, e.name, reason, actor, now, e.ticket_id,
                reverses_id=e.id)


def set_display_name(session: Session, resident_id: int, name: str | None) -> None:
    """The name the resident agreed to show on the monthly ranking (None: anonymous)."""
    session.execute(update(Resident).where(Resident.id == resident_id).values(points_name=name))


def display_name(session: Session, resident_id: int) -> str | None:
    return session.scalar(select(Resident.points_name).where(Resident.id == resident_id))


# -- the monthly ranking ----------------------------------------------------------------------

@dataclass
class BuildingRank:
    building: str | None                 # None: residents whose building is not known
    total: int = 0
    people: list[tuple[str | None, int]] = field(default_factory=list)   # (agreed name or None, points), best first


def ranking(session: Session, start: datetime, end: datetime) -> list[BuildingRank]:
    """Points earned in [start, end) per building, best first: awards made in the period that have
    not been reversed (at any time). Redemptions do not lower it: spending points is not serving
    less. The building is the resident's (the last one they named), as staff know them."""
    rev = aliased(PointEntry)
    rows = session.execute(
        select(Resident.building, Resident.points_name, func.sum(PointEntry.amount).label("points"))
        .join(Resident, Resident.id == PointEntry.resident_id)
        .where(PointEntry.kind == AWARD, PointEntry.created_at >= start, PointEntry.created_at < end,
               ~exists().where(rev.reverses_id == PointEntry.id))
        .group_by(Resident.id, Resident.building, Resident.points_name)).all()
    by_building: dict[str | None, BuildingRank] = {}
    for building, name, points in rows:
        b = by_building.setdefault(building, BuildingRank(building))
        b.total += int(points)
        b.people.append((name, int(points)))
    for b in by_building.values():
        b.people.sort(key=lambda p: -p[1])
    return sorted(by_building.values(), key=lambda b: (-b.total, b.building is None, _building_order(b.building)))


def _building_order(building: str | None) -> tuple:
    """3 before 12 before A3."""
    b = building or ""
    return (0, int(b), "") if b.isdigit() else (1, 0, b)
