"""Who is who, built once from config: staff (with their roles, grids and parties), the parties
that handle tickets, the grids, and the promise policy. Everything a person reads names people by
name; deliveries find their recipients here."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time

from domain.access import Actor
from domain.calendar import BusinessCalendar, CalendarSettings, ClockKind
from domain.policy import Policy, Promise, Step, parse_duration
from domain.states import Milestone, Role


@dataclass(frozen=True)
class Party:
    code: str
    name: str
    kind: str
    members: tuple[str, ...] = ()     # WeCom userids
    robot_key: str | None = None


@dataclass
class Directory:
    staff: dict[str, Actor]                        # by WeCom userid
    parties: dict[str, Party]
    policy: Policy
    tz: str
    leaders: dict[str, str] = field(default_factory=dict)   # grid name -> leader userid
    cards: bool = True                             # one-tap WeCom cards beside staff notices
    communities: dict[str, str] = field(default_factory=dict)   # code -> name, when there are several

    @classmethod
    def from_config(cls, cfg) -> "Directory":
        parties = {p.code: Party(p.code, p.name, p.kind, tuple(s.userid for s in cfg.staff if s.party == p.code),
                                 p.robot_key) for p in cfg.parties}
        staff: dict[str, Actor] = {}
        several = len(cfg.community_codes()) > 1       # with one community, nobody's scope narrows
        for s in cfg.staff:
            party = s.party or next((p.code for p in parties.values() if p.kind == s.role), None)
            staff[s.userid] = Actor(Role(s.role), s.userid, s.name, party=party,
                                    community=s.community if several else None)
        for g in cfg.grids:
            known = staff.get(g.leader.wecom_userid)
            role = known.role if known else Role.GRID_LEADER
            staff[g.leader.wecom_userid] = Actor(role, g.leader.wecom_userid, g.leader.name, grid=g.name,
                                                 party=known.party if known else None,
                                                 community=cfg.community_of_grid(g) if several else None)
        return cls(staff, parties, policy_from_config(cfg), cfg.community.timezone,
                   {g.name: g.leader.wecom_userid for g in cfg.grids}, cfg.wecom.cards,
                   {c.code: c.name for c in cfg.communities})

    def name_of(self, userid: str | None) -> str:
        """A person's name for people to read (never a bare userid when we know the name)."""
        if not userid:
            return "-"
        a = self.staff.get(userid)
        return a.name if a else userid

    def actor_name(self, tag: str) -> str:
        """'staff:wangfang' -> 王芳; 'resident:o…' -> 居民; 'system:sweep' -> 系统."""
        kind, _, ident = tag.partition(":")
        if kind == "staff":
            return self.name_of(ident)
        return {"resident": "居民", "system": "系统"}.get(kind, tag)

    def find(self, who: str) -> Actor | None:
        """A staff member by userid, name, or a unique prefix of either."""
        if who in self.staff:
            return self.staff[who]
        exact = [a for a in self.staff.values() if a.name == who]
        if exact:
            return exact[0]
        near = [a for a in self.staff.values() if a.id.startswith(who) or a.name.startswith(who)]
        return near[0] if len(near) == 1 else None

    def find_party(self, word: str) -> Party | None:
        if word in self.parties:
            return self.parties[word]
        hits = [p for p in self.parties.values() if p.name == word or word in p.name]
        return hits[0] if len(hits) == 1 else None

    def party_name(self, code: str) -> str:
        p = self.parties.get(code)
        return p.name if p else code

    def with_role(self, role: Role) -> list[str]:
        return [a.id for a in self.staff.values() if a.role == role]


def _promise(p) -> Promise:
    return Promise(parse_duration(p.within), ClockKind(p.clock))


def policy_from_config(cfg) -> Policy:
    pc = cfg.promises
    sh = pc.service_hours
    end = time(23, 59, 59) if sh.end == "24:00" else time.fromisoformat(sh.end)
    cal = BusinessCalendar(CalendarSettings(timezone=cfg.community.timezone, service_start=time.fromisoformat(sh.start),
                                            service_end=end, service_days=sh.days,
                                            extra_holidays=tuple(pc.extra_holidays), extra_workdays=tuple(pc.extra_workdays)))
    promises = {Milestone.REGISTER: _promise(pc.registered), Milestone.ONSITE: _promise(pc.onsite),
                Milestone.FIX: _promise(pc.fix), Milestone.PLAN: _promise(pc.plan), Milestone.VISIT: _promise(pc.visit),
                Milestone.REPLY: _promise(pc.reply)}
    per_category = {c: {Milestone(m): _promise(p) for m, p in table.items()} for c, table in pc.categories.items()}
    return Policy(promises=promises, complex_categories=frozenset(pc.complex_categories), category_promises=per_category,
                  urgent_onsite=_promise(pc.urgent_onsite) if pc.urgent_onsite else None,
                  emergency_onsite=_promise(pc.emergency_onsite), warn_fraction=pc.warn_fraction,
                  ladder=tuple(Step(parse_duration(s.after), s.to) for s in pc.escalation),
                  repeat_every=parse_duration(pc.repeat_every), visit_for=pc.visit_for,
                  reopen_on_low_rating=pc.reopen_on_low_rating, category_party=dict(pc.category_party), calendar=cal)
