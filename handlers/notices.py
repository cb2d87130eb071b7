"""Notices, meetings and sign-ups: staff send a notice (停水通知, 居民代表会议, a volunteer call) to
chosen residents; with sign-up, residents reply "报名" for a place or a place on the waiting list,
"取消报名" gives the place to the first in line; a reminder goes to those with a place the day
before; staff record who came, and attending earns the points rule "attend" when config has it.

Places are given under the notice's row lock (storage/consult.lock_notice), so two residents
replying at the same instant never take one last place twice."""
from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta

from sqlalchemy import select

from domain.access import Actor
from domain.states import Channel
from handlers import consult_words
from handlers.consult_words import say_time
from handlers.polls import PollRefused, fan_out
from storage import consult, repositories as repo
from storage import points as ledger
from storage.models import Notice, NoticeSignup, Resident

SIGN_UP = frozenset({"报名", "我要报名", "报名参加", "参加"})
CANCEL = frozenset({"取消报名", "不去了", "退出报名"})
REMIND_AHEAD = timedelta(hours=24)


def create(session, actor: Actor, *, title: str, body: str, audience: dict, signup: bool, capacity: int | None,
           event_at: datetime | None, now: datetime, tz: str) -> tuple[Notice, int]:
    ids = consult.audience_ids(session, audience, actor.community)
    if not ids:
        raise PollRefused(f"{consult_words.describe(audience)}里还没有和公众号说过话的居民，没有人可通知")
    n = Notice(title=title[:64], body=body, audience=audience, signup=signup, capacity=capacity, event_at=event_at,
               created_by=actor.tag, created_at=now, community=actor.community)
    session.add(n)
    session.flush()
    consult.address(session, n, ids)
    text = notice_text(n, tz)
    openids = dict(session.execute(select(Resident.id, Resident.openid).where(Resident.id.in_(ids))).all())
    fan_out(session, f"notice:{n.id}", [(r_id, openids[r_id]) for r_id in ids],
            {"kind": "notice", "content": text,
             "template": {"code": f"通知{n.id}", "status": "回复“报名”参加" if signup else "社区通知",
                          "time": say_time(event_at, tz) if event_at else None, "detail": n.title}}, now)
    return n, len(ids)


def notice_text(n: Notice, tz: str) -> str:
    lines = [f"【社区通知】{n.title}", n.body]
    if n.event_at:
        lines.append(f"时间：{say_time(n.event_at, tz)}")
    if n.signup:
        lines.append(f"回复“报名”参加{f'（限 {n.capacity} 人，满了可候补）' if n.capacity else ''}；"
                     "回复“取消报名”可以取消。")
    return "\n".join(x for x in lines if x)


class SignUps:
    """The resident side: 报名 and 取消报名."""

    def __init__(self, tz: str):
        self.tz = tz

    @staticmethod
    def wants(text: str) -> bool:
        return _norm(text) in SIGN_UP or _norm(text) in CANCEL

    def handle(self, session, r, text: str, now: datetime) -> str | None:
        found = consult.latest_signup_notice(session, r.id, now)
        if found is None:
            return "目前没有可以报名的活动。" if _norm(text) in SIGN_UP else "您没有报名中的活动。"
        n = consult.lock_notice(session, found.id)
        if _norm(text) in CANCEL:
            return self._cancel(session, n, r, now)
        s = consult.signup_of(session, n.id, r.id)
        if s is not None and s.status == "in":
            return f"您已报名《{n.title}》，{self._when(n)}见。"
        if s is not None and s.status == "waiting":
            return f"您在《{n.title}》的候补名单上，有人取消就通知您。"
        places = consult.places(session, n.id)
        status = "in" if n.capacity is None or places.taken < n.capacity else "waiting"
        if s is None:
            session.add(NoticeSignup(notice_id=n.id, resident_id=r.id, status=status, created_at=now, updated_at=now))
        else:
            s.status, s.updated_at = status, now       # signed up again after cancelling: the back of the line
        session.flush()
        if status == "in":
            return f"报名成功：《{n.title}》，{self._when(n)}。回复“取消报名”可以取消。"
        return (f"《{n.title}》{n.capacity} 个名额已满，您排在候补第 {places.waiting + 1} 位，"
                "有人取消会马上通知您。")

    def _cancel(self, session, n: Notice, r, now: datetime) -> str:
        s = consult.signup_of(session, n.id, r.id)
        if s is None or s.status == "cancelled":
            return f"您没有报名《{n.title}》。"
        was_in = s.status == "in"
        s.status, s.updated_at = "cancelled", now
        session.flush()
        if was_in:
            promote(session, n, now, self.tz)
        return f"已取消《{n.title}》的报名。"

    def _when(self, n: Notice) -> str:
        return say_time(n.event_at, self.tz) if n.event_at else "时间另行通知"


def promote(session, n: Notice, now: datetime, tz: str) -> None:
    """A place came free: the first on the waiting list gets it, and is told."""
    nxt = consult.first_waiting(session, n.id)
    if nxt is None:
        return
    nxt.status, nxt.updated_at = "in", now
    openid = session.get(Resident, nxt.resident_id).openid
    repo.enqueue_once(session, f"notice-promoted:{n.id}:s{nxt.id}:{int(now.timestamp())}", str(Channel.MP_TEXT),
                      openid, {"kind": "notice", "content": f"有人取消了，您已从候补转为正式报名：《{n.title}》，"
                                                          f"{say_time(n.event_at, tz) if n.event_at else '时间另行通知'}。"
                                                          "不能参加请回复“取消报名”。"}, now)


def remind_due(session, now: datetime, tz: str) -> int:
    """The day-before reminder to everyone with a place (once per notice, skip-locked)."""
    sent = 0
    for n in consult.due_reminders(session, now, now + REMIND_AHEAD):
        for s, r in consult.signups(session, n.id):
            if s.status == "in":
                repo.enqueue_once(session, f"notice-remind:{n.id}:r{r.id}", str(Channel.MP_TEXT), r.openid,
                                  {"kind": "notice", "content": f"提醒：您报名的《{n.title}》在 {say_time(n.event_at, tz)}，"
                                                                "记得参加；去不了请回复“取消报名”。",
                                   "template": {"code": f"通知{n.id}", "status": "活动提醒",
                                                "time": say_time(n.event_at, tz), "detail": n.title}}, now)
                sent += 1
        n.reminded_at = now
    return sent


def attend(session, actor: Actor, n: Notice, numbers: list[int], now: datetime, points_rules: dict | None) -> list[str]:
    """Staff record who came, by the numbers /signups lists; each earns the "attend" rule once."""
    rows = {s.id: s for s, _ in consult.signups(session, n.id)}
    out = []
    rule = (points_rules or {}).get("attend")
    for no in numbers:
        s = rows.get(no)
        if s is None or s.status != "in":
            out.append(f"{no}：不是这次活动的正式报名")
            continue
        if s.attended_at is not None:
            out.append(f"{no}：已记过到场")
            continue
        s.attended_at, s.attended_by = now, actor.tag
        line = f"{no}：已记到场"
        if rule is not None:
            e = ledger.award(session, s.resident_id, code="attend", name=rule.name, amount=rule.amount,
                             reason=f"参加《{n.title}》", actor=actor.tag, now=now)
            line += f"，记 {e.amount} 分（记录 {e.id}）"
        out.append(line)
    return out


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).rstrip("。.!！")
