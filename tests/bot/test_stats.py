"""The web desk's figures (handlers/stats.py) on a small history made through the real webhooks and
staff commands, on a fake clock; every number is worked out by hand in the comments."""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from handlers import promises, stats
from storage.db import transaction
from storage.models import Grid, Ticket, TicketEvent
from tests.conftest import make_config, report

TZ = "Asia/Shanghai"


@pytest.fixture
def config(tmp_path, db_url):
    # 一键派单 for rubbish: the property company leads those tickets (the "party" figures)
    return make_config(tmp_path, db_url, **{"promises.category_party": {"garbage": "wuye"}})


def local(y, m, d, h=10, minute=0) -> datetime:
    return datetime(y, m, d, h, minute, tzinfo=ZoneInfo(TZ)).astimezone(timezone.utc)


def figures(app, fn, *args, **kw):
    svc = app.extensions["jiesu"]
    with svc.sessions() as s:
        return fn(s, *args, tz=TZ, **kw)


def sweep(app, clock) -> int:
    svc = app.extensions["jiesu"]
    with transaction(svc.sessions) as s:
        return promises.sweep(s, clock.now(), svc.directory, svc.intake.grid_by_id)


def rated(wechat, staff, text: str, score: int) -> str:
    """A report, fixed by the committee, rated by the resident in the chat."""
    openid, code = report(wechat, text)
    staff("zhaomin", f"/close {code} 已处理")
    wechat.text(openid, str(score))
    return code


W49 = (local(2026, 11, 30, 0), local(2026, 12, 7, 0))        # Mon 30 Nov - Sun 6 Dec, local time


def test_promises_kept_by_milestone_grid_party_and_week(app, wechat, staff, clock):
    d = app.extensions["jiesu"].directory
    clock.set(local(2026, 11, 30, 10))                          # T0, a Monday
    _, a = report(wechat, "3号楼门口垃圾堆了好几天没人清")          # 第一网格, 物业 leads
    _, b = report(wechat, "14号楼楼道灯坏了")                       # 第二网格
    e_resident, e = report(wechat, "5号楼楼道灯坏了")               # withdrawn at once: owes nothing
    assert "撤销" in wechat.text(e_resident, "取消")
    d_resident, d_ = report(wechat, "2号楼楼道灯坏了")              # 第一网格: fixed, then reopened
    clock.advance(minutes=10)
    staff("wangfang", f"/onsite {a}")                           # on site after 10 min: on time
    clock.advance(minutes=10)
    staff("wangfang", f"/close {d_} 已换灯")                     # round 1 on site and fixed in 20 min
    clock.advance(minutes=10)
    assert "重新打开" in wechat.text(d_resident, "没解决")          # round 2 from T0+30m: 40 min, 3 h again
    clock.advance(minutes=20)
    staff("liqiang", f"/onsite {b}")                            # after 50 min: 10 min late
    clock.advance(minutes=10)
    staff("wangfang", f"/close {a} 已清运")                      # fixed after 1 h: on time
    _, c = report(wechat, "27号楼电梯坏了")                         # 第三网格, T0+1h; nobody ever comes
    staff("zhaomin", f"/refer {c} 法律顾问 请给出意见")
    clock.advance(minutes=30)
    staff("lvshi01", f"/reply {c} 已给出意见")                    # the party answers in 30 min
    clock.advance(minutes=30)                                   # T0+2h

    early = figures(app, stats.on_time, *W49, "milestone", now=clock.now())
    # onsite: A, D1 on time, B late, C (due T0+1h40) and D2 (T0+1h10) missed
    # fix: A, D1 on time; B (due T0+3h), C (T0+4h), D2 (T0+3h30) not yet due
    assert [(r.key, r.on_time, r.late, r.missed, r.pending) for r in early.rows] == [
        ("onsite", 2, 1, 2, 0), ("fix", 2, 0, 0, 3), ("reply", 1, 0, 0, 0)]
    assert early.total.rate == pytest.approx(5 / 8) and early.total.pending == 3

    clock.advance(hours=3)                                      # T0+5h: every open fix is missed
    by_m = figures(app, stats.on_time, *W49, "milestone", now=clock.now())
    assert [(r.label, r.on_time, r.late, r.missed, r.pending) for r in by_m.rows] == [
        ("到场", 2, 1, 2, 0), ("办结", 2, 0, 3, 0), ("单位答复", 1, 0, 0, 0)]
    onsite, fix, reply = by_m.rows
    # from the round's start: A 10 min, B 50 min, D1 20 min on site; A 1 h, D1 20 min fixed; C's answer 30 min
    assert onsite.avg_to_meet_seconds == pytest.approx((600 + 3000 + 1200) / 3, abs=0.01)
    assert fix.avg_to_meet_seconds == pytest.approx((3600 + 1200) / 2, abs=0.01)
    assert reply.avg_to_meet_seconds == pytest.approx(1800, abs=0.01)
    assert (by_m.total.on_time, by_m.total.late, by_m.total.missed) == (5, 1, 5)
    assert by_m.total.rate == pytest.approx(5 / 11) and onsite.rate == pytest.approx(2 / 5)
    assert by_m.total.avg_to_meet_seconds == pytest.approx(11400 / 6, abs=0.01)

    by_grid = figures(app, stats.on_time, *W49, "grid", now=clock.now())
    assert [(r.label, r.on_time, r.late, r.missed, r.rate) for r in by_grid.rows] == [
        ("第一网格", 4, 0, 2, pytest.approx(4 / 6)), ("第二网格", 0, 1, 1, 0.0), ("第三网格", 1, 0, 2, pytest.approx(1 / 3))]

    by_party = figures(app, stats.on_time, *W49, "party", now=clock.now(), d=d)
    assert [(r.key, r.label, r.on_time, r.late, r.missed) for r in by_party.rows] == [
        ("legal", "法律顾问", 1, 0, 0), ("wuye", "幸福物业", 2, 0, 0), ("", "网格自办", 2, 1, 5)]

    by_week = figures(app, stats.on_time, local(2026, 11, 23, 0), W49[1], "week", now=clock.now())
    assert [(r.key, r.on_time, r.late, r.missed) for r in by_week.rows] == [
        ("2026-W48", 0, 0, 0), ("2026-W49", 5, 1, 5)]
    assert by_week.rows[0].rate is None

    # A's return visit falls due next week (T0+1h+7d): it belongs there, still pending. D's round-1
    # visit was dropped by the reopen long before its deadline: it was never owed, so it is not counted
    w50 = figures(app, stats.on_time, W49[1], local(2026, 12, 14, 0), "milestone", now=clock.now())
    assert [(r.key, r.pending) for r in w50.rows] == [("visit", 1)]


def test_satisfaction_ranks_by_shrunk_mean_and_sets_small_samples_apart(app, wechat, staff, clock):
    d = app.extensions["jiesu"].directory
    clock.set(local(2026, 11, 23))                              # week 48
    for text, score in (("1号楼楼道灯坏了", 5), ("2号楼楼道灯坏了", 4), ("3号楼楼道灯坏了", 2),
                        ("13号楼门口垃圾堆了好几天没人清", 5), ("14号楼门口垃圾堆了好几天没人清", 5)):
        rated(wechat, staff, text, score)
    clock.set(local(2026, 12, 1))                               # week 49
    for text, score in (("4号楼楼道灯坏了", 4), ("5号楼楼道灯坏了", 3), ("6号楼楼道灯坏了", 5),
                        ("15号楼门口垃圾堆了好几天没人清", 5), ("16号楼门口垃圾堆了好几天没人清", 4),
                        ("17号楼门口垃圾堆了好几天没人清", 5), ("25号楼楼道灯坏了", 5), ("26号楼楼道灯坏了", 5)):
        rated(wechat, staff, text, score)
    clock.advance(minutes=1)                                    # `until` is exclusive
    # 第一网格 5,4,2 | 4,3,5 = 23/6; 第二网格 5,5 | 5,4,5 = 24/5; 第三网格 5,5 (two: too few); all 57/13
    overall = 57 / 13
    sat = figures(app, stats.satisfaction, "grid", clock.now(), d=d)
    assert sat.count == 13 and sat.overall_mean == pytest.approx(overall)
    assert [(g.label, g.count, g.ranked, g.note) for g in sat.groups] == [
        ("第二网格", 5, True, ""), ("第一网格", 6, True, ""), ("第三网格", 2, False, "样本不足")]
    second, first, third = sat.groups
    assert second.mean == pytest.approx(4.8) and first.mean == pytest.approx(23 / 6) and third.mean == 5.0
    assert second.shrunk == pytest.approx((24 + 10 * overall) / 15)
    assert first.shrunk == pytest.approx((23 + 10 * overall) / 16)
    # 5 ratings, mean 4.8, sd sqrt(0.2): 4.8 ± t(0.975, 4) × 0.2, the top cut at 5
    assert second.low == pytest.approx(4.8 - 2.776445 * 0.2, abs=1e-5) and second.high == 5.0
    assert third.low == third.high == 5.0
    assert len(sat.weeks) == 12 and sat.weeks[-2:] == ["2026-W48", "2026-W49"]
    assert first.trend == [None] * 10 + [pytest.approx(11 / 3), pytest.approx(4.0)]
    assert first.trend_counts == [0] * 10 + [3, 3] and third.trend_counts[-2:] == [0, 2]

    # with the bar at 2, 第三网格's 5.0 on two ratings still ranks below 第二网格's 4.8 on five
    low_bar = figures(app, stats.satisfaction, "grid", clock.now(), min_count=2)
    assert [g.label for g in low_bar.groups] == ["第二网格", "第三网格", "第一网格"]
    assert all(g.ranked for g in low_bar.groups)

    by_party = figures(app, stats.satisfaction, "party", clock.now(), d=d)      # only rubbish has a lead party
    assert [(g.key, g.label, g.count, g.mean) for g in by_party.groups] == [("wuye", "幸福物业", 5, 4.8)]
    by_cat = figures(app, stats.satisfaction, "category", clock.now(), weeks=4)
    assert [(g.key, g.label, g.count) for g in by_cat.groups] == [("garbage", "垃圾与环境卫生", 5), ("facility", "公共设施", 8)]
    assert by_cat.groups[1].mean == pytest.approx(33 / 8) and len(by_cat.groups[1].trend) == 4
    # one week back only: week 49's ratings
    last = figures(app, stats.satisfaction, "grid", clock.now(), weeks=1)
    assert last.count == 8 and last.weeks == ["2026-W49"]


def _grid_id(app, name: str) -> int:
    with app.extensions["jiesu"].sessions() as s:
        return s.scalar(select(Grid.id).where(Grid.name == name))


def test_weekly_review_counts_lists_changes_and_heat(app, wechat, staff, clock):
    clock.set(local(2026, 11, 2, 9))
    _, old = report(wechat, "20号楼楼道灯坏了")                     # 第二网格, never dealt with
    clock.set(local(2026, 11, 24))                              # week 48
    report(wechat, "3号楼门口垃圾堆了好几天没人清")                  # g1, still open
    _, f5 = report(wechat, "5号楼楼道灯坏了")
    report(wechat, "14号楼门口有辆僵尸车停了半年")                   # parking, still open
    clock.set(local(2026, 12, 1))                               # week 49
    g2_resident, g2 = report(wechat, "3号楼门口垃圾堆了好几天没人清")   # g1 is a week old: a new ticket
    staff("wangfang", f"/close {g2} 已清运")
    staff("wangfang", f"/close {f5} 已换灯")
    wechat.text(g2_resident, "4")
    clock.advance(hours=1)
    for text in ("3号楼门口垃圾堆了好几天没人清", "3号楼楼道灯坏了", "7号楼门口垃圾堆了好几天没人清",
                 "15号楼门口垃圾堆了好几天没人清", "26号楼楼道灯坏了"):
        report(wechat, text)
    clock.set(local(2026, 12, 4))
    report(wechat, "8号楼旁边的树枝太长挡住窗户了")                  # greenery: a plan due Tue 8 Dec
    now = local(2026, 12, 7)                                    # the Monday after, 10:00

    rv = figures(app, stats.weekly_review, date(2026, 12, 2), now=now)
    assert rv.week == "2026-W49" and (rv.start, rv.end) == W49 and rv.grid is None
    # found: g2, g3, 3号楼灯, 7, 15, 26, 8号楼树; done: g2, f5; open: the rest and the three older
    assert (rv.found, rv.done, rv.still_open, rv.overdue) == (7, 2, 9, 8)
    assert rv.long_open_count == 1
    assert [(x.code, x.category, x.grid, x.days) for x in rv.long_open] == [(old, "facility", "第二网格", 35)]
    assert [(c.category, c.this_week, c.last_week, c.change) for c in rv.top] == [
        ("garbage", 4, 1, 3), ("facility", 2, 1, 1), ("greenery", 1, 0, 1)]
    assert rv.heat.buildings == ["3", "7", "8", "15", "26"]
    assert rv.heat.categories == ["garbage", "facility", "greenery"]
    assert rv.heat.count("3", "garbage") == 2 and rv.heat.count("3", "facility") == 1
    assert rv.heat.count("7", "facility") == 0
    assert (rv.ratings, rv.mean_rating) == (1, 4.0)

    one = figures(app, stats.weekly_review, local(2026, 11, 30, 0), grid_id=_grid_id(app, "第一网格"), now=now)
    assert one.grid == "第一网格" and (one.found, one.done, one.still_open, one.overdue) == (5, 2, 5, 4)
    assert one.long_open == [] and [(c.category, c.change) for c in one.top] == [
        ("garbage", 2), ("greenery", 1), ("facility", 0)]
    two = figures(app, stats.weekly_review, date(2026, 11, 30), grid_id=_grid_id(app, "第二网格"), now=now)
    assert [x.code for x in two.long_open] == [old] and two.found == 1 and two.ratings == 0
    before = figures(app, stats.weekly_review, date(2026, 11, 23), now=now)
    assert (before.week, before.found, before.done) == ("2026-W48", 3, 0)


def test_agenda_lists_stuck_and_cross_party_tickets_with_their_history(app, wechat, staff, clock):
    svc = app.extensions["jiesu"]
    clock.set(local(2026, 11, 2, 9))
    _, old = report(wechat, "20号楼楼道灯坏了，电话13812345678")
    clock.advance(minutes=41)
    assert sweep(app, clock) >= 1                               # reminders: counted, not listed
    clock.set(local(2026, 12, 1))
    r_resident, r = report(wechat, "6号楼楼道灯坏了")
    staff("wangfang", f"/close {r} 已换灯")
    clock.advance(hours=2)
    assert "重新打开" in wechat.text(r_resident, "没解决")
    _, x = report(wechat, "13号楼门口垃圾堆了好几天没人清")          # 物业 leads
    staff("zhaomin", f"/refer {x} 城管 门口占道经营")
    staff("liqiang", f"/close {x} 已清运")
    _, n = report(wechat, "2号楼楼道灯坏了")
    staff("wangfang", f"/close {n} 已修")                        # done at once: not on the agenda
    q_resident, _ = report(wechat, "4号楼楼道灯坏了")
    wechat.text(q_resident, "取消")
    clock.set(local(2026, 12, 3))

    ag = figures(app, stats.agenda, *W49, now=clock.now(), d=svc.directory)
    assert ag.total == 3 and [i.code for i in ag.items] == [old, r, x]           # longest open first
    stuck, reopened, shared = ag.items
    assert stuck.reasons == ("超时", "久拖未结") and reopened.reasons == ("超时", "重新打开")
    assert shared.reasons == ("多方协办",) and shared.parties == 2 and shared.status == "已办结"
    assert stuck.open_days == pytest.approx(31 + 1 / 24, abs=0.05)
    assert "13812345678" not in stuck.text and "138****5678" in stuck.text
    with svc.sessions() as s:
        old_id = s.scalar(select(Ticket.id).where(Ticket.code == old))
        reminders = s.scalar(select(func.count()).select_from(TicketEvent).where(
            TicketEvent.ticket_id == old_id, TicketEvent.kind.in_(["warned", "escalated"])))
    assert stuck.reminders == reminders >= 1 and [e.kind for e in stuck.events] == ["created"]
    kinds = [e.kind for e in reopened.events]
    assert kinds[0] == "created" and kinds[-1] == "reopened" and "resolved" in kinds
    assert reopened.events[-1].actor == "居民" and reopened.events[-1].at.tzinfo is not None
    assert [e.text for e in reopened.events if e.kind == "resolved"] == ["办结：已换灯"]
    assert [e.actor for e in reopened.events if e.kind == "resolved"] == ["王芳"]
    assert any(e.text.startswith("转派 城管中队：门口占道经营") for e in shared.events)

    short = figures(app, stats.agenda, *W49, now=clock.now(), events_per_ticket=2, limit=2)
    assert short.total == 3 and [i.code for i in short.items] == [old, r]
    assert [e.kind for e in short.items[1].events] == kinds[-2:] and short.items[1].events_total == len(kinds)
    # from Thursday on, the finished cross-party ticket no longer belongs to the period
    later = figures(app, stats.agenda, local(2026, 12, 3, 0), W49[1], now=clock.now())
    assert [i.code for i in later.items] == [old, r]


# --- on_time reads copies on the milestone row (migration 0012): the same figures as before -------

def _on_time_before_0012(s, since, until, by, now):
    """on_time as it was defined before migration 0012, looking up each round's registration and
    each milestone's ticket: the reference the faster query must agree with."""
    from sqlalchemy import and_, case, or_
    from sqlalchemy.orm import aliased

    from domain.states import Milestone
    from handlers.stats_sql import at, bucket, edges, mondays, seconds_between
    from storage.models import TicketMilestone, TicketParty
    m, t = TicketMilestone, Ticket
    reg, nxt, lead = aliased(TicketMilestone), aliased(TicketMilestone), aliased(TicketParty)
    when, met = func.coalesce(m.met_at, m.due_at), m.met_at.is_not(None)
    owed = stats._owed_when_due(m, t, nxt)
    flags = (and_(met, m.late_seconds == 0), and_(met, m.late_seconds > 0),
             and_(~met, m.due_at <= at(now), owed), and_(~met, m.due_at > at(now), owed))
    key = {"milestone": m.name, "grid": Grid.name, "week": bucket(when, edges(mondays(since, until, TZ), TZ)),
           "party": func.coalesce(func.nullif(m.party, ""), lead.party, "")}[by]
    start = func.coalesce(reg.met_at, t.created_at)
    q = (select(key, *(func.sum(case((f, 1), else_=0)) for f in flags),
                func.avg(case((met, seconds_between(s, start, m.met_at)), else_=None)))
         .select_from(m).join(t, t.id == m.ticket_id).join(Grid, Grid.id == t.grid_id)
         .outerjoin(reg, and_(reg.ticket_id == m.ticket_id, reg.round == m.round, reg.name == str(Milestone.REGISTER)))
         .outerjoin(nxt, and_(nxt.ticket_id == m.ticket_id, nxt.round == m.round + 1,
                              nxt.name == str(Milestone.REGISTER)))
         .outerjoin(lead, and_(lead.ticket_id == m.ticket_id, lead.role == "lead"))
         .where(m.name.in_(stats.MEASURED), m.due_at.is_not(None), when >= at(since), when < at(until), or_(met, owed))
         .group_by(key))
    return {r[0]: (*(int(v or 0) for v in r[1:5]), r[5]) for r in s.execute(q)}


def test_on_time_from_the_rows_copies_agrees_with_looking_everything_up(app, wechat, staff, clock):
    """Two weeks of every kind of move: promises met early, late and never, parties referred and
    answering or not, cancels, merges, visits, reopened rounds (one recategorised to a plan), a
    photo whose words move it to another grid, and a ticket moved by hand. Every figure, by every
    key, over several periods and clocks, equals the definition that looked each round's start
    and grid up in other rows."""
    from storage.models import TicketMilestone
    svc = app.extensions["jiesu"]
    texts = ["{b}号楼门口垃圾堆了好几天没人清", "{b}号楼楼道灯坏了", "{b}号楼旁边的树枝太长挡住窗户了", "{b}号楼电梯坏了"]
    codes, closed = [], []
    for day in range(12):
        clock.set(local(2026, 11, 16 + day, 8))
        for i in range(3):
            b = 1 + (day * 7 + i * 13) % 36
            openid, code = report(wechat, texts[(day + i) % 4].format(b=b))
            codes.append(code)
            who, step = ("wangfang" if b <= 12 else "liqiang" if b <= 24 else "zhaomin"), (day + i) % 6
            clock.advance(minutes=(5, 50, 20, 90, 30, 10)[step])
            if step != 3:                                   # 3: nobody ever comes
                staff(who, f"/onsite {code}")
            if step in (0, 2, 5):
                clock.advance(hours=(1, 2, 4)[step % 3])
                staff(who, f"/close {code} 已处理")
                closed.append((openid, code))
            elif step == 1:
                staff("zhaomin", f"/refer {code} 法律顾问 请给出意见")
                if day % 2:
                    clock.advance(hours=30)
                    staff("lvshi01", f"/reply {code} 已给出意见")
            elif step == 4 and day % 3 == 0:
                wechat.text(openid, "取消")
        if day % 4 == 1:                                    # a second round, recategorised to a plan
            openid, code = closed.pop(0)
            assert "重新打开" in wechat.text(openid, "没解决")
            staff("zhaomin", f"/recat {code} greenery")
        if day % 5 == 2:
            staff("zhaomin", f"/visit {closed[-1][1]} 居民满意")
            staff("zhaomin", f"/merge {codes[-1]} {codes[-2]}")
        if day == 6:                                        # a photo (第一网格) whose words say 20号楼
            wechat.send_xml(wechat.xml("o-photo-stats", "image", PicUrl="http://x/p.jpg", MediaId="img-s"))
            clock.advance(minutes=2)
            wechat.text("o-photo-stats", "20号楼楼道灯坏了")
        sweep(app, clock)
    with transaction(svc.sessions) as s:                     # moved to another grid by hand, outside any move
        third = s.scalar(select(Grid.id).where(Grid.name == "第三网格"))
        s.execute(Ticket.__table__.update().where(Ticket.code == codes[4]).values(grid_id=third))

    m_t = TicketMilestone
    with svc.sessions() as s:
        rows = s.execute(select(m_t, Ticket).join(Ticket, Ticket.id == m_t.ticket_id)).all()
        registered = {(m.ticket_id, m.round): m.met_at for m, _ in rows if m.name == "register"}
        moved = {t.code: t.grid.name for _, t in rows if t.resident and t.resident.openid == "o-photo-stats"}
        assert moved and set(moved.values()) == {"第二网格"} and {m.round for m, _ in rows} == {1, 2}
        for m, t in rows:                                   # the copies, row by row
            assert m.round_started_at == registered.get((t.id, m.round), t.created_at), (t.code, m.name)
            assert m.grid_id == t.grid_id, (t.code, m.name)
        zero = (0, 0, 0, 0, None)
        for since, until in ((local(2026, 11, 16, 0), local(2026, 11, 23, 0)), (local(2026, 11, 23, 0), W49[0]),
                             (local(2026, 11, 16, 0), local(2026, 12, 14, 0)), (local(2026, 11, 20, 12), W49[1])):
            weeks = [stats.week_label(mon) for mon in stats.mondays(since, until, TZ)]
            for now in (local(2026, 11, 25), clock.now()):
                for by in ("milestone", "grid", "party", "week"):
                    want = _on_time_before_0012(s, since, until, by, now)
                    got = {weeks.index(r.key) if by == "week" else r.key: (r.on_time, r.late, r.missed, r.pending,
                                                                          r.avg_to_meet_seconds)
                           for r in stats.on_time(s, since, until, by, tz=TZ, now=now).rows}
                    assert sum(sum(v[:4]) for v in want.values()) > 0
                    for k in set(want) | set(got):
                        w, g = want.get(k, zero), got.get(k, zero)
                        assert g[:4] == w[:4], (by, since, now, k)
                        assert g[4] == (None if w[4] is None else pytest.approx(float(w[4]), rel=1e-9)), (by, k)
