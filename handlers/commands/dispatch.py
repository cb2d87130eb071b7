"""StaffDesk: who the staff are, and running their slash commands (same shape as Intake.handle)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from domain.access import Actor, Refused
from domain.states import EVENT_NAMES, ROLE_NAMES, EventKind
from handlers import effects
from handlers.clock import Clock
from handlers.commands.registry import REGISTRY, CommandError, parse
from handlers.directory import Directory
from handlers.inbound import Inbound
from storage import cards
from storage import repositories as repo

log = logging.getLogger(__name__)

FAILED = "命令没有执行成功，请稍后重试；问题已记录"
HOLDING = "已收到命令，正在执行，结果稍后发给您。"
# Events that put a ticket in its state: the one to name when a move is refused for the state.
MOVED_BY = frozenset(str(k) for k in (
    EventKind.ASSIGNED, EventKind.ONSITE, EventKind.PLANNED, EventKind.REFERRED, EventKind.PARTY_REPLIED,
    EventKind.RESOLVED, EventKind.VISITED, EventKind.CLOSED, EventKind.CANCELLED, EventKind.MERGED,
    EventKind.REOPENED))


@dataclass
class Ctx:
    session: Session
    staff: Actor
    now: datetime
    tz: str
    desk: "StaffDesk"
    rest: str = ""


class StaffDesk:
    def __init__(self, directory: Directory, clock: Clock, intake=None, photo_link=None, base_url: str | None = None):
        self.d = directory
        self.staff = directory.staff
        self.tz = directory.tz
        self.clock = clock
        self.intake = intake              # /new opens tickets the way a resident's report does
        self._photo_link = photo_link     # attachment id -> a signed link the staff app opens
        self.base_url = base_url          # the bot's public address: links residents open (a poll's page)

    @classmethod
    def from_config(cls, cfg, clock: Clock, intake=None, photo_link=None) -> "StaffDesk":
        return cls(Directory.from_config(cfg), clock, intake, photo_link)

    def find(self, who: str) -> Actor | None:
        return self.d.find(who)

    def grid_of(self, session: Session, grid_id: int):
        return self.intake.grid_by_id(session, grid_id) if self.intake else repo.grid_by_id(session, grid_id)

    def parties_of(self, session: Session, t) -> frozenset[str]:
        """The parties the ticket is referred to (the lead one and those brought in)."""
        return repo.party_codes(session, t.id)

    def working_parties(self, session: Session, t) -> frozenset[str]:
        return effects.working_parties(session, t, self.d)

    def failed_reply(self) -> str:
        """What staff read when a command broke (residents read replies.failed())."""
        return FAILED

    def holding_reply(self, msg) -> str:
        """While a command waits (slow, or the database is down): its result follows in the app."""
        return HOLDING

    def _moved_by(self, session: Session, t) -> str:
        """“（赵敏 09:31 办结）”: who put the ticket in the state that refused the move."""
        e = repo.last_event_of(session, t.id, MOVED_BY)
        if e is None:
            return ""
        at = e.at.astimezone(ZoneInfo(self.tz)).strftime("%H:%M")
        return f"（{self.d.actor_name(e.actor)} {at} {EVENT_NAMES.get(e.kind, e.kind)}）"

    def photo_link(self, attachment_id: int) -> str | None:
        return self._photo_link(attachment_id) if self._photo_link else None

    def open_for_staff(self, ctx: Ctx, text: str, source) -> str:
        if self.intake is None:
            raise CommandError("登记工单暂不可用")
        return self.intake.open_for_staff(ctx.session, ctx.staff, text, source, ctx.now)

    def handle(self, session: Session, msg: Inbound) -> tuple[str, int | None]:
        staff = self.staff.get(msg.openid)
        if staff is None:
            return "你不在本社区工作人员名单中，不能使用命令。请联系居委会管理员把你加入 config.yaml 的 staff。", None
        if msg.type == "event" and msg.event == "template_card_event":
            from handlers import card_taps
            return card_taps.tap(self, session, staff, msg)
        if msg.type != "text":
            return "请发送文字命令，例如 /list。发送 /help 查看全部命令。", None
        parsed = parse(msg.content)
        if parsed is None:
            prompt = cards.take_prompt(session, staff.id, self.clock.now())
            if prompt is not None and msg.content.strip():    # the words a tap asked for (办结结果, 转派单位)
                from handlers import card_taps
                return card_taps.answer(self, session, staff, prompt, msg.content)
            return "命令以 / 开头，例如 /list 或 /close 20261121-0007 已处理。发送 /help 查看全部命令。", None
        cards.drop_prompt(session, staff.id)          # a command instead of the words: the tap is dropped
        reply, ticket_id, _ok = self.run(session, staff, parsed)
        return reply, ticket_id

    def run(self, session: Session, staff: Actor, parsed) -> tuple[str, int | None, bool]:
        """One command by `staff`: (reply, ticket id, done). The one path for chat and the web
        desk (bot/desk.py), so both make a move the same way, with the same checks and records."""
        cmd = REGISTRY.get(parsed.name)
        if cmd is None:
            return f"没有 /{parsed.name} 这个命令。发送 /help 查看全部命令。", None, False
        if staff.role not in cmd.roles:
            return f"/{cmd.name} 仅限{'、'.join(ROLE_NAMES[r] for r in sorted(cmd.roles))}使用。", None, False
        ctx = Ctx(session, staff, self.clock.now(), self.tz, self, parsed.rest)
        try:
            with session.begin_nested():
                reply, ticket_id = cmd.func(ctx, parsed.args)
                from handlers import card_taps
                card_taps.after_command(self, session, ticket_id, ctx.now)
                return reply, ticket_id, True
        except (CommandError, Refused) as e:
            why = str(e)
            if isinstance(e, Refused) and e.ticket is not None:     # someone moved it first: say who
                why += self._moved_by(session, e.ticket)
            return f"未执行 /{cmd.name}：{why}\n用法：{cmd.usage}", None, False
