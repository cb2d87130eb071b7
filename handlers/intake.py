"""What the bot does with each resident message: the intake flow (no Flask, no wechatpy).

Intake.handle() runs inside the caller's transaction and returns the reply text; every change to a
ticket is a move of the domain (domain/moves.py) applied by handlers/effects.py, so deliveries are
written to the outbox in the same transaction and a message has all its effects or none. The
resident's conversation (a menu open, a photo waiting for words) is domain/conversation.py.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import nlp
from nlp import emergency as emergency_rules
from nlp import categories
from nlp.extract import find_phones
from nlp.types import Classification, Location
from sqlalchemy.orm import Session

from domain import moves
from domain.access import Actor, Refused
from domain.conversation import Conversation, Input, Mode
from domain.states import ACTIVE, DONE, Role, Source, Status
from handlers import effects, render, replies, resident_points
from handlers.clock import Clock
from handlers.commands.registry import ticket_code
from handlers.directory import Directory
from handlers.inbound import Inbound
from handlers.intents import Intent, beyond_callback, detect, find_call_time, is_bare_answer
from handlers.new_ticket import new_ticket_values, reasons, remember_building, set_location
from handlers.poll_answers import PollAnswers
from handlers.referrals import Referral, Referrals
from handlers.render import onsite_promise
from handlers.routing import CommunityRule, GridRule, parse_buildings, route_in
from storage import repositories as repo
from storage.models import Ticket
from storage.repositories import ResidentRow as Resident

ATTACH_WINDOW = timedelta(minutes=10)     # a photo or location within this joins the last ticket
HOLD_PUSH = timedelta(minutes=10)         # how long a push waits for the resident's menu choice
DUPLICATE_WINDOW = timedelta(hours=48)
EMERGENCY_JOIN = timedelta(minutes=30)    # reports of one emergency in one place within this: one ticket
SHORT_UNCLEAR = 20                        # characters: a short message naming no problem and no place is not a report


@dataclass(frozen=True)
class Limits:
    """Flood limits per resident (config limits.*). Soft: two reports at the very same moment may
    both pass the last free place; what matters is that a flood stops, not the exact count."""
    tickets_per_hour: int = 6
    tickets_per_day: int = 20          # a calendar day in the community's time zone
    messages_per_minute: int = 20


@dataclass(frozen=True)
class IntakeSettings:
    community: str
    timezone: str
    hotline: str
    grid_rules: tuple[GridRule, ...]
    default_grid: str
    limits: Limits = Limits()
    referrals: Referrals = field(default_factory=Referrals.default)
    points: object | None = None       # config points: rules and catalogue, for the staff commands (/points)
    communities: tuple[CommunityRule, ...] = ()   # several communities on one account (empty: one)

    @classmethod
    def from_config(cls, cfg) -> "IntakeSettings":
        rules = tuple(GridRule(g.name, parse_buildings(g.buildings), tuple(g.places), cfg.community_of_grid(g))
                      for g in cfg.grids)
        communities = tuple(CommunityRule(c.code, tuple({c.name, c.name.removesuffix("社区"), *c.places}),
                                          next(g.name for g in cfg.grids if cfg.community_of_grid(g) == c.code))
                            for c in cfg.all_communities()) if cfg.communities else ()
        lim = cfg.limits
        limits = Limits(lim.resident_tickets_per_hour, lim.resident_tickets_per_day, lim.resident_messages_per_minute)
        referrals = (Referrals.default() if cfg.referrals is None
                     else Referrals([(r.name, r.when, r.say) for r in cfg.referrals]))
        return cls(cfg.community.name, cfg.community.timezone, cfg.community.hotline, rules, cfg.default_grid, limits,
                   referrals, cfg.points, communities)


class Intake:
    def __init__(self, settings: IntakeSettings, clock: Clock, classify=nlp.classify,
                 grids: dict[str, repo.GridInfo] | None = None, directory: Directory | None = None,
                 sync_grids=None):
        self.s = settings
        self.clock = clock
        self.classify = classify
        self.d = directory
        # grids by name, as synced from config at start (None: read them from the database)
        self.grids = grids
        self._grid_ids = {g.id: g for g in grids.values()} if grids else {}
        self.polls = PollAnswers(settings.timezone, lambda text: self.classify(text))
        # a worker that started while the database was down syncs its grids with the first message
        self._sync_grids = sync_grids if grids is None else None

    def _ensure_grids(self, session: Session) -> None:
        if self._sync_grids is not None:
            self.grids = self._sync_grids(session)
            self._grid_ids = {g.id: g for g in self.grids.values()}
            self._sync_grids = None

    # -- entry point ----------------------------------------------------------------------------
    def handle(self, session: Session, msg: Inbound) -> tuple[str, int | None]:
        """(reply text, ticket id or None)."""
        self._ensure_grids(session)
        now = self.clock.now()
        day = datetime.combine(now.astimezone(ZoneInfo(self.s.timezone)).date(), time(), ZoneInfo(self.s.timezone))
        r, act = repo.resident_with_activity(session, msg.openid, now, hour=now - timedelta(hours=1), day=day,
                                             minute=now - timedelta(minutes=1))
        conv = Conversation.load(r.state, now)
        actor = Actor(Role.RESIDENT, msg.openid, "居民", resident_id=r.id)
        out = self._handle(session, r, conv, actor, msg, now, act)
        r.state = conv.dump()
        repo.save_resident(session, r)
        return out

    def failed_reply(self) -> str:
        """What the resident reads when handling broke (the message itself is kept)."""
        return replies.failed()

    def holding_reply(self, msg: Inbound) -> str:
        """The answer while a message waits to be handled (slow handling, database outage): an
        emergency still gets its advice now, from the rules alone (no database, no model)."""
        danger = None
        if msg.type in ("text", "voice") and msg.content:
            try:
                danger = emergency_rules.detect(msg.content)
            except Exception:  # noqa: BLE001 - the holding answer must not fail
                danger = None
        return (replies.emergency_first(danger.advice) + "\n" if danger else "") + replies.holding()

    # -- flood limits: a limited message is kept (receive stored it) and answered, and does nothing
    # else; a message that may report a danger to life (an emergency or a caution) is never limited
    def _flooding(self, act: repo.Activity) -> str | None:
        if act.messages_last_minute > self.s.limits.messages_per_minute:
            return replies.flood_messages(self.s.hotline)
        return None

    def _over_ticket_limit(self, act: repo.Activity) -> str | None:
        lim = self.s.limits
        if act.tickets_last_hour >= lim.tickets_per_hour:
            return replies.flood_tickets(act.tickets_last_hour, "1小时内", self.s.hotline)
        if act.tickets_today >= lim.tickets_per_day:
            return replies.flood_tickets(act.tickets_today, "今天", self.s.hotline)
        return None

    def _handle(self, session, r, conv: Conversation, actor: Actor, msg: Inbound, now: datetime,
                act: repo.Activity):
        if msg.type == "text":
            return self._text(session, r, conv, actor, msg.content.strip(), now, act)
        if msg.type == "voice":
            text = (msg.content or "").strip().rstrip("。.")
            if not text:
                return replies.voice_unrecognised(), None
            return self._text(session, r, conv, actor, text, now, act)
        if msg.type in ("image", "location"):     # photos go to the group: limited while flooding, like text
            limited = self._flooding(act)
            if limited:
                return limited, None
        if msg.type == "image":
            conv.route(Input.PHOTO)
            return self._image(session, r, conv, actor, msg, now, act)
        if msg.type == "location":
            conv.route(Input.LOCATION)
            return self._location(session, r, conv, actor, msg, now)
        if msg.type == "event":
            if msg.event in ("subscribe", "subscribe_scan"):
                return replies.welcome(self.s.community), None
            return "", None   # unsubscribe, menu views, template receipts: nothing to say
        return replies.unsupported(), None

    # -- text -----------------------------------------------------------------------------------
    def _text(self, session, r: Resident, conv: Conversation, actor: Actor, text: str, now: datetime,
              act: repo.Activity):
        if not text:
            return replies.empty_text(), None
        number = re.fullmatch(r"\s*(\d{1,2})\s*", text)
        action = conv.route(Input.MENU_NUMBER if number else Input.TEXT)
        if action == "choose_category":
            chosen = self._menu_choice(session, r, conv, actor, int(number.group(1)), now)
            if chosen is not None:
                return chosen                 # else the menu was stale: the number is read afresh
        if action == "callback_details":
            answered = self._callback_details(session, r, conv, actor, text, now, act)
            if answered is not None:
                return answered
        if action == "vote_room" or self.polls.wants(r, text):
            answered = (self.polls.vote_room if action == "vote_room" else self.polls.handle)(session, r, conv, text, now)
            if answered is not None:
                return answered, None
        reply, ticket_id = self._not_poll_text(session, r, conv, actor, text, now, act, number, action)
        if r.asked_poll_id is not None and reply:      # a complaint mid-questionnaire: then how to go on
            reply += self.polls.reminder(session, r, now)
        return reply, ticket_id

    def _not_poll_text(self, session, r: Resident, conv: Conversation, actor: Actor, text: str, now: datetime,
                       act: repo.Activity, number, action):
        intent = detect(text)
        if intent is not None:
            answered = self._intent(session, r, conv, actor, intent, now)
            if answered is not None:
                if intent.intent != Intent.HUMAN:       # 人工 leaves its question open
                    conv.end()
                return answered
        c = self.classify(text)
        danger = c.emergency is not None or c.caution is not None      # never limited
        # (answers to a menu and the intents above are not limited: each is one-shot or once an hour)
        limited = None if danger else self._flooding(act)
        if limited:
            return limited, None
        if action == "fill_photo_ticket":
            waiting = session.get(Ticket, conv.ticket_id) if conv.ticket_id else None
            conv.end()
            if waiting is not None and waiting.needs_detail and Status(waiting.status) in ACTIVE:
                return self._fill_photo_ticket(session, r, waiting, text, c, actor, now)
        if (c.category == categories.OTHER and not c.low_confidence and c.location is None and c.emergency is None
                and c.caution is None and len(text) <= SHORT_UNCLEAR):
            return replies.not_a_report(), None          # "嗯嗯", "有点问题": ask what and where, open nothing
        if c.emergency is not None:
            joined = self._join_emergency(session, r, actor, text, c, now)
            if joined is not None:
                return joined
        if c.emergency is None and c.caution is None and not c.low_confidence:
            joined = self._join_duplicate(session, r, actor, text, c, now)
            if joined is not None:
                return joined
        limited = None if danger else self._over_ticket_limit(act)
        if limited:
            return limited, None
        outside = self.s.referrals.match(text) if c.category == categories.OTHER and not danger else None
        if outside is not None:
            return self._open_outside(session, r, conv, actor, text, c, outside, now)
        return self._open_ticket(session, r, conv, actor, text, c, now)

    def _intent(self, session, r: Resident, conv: Conversation, actor: Actor, m, now: datetime):
        """The answer to a message that is not a report (None: treat it as a report after all)."""
        match m.intent:
            case Intent.COMMAND:
                return replies.command_from_resident(), None
            case Intent.PROGRESS:
                return replies.progress(repo.tickets_of(session, r.id), self.s.timezone), None
            case Intent.HUMAN:
                return self._human(session, r, conv, now)
            case Intent.HELP:
                return replies.help_text(self.s.community), None
            case Intent.THANKS | Intent.ACK:
                pending = repo.pending_ratings(session, r.id)
                return (replies.thanks() + (replies.rate_hint(pending[0][1].code) if pending else "")), None
            case Intent.PLUS_ONE:
                return replies.plus_one_alone(), None
            case Intent.RATE | Intent.NOT_SOLVED:
                return self._feedback(session, r, actor, m, now)
            case Intent.CANCEL | Intent.URGE:
                return self._own_ticket_move(session, r, actor, m, now)
            case Intent.POINTS | Intent.POINTS_NAME | Intent.POINTS_ANON:
                return resident_points.answer(session, r.id, m, self.s.timezone), None
        return None

    def _human(self, session, r: Resident, conv: Conversation, now: datetime):
        """"人工": ask for a number or a time to be called; the answer goes to the grid leader
        (_callback_details). The leader hears of the request at once too (once an hour), so a
        resident who never answers the question is not lost."""
        grid = self._grid_for(session, r, None, Conversation())[0]
        recent = repo.tickets_of(session, r.id, limit=3)
        repo.enqueue_once(session, f"human:{r.id}:{now:%Y%m%d%H}", "wecom_text", grid.leader_userid,
                          {"kind": "human_request", "resident_id": r.id,
                           "content": render.callback_request(grid.name, r.building, [], None, None, recent)}, now)
        conv.enter(Mode.CALLBACK, now)
        return replies.human(self.s.community, self.s.hotline, grid.leader_name), None

    def _callback_details(self, session, r: Resident, conv: Conversation, actor: Actor, text: str, now: datetime,
                          act: repo.Activity):
        """The message after "人工"'s question. With a phone number or a time it goes to the grid
        leader as a private staff-app message (the full number: the leader calls it; never a group),
        with the resident's building and last tickets. Anything else (a complaint, "谢谢", "进度")
        ends the question and is handled as usual: returns None. A complaint that also leaves a
        number does both."""
        masked = nlp.mask_pii(text)
        phones, said = find_phones(text), find_call_time(masked)
        if not phones and not said:
            conv.end()
            return None
        rest = beyond_callback(masked)
        report = not is_bare_answer(rest) and self._is_report(rest)
        if report and not phones:            # "3号楼门口晚上8点后垃圾堆满了": a complaint naming a time
            conv.end()
            return None
        limited = self._flooding(act)
        if limited:
            return limited, None
        when = said or conv.call_time
        conv.end()
        reply, ticket_id = None, None
        if report:                           # a complaint that also left a number: handled as usual too
            reply, ticket_id = self._text(session, r, conv, actor, text, now, act)
        else:
            remember_building(r, nlp.find_location(text))     # "我在3号楼，电话…": 3号楼的居民
            if not phones:                   # a time alone: the number may follow
                conv.enter(Mode.CALLBACK, now, call_time=when)
        grid = self._grid_for(session, r, None, Conversation())[0]
        recent = repo.tickets_of(session, r.id, limit=3)
        only_number = re.sub(r"[\s\-+()（）]", "", text) in phones
        notice = render.callback_request(grid.name, r.building, phones, when, None if only_number else text, recent)
        digest = hashlib.sha1(f"{','.join(phones)}|{when}".encode()).hexdigest()[:12]
        repo.enqueue_once(session, f"callback:{r.id}:{now:%Y%m%d%H}:{digest}", "wecom_text", grid.leader_userid,
                          {"kind": "callback_request", "content": notice, "resident_id": r.id}, now)
        told = replies.callback_noted(grid.leader_name, phones[0] if phones else None, when)
        return (f"{reply}\n{told}" if reply else told), ticket_id

    def _is_report(self, rest: str) -> bool:
        """Whether what a callback answer says besides its number and time is a complaint: an
        emergency the rules see, or a category the classifier is sure of. (The learned emergency
        head is not asked: it reads fragments like "我在3号楼，电话" as someone trapped.)"""
        try:
            if emergency_rules.detect(rest) is not None:
                return True
        except Exception:  # noqa: BLE001 - unsure: handle it as a complaint (classify never raises)
            return True
        c = self.classify(rest)
        return c.category != categories.OTHER and not c.low_confidence

    # -- ratings and "没解决": they belong to a ticket, reporter and "+1" followers alike ----------
    def _feedback(self, session, r: Resident, actor: Actor, m, now: datetime):
        if m.ticket is not None:
            t = self._named_ticket(session, m.ticket, now)
            if t is None or not repo.is_involved(session, t, r.id):
                return replies.no_such_ticket_of_yours(m.ticket), None
            pending = [(None, t)]
        else:
            pending = repo.pending_ratings(session, r.id)
            if not pending:
                if m.intent == Intent.RATE:
                    return None                   # a bare number with nothing to rate: not an answer
                recent = [t for t in repo.tickets_of(session, r.id, limit=3) if Status(t.status) in DONE]
                if not recent:
                    return replies.nothing_to_rate(), None
                pending = [(None, recent[0])] if len(recent) == 1 else [(None, t) for t in recent]
            if len(pending) > 1:
                return replies.which_ticket([t.code for _, t in pending], m.intent == Intent.RATE), None
        t = pending[0][1]
        grid = self.grid_by_id(session, t.grid_id)
        try:
            if m.intent == Intent.RATE:
                out = moves.rate(t, actor, now, self.d.policy, m.score, reporter=t.resident_id == r.id)
                repo.record_rating(session, t, r.id, m.score, now)
                if m.score <= self.d.policy.low_rating and self.d.policy.reopen_on_low_rating:
                    effects.apply(session, t, out, actor, now, self.d, grid)
                    out = moves.reopen(t, actor, now, self.d.policy, f"居民评价 {m.score} 分", involved=True)
                    effects.apply(session, t, out, actor, now, self.d, grid)
                    return replies.not_solved(t.code), t.id
                effects.apply(session, t, out, actor, now, self.d, grid)
                return replies.rated(t.code, m.score), t.id
            out = moves.reopen(t, actor, now, self.d.policy, "居民反馈没解决", involved=True)
            repo.record_rating(session, t, r.id, None, now, closed_round=t.round - 1)
        except Refused as e:
            return replies.refused(str(e)), t.id
        effects.apply(session, t, out, actor, now, self.d, grid)
        return replies.not_solved(t.code), t.id

    def _own_ticket_move(self, session, r: Resident, actor: Actor, m, now: datetime):
        """取消 and 催办 on the resident's own active ticket (the one named, or the newest)."""
        if m.ticket is not None:
            t = self._named_ticket(session, m.ticket, now)
            if t is None or not repo.is_involved(session, t, r.id):
                return replies.no_such_ticket_of_yours(m.ticket), None
        else:
            active = repo.active_tickets_of(session, r.id)
            if not active:
                return (replies.nothing_to_urge() if m.intent == Intent.URGE else replies.nothing_to_cancel()), None
            if len(active) > 1 and m.intent == Intent.CANCEL:
                return replies.which_to_cancel([t.code for t in active]), None
            t = active[0]
        grid = self.grid_by_id(session, t.grid_id)
        try:
            if m.intent == Intent.CANCEL:
                out = moves.cancel(t, actor, now, "居民撤销", involved=True)
                reply = replies.cancelled(t.code)
            else:
                out = moves.urge(t, actor, now)
                reply = replies.urged(t.code)
        except Refused as e:
            return replies.refused(str(e)), t.id
        effects.apply(session, t, out, actor, now, self.d, grid)
        return reply, t.id

    def _named_ticket(self, session, token: str, now: datetime) -> Ticket | None:
        return repo.ticket_by_code(session, ticket_code(token, now, self.s.timezone))

    # -- opening a ticket -----------------------------------------------------------------------
    def _open_ticket(self, session, r: Resident, conv: Conversation, actor: Actor, text: str, c: Classification,
                     now: datetime):
        grid, located, loc = self._grid_for(session, r, c.location, conv, text)
        menu = c.low_confidence and c.emergency is None
        hold = None if (c.caution or not menu) else now + HOLD_PUSH     # the push waits for the menu choice
        t, out = self._new_ticket(session, r, conv, actor, grid, c.category, text, loc, now, c=c, confirmed=not menu,
                                  hold=hold)
        effects.apply(session, t, out, actor, now, self.d, grid)
        lead = replies.danger_lead(c)
        if menu:
            options = c.menu or [code for code, _ in c.top if code != categories.OTHER][:3] + [categories.OTHER]
            conv.enter(Mode.MENU, now, t.id, options)
            return lead + replies.menu(t.code, options), t.id
        return lead + self._accepted(t, grid, located), t.id

    def _open_outside(self, session, r: Resident, conv: Conversation, actor: Actor, text: str, c: Classification,
                      referral: Referral, now: datetime):
        """Beyond the community's remit: recorded (status outside) and answered with where it goes;
        no grid is paged (handlers/referrals.py)."""
        grid, _located, loc = self._grid_for(session, r, c.location, conv, text)
        t, out = self._new_ticket(session, r, conv, actor, grid, c.category, text, loc, now, c=c, outside=referral.name)
        effects.apply(session, t, out, actor, now, self.d, grid)
        return replies.outside(t.code, referral.name, referral.say), t.id

    def _accepted(self, t, grid, located: bool) -> str:
        return replies.accepted(t.code, t.category, grid.leader_name, self.d.policy.is_complex(t.category), located,
                                t.emergency is not None, onsite_promise(self.d, t.category, t.emergency is not None),
                                party=self.d.party_name(self.d.policy.category_party[t.category])
                                if t.category in self.d.policy.category_party else None)

    def _menu_choice(self, session, r: Resident, conv: Conversation, actor: Actor, n: int, now: datetime):
        options = conv.options
        ticket = session.get(Ticket, conv.ticket_id) if conv.ticket_id else None
        if ticket is None or Status(ticket.status) not in ACTIVE:
            conv.end()          # staff settled it meanwhile: "5" may now be the rating they asked for
            return None
        if not 1 <= n <= len(options):
            return replies.menu_invalid(len(options)), ticket.id      # the menu stays open
        conv.end()
        chosen = options[n - 1]
        held = repo.cancel_pending(session, ticket.id, "new_ticket")
        out = moves.recategorise(ticket, actor, now, self.d.policy, chosen, chosen_by_resident=True,
                                 category_urgent=categories.get(chosen).is_urgent(ticket.emergency), pushed=not held)
        grid = self.grid_by_id(session, ticket.grid_id)
        effects.apply(session, ticket, out, actor, now, self.d, grid)
        return self._accepted(ticket, grid, ticket.location_text is not None), ticket.id

    def _join_duplicate(self, session, r: Resident, actor: Actor, text: str, c: Classification, now: datetime):
        from nlp.similarity import THRESHOLD, similar
        grid, _, loc = self._grid_for(session, r, c.location, Conversation(), text)
        # other residents' tickets only; none located in another building (similar() vetoes those)
        for t in repo.open_tickets_like(session, grid.id, c.category, now - DUPLICATE_WINDOW, exclude_resident=r.id,
                                        building=loc.building if loc is not None else None):
            t_loc = Location(text=t.location_text or "", building=t.building, unit=t.unit, room=t.room) if t.location_text else None
            if similar(text, t.text, loc, t_loc) >= THRESHOLD:
                remember_building(r, c.location)
                if repo.add_follower(session, t, r.id, now):
                    repo.add_event(session, t, actor.tag, "plus_one", now, text=nlp.mask_pii(text)[:200])
                return replies.duplicate(t.code, t.category), t.id
        return None

    def _join_emergency(self, session, r: Resident, actor: Actor, text: str, c: Classification, now: datetime):
        """A second report of one emergency (same kind, same grid, same building when both say) within
        minutes joins the first: one @all page, every reporter told the number to call."""
        grid, _, loc = self._grid_for(session, r, c.location, Conversation(), text)
        t = repo.recent_emergency(session, grid.id, c.emergency.kind, now - EMERGENCY_JOIN,
                                  loc.building if loc is not None else None)
        if t is None or t.resident_id == r.id:
            return None
        remember_building(r, c.location)
        if repo.add_follower(session, t, r.id, now):
            repo.add_event(session, t, actor.tag, "plus_one", now, text=nlp.mask_pii(text)[:200], emergency=True)
        return replies.danger_lead(c) + replies.emergency_joined(t.code, grid.leader_name), t.id

    def open_for_staff(self, session, staff: Actor, text: str, source: Source, now: datetime) -> str:
        """/new: a ticket staff file for a hotline call, a walk-in or a patrol (未诉先办); classified
        and routed as a resident's report, recorded with its source and the staff member as actor."""
        c = self.classify(text)
        loc = c.location
        name, located, _ = route_in(loc, text, self.s.grid_rules, self.s.default_grid, self.s.communities,
                                    staff.community)
        grid = (self.grids or {}).get(name) or repo.grid_by_name(session, name)
        t, out = self._new_ticket(session, None, Conversation(), staff, grid, c.category, text, loc, now, c=c,
                                  source=source)
        effects.apply(session, t, out, staff, now, self.d, grid)
        return (f"已登记 #{t.code}（{categories.name_of(t.category)}，{grid.name}）"
                f"{'' if located else '，未识别出楼栋，请 /show 核对'}，已推送网格群。")

    # -- photos and places ------------------------------------------------------------------------
    def _image(self, session, r: Resident, conv: Conversation, actor: Actor, msg: Inbound, now: datetime,
               act: repo.Activity):
        t = repo.recent_open_ticket(session, r.id, now - ATTACH_WINDOW)
        grid = self.grid_by_id(session, t.grid_id) if t is not None else None
        if t is not None:
            a = repo.attach(session, t, "image", now, media_id=msg.media_id, url=msg.pic_url)
            repo.add_event(session, t, actor.tag, "photo_added", now, media_id=msg.media_id)
            self._fetch_photo(session, a, t, grid, now)
            return replies.photo_attached(t.code), t.id
        limited = self._over_ticket_limit(act)      # a photo alone opens a ticket
        if limited:
            return limited, None
        grid, _, loc = self._grid_for(session, r, None, conv)
        t, out = self._new_ticket(session, r, conv, actor, grid, categories.OTHER, "", loc, now, confirmed=False,
                                  needs_detail=True, hold=now + HOLD_PUSH, via="photo")
        effects.apply(session, t, out, actor, now, self.d, grid)
        conv.enter(Mode.PHOTO_WORDS, now, t.id)                      # the next words fill it
        a = repo.attach(session, t, "image", now, media_id=msg.media_id, url=msg.pic_url)
        self._fetch_photo(session, a, t, grid, now)
        return replies.photo_new(t.code), t.id

    @staticmethod
    def _fetch_photo(session, a, t, grid, now: datetime) -> None:
        """Fetch the photo from WeChat's media API at once (media ids expire after 3 days) and show it
        to the group; bot/media.py keeps it."""
        if not a.media_id:
            return
        session.flush()
        repo.enqueue(session, "mp_media", a.media_id, {"kind": "fetch_media", "attachment_id": a.id, "ticket_id": t.id,
                                                     "robot_key": grid.robot_key if grid else None}, now,
                     ticket_id=t.id, dedupe_key=f"a{a.id}:fetch")

    def _fill_photo_ticket(self, session, r, t: Ticket, text: str, c: Classification, actor: Actor, now: datetime):
        """Words arriving after a photo-only report complete that ticket instead of opening another."""
        t.text, t.confidence, t.terms = text, c.confidence, c.terms[:8]
        grid = self.grid_by_id(session, t.grid_id)
        if c.location is not None and t.location_text is None:
            grid, _, loc = self._grid_for(session, r, c.location, Conversation(), text)
            set_location(t, loc)
            t.grid_id = grid.id
        held = repo.cancel_pending(session, t.id, "new_ticket")
        out = moves.add_detail(t, actor, now, self.d.policy, category=c.category,
                               emergency=c.emergency.kind if c.emergency else None, caution=c.caution is not None,
                               category_urgent=categories.get(c.category).is_urgent(c.emergency.kind if c.emergency else None),
                               pushed=not held)
        session.flush()
        effects.apply(session, t, out, actor, now, self.d, grid)
        return replies.danger_lead(c) + self._accepted(t, grid, t.location_text is not None), t.id

    def _location(self, session, r: Resident, conv: Conversation, actor: Actor, msg: Inbound, now: datetime):
        label = msg.label or f"{msg.latitude:.5f},{msg.longitude:.5f}"
        t = repo.recent_open_ticket(session, r.id, now - ATTACH_WINDOW)
        if t is not None:
            t.latitude, t.longitude = msg.latitude, msg.longitude
            if t.location_text is None:
                t.location_text = label[:128]
            repo.attach(session, t, "location", now, label=label)
            repo.add_event(session, t, actor.tag, "location_added", now, label=label)
            return replies.location_attached(t.code, label), t.id
        conv.location = {"lat": msg.latitude, "lng": msg.longitude, "label": label}
        return replies.location_kept(label), None

    # -- helpers ----------------------------------------------------------------------------------
    def _grid_for(self, session, r: Resident, loc: Location | None, conv: Conversation, text: str = ""):
        """(grid row, located?, location used). Falls back to the resident's known building or kept
        place; with several communities, to the community the words name or the resident's last."""
        if loc is None:
            kept = conv.location
            if kept:
                loc = nlp.find_location(kept["label"]) or Location(text=kept["label"], area=kept["label"])
            elif r.building:
                loc = Location(text=f"{r.building}号楼", building=r.building)
        name, located, community = route_in(loc, text, self.s.grid_rules, self.s.default_grid, self.s.communities,
                                            r.community)
        grid = (self.grids.get(name) if self.grids else None) or repo.grid_by_name(session, name)
        if self.s.communities and (located or community is not None):
            r.community = grid.community
        return grid, located, loc

    def grid_by_id(self, session, grid_id: int) -> repo.GridInfo:
        return self._grid_ids.get(grid_id) or repo.grid_by_id(session, grid_id)

    def _new_ticket(self, session, r: Resident, conv: Conversation, actor: Actor, grid, category: str, text: str,
                    loc: Location | None, now: datetime, c: Classification | None = None, *, confirmed: bool = True,
                    needs_detail: bool = False, hold: datetime | None = None, source: Source = Source.WECHAT,
                    via: str | None = None, outside: str | None = None):
        """Insert a ticket (one Core INSERT) opened by the domain; returns (ticket values with id, outcome)."""
        emergency = c.emergency.kind if c and c.emergency else None
        t = new_ticket_values(session, self.s.timezone, now, grid=grid, category=category, text=text, emergency=emergency,
                              caution=bool(c and c.caution), c=c, confirmed=confirmed, needs_detail=needs_detail,
                              resident_id=r.id if r is not None else None, source=source)
        set_location(t, loc)
        if conv.location:
            t.latitude, t.longitude = conv.location.get("lat"), conv.location.get("lng")
            conv.location = None
        remember_building(r, loc)
        created = dict(category=category, confidence=round(c.confidence, 3) if c else None,
                       terms=c.terms[:8] if c else [], emergency=emergency,
                       caution=c.caution.kind if c and c.caution else None, source=str(source),
                       **({"via": via} if via else {}), **reasons(c))
        out = (moves.open_outside(t, actor, now, body=outside, **created) if outside is not None
               else moves.open_ticket(t, actor, now, self.d.policy, hold_push_until=hold, **created))
        t.id = repo.insert_ticket(session, **{k: v for k, v in vars(t).items() if k != "grid_name"})
        lead = self.d.policy.category_party.get(category)
        if lead:
            repo.add_party(session, t.id, lead, "lead", 1, now, "system:bot", None)
        t.parties = frozenset({lead} if lead else ())    # known: its cards need not read them back
        return t, out
