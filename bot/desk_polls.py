"""问卷与表决 on the web desk: the list, a form for a questionnaire of several questions (single
choice, multiple choice, 1-5, free text), the live results with the answers by building, closing
early, and the .xlsx. The same service as chat (handlers/polls.py): the same checks of who may ask
whom, the same sends, the same report at the close."""
from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from bot import desk_auth
from bot.desk import _svc, bp
from bot.desk_reports import _xlsx
from domain import consultation as cs
from handlers import consult_words as words
from handlers import polls
from handlers.commands.polls import visible
from storage import consult
from storage.db import transaction
from storage.models import Poll

QUESTION_SLOTS = 5             # questions on the form; more go in a second questionnaire
KINDS = {"single": "单选", "multi": "多选", "scale": "打分 1-5", "text": "填空"}


def _grids():
    svc = _svc()
    return svc.intake.s.grid_rules


def _may(audience: dict, community: str | None = None) -> None:
    try:
        polls.may_ask(g.actor, audience, {r.name: r.buildings for r in _grids()}, community)
    except polls.PollRefused as e:
        abort(403, description=str(e))


@bp.get("/polls")
@desk_auth.login_required
def polls_page():
    if g.actor.role not in cs.ASKERS:
        abort(403, description="问卷和表决由居委会、业委会、街道和网格长发起")
    svc = _svc()
    with svc.sessions() as s:
        rows = []
        for p in s.scalars(visible(select(Poll), g.actor).order_by(Poll.id.desc()).limit(50)):
            asked, done = consult.invited_count(s, p.id)
            rows.append({"p": p, "asked": asked, "done": done, "audience": words.describe(p.audience)})
    return render_template("desk/polls.html", rows=rows, kinds=KINDS, slots=range(QUESTION_SLOTS),
                           grids=[r.name for r in _grids()], form=request.args)


def _draft_from_form(now, tz: str) -> polls.Draft:
    f = request.form
    qs = []
    for i in range(QUESTION_SLOTS):
        prompt = (f.get(f"prompt{i}") or "").strip()
        if not prompt:
            continue
        kind = cs.Kind(f.get(f"kind{i}", "single")) if f.get(f"kind{i}") in KINDS else cs.Kind.SINGLE
        options = tuple(o.strip() for o in (f.get(f"options{i}") or "").splitlines() if o.strip())
        qs.append(cs.Question(kind, prompt[:200], options if kind in (cs.Kind.SINGLE, cs.Kind.MULTI) else ()))
    vote = f.get("kind") == "vote"
    audience = words.audience(f.get("audience"), _grids(), default_all=not vote)
    deadline = words.moment(f.get("deadline") or "7天", now, tz)
    if vote:
        rule = cs.Rule(f.get("rule", "majority")) if f.get("rule") in {r.value for r in cs.Rule} else cs.Rule.MAJORITY
        households = words.count(f["households"], "户数") if f.get("households") else None
        quorum = cs.parse_fraction(f["quorum"]) if f.get("quorum") else None
        title = (f.get("title") or "").strip()
        return polls.Draft(title, (cs.Question(cs.Kind.SINGLE, title, cs.VOTE_OPTIONS),), audience, deadline,
                           bool(f.get("anonymous")), True, rule, quorum, households)
    return polls.Draft((f.get("title") or "").strip(), tuple(qs), audience, deadline, bool(f.get("anonymous")))


@bp.post("/polls")
@desk_auth.login_required
def create_poll():
    svc = _svc()
    tz = svc.config.community.timezone
    try:
        with transaction(svc.sessions) as s:
            draft = _draft_from_form(svc.clock.now(), tz)
            polls.may_ask(g.actor, draft.audience, {r.name: r.buildings for r in _grids()})
            p, n = polls.create(s, g.actor, draft, svc.clock.now(), tz, svc.base_url)
            poll_id = p.id
    except (ValueError, polls.PollRefused) as e:
        flash(f"未发出：{e}", "error")
        return redirect(url_for("desk.polls_page"))
    svc.wake_outbox()
    flash(f"已发出，问 {n} 人", "ok")
    return redirect(url_for("desk.poll_page", poll_id=poll_id))


def _results(poll_id: int):
    svc = _svc()
    with svc.sessions() as s:
        p = s.get(Poll, poll_id)
        if p is None:
            abort(404, description="没有这份问卷")
        _may(p.audience, p.community)
        return polls.results(s, p)


@bp.get("/polls/<int:poll_id>")
@desk_auth.login_required
def poll_page(poll_id: int):
    res = _results(poll_id)
    tz = _svc().config.community.timezone
    return render_template("desk/poll.html", r=res, p=res.poll, audience=words.describe(res.poll.audience),
                           deadline=f"{res.poll.deadline.astimezone(ZoneInfo(tz)):%Y-%m-%d %H:%M}",
                           rule=cs.RULE_NAMES.get(res.poll.rule) if res.poll.rule else None)


@bp.post("/polls/<int:poll_id>/close")
@desk_auth.login_required
def close_poll(poll_id: int):
    svc = _svc()
    try:
        with transaction(svc.sessions) as s:
            p = s.get(Poll, poll_id)
            if p is None:
                abort(404, description="没有这份问卷")
            _may(p.audience, p.community)
            polls.close(s, p, g.actor, svc.clock.now(), svc.config.community.timezone)
    except polls.PollRefused as e:
        flash(str(e), "error")
    else:
        svc.wake_outbox()
        flash("已结束：结果已发到群里，并告知每位作答的居民", "ok")
    return redirect(url_for("desk.poll_page", poll_id=poll_id))


@bp.get("/polls/<int:poll_id>.xlsx")
@desk_auth.login_required
def poll_xlsx(poll_id: int):
    from handlers.exports import Column, Table
    res = _results(poll_id)
    p = res.poll
    rows = []
    for n, t in enumerate(res.tallies, 1):
        q = t.question
        if q.kind in (cs.Kind.SINGLE, cs.Kind.MULTI):
            rows += [(n, q.prompt, o, t.counts[i], t.share(i)) for i, o in enumerate(q.options)]
        elif q.kind == cs.Kind.SCALE:
            rows += [(n, q.prompt, f"{i + 1} 分", c, t.share(i)) for i, c in enumerate(t.counts)]
    counts = Table("结果", [Column("n", "题号", 6, "int"), Column("q", "题目", 36), Column("o", "选项", 18),
                           Column("c", "人数", 8, "int"), Column("s", "比例", 8, "percent")], rows,
                   subtitle=f"{p.title}（已问 {res.asked} 人，{res.respondents} 人作答）",
                   notes=[res.vote.reason] if res.vote else [])
    first = next((t.question for t in res.tallies if t.question.kind == cs.Kind.SINGLE), None)
    tables = [counts]
    if first is not None and res.by_building:
        cols = [Column("b", "楼栋", 10)] + [Column(f"o{i}", o, max(8, 2 * len(o) + 2), "int") for i, o in enumerate(first.options)]
        tables.append(Table("按楼栋", cols, [(b, *c) for b, c in res.by_building.items()],
                            subtitle=first.prompt))
    texts = [(n, t.question.prompt, w) for n, t in enumerate(res.tallies, 1) for w in t.texts]
    if texts:
        tables.append(Table("意见", [Column("n", "题号", 6, "int"), Column("q", "题目", 30), Column("w", "回答（已隐去电话）", 60)],
                            texts))
    return _xlsx(f"问卷{p.id}-{p.title}", tables)
