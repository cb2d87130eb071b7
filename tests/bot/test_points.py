"""服务积分 (issue 13 part 3) through the real webhooks: staff award, redeem and reverse with slash
commands in the staff app, residents read their points by writing "积分", the monthly ranking per
building names only those who agreed, and concurrent redemptions never take a balance below zero.
Every test runs on SQLite and PostgreSQL (db_url)."""
from __future__ import annotations

import re
import threading

import pytest
from sqlalchemy import func, select

from bot.config import ConfigError, load_config
from storage import points as ledger
from storage.db import transaction
from storage.models import Outbox, PointEntry, Ticket
from tests.bot.test_staff_races import staff_sender
from tests.conftest import ROOT, at_once, report

ENTRY = re.compile(r"记录 (\d+)")


def entry_no(reply: str) -> int:
    """The number of the entry a reply reports (the last one it names: the new entry)."""
    return int(ENTRY.findall(reply)[-1])


def reporter_of(app, code: str) -> int:
    with app.extensions["jiesu"].sessions() as s:
        return s.scalar(select(Ticket.resident_id).where(Ticket.code == code))


def balance(app, resident_id: int) -> int:
    with app.extensions["jiesu"].sessions() as s:
        return ledger.balance(s, resident_id)


def entries(app, resident_id: int | None = None) -> list[PointEntry]:
    with app.extensions["jiesu"].sessions() as s:
        q = select(PointEntry).order_by(PointEntry.id)
        if resident_id is not None:
            q = q.where(PointEntry.resident_id == resident_id)
        return list(s.scalars(q))


def notices(app, openid: str) -> list[str]:
    with app.extensions["jiesu"].sessions() as s:
        return [o.payload["content"] for o in s.scalars(select(Outbox).where(
            Outbox.target == openid, Outbox.channel == "mp_text").order_by(Outbox.id))
            if o.payload.get("kind") == "points"]


def test_award_show_redeem_reverse(app, wechat, staff):
    openid, code = report(wechat, "5号楼门口垃圾堆了好几天，臭死了")       # 第一网格 (王芳)
    rid = reporter_of(app, code)
    assert "您还没有积分" in wechat.text(openid, "积分")

    done = staff("zhaomin", f"/points {code} 志愿服务 帮忙清理楼道")
    assert done.startswith(f"已给 #{code} 的5号楼的居民记 10 分（志愿服务）") and "现有 10 分" in done, done
    first = entry_no(done)
    assert "现有 15 分" in staff("wangfang", f"/积分 {code} attend")            # code or name, alias too

    shown = wechat.text(openid, "我的积分")
    assert "您现有积分 15 分" in shown
    assert "+10 志愿服务（帮忙清理楼道）" in shown and "+5 参加活动" in shown
    assert shown.index("参加活动") < shown.index("志愿服务")                      # newest first
    assert "积分实名" in shown                                                  # how to appear on the ranking
    assert "您现有积分 15 分" in wechat.text(openid, "積分")                      # traditional characters

    short = staff("zhaomin", f"/redeem {code} 米")
    assert short.startswith("未执行 /redeem：积分不足：现有 15 分，兑换“米”需要 20 分"), short
    assert "/redeem 工单号 物品" in short                                        # the usage line
    staff("zhaomin", f"/points {code} volunteer 社区义诊帮忙")
    spent = staff("zhaomin", f"/兑换 {code} rice")
    assert spent.startswith(f"已为 #{code} 的5号楼的居民兑换米（20 分）") and "还剩 5 分" in spent, spent
    redemption = entry_no(spent)

    # the first award was spent: taking it back would go below zero, so it is refused with the way out
    refused = staff("zhaomin", f"/unpoints {first} 发错人了")
    assert refused.startswith("未执行 /unpoints：撤销后积分会变成负数：现有 5 分") and "先撤销那笔兑换" in refused
    back = staff("zhaomin", f"/unpoints {redemption} 米退回仓库")
    assert back.startswith(f"已撤销记录 {redemption}（兑换米，退回 20 分）") and "现有 25 分" in back, back
    reversal = entry_no(back)
    assert "已经撤销过" in staff("zhaomin", f"/unpoints {redemption} 再退一次")
    again = staff("zhaomin", f"/unpoints {reversal} 撤销撤销")
    assert again.startswith("未执行 /unpoints") and "撤销不能再撤销" in again
    taken = staff("wangfang", f"/撤销积分 #{first} 发错人了")
    assert taken.startswith(f"已撤销记录 {first}（志愿服务，扣回 10 分）") and "现有 15 分" in taken, taken
    assert balance(app, rid) == 15

    shown = wechat.text(openid, "积分")
    assert "您现有积分 15 分" in shown
    assert "-10 撤销“志愿服务”（发错人了）" in shown and "+20 退回兑换“米”（米退回仓库）" in shown
    assert "（已撤销）" in shown and shown.count("\n") <= 8                      # the last 5 entries only

    # the ledger: every change a row with who and why; nothing edited; reversals point at their entry
    rows = entries(app, rid)
    assert [(e.kind, e.amount, e.code) for e in rows] == [
        ("award", 10, "volunteer"), ("award", 5, "attend"), ("award", 10, "volunteer"), ("redeem", -20, "rice"),
        ("reverse", 20, "rice"), ("reverse", -10, "volunteer")]
    assert rows[0].actor == "staff:zhaomin" and rows[0].reason == "帮忙清理楼道" and rows[1].actor == "staff:wangfang"
    assert rows[4].reverses_id == redemption and rows[5].reverses_id == first and rows[5].reason == "发错人了"
    assert all(e.ticket_id is not None for e in rows)
    # the resident was told of each change, with the balance after it
    told = notices(app, openid)
    assert len(told) == len(rows)
    assert told[0].startswith("您获得 10 积分：志愿服务（帮忙清理楼道）。现有 10 分") and "兑换了米" in told[3]


def test_useful_report_needs_a_fix_and_counts_once_per_ticket(app, wechat, staff):
    openid, code = report(wechat, "9号楼路灯不亮，晚上黑漆漆的")
    early = staff("wangfang", f"/points {code} 有效反映")
    assert early.startswith("未执行 /points：“有效反映”记给解决了的问题") and "办结后再记" in early
    staff("wangfang", f"/close {code} 已换灯泡")
    given = staff("wangfang", f"/points {code} useful_report 反映及时")
    assert "记 3 分（有效反映）" in given
    twice = staff("zhaomin", f"/points {code} 有效反映")
    assert twice.startswith("未执行 /points") and "每个工单只记一次" in twice
    staff("zhaomin", f"/unpoints {entry_no(given)} 记重了")
    assert "记 3 分" in staff("zhaomin", f"/points {code} 有效反映")              # a reversed one may be given again
    assert balance(app, reporter_of(app, code)) == 3


def test_refusals_say_why(app, wechat, staff):
    _, code = report(wechat, "20号楼楼下停满了车把路堵死了")                       # 第二网格 (李强)
    bad_rule = staff("zhaomin", f"/points {code} 飞碟")
    assert bad_rule.startswith("未执行 /points：没有“飞碟”这个积分规则。可选：志愿服务（volunteer）10分")
    assert "缺少积分规则" in staff("zhaomin", f"/points {code}")
    assert "没有“金条”这个兑换物品。可选：米（rice）20分、油（oil）50分" in staff("zhaomin", f"/redeem {code} 金条")
    assert "属于第二网格，你负责的是第一网格" in staff("wangfang", f"/points {code} 志愿服务")
    assert "仅限居委会、网格长使用" in staff("wuye01", f"/points {code} 志愿服务")      # the property company
    assert "仅限" in staff("jiedao01", f"/redeem {code} 米")                       # the 街道 reads the ranking only
    assert "找不到工单" in staff("zhaomin", "/points 20991231-0001 志愿服务")
    staff_filed = re.search(r"#(\d{8}-\d{4})", staff("zhaomin", "/new 热线 6号楼 楼道灯不亮")).group(1)
    assert "没有居民反映人" in staff("zhaomin", f"/points {staff_filed} 志愿服务")
    assert "不是记录号" in staff("zhaomin", "/unpoints abc 错了")
    assert "缺少记录号" in staff("zhaomin", "/unpoints")
    assert "没有记录 999" in staff("zhaomin", "/unpoints 999 错了")
    given = staff("liqiang", f"/points {code} 志愿服务")
    assert "请写上撤销原因" in staff("liqiang", f"/unpoints {entry_no(given)}")
    assert "属于第二网格，你负责的是第一网格" in staff("wangfang", f"/unpoints {entry_no(given)} 错了")
    assert "不是月份" in staff("zhaomin", "/pointsrank 13月")
    assert [e.kind for e in entries(app)] == ["award"]                            # nothing else was written


def test_monthly_ranking_names_only_those_who_agreed(app, wechat, staff, clock):
    aunt, a = report(wechat, "3号楼楼道灯坏了好几天了")
    neighbour, b = report(wechat, "3号楼门口有人乱停车堵路")
    _, c = report(wechat, "15号楼电梯坏了，按钮按了没反应")                          # 第二网格
    assert "您的称呼“张阿姨”" in wechat.text(aunt, "积分实名 张阿姨")
    assert "不含数字" in wechat.text(neighbour, "积分实名 13800001111")             # no number on a public list
    assert "不含数字" in wechat.text(neighbour, "积分实名")
    staff("zhaomin", f"/points {a} 志愿服务")
    taken_back = entry_no(staff("zhaomin", f"/points {b} 参加活动"))
    staff("zhaomin", f"/points {b} 志愿服务")
    staff("liqiang", f"/points {c} 志愿服务")
    staff("liqiang", f"/points {c} 参加活动")

    board = staff("zhaomin", "/pointsrank")
    assert board.startswith("2026年11月积分榜"), board
    assert "3号楼 共 25 分：居民 15、张阿姨 10" in board and "15号楼 共 15 分：居民 15" in board
    assert board.index("3号楼") < board.index("15号楼")
    assert "张阿姨" in wechat.text(aunt, "积分") and "积分匿名" in wechat.text(aunt, "积分")

    staff("zhaomin", f"/unpoints {taken_back} 当天没来")                           # reversed: out of the ranking
    staff("zhaomin", f"/points {a} 志愿服务")
    staff("zhaomin", f"/redeem {a} 米")                                           # spending does not lower it
    assert "只写“居民”" in wechat.text(aunt, "积分匿名")
    board = staff("jiedao01", "/积分榜 本月")                                      # the 街道 may read it
    assert "3号楼 共 30 分：居民 20、居民 10" in board and "张阿姨" not in board, board

    clock.advance(days=15)                                                        # December
    assert staff("wangfang", "/pointsrank") == "2026年12月还没有记过积分。"
    staff("wangfang", f"/points {a} 参加活动")
    assert "3号楼 共 5 分：居民 5" in staff("wangfang", "/pointsrank 2026-12")
    for word in ("11月", "2026年11月", "202611", "上月"):
        assert "3号楼 共 30 分" in staff("wangfang", f"/pointsrank {word}"), word


@pytest.mark.parametrize("override, field", [
    ({"points.rules": {"volunteer": {"name": "志愿服务", "amount": 0}}}, "points.rules.volunteer.amount"),
    ({"points.rules": {"volunteer": {"name": "志愿服务", "amount": "十"}}}, "points.rules.volunteer.amount"),
    ({"points.rules": {"volunteer": {"name": "志愿服务"}}}, "points.rules.volunteer.amount"),
    ({"points.catalogue": {"rice": {"name": "米", "cost": -20}}}, "points.catalogue.rice.cost"),
    ({"points.catalogue": {"rice": {"name": "米", "cost": 20, "stock": 3}}}, "points.catalogue.rice.stock"),
    ({"points.rules": {"Volunteer": {"name": "志愿服务", "amount": 10}}}, "points.rules.Volunteer"),
    ({"points.rules": {"a": {"name": "志愿", "amount": 1}, "b": {"name": "志愿", "amount": 2}}}, "points.rules.b"),
])
def test_a_bad_points_setting_is_one_line_naming_it(override, field):
    with pytest.raises(ConfigError) as e:
        load_config(ROOT / "config.yaml", environ={}, overrides=override)
    line = str(e.value)
    assert "\n" not in line and f": {field}: " in line, line


def test_defaults_work_with_no_points_section(tmp_path):
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    start = text.index("\npoints:")
    end = text.index("\n\n", start)
    cut = tmp_path / "config.yaml"
    cut.write_text(text[:start] + text[end:], encoding="utf-8")
    points = load_config(cut, environ={}).points
    assert {c: (r.name, r.amount) for c, r in points.rules.items()} == {
        "volunteer": ("志愿服务", 10), "attend": ("参加活动", 5), "useful_report": ("有效反映", 3)}
    assert {c: (i.name, i.cost) for c, i in points.catalogue.items()} == {"rice": ("米", 20), "oil": ("油", 50)}


# -- concurrent redemptions ------------------------------------------------------------------

THREADS = 8


def test_concurrent_redemptions_never_overdraw(app, wechat, staff, monkeypatch):
    """8 redemptions of 20 points at once, each in its own session and transaction, against 50
    points: exactly 2 succeed and the balance ends at 10. All 8 are held at a barrier just before
    they lock the resident, so they collide (on PostgreSQL they queue on the row lock; without it
    several read 50 and the balance goes below zero: checked by hand once, removing FOR UPDATE)."""
    svc = app.extensions["jiesu"]
    openid, code = report(wechat, "7号楼楼道里堆满了纸箱")
    for _ in range(5):
        staff("zhaomin", f"/points {code} 志愿服务")
    rid = reporter_of(app, code)
    assert balance(app, rid) == 50

    barrier = threading.Barrier(THREADS)
    lock = ledger.lock_resident

    def held(session, resident_id):
        barrier.wait(timeout=30)
        return lock(session, resident_id)

    monkeypatch.setattr(ledger, "lock_resident", held)

    postgres = svc.engine.dialect.name == "postgresql"

    def one(i: int) -> bool:
        try:
            with transaction(svc.sessions) as s:
                if postgres:      # connected before the barrier, so no thread is late for want of a connection
                    s.connection()    # (not on SQLite: that is BEGIN IMMEDIATE, and the others would wait for it)
                ledger.redeem(s, rid, code="rice", name="米", cost=20, reason=f"窗口{i}", actor="staff:zhaomin",
                              now=svc.clock.now(), ticket_id=None)
            return True
        except ledger.Short:
            return False

    done = at_once(one, range(THREADS))
    assert done.count(True) == 50 // 20
    assert balance(app, rid) == 50 - 20 * (50 // 20) >= 0
    assert len([e for e in entries(app, rid) if e.kind == "redeem"]) == 50 // 20


def test_concurrent_redeem_commands_never_overdraw(app, wechat, staff):
    """The same through the staff app: four staff members' /redeem at once, each its own request,
    session and transaction, against 50 points with oil at 50: exactly one is written."""
    _, code = report(wechat, "8号楼楼下的健身器材坏了")
    for _ in range(5):
        staff("zhaomin", f"/points {code} 志愿服务")
    rid = reporter_of(app, code)
    send = staff_sender(app)
    replies = at_once(lambda who: send(who, f"/redeem {code} 油"), ["zhaomin", "wangfang", "zhaomin", "wangfang"])
    assert sum(r.startswith("已为") for r in replies) <= 1
    assert all(r.startswith(("已为", "未执行 /redeem：积分不足", "已收到命令")) for r in replies), replies
    with app.extensions["jiesu"].sessions() as s:
        redeemed = s.scalar(select(func.count()).select_from(PointEntry).where(
            PointEntry.resident_id == rid, PointEntry.kind == "redeem"))
    assert redeemed == 1 and balance(app, rid) == 0
