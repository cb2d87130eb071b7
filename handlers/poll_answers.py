"""A resident answering a questionnaire or a vote in chat, one question at a time.

The poll waiting for the resident is resident.asked_poll_id, read with every message at no extra
cost; only residents with one pay for the lookup here. What counts as an answer is decided by the
question (domain/consultation.read_answer): a number to a choice question, the words to a free-text
question put to them in the last PROMPT_FRESH. Anything else is not an answer: the intake handles it
as usual (a complaint mid-questionnaire is a complaint) and reminder() adds one line saying how to go
on. Answers can be changed until the deadline ("问卷" starts again from the first question)."""
from __future__ import annotations

import json
import re
import unicodedata
from datetime import datetime, timedelta

from sqlalchemy import update

from domain import consultation as cs
from domain.conversation import Conversation, Mode
from handlers.consult_words import say_time
from handlers.notices import SignUps
from nlp.extract import find_location
from storage import consult
from storage import repositories as repo
from storage.models import Poll, PollAnswer, PollInvite, Resident

KEYWORDS = frozenset({"问卷", "投票", "表决", "问卷调查", "修改答案", "改答案", "继续问卷", "问卷继续"})
PROMPT_FRESH = timedelta(minutes=30)
BARE_NUMBER = re.compile(r"\s*\d{1,2}\s*")
LATE_WINDOW = timedelta(days=7)          # a bare number this soon after a poll closed is a late answer     # free words count as an answer only this soon after the question


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().rstrip("。.!！")


class PollAnswers:
    def __init__(self, tz: str, classify):
        self.tz = tz
        self.classify = classify
        self.signups = SignUps(tz)        # "报名" to a notice: the other answer residents give to asking

    def wants(self, r, text: str) -> bool:
        """Whether this message goes to handle() at all (cheap: no query)."""
        return (r.asked_poll_id is not None or _norm(text) in KEYWORDS or SignUps.wants(text)
                or BARE_NUMBER.fullmatch(text) is not None)       # maybe a late answer to a closed poll

    def handle(self, session, r, conv: Conversation, text: str, now: datetime) -> str | None:
        """The reply when `text` is about a poll or a sign-up, else None (the intake goes on as usual)."""
        if SignUps.wants(text):
            return self.signups.handle(session, r, text, now)
        if _norm(text) in KEYWORDS:
            return self._resume(session, r, now)
        p, inv = self._current(session, r, now)
        if BARE_NUMBER.fullmatch(text) and self._rating_asked_since(session, r, inv):
            return None                  # the last question was "rate 1-5": the intake reads it so
        if p is None:
            late = consult.recently_closed(session, r.id, now - LATE_WINDOW) if BARE_NUMBER.fullmatch(text) else None
            if r.asked_poll_id is not None:
                consult.stop_asking(session, r.asked_poll_id, r.id)
            if late is not None:
                return f"问卷《{late.title}》已于{say_time(late.deadline, self.tz)}截止，不能再作答了。谢谢您！"
            return None
        qs = [cs.Question.from_json(q) for q in p.questions]
        step = min(inv.step, len(qs) - 1)
        q = qs[step]
        try:
            value = cs.read_answer(q, text)
        except cs.Invalid as bad:
            inv.prompted_at = now
            return f"{bad}\n\n{cs.ask_text(q, step + 1, len(qs))}"
        if value is None:
            return None
        if q.kind == cs.Kind.TEXT:
            fresh = inv.prompted_at is not None and now - inv.prompted_at <= PROMPT_FRESH
            c = self.classify(text) if fresh else None
            if not fresh or c.emergency is not None or c.caution is not None:
                return None                     # old question, or a danger: the intake handles it
        return self._record(session, r, conv, p, inv, qs, step, value, now)

    def _record(self, session, r, conv, p: Poll, inv: PollInvite, qs, step: int, value, now: datetime) -> str:
        household = None
        if p.kind == "vote":
            res = session.get(Resident, r.id)
            household = cs.household(res.building, res.unit, res.room)
            if household is None or res.building not in (p.audience.get("buildings") or ()):
                conv.enter(Mode.ROOM, now, options=[str(p.id), str(step), _json(value)])
                return ("表决按户计票，一户一票。请回复您家的房号（例如 3号楼2单元502），"
                        "登记后这一票就记上。")
        try:
            consult.save_answer(session, p.id, r.id, step, cs.to_stored(value), household, now)
        except consult.HouseholdTaken:
            return (f"您家（{household}）已经有家人投过票了，一户只计一票。"
                    "如需改票，请由原投票人回复“问卷”修改。")
        got = f"已记下：{cs.answer_words(qs[step], value)}。"
        if step + 1 < len(qs):
            inv.step, inv.prompted_at = step + 1, now
            return f"{got}\n\n{cs.ask_text(qs[step + 1], step + 2, len(qs))}"
        inv.step, inv.done_at = len(qs), inv.done_at or now
        consult.stop_asking(session, p.id, r.id)
        more = self._next_open(session, r.id, p.id, now)
        tail = f"\n您还有问卷《{more.title}》未答，回复“问卷”开始。" if more else ""
        return (f"{got}\n《{p.title}》已全部答完，谢谢您！{say_time(p.deadline, self.tz)}截止前回复“问卷”可以修改。"
                + tail)

    def vote_room(self, session, r, conv: Conversation, text: str, now: datetime) -> str | None:
        """The room a voter gave (Mode.ROOM): registered, then the waiting vote recorded."""
        poll_id, step, stored = int(conv.options[0]), int(conv.options[1]), conv.options[2]
        loc = find_location(text)
        p = session.get(Poll, poll_id)
        if p is None or p.status != "open" or p.deadline <= now:
            conv.end()
            return None
        if loc is None or not loc.building or not loc.room:
            return None if len(text) > 20 else "没看懂房号，请按“3号楼2单元502”这样回复。"
        if loc.building not in (p.audience.get("buildings") or ()):
            conv.end()
            return f"这次表决是 {'、'.join(f'{b}号楼' for b in p.audience['buildings'])} 的住户参加，{loc.building}号楼不在其中。"
        session.execute(update(Resident).where(Resident.id == r.id).values(unit=loc.unit, room=loc.room))
        r.building = loc.building
        session.flush()
        conv.end()
        inv = session.get(PollInvite, (poll_id, r.id))
        qs = [cs.Question.from_json(q) for q in p.questions]
        value = cs.from_stored(qs[step], _unjson(stored))
        return f"已登记房号 {cs.household(loc.building, loc.unit, loc.room)}。\n" + self._record(
            session, r, conv, p, inv, qs, step, value, now)

    def reminder(self, session, r, now: datetime) -> str:
        """One line after a reply that was not an answer, while a poll still waits."""
        if r.asked_poll_id is None:
            return ""
        p = session.get(Poll, r.asked_poll_id)
        if p is None or p.status != "open" or p.deadline <= now:
            return ""
        return f"\n（问卷《{p.title}》还没答完，回复“问卷”继续。）"

    @staticmethod
    def _rating_asked_since(session, r, inv: PollInvite | None) -> bool:
        """A bare number answers the question the bot asked last: a rating (1-5) requested after the
        poll's question was put, or with no poll question waiting, is the rating's."""
        pending = repo.pending_ratings(session, r.id)
        if not pending:
            return False
        return inv is None or inv.prompted_at is None or pending[0][0].requested_at >= inv.prompted_at

    # -- which poll --------------------------------------------------------------------------------
    def _current(self, session, r, now: datetime) -> tuple[Poll | None, PollInvite | None]:
        if r.asked_poll_id is None:
            return None, None
        p = session.get(Poll, r.asked_poll_id)
        inv = session.get(PollInvite, (r.asked_poll_id, r.id)) if p is not None else None
        if p is None or inv is None or p.status != "open" or p.deadline <= now:
            return None, None
        return p, inv

    def _next_open(self, session, resident_id: int, but: int, now: datetime) -> Poll | None:
        for p, inv in consult.open_invites(session, resident_id, now):
            if p.id != but and inv.done_at is None:
                return p
        return None

    def _resume(self, session, r, now: datetime) -> str:
        """"问卷": the unfinished poll's next question, or a finished one from the start to change."""
        invites = consult.open_invites(session, r.id, now)
        if not invites:
            return "目前没有需要您作答的问卷或表决。"
        p, inv = invites[0]
        qs = [cs.Question.from_json(q) for q in p.questions]
        if inv.done_at is not None or inv.step >= len(qs):
            inv.step = 0
        inv.prompted_at = now
        consult.point_at(session, r.id, p.id)
        r.asked_poll_id = p.id
        q = qs[inv.step]
        before = session.get(PollAnswer, (p.id, r.id, inv.step))
        was = f"\n（您原来的回答：{cs.answer_words(q, cs.from_stored(q, before.value))}）" if before else ""
        return (f"《{p.title}》，{say_time(p.deadline, self.tz)}截止。\n{cs.ask_text(q, inv.step + 1, len(qs))}{was}")


def _json(value) -> str:
    return json.dumps(cs.to_stored(value), ensure_ascii=False)


def _unjson(s: str):
    return json.loads(s)


# -- the same answers from the poll's web page (bot/resident_polls.py) --------------------------------

class PageRefused(ValueError):
    """The page's answers cannot be kept: the message says what to fix."""


def save_page(session, resident_id: int, p: Poll, raw: list[str], room_text: str, now: datetime) -> None:
    """Keep every answer from the page at once (each read as the chat reads it: raw[i] is the text a
    resident would have sent for question i), then the invite is done. Raises PageRefused."""
    if p.status != "open" or p.deadline <= now:
        raise PageRefused("这份问卷已经截止了")
    qs = [cs.Question.from_json(q) for q in p.questions]
    values = []
    for i, (q, text) in enumerate(zip(qs, raw), 1):
        try:
            v = cs.read_answer(q, text)
        except cs.Invalid as bad:
            raise PageRefused(f"第{i}题：{bad}") from None
        if v is None:
            v = cs.SKIPPED if q.kind == cs.Kind.TEXT else None
        if v is None:
            raise PageRefused(f"第{i}题还没有选")
        values.append(v)
    household = None
    res = session.get(Resident, resident_id)
    if p.kind == "vote":
        if room_text.strip():
            loc = find_location(room_text)
            if loc is None or not loc.building or not loc.room:
                raise PageRefused("没看懂房号，请按“3号楼2单元502”这样填写")
            res.building, res.unit, res.room = loc.building, loc.unit, loc.room
        household = cs.household(res.building, res.unit, res.room)
        if household is None or res.building not in (p.audience.get("buildings") or ()):
            raise PageRefused("表决按户计票：请填写您家在" + "、".join(f"{b}号楼" for b in p.audience["buildings"]) + "的房号")
    for i, v in enumerate(values):
        try:
            consult.save_answer(session, p.id, resident_id, i, cs.to_stored(v), household, now)
        except consult.HouseholdTaken:
            raise PageRefused(f"您家（{household}）已经有家人投过票了，一户只计一票") from None
    inv = session.get(PollInvite, (p.id, resident_id))
    inv.step, inv.done_at, inv.prompted_at = len(qs), inv.done_at or now, now
    consult.stop_asking(session, p.id, resident_id)


def page_text(q: cs.Question, form_value) -> str:
    """What a resident would have typed for the page's field: "2" for the second option, "1 3" for
    two boxes ticked, the words as written."""
    if isinstance(form_value, list):
        return " ".join(str(v) for v in form_value)
    return str(form_value or "")
