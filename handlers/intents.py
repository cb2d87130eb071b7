"""What a short resident message means when it is not a complaint: asking for progress, a person,
help; thanks and acknowledgements; ratings; withdrawing (取消) or chasing (催办) a ticket; staff
commands typed by mistake. Patterns only match whole short messages, so a complaint that happens
to contain one of these words is still a complaint."""
from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Intent(StrEnum):
    PROGRESS = "progress"
    HUMAN = "human"
    HELP = "help"
    THANKS = "thanks"
    ACK = "ack"
    PLUS_ONE = "plus_one"
    RATE = "rate"
    NOT_SOLVED = "not_solved"
    CANCEL = "cancel"
    URGE = "urge"
    COMMAND = "command"


_END = r"[\s？?。.!！~～、，,]*"
_T = r"\s*#?(\d{1,4}|\d{8}-\d{1,4})?\s*"      # an optional ticket number
PATTERNS: list[tuple[Intent, re.Pattern]] = [(i, re.compile(p, re.I)) for i, p in [
    (Intent.COMMAND, r"^\s*[/／][a-zA-Z]+.*$"),
    (Intent.RATE, rf"^\s*(?:评价|评分|打分){_T}\s*([1-5])\s*分?{_END}$"),
    (Intent.RATE, rf"^\s*([1-5])\s*分?{_END}$"),
    (Intent.NOT_SOLVED, rf"^\s*(?:没|没有|未|还没)解决(?:了|呢)?{_T}{_END}$|^\s*不满意{_T}{_END}$"),
    (Intent.CANCEL, rf"^\s*(?:取消|撤销|撤回|不用了|已经好了|已经解决了|自己解决了){_T}{_END}$"),
    (Intent.URGE, rf"^\s*(?:催办|催一下|催一催|快点|快点处理|怎么还没(?:人)?(?:来|处理|解决|弄)?|还没(?:人)?来|"
                  rf"(?:这个)?(?:事情?)?(?:你们)?到底(?:还)?管不管|有没有人管|没人管吗|怎么没人管|到底什么时候(?:处理|来)|"
                  rf"什么时候(?:能)?(?:处理|来|解决)){_T}{_END}$"),
    (Intent.PROGRESS, rf"^(?:进度|查询|查进度|我的工单|工单|处理进度|进展|处理得怎么样了){_END}$"),
    (Intent.HUMAN, rf"^(?:人工|转人工|人工服务|找人|客服|联系人|电话){_END}$"),
    (Intent.HELP, rf"^(?:帮助|help|\?|？|菜单|怎么用|你好|您好|在吗|在不在|有人吗|hello|hi){_END}$"),
    (Intent.THANKS, rf"^(?:谢谢|谢谢你们|谢谢了|多谢|感谢|辛苦了|辛苦|好的谢谢|谢啦)+{_END}$"),
    (Intent.ACK, rf"^(?:好的?|嗯+|哦+|噢+|ok|okay|收到|知道了|行|可以|明白|了解|好吧|哈+|👍|🙏|\[\w+\])+{_END}$"),
    (Intent.PLUS_ONE, rf"^(?:\+1|＋1|\+\+|同上|我也是|我也一样|附议|一样|同感|顶){_END}$"),
]]


@dataclass(frozen=True)
class Match:
    intent: Intent
    ticket: str | None = None      # a ticket number the resident named
    score: int | None = None


def detect(text: str) -> Match | None:
    t = text.strip()
    if len(t) > 40:
        return None
    for intent, pat in PATTERNS:
        m = pat.match(t)
        if m is None:
            continue
        groups = [g for g in m.groups() if g]
        if intent == Intent.RATE:
            ticket = groups[0] if len(groups) == 2 else None
            return Match(intent, ticket, int(groups[-1]))
        return Match(intent, groups[0] if groups else None)
    return None
