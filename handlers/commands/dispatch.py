"""StaffDesk: who the staff are, and running their slash commands (same shape as Intake.handle)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from domain.access import Actor, Refused
from domain.states import ROLE_NAMES
from handlers.clock import Clock
from handlers.commands.registry import REGISTRY, CommandError, parse
from handlers.directory import Directory
from handlers.inbound import Inbound
from storage import repositories as repo

log = logging.getLogger(__name__)


@dataclass
class Ctx:
    session: Session
    staff: Actor
    now: datetime
    tz: str
    desk: "StaffDesk"
    rest: str = ""


class StaffDesk:
    def __init__(self, directory: Directory, clock: Clock, intake=None, photo_link=None):
        self.d = directory
        self.staff = directory.staff
        self.tz = directory.tz
        self.clock = clock
        self.intake = intake              # /new opens tickets the way a resident's report does
        self._photo_link = photo_link     # attachment id -> a signed link the staff app opens

    @classmethod
    def from_config(cls, cfg, clock: Clock, intake=None, photo_link=None) -> "StaffDesk":
        return cls(Directory.from_config(cfg), clock, intake, photo_link)

    def find(self, who: str) -> Actor | None:
        return self.d.find(who)

    def grid_of(self, session: Session, grid_id: int):
        return self.intake.grid_by_id(session, grid_id) if self.intake else repo.grid_by_id(session, grid_id)

    def parties_of(self, session: Session, t) -> frozenset[str]:
        return frozenset(p.party for p in repo.parties_of(session, t.id))

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
        if msg.type != "text":
            return "请发送文字命令，例如 /list。发送 /help 查看全部命令。", None
        parsed = parse(msg.content)
        if parsed is None:
            return "命令以 / 开头，例如 /list 或 /close 20261121-0007 已处理。发送 /help 查看全部命令。", None
        cmd = REGISTRY.get(parsed.name)
        if cmd is None:
            return f"没有 /{parsed.name} 这个命令。发送 /help 查看全部命令。", None
        if staff.role not in cmd.roles:
            return f"/{cmd.name} 仅限{'、'.join(ROLE_NAMES[r] for r in sorted(cmd.roles))}使用。", None
        ctx = Ctx(session, staff, self.clock.now(), self.tz, self, parsed.rest)
        try:
            with session.begin_nested():
                return cmd.func(ctx, parsed.args)
        except (CommandError, Refused) as e:
            return f"未执行 /{cmd.name}：{e}\n用法：{cmd.usage}", None
