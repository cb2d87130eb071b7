"""Keeping a milestone's promise over time (pure): when to warn before its deadline and which rung
of the escalation ladder is due after it. The sweep (handlers/promises.py) reads the milestones
whose next_check_at has come, asks step() what to send, and writes it; a milestone's `stage`
counts what was sent, so no warning or rung is ever sent twice in a round."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from domain.moves import Notice, Tell
from domain.policy import Policy
from domain.states import Milestone


@dataclass
class Step:
    tells: list[Tell] = field(default_factory=list)
    stage: int = 0
    next_check_at: datetime | None = None
    warned: bool = False
    rung: int | None = None


def first_check(policy: Policy, milestone: Milestone, start: datetime, due: datetime | None) -> datetime | None:
    """When the sweep first looks at a milestone just started: its warning time, or its deadline."""
    if due is None:
        return None
    return policy.warn_at(milestone, start, due) or due


def step(policy: Policy, milestone: str, party: str, due: datetime, stage: int, now: datetime,
         has_assignee: bool) -> Step:
    """What to send for a milestone not yet met, at stage `stage` (0 nothing sent, 1 warned or
    warning skipped, 1+k rung k of the ladder sent), and when to look again."""
    out = Step(stage=stage)
    m = Milestone(milestone)
    handler = f"party:{party}" if m == Milestone.REPLY else ("assignee" if has_assignee else "group")
    key = f"{m}:{party}" if party else str(m)
    if out.stage == 0:
        out.stage = 1
        if now < due:
            out.warned = True
            out.tells.append(Tell(Notice.WARNING, handler, f"{key}:warn", {"milestone": m, "party": party, "due": due.isoformat()}))
            out.next_check_at = due
            return out
    # past due: send the highest rung that is due (rungs skipped while the bot was down are not replayed)
    n = out.stage            # the next rung to send is stage (rung 1 at stage 1)
    while now >= due + policy.step(n + 1).after:
        n += 1
    if now >= due + policy.step(n).after:
        rung = policy.step(n)
        to = {"grid_leader": "group", "parties": f"party:{party}" if party else "group"}.get(rung.to, rung.to)
        if m == Milestone.REPLY and rung.to == "grid_leader":
            to = f"party:{party}"
        out.tells.append(Tell(Notice.ESCALATION, to, f"{key}:rung{n}",
                              {"milestone": m, "party": party, "due": due.isoformat(), "rung": n}))
        out.rung = n
        out.stage = n + 1
    out.next_check_at = due + policy.step(out.stage).after
    return out
