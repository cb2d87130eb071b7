"""What a short resident message means when it is not a complaint: asking for progress, a person,
help, their service points (积分); thanks and acknowledgements; ratings; withdrawing (取消) or
chasing (催办) a ticket; staff commands typed by mistake. Patterns only match whole short messages,
so a complaint that happens to contain one of these words is still a complaint."""
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
    POINTS = "points"              # 积分: balance and latest entries
    POINTS_NAME = "points_name"    # 积分实名 张阿姨: show this name on the monthly ranking
    POINTS_ANON = "points_anon"    # 积分匿名: show no name


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
    # 积分 and 積分 (traditional); these words never start a complaint
    (Intent.POINTS_NAME, r"^\s*(?:积分|積分)(?:实名|實名)[\s:：]*(.*?)[\s。.!！]*$"),
    (Intent.POINTS_ANON, rf"^\s*(?:积分|積分)(?:匿名|不实名|不實名|取消实名|取消實名){_END}$"),
    (Intent.POINTS, rf"^\s*(?:我的|查|查询|查詢|兑换|兌換)?(?:积分|積分)(?:查询|查詢|余额|餘額|多少|记录|記錄|兑换|兌換)?{_END}$"),
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
    name: str | None = None        # POINTS_NAME: the words after 积分实名 (checked by points_name())


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
        if intent == Intent.POINTS_NAME:
            return Match(intent, name=groups[0] if groups else None)
        return Match(intent, groups[0] if groups else None)
    return None


POINTS_NAME_MAX = 12


def points_name(words: str | None) -> str | None:
    """The name a resident asks to show on the points ranking ("张阿姨", "Lily"), or None when it
    cannot be one: empty, too long, or with digits (a phone or a room number has no place on a
    ranking the building reads)."""
    name = " ".join((words or "").split())
    if not name or len(name) > POINTS_NAME_MAX or re.search(r"[\d０-９/／@#<>]", name):
        return None
    return name


# -- a phone number or a time to be called (the answer to "人工"'s question) ---------------------

_DAY = r"(?:今天|明天|后天|今晚|明晚|明早|周[一二三四五六日天末]|星期[一二三四五六日天]|礼拜[一二三四五六日天]|工作日|双休日|节假日|每天|平时)"
_PART = r"(?:早上|早晨|上午|中午|下午|傍晚|晚上|夜里|白天|晚间)"
_CLOCK = (r"(?:\d{1,2}|[一二三四五六七八九十两]{1,3})[ \t]*"
          r"(?:[:：][ \t]*\d{2}|点(?:半|钟|一刻|三刻|\d{1,2}分?|[一二三四五]十(?:[一二三四五六七八九])?分?)?)")
_ANY = r"(?:随时|任何时候|什么时候都(?:行|可以)|全天)"
_UNIT = rf"(?:{_DAY}|{_PART}|{_CLOCK}|{_ANY})"
_JOIN = r"(?:[ \t]*(?:的|到|至|-|~|～|－|—|、|和|或|或者|以后|之后|以前|之前|前|后|左右|都)?[ \t]*)"
_AFTER = r"(?:[ \t]*(?:以后|之后|以前|之前|前后|前|后|左右|都(?:可以|行|方便|在家|在)?|均可|在家|方便)?)"
CALL_TIME = re.compile(rf"{_UNIT}(?:{_JOIN}{_UNIT})*{_AFTER}")
# a number as nlp.mask_pii leaves it: 138****5678, +86 138****5678, 0571-****6666转12
_MASKED = re.compile(r"[\d+＋()（）\-－. ]*\*{3,}[\d\-－. ]*(?:(?:转|分机|ext\.?|#)[ \t]*\d{1,5})?", re.I)
# asking to be called: "打我电话", "给我回个电话" (打我 alone reads as violence to the emergency rules)
_CALL_ME = re.compile(r"(?:给我|跟我)?(?:打|拨|回)(?:个|一下)?(?:我的?|给我)?(?:电话|手机)|打给我|联系我|回电")
# words that only frame an answer: "我的电话是…，下午3点后都可以，麻烦网格长打给我"
_FILLER = re.compile(r"[\s,，.。!！?？:：;；、~～\-—()（）]|我的|我|您|电话|手机|号码|联系方式|是|打|给|联系|拨|吧|都|可以|行|方便|"
                     r"在家|有空|有时间|在|好的|好|的|了|麻烦|请|谢谢|网格长|就|这个|呢|啊|哦|嗯|回电话|回电|接电话|接|找|"
                     r"以后|之后|时间|时候|一下|下")


def find_call_time(text: str) -> str | None:
    """The first time of day a resident names for a call ("下午3点以后", "明天上午", "随时"), or None."""
    m = CALL_TIME.search(text or "")
    return m.group(0).strip() if m else None


def beyond_callback(masked: str) -> str:
    """What a message says besides phone numbers and times: `masked` is the message with its
    numbers masked (nlp.mask_pii); the answer's framing words are left in, so the rest can be read
    as a complaint."""
    return _CALL_ME.sub(" ", CALL_TIME.sub(" ", _MASKED.sub(" ", masked))).strip()


def is_bare_answer(rest: str) -> bool:
    """True when nothing but framing words is left (the message only answered the question)."""
    return not _FILLER.sub("", rest)
