"""What the bot does with each resident message: the intake flow (no Flask, no wechatpy).

Intake.handle() runs inside the caller's transaction and returns the reply text; deliveries to
groups and residents are written to the outbox in the same transaction, so a message either has
all its effects or none.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from types import SimpleNamespace
from datetime import datetime, timedelta

import nlp
from nlp import categories
from nlp.types import Classification, Location
from sqlalchemy.orm import Session

from handlers import push, replies
from handlers.clock import Clock
from handlers.inbound import Inbound
from handlers.routing import GridRule, parse_buildings, route
from handlers.sla import deadlines
from storage import repositories as repo
from storage.models import Ticket
from storage.repositories import ResidentRow as Resident

ATTACH_WINDOW = timedelta(minutes=10)     # a photo or location within this joins the last ticket
HOLD_PUSH = timedelta(minutes=10)         # how long a push waits for the resident's menu choice
DUPLICATE_WINDOW = timedelta(hours=48)

_PROGRESS = re.compile(r"^(进度|查询|查进度|我的工单|工单|处理进度|进展)[？?。!！]*$")
_HUMAN = re.compile(r"^(人工|转人工|人工服务|找人|客服|联系人|电话)[？?。!！]*$")
_HELP = re.compile(r"^(帮助|help|\?|？|菜单|怎么用|你好|您好|在吗|在不在|hello|hi)[？?。!！~]*$", re.I)
_THANKS = re.compile(r"^(谢谢|谢谢你们|谢谢了|多谢|感谢|好的|好|嗯|ok|收到)[！!。~]*$", re.I)


@dataclass(frozen=True)
class IntakeSettings:
    community: str
    timezone: str
    hotline: str
    grid_rules: tuple[GridRule, ...]
    default_grid: str

    @classmethod
    def from_config(cls, cfg) -> "IntakeSettings":
        rules = tuple(GridRule(g.name, parse_buildings(g.buildings), tuple(g.places)) for g in cfg.grids)
        return cls(cfg.community.name, cfg.community.timezone, cfg.community.hotline, rules, cfg.default_grid)


class Intake:
    def __init__(self, settings: IntakeSettings, clock: Clock, classify=nlp.classify,
                 grids: dict[str, repo.GridInfo] | None = None):
        self.s = settings
        self.clock = clock
        self.classify = classify
        # grids by name, as synced from config at start (None: read them from the database)
        self.grids = grids
        self._grid_ids = {g.id: g for g in grids.values()} if grids else {}

    # -- entry point ----------------------------------------------------------------------------
    def handle(self, session: Session, msg: Inbound) -> tuple[str, int | None]:
        """(reply text, ticket id or None)."""
        now = self.clock.now()
        r = repo.resident(session, msg.openid, now)
        out = self._handle(session, r, msg, now)
        repo.save_resident(session, r)
        return out

    def _handle(self, session: Session, r, msg: Inbound, now: datetime) -> tuple[str, int | None]:
        actor = f"resident:{msg.openid}"
        if msg.type == "text":
            return self._text(session, r, msg.content.strip(), actor, now)
        if msg.type == "voice":
            text = (msg.content or "").strip().rstrip("。.")
            if not text:
                return replies.voice_unrecognised(), None
            return self._text(session, r, text, actor, now)
        if msg.type == "image":
            return self._image(session, r, msg, actor, now)
        if msg.type == "location":
            return self._location(session, r, msg, actor, now)
        if msg.type == "event":
            if msg.event in ("subscribe", "subscribe_scan"):
                return replies.welcome(self.s.community), None
            return "", None   # unsubscribe, menu views, template receipts: nothing to say
        return replies.unsupported(), None

    # -- text -----------------------------------------------------------------------------------
    def _text(self, session, r: Resident, text: str, actor: str, now: datetime):
        if not text:
            return replies.empty_text(), None
        rating = (r.state or {}).get("rating")
        if rating:
            repo.set_state(r, rating=None)
            answered = self._rating(session, r, rating, text, actor, now)
            if answered is not None:
                return answered
        menu = (r.state or {}).get("menu")
        if menu:
            repo.set_state(r, menu=None)
            if re.fullmatch(r"\s*\d{1,2}\s*", text):
                return self._menu_choice(session, r, menu, int(text), actor, now)
        if _PROGRESS.match(text):
            return replies.progress(repo.tickets_of(session, r.id), self.s.timezone), None
        if _HUMAN.match(text):
            grid = self._grid_for(session, r, None)[0]
            recent = repo.tickets_of(session, r.id, limit=3)
            notice = replies.human_request(grid.name, [t.code for t in recent], msg_tail=r.openid[-4:])
            # once per resident per hour, however often they ask
            repo.enqueue_once(session, f"human:{r.id}:{now:%Y%m%d%H}", "wecom_text", grid.leader_userid,
                              {"kind": "human_request", "content": notice}, now)
            return replies.human(self.s.community, self.s.hotline, grid.leader_name), None
        if _HELP.match(text):
            return replies.help_text(self.s.community), None
        if _THANKS.match(text):
            return replies.thanks(), None

        c = self.classify(text)
        photo = (r.state or {}).get("photo")      # set while a photo-only ticket may wait for words
        if photo:
            if photo.get("at", 0) < (now - ATTACH_WINDOW).timestamp():
                repo.set_state(r, photo=None)
            else:
                waiting = repo.recent_open_ticket(session, r.id, now - ATTACH_WINDOW)
                if waiting is not None and waiting.needs_detail:
                    repo.set_state(r, photo=None)
                    return self._fill_photo_ticket(session, r, waiting, text, c, actor, now)
        if c.emergency is None and c.caution is None and not c.low_confidence:
            joined = self._join_duplicate(session, r, text, c, actor, now)
            if joined is not None:
                return joined
        return self._open_ticket(session, r, text, c, actor, now)

    def _open_ticket(self, session, r: Resident, text: str, c: Classification, actor: str, now: datetime):
        grid, located, loc = self._grid_for(session, r, c.location)
        ticket = self._new_ticket(session, r, grid, c.category, text, loc, now, c=c,
                                  confirmed=not (c.low_confidence and c.emergency is None))
        repo.add_event(session, ticket, actor, "created", now, category=c.category,
                       confidence=round(c.confidence, 3), terms=c.terms[:8], emergency=ticket.emergency,
                       caution=c.caution.kind if c.caution else None)
        lead = self._alert(session, grid, ticket, c, now)
        if c.low_confidence and c.emergency is None:
            options = c.menu or [code for code, _ in c.top if code != categories.OTHER][:3] + [categories.OTHER]
            repo.set_state(r, menu={"ticket_id": ticket.id, "options": options})
            # the push waits for the resident's choice, unless they may be in danger
            self._push(session, ticket, grid, now, not_before=None if c.caution else now + HOLD_PUSH)
            return lead + replies.menu(ticket.code, options), ticket.id
        self._push(session, ticket, grid, now)
        d = deadlines(ticket.category, now)
        return lead + replies.accepted(ticket.code, ticket.category, grid.leader_name, d.fix_is_plan, located,
                                       c.emergency is not None), ticket.id

    def _menu_choice(self, session, r: Resident, menu: dict, n: int, actor: str, now: datetime):
        options: list[str] = menu["options"]
        ticket = session.get(Ticket, menu["ticket_id"])
        if ticket is None or ticket.status != repo.OPEN:
            return replies.empty_text(), None
        if not 1 <= n <= len(options):
            repo.set_state(r, menu=menu)        # keep the menu open
            return replies.menu_invalid(len(options)), ticket.id
        chosen = options[n - 1]
        old = ticket.category
        self._recategorise(ticket, chosen, now)
        ticket.category_confirmed = True
        repo.add_event(session, ticket, actor, "category_chosen", now, old=old, new=chosen)
        held = repo.cancel_pending(session, ticket.id, "ticket_push")
        grid = self._grid_by_id(session, ticket.grid_id)
        self._push(session, ticket, grid, now, title="新工单" if held else "类别更正", key="chosen")
        d = deadlines(chosen, ticket.created_at)
        return replies.accepted(ticket.code, chosen, grid.leader_name, d.fix_is_plan,
                                ticket.location_text is not None, ticket.emergency is not None), ticket.id

    def _rating(self, session, r: Resident, rating: dict, text: str, actor: str, now: datetime):
        """The resident's answer to "please rate 1-5" after a ticket was resolved (None: not an answer)."""
        t = session.get(Ticket, rating["ticket_id"])
        if t is None:
            return None
        if re.fullmatch(r"\s*[1-5]\s*分?\s*", text):
            t.rating = int(text.strip()[0])
            repo.add_event(session, t, actor, "rated", now, score=t.rating)
            return replies.rated(t.code, t.rating), t.id
        if re.fullmatch(r"(没|没有|未)解决[了！!。]*|不满意[！!。]*", text.strip()):
            t.status, t.resolved_at, t.updated_at = repo.OPEN, None, now
            repo.add_event(session, t, actor, "reopened", now, reason="resident: not solved")
            self._push(session, t, self._grid_by_id(session, t.grid_id), now, title="居民反馈未解决",
                       key=f"reopen{now.timestamp():.0f}")
            return replies.not_solved(t.code), t.id
        return None

    def _join_duplicate(self, session, r: Resident, text: str, c: Classification, actor: str, now: datetime):
        try:
            from nlp.similarity import THRESHOLD, similar
        except ImportError:          # first version of nlp: no duplicate matching
            return None
        grid, _, loc = self._grid_for(session, r, c.location)
        # other residents' tickets only; none located in another building (similar() vetoes those)
        for t in repo.open_tickets_like(session, grid.id, c.category, now - DUPLICATE_WINDOW, exclude_resident=r.id,
                                        building=loc.building if loc is not None else None):
            t_loc = Location(text=t.location_text or "", building=t.building, unit=t.unit, room=t.room) if t.location_text else None
            if similar(text, t.text, loc, t_loc) >= THRESHOLD:
                if repo.add_follower(session, t, r.id, now):
                    repo.add_event(session, t, actor, "plus_one", now, text=nlp.mask_pii(text)[:200])
                return replies.duplicate(t.code, t.category), t.id
        return None

    # -- photos and places ------------------------------------------------------------------------
    def _image(self, session, r: Resident, msg: Inbound, actor: str, now: datetime):
        t = repo.recent_open_ticket(session, r.id, now - ATTACH_WINDOW)
        if t is not None:
            repo.attach(session, t, "image", now, media_id=msg.media_id, url=msg.pic_url)
            repo.add_event(session, t, actor, "photo_added", now, media_id=msg.media_id)
            return replies.photo_attached(t.code), t.id
        grid, _, loc = self._grid_for(session, r, None)
        t = self._new_ticket(session, r, grid, categories.OTHER, "", loc, now, confirmed=False, needs_detail=True)
        repo.set_state(r, photo={"ticket_id": t.id, "at": now.timestamp()})   # the next words fill it
        repo.attach(session, t, "image", now, media_id=msg.media_id, url=msg.pic_url)
        repo.add_event(session, t, actor, "created", now, category=t.category, via="photo")
        self._push(session, t, grid, now, not_before=now + HOLD_PUSH)
        return replies.photo_new(t.code), t.id

    def _fill_photo_ticket(self, session, r, t: Ticket, text: str, c: Classification, actor: str, now: datetime):
        """Words arriving after a photo-only report complete that ticket instead of opening another."""
        t.text, t.needs_detail, t.category_confirmed = text, False, True
        t.confidence, t.terms = c.confidence, c.terms[:8]
        self._recategorise(t, c.category, now, emergency=c.emergency.kind if c.emergency else None,
                           caution=c.caution is not None)
        grid = self._grid_by_id(session, t.grid_id)
        if c.location is not None and t.location_text is None:
            grid, _, loc = self._grid_for(session, r, c.location)
            self._set_location(t, loc)
            t.grid_id = grid.id
        repo.add_event(session, t, actor, "detail_added", now, category=c.category,
                       emergency=c.emergency.kind if c.emergency else None,
                       caution=c.caution.kind if c.caution else None)
        held = repo.cancel_pending(session, t.id, "ticket_push")
        self._push(session, t, grid, now, title="新工单" if held else "工单补充", key="detail")
        lead = self._alert(session, grid, t, c, now)       # the words may say what the photo showed
        d = deadlines(t.category, t.created_at)
        return lead + replies.accepted(t.code, t.category, grid.leader_name, d.fix_is_plan,
                                       t.location_text is not None, t.emergency is not None), t.id

    def _location(self, session, r: Resident, msg: Inbound, actor: str, now: datetime):
        label = msg.label or f"{msg.latitude:.5f},{msg.longitude:.5f}"
        t = repo.recent_open_ticket(session, r.id, now - ATTACH_WINDOW)
        if t is not None:
            t.latitude, t.longitude = msg.latitude, msg.longitude
            if t.location_text is None:
                t.location_text = label[:128]
            repo.attach(session, t, "location", now, label=label)
            repo.add_event(session, t, actor, "location_added", now, label=label)
            return replies.location_attached(t.code, label), t.id
        repo.set_state(r, location={"lat": msg.latitude, "lng": msg.longitude, "label": label})
        return replies.location_kept(label), None

    # -- helpers ----------------------------------------------------------------------------------
    def _grid_for(self, session, r: Resident, loc: Location | None):
        """(grid row, located?, location used). Falls back to the resident's known building or kept place."""
        if loc is None:
            kept = (r.state or {}).get("location")
            if kept:
                loc = nlp.find_location(kept["label"]) or Location(text=kept["label"], area=kept["label"])
            elif r.building:
                loc = Location(text=f"{r.building}号楼", building=r.building)
        name, located = route(loc, list(self.s.grid_rules), self.s.default_grid)
        grid = self.grids.get(name) if self.grids else None
        return grid or repo.grid_by_name(session, name), located, loc

    def _grid_by_id(self, session, grid_id: int) -> repo.GridInfo:
        return self._grid_ids.get(grid_id) or repo.grid_by_id(session, grid_id)

    def _new_ticket(self, session, r: Resident, grid, category: str, text: str, loc: Location | None,
                    now: datetime, c: Classification | None = None, *, confirmed: bool = True,
                    needs_detail: bool = False) -> SimpleNamespace:
        """Insert a ticket (one Core INSERT) and return its values as attributes (id included)."""
        emergency = c.emergency.kind if c and c.emergency else None
        d = deadlines(category, now)
        t = SimpleNamespace(code=repo.next_ticket_code(session, now, self.s.timezone), category=category,
                            priority=_priority(category, emergency, caution=bool(c and c.caution)),
                            emergency=emergency, status=repo.OPEN, text=text,
                            confidence=c.confidence if c else 0.0, terms=(c.terms[:8] if c else []),
                            category_confirmed=confirmed, needs_detail=needs_detail, grid_id=grid.id, resident_id=r.id,
                            created_at=now, updated_at=now, due_onsite_at=d.onsite, due_fix_at=d.fix,
                            location_text=None, building=None, unit=None, room=None, latitude=None, longitude=None)
        self._set_location(t, loc)
        kept = (r.state or {}).get("location")
        if kept:
            t.latitude, t.longitude = kept.get("lat"), kept.get("lng")
            repo.set_state(r, location=None)
        if loc is not None and loc.building and r.building != loc.building:
            r.building = loc.building
        t.id = repo.insert_ticket(session, **vars(t))
        return t

    @staticmethod
    def _set_location(t, loc: Location | None) -> None:
        if loc is not None:
            t.location_text = loc.label()[:128]
            t.building, t.unit, t.room = loc.building, loc.unit, loc.room

    @staticmethod
    def _recategorise(t: Ticket, category: str, now: datetime, emergency: str | None = None,
                      caution: bool = False) -> None:
        t.category, t.updated_at = category, now
        if emergency:
            t.emergency = emergency
        # a new category can make a ticket urgent, never less so (as /recat): what made it urgent
        # (a caution, a staff member's /urgent) is not undone by the resident's menu choice
        if _priority(category, t.emergency, caution) == "urgent":
            t.priority = "urgent"
        d = deadlines(category, t.created_at)
        t.due_onsite_at, t.due_fix_at = d.onsite, d.fix

    @staticmethod
    def _alert(session, grid, t, c: Classification, now: datetime) -> str:
        """The line that leads the reply when the message may report a danger to life. An emergency
        also pages the grid's group with @all (once per ticket); a caution only makes the ticket
        urgent, which @-mentions the leader in its push."""
        if c.emergency is not None:
            repo.enqueue(session, "robot", grid.robot_key,
                         {"kind": "emergency_push", "body": push.emergency_text(t, c.emergency.number)},
                         now, ticket_id=t.id, dedupe_key=f"t{t.id}:emergency")
            return replies.emergency_first(c.emergency.advice) + "\n"
        if c.caution is not None:
            return replies.caution_first(c.caution.number) + "\n"
        return ""

    def _push(self, session, t: Ticket, grid, now: datetime, *, not_before: datetime | None = None,
              title: str = "新工单", key: str = "new") -> None:
        body = push.ticket_markdown(t, self.s.timezone, leader_userid=grid.leader_userid, title=title)
        repo.enqueue(session, "robot", grid.robot_key, {"kind": "ticket_push", "body": body}, now,
                     ticket_id=t.id, dedupe_key=f"t{t.id}:{key}", not_before=not_before)


def _priority(category: str, emergency: str | None, caution: bool = False) -> str:
    return "urgent" if emergency or caution or categories.get(category).is_urgent(emergency) else "normal"
