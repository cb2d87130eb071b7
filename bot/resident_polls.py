"""A questionnaire or vote answered on a web page opened from WeChat (/r/poll/<id>), beside the chat.
The resident is the openid of 网页授权 (bot/resident_oauth.py); only residents the poll was sent to
may answer, once each, changeable until the deadline, and the answers are read by the same rules as
in chat (handlers/poll_answers.save_page). After the deadline the page shows the outcome."""
from __future__ import annotations


from flask import Blueprint, abort, current_app, render_template, request
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select

from bot.resident_oauth import resident_openid_or_redirect
from domain import consultation as cs
from handlers import poll_answers, polls
from handlers.consult_words import say_time
from storage.db import transaction
from storage.models import Poll, PollAnswer, PollInvite, Resident

bp = Blueprint("resident_polls", __name__, url_prefix="/r", template_folder="templates")


def _svc():
    return current_app.extensions["jiesu"]


def _form_token(openid: str, poll_id: int) -> str:
    # CSRF: a token bound to this resident and this poll, signed with the app's secret
    return URLSafeSerializer(current_app.secret_key, salt="jiesu-poll-form").dumps([openid, poll_id])


def _token_ok(token: str, openid: str, poll_id: int) -> bool:
    try:
        return URLSafeSerializer(current_app.secret_key, salt="jiesu-poll-form").loads(token) == [openid, poll_id]
    except BadSignature:
        return False


@bp.route("/poll/<int:poll_id>", methods=["GET", "POST"])
def poll(poll_id: int):
    openid = resident_openid_or_redirect()
    svc = _svc()
    now, tz = svc.clock.now(), svc.config.community.timezone
    error, saved = None, False
    if request.method == "POST":
        if not _token_ok(request.form.get("token", ""), openid, poll_id):
            abort(400, description="页面已过期，请刷新后再提交")
        try:
            with transaction(svc.sessions) as s:
                p, r_id = _poll_and_resident(s, poll_id, openid)
                qs = polls.questions(p)
                raw = [poll_answers.page_text(q, request.form.getlist(f"q{i}") if q.kind == cs.Kind.MULTI
                                              else request.form.get(f"q{i}", "")) for i, q in enumerate(qs)]
                poll_answers.save_page(s, r_id, p, raw, request.form.get("room", ""), now)
            saved = True
        except poll_answers.PageRefused as bad:
            error = str(bad)
    with svc.sessions() as s:
        p, r_id = _poll_and_resident(s, poll_id, openid)
        qs = polls.questions(p)
        mine = {a.position: cs.from_stored(qs[a.position], a.value) for a in s.scalars(
            select(PollAnswer).where(PollAnswer.poll_id == p.id, PollAnswer.resident_id == r_id))
            if a.position < len(qs)}
        room = s.get(Resident, r_id)
        closed = p.status != "open" or p.deadline <= now
        outcome = polls.outcome_for_residents(polls.results(s, p)) if p.status == "closed" else None
        page = render_template(
            "resident/poll.html", p=p, qs=list(enumerate(qs)), mine=mine, closed=closed, outcome=outcome,
            error=error, saved=saved, token=_form_token(openid, p.id), community=svc.config.community.name,
            deadline=say_time(p.deadline, tz), skipped=cs.SKIPPED,
            needs_room=p.kind == "vote" and cs.household(room.building, room.unit, room.room) is None,
            room=cs.household(room.building, room.unit, room.room))
    return page, 400 if error else 200, {"Cache-Control": "private, no-store"}


def _poll_and_resident(session, poll_id: int, openid: str) -> tuple[Poll, int]:
    p = session.get(Poll, poll_id)
    r_id = session.scalar(select(Resident.id).where(Resident.openid == openid))
    if p is None or r_id is None or session.get(PollInvite, (poll_id, r_id)) is None:
        abort(404, description="没有找到发给您的这份问卷")
    return p, r_id
