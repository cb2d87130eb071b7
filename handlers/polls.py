"""Questionnaires and votes, the staff side: create and send one, read the live results, close it
(at the deadline or by hand) with a report to the groups and the outcome to everyone who answered.
Chat (/poll, /vote: handlers/commands/polls.py), the desk and the scheduler call these; the rules
are domain/consultation.py and the rows storage/consult.py."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain import consultation as cs
from domain.access import Actor
from domain.states import Channel, Role
from handlers import consult_words
from handlers.consult_words import say_time
from nlp.extract import mask_pii
from storage import consult, repositories as repo
from storage.models import Grid, Poll

BULK = -1                      # outbox priority: after every ticket notice
SENDS_PER_MINUTE = 600         # residents asked per minute: a fan-out never floods the official account
TEXTS_SHOWN = 20               # free-text answers listed in a report
ANONYMOUS_MIN = 5              # an anonymous poll shows a building's answers only from this many
SMALL_BUILDINGS = "其他楼栋（合并）"


class PollRefused(ValueError):
    """The poll cannot be made or changed: the message says why."""


@dataclass(frozen=True)
class Draft:
    title: str
    questions: tuple[cs.Question, ...]
    audience: dict
    deadline: datetime
    anonymous: bool = False
    vote: bool = False
    rule: cs.Rule | None = None
    quorum: Fraction | None = None
    households: int | None = None

    def problems(self, now: datetime) -> list[str]:
        out = [p for q in self.questions for p in q.problems()]
        if not self.questions:
            out.append("至少要一道题")
        if not self.title.strip():
            out.append("缺少标题")
        if self.deadline <= now:
            out.append("截止时间已经过去")
        if self.vote and not self.audience.get("buildings"):
            out.append("表决按户计票，对象须是楼栋或网格（例如 对象:3号楼）")
        if not self.audience:
            out.append("没有对象")
        return out


def may_ask(actor: Actor, audience: dict, grid_buildings: dict[str, frozenset[str]], community: str | None = None
            ) -> None:
    """A grid leader asks the buildings of their own grid; the committee, the owners' committee and
    the 街道 anyone (domain/consultation.ASKERS). `community`: an existing poll's or notice's; staff
    of one community never open another's (several communities in one deployment)."""
    if actor.role not in cs.ASKERS:
        raise PollRefused("只有居委会、业委会、街道和网格长可以发起问卷、表决和通知")
    if actor.community is not None and community is not None and community != actor.community:
        raise PollRefused("这是其他社区的问卷或通知")
    if actor.role == Role.GRID_LEADER:
        mine = grid_buildings.get(actor.grid or "", frozenset())
        asked = set(audience.get("buildings") or ())
        if audience.get("all") or audience.get("category") or not asked or not asked <= mine:
            raise PollRefused(f"网格长只能问本网格（{actor.grid}）的楼栋，请写 对象:{actor.grid} 或其中的楼栋")


def create(session: Session, actor: Actor, draft: Draft, now: datetime, tz: str, base_url: str | None = None
           ) -> tuple[Poll, int]:
    """Store the poll and ask its residents (the first question, in chat, and a link to its page
    under `base_url`). (poll, residents asked)."""
    problems = draft.problems(now)
    if problems:
        raise PollRefused("；".join(problems))
    ids = consult.audience_ids(session, draft.audience, actor.community)
    if not ids:
        raise PollRefused(f"{consult_words.describe(draft.audience)}里还没有和公众号说过话的居民，没有人可问")
    p = Poll(title=draft.title[:64], kind="vote" if draft.vote else "survey",
             questions=[q.to_json() for q in draft.questions], audience=draft.audience, anonymous=draft.anonymous,
             rule=str(draft.rule) if draft.rule else None,
             quorum=str(draft.quorum) if draft.quorum is not None else None, households=draft.households,
             deadline=draft.deadline, status="open", created_by=actor.tag, created_at=now, community=actor.community)
    session.add(p)
    session.flush()
    consult.invite(session, p, ids, now)
    openids = dict(session.execute(select(repo._R.c.id, repo._R.c.openid).where(repo._R.c.id.in_(ids))).all())
    text = invitation(p, tz, f"{base_url}/r/poll/{p.id}" if base_url else None)
    payload = {"kind": "poll", "content": text, "template": {"code": f"问卷{p.id}", "status": "请回复“问卷”作答",
                                                            "time": say_time(p.deadline, tz), "detail": p.title}}
    fan_out(session, f"poll:{p.id}", [(r_id, openids[r_id]) for r_id in ids], payload, now)
    return p, len(ids)


def fan_out(session: Session, key: str, people: list[tuple[int, str]], payload: dict, now: datetime) -> None:
    """One message to many residents, once each (key:r<id>), paced SENDS_PER_MINUTE behind ticket
    notices: in one statement, so a community of thousands is asked within the command's reply."""
    consult.enqueue_many(session, [{"key": f"{key}:r{r_id}", "channel": str(Channel.MP_TEXT), "target": openid,
                                 "payload": payload, "not_before": now + timedelta(minutes=i // SENDS_PER_MINUTE)}
                                for i, (r_id, openid) in enumerate(people)], now, priority=BULK)


def questions(p: Poll) -> list[cs.Question]:
    return [cs.Question.from_json(q) for q in p.questions]


def invitation(p: Poll, tz: str, page: str | None = None) -> str:
    """The first message a resident gets: what, until when, the first question, and the page."""
    qs = questions(p)
    what = "社区表决" if p.kind == "vote" else "社区问卷"
    lines = [f"【{what}】{p.title}", f"截止 {say_time(p.deadline, tz)}，共 {len(qs)} 题" +
             ("，不记名" if p.anonymous else "") + ("，按户计票（一户一票）" if p.kind == "vote" else "") + "。"]
    lines.append(cs.ask_text(qs[0], 1, len(qs)))
    if page:
        lines.append(f"也可以在网页上填写：{page}")
    lines.append("截止前可随时回复“问卷”修改答案；有问题要反映，照常发来即可。")
    return "\n".join(lines)


# -- results ------------------------------------------------------------------------------------------

@dataclass
class Results:
    poll: Poll
    asked: int
    finished: int
    respondents: int
    tallies: list[cs.Tally]
    by_building: dict[str, list[int]]        # "3号楼" -> counts of the first choice question
    vote: cs.VoteOutcome | None

    def lines(self, tz: str, *, texts: int = TEXTS_SHOWN) -> list[str]:
        p = self.poll
        out = [f"{'表决' if p.kind == 'vote' else '问卷'} {p.id}《{p.title}》" +
               ("（已截止）" if p.status == "closed" else f"（{say_time(p.deadline, tz)} 截止）"),
               f"已问 {self.asked} 人，{self.respondents} 人作答，{self.finished} 人答完。"]
        for n, t in enumerate(self.tallies, 1):
            out.append(f"{n}. {t.question.prompt}（{t.answered} 人答）")
            if t.question.kind in (cs.Kind.SINGLE, cs.Kind.MULTI):
                out += [f"   {o}：{t.counts[i]}（{t.share(i):.0%}）" for i, o in enumerate(t.question.options)]
            elif t.question.kind == cs.Kind.SCALE:
                out.append(f"   平均 {t.mean:.2f} 分；" + "、".join(f"{i + 1}分 {c}" for i, c in enumerate(t.counts))
                           if t.answered else "   还没有人打分")
            else:
                out += [f"   · {w}" for w in t.texts[:texts]]
                if len(t.texts) > texts:
                    out.append(f"   ……另有 {len(t.texts) - texts} 条，见工作台导出")
        if self.vote is not None:
            out.append(self.vote.reason)
        return out


def results(session: Session, p: Poll) -> Results:
    qs = questions(p)
    per_q: list[list] = [[] for _ in qs]
    households: dict[str, int] = {}
    by_building: dict[str, list[int]] = {}
    first_choice = next((i for i, q in enumerate(qs) if q.kind == cs.Kind.SINGLE), None)
    respondents = set()
    for resident_id, position, stored, household, building in consult.answers(session, p.id):
        if position >= len(qs):
            continue
        q = qs[position]
        value = cs.from_stored(q, stored)
        if q.kind == cs.Kind.TEXT and value is not cs.SKIPPED:
            value = mask_pii(value)          # staff read the words; phones and ID numbers never
        per_q[position].append(value)
        respondents.add(resident_id)
        if p.kind == "vote" and position == 0 and household and value is not cs.SKIPPED:
            households[household] = value
        if position == first_choice and value is not cs.SKIPPED:
            row = by_building.setdefault(f"{building}号楼" if building else "楼栋未知", [0] * len(q.options))
            row[value] += 1
    if p.anonymous:
        by_building = _pool_small(by_building)
    asked, finished = consult.invited_count(session, p.id)
    outcome = None
    if p.kind == "vote":
        eligible = p.households or consult.registered_households(session, list(p.audience.get("buildings") or ()))
        outcome = cs.vote_outcome(cs.Rule(p.rule or cs.Rule.MAJORITY), eligible, list(households.values()),
                                  Fraction(p.quorum) if p.quorum else cs.DEFAULT_QUORUM)
    return Results(p, asked, finished, len(respondents), [cs.tally(q, v) for q, v in zip(qs, per_q)],
                   dict(sorted(by_building.items())), outcome)


def _pool_small(by_building: dict[str, list[int]]) -> dict[str, list[int]]:
    """An anonymous poll's answers by building, with buildings of fewer than ANONYMOUS_MIN answers
    pooled: in a building where two residents answered, its row would say who chose what."""
    out: dict[str, list[int]] = {}
    for b, counts in by_building.items():
        key = b if sum(counts) >= ANONYMOUS_MIN else SMALL_BUILDINGS
        row = out.setdefault(key, [0] * len(counts))
        out[key] = [x + y for x, y in zip(row, counts)]
    if SMALL_BUILDINGS in out and sum(out[SMALL_BUILDINGS]) < ANONYMOUS_MIN:
        del out[SMALL_BUILDINGS]          # even pooled, too few to show
    return out


# -- closing --------------------------------------------------------------------------------------------

def close(session: Session, p: Poll, actor: Actor, now: datetime, tz: str) -> Results:
    """Close a poll: keep its figures, stop asking, push the report to the groups of its buildings
    (all groups for a community-wide poll) and its creator, and tell everyone who answered."""
    if p.status == "closed":
        raise PollRefused(f"问卷 {p.id} 已经截止")
    res = results(session, p)
    p.status, p.closed_at = "closed", now
    p.outcome = {"asked": res.asked, "respondents": res.respondents, "finished": res.finished, "closed_by": actor.tag,
                 "vote": None if res.vote is None else {"passed": res.vote.passed, "reason": res.vote.reason}}
    consult.stop_asking(session, p.id)
    report = "\n".join(res.lines(tz))
    for grid in _grids_of(session, p):
        repo.enqueue_once(session, f"poll-report:{p.id}:g{grid.id}", str(Channel.ROBOT), grid.robot_key,
                          {"kind": "poll_report", "body": {"msgtype": "text", "text": {"content": report}}}, now)
    creator = p.created_by.removeprefix("staff:")
    if p.created_by.startswith("staff:"):
        repo.enqueue_once(session, f"poll-report:{p.id}:s{creator}", str(Channel.WECOM_TEXT), creator,
                          {"kind": "poll_report", "content": report}, now)
    told = outcome_for_residents(res)
    fan_out(session, f"poll-outcome:{p.id}", consult.answered_ids(session, p.id),
            {"kind": "poll", "content": told, "template": {"code": f"问卷{p.id}", "status": "已截止", "detail": told[:100]}},
            now)
    return res


def outcome_for_residents(res: Results) -> str:
    p = res.poll
    head = f"【{'表决结果' if p.kind == 'vote' else '问卷结果'}】{p.title}：{res.respondents} 位居民作答，谢谢您参与。"
    if res.vote is not None:
        return f"{head}\n{res.vote.reason}"
    first = next((t for t in res.tallies if t.question.kind == cs.Kind.SINGLE and t.answered), None)
    if first is None:
        return head
    top = max(range(len(first.counts)), key=lambda i: first.counts[i])
    return f"{head}\n“{first.question.prompt}”：选“{first.question.options[top]}”的最多（{first.share(top):.0%}）。"


def _grids_of(session: Session, p: Poll) -> list[Grid]:
    grids = list(session.scalars(select(Grid).order_by(Grid.id)))
    buildings = set(p.audience.get("buildings") or ())
    if p.audience.get("all") or not buildings:
        return grids
    from handlers.routing import parse_buildings
    return [g for g in grids if parse_buildings(g.buildings) & buildings]


def close_due(session: Session, now: datetime, tz: str) -> int:
    """The scheduler's part: close every poll past its deadline (skip-locked, so two workers never
    close one twice)."""
    from domain.access import SWEEP
    n = 0
    for p in consult.due_polls(session, now):
        close(session, p, SWEEP, now, tz)
        n += 1
    return n
