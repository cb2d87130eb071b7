"""StaffDesk: who the staff are, and running their slash commands (same shape as Intake.handle)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from handlers.clock import Clock
from handlers.commands.registry import REGISTRY, ROLE_NAMES, CommandError, Staff, parse
from handlers.inbound import Inbound

log = logging.getLogger(__name__)


@dataclass
class Ctx:
    session: Session
    staff: Staff
    now: datetime
    tz: str
    desk: "StaffDesk"
    rest: str = ""


class StaffDesk:
    def __init__(self, staff: dict[str, Staff], tz: str, clock: Clock):
        self.staff = staff
        self.tz = tz
        self.clock = clock

    @classmethod
    def from_config(cls, cfg, clock: Clock) -> "StaffDesk":
        people: dict[str, Staff] = {s.userid: Staff(s.userid, s.name, s.role) for s in cfg.staff}
        for g in cfg.grids:
            known = people.get(g.leader.wecom_userid)
            people[g.leader.wecom_userid] = Staff(g.leader.wecom_userid, g.leader.name,
                                                  known.role if known else "grid_leader", g.name)
        return cls(people, cfg.community.timezone, clock)

    def find(self, who: str) -> Staff | None:
        """By userid or by name."""
        return self.staff.get(who) or next((s for s in self.staff.values() if s.name == who), None)

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
        except CommandError as e:
            return f"未执行 /{cmd.name}：{e}\n用法：{cmd.usage}", None
