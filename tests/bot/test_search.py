"""Full-text search in Chinese (storage/search.py) through the desk's list, on SQLite (FTS5) and
PostgreSQL (GIN over to_tsvector), kept in step when a ticket's text changes."""
from __future__ import annotations

import re

from sqlalchemy import select

from domain.access import Actor
from domain.states import Role
from handlers import desk_queries as dq
from storage import search
from storage.models import Ticket
from tests.conftest import new_openid

CODE = re.compile(r"#(\d{8}-\d{4})")
COMMITTEE = Actor(Role.COMMITTEE, "zhaomin", "赵敏")


def test_terms_are_bigrams_words_and_numbers():
    assert search.terms("3号楼门口垃圾桶满了") == ["3", "号楼", "楼门", "门口", "口垃", "垃圾", "圾桶", "桶满", "满了"]
    assert search.terms("WiFi 信号差") == ["wifi", "信号", "号差"]
    doc = search.document("路灯坏了", "5号楼")
    assert "灯坏" in doc.split() and "灯" in doc.split() and "5" in doc.split()


def _found(svc, q: str) -> list[str]:
    with svc.sessions() as s:
        rows, _ = dq.list_tickets(s, COMMITTEE, dq.TicketFilter(status="all", q=q), "Asia/Shanghai", svc.clock.now())
        return [t.code for t in rows]


def test_search_through_the_index(app, wechat, staff):
    svc = app.extensions["jiesu"]
    trash = CODE.search(wechat.text(new_openid(), "3号楼门口的垃圾桶满了好几天")).group(1)
    light = CODE.search(wechat.text(new_openid(), "12号楼楼道路灯坏了")).group(1)
    lift = CODE.search(wechat.text(new_openid(), "15号楼电梯又坏了，WiFi也没信号")).group(1)
    assert _found(svc, "垃圾") == [trash]                          # 垃圾桶 found by 垃圾
    assert _found(svc, "灯") == [light]                            # one character
    assert _found(svc, "坏了") == [lift, light]                     # newest first
    assert _found(svc, "wifi") == [lift] and _found(svc, "WIFI") == [lift]
    assert _found(svc, "垃圾 电梯") == []                           # every term must be there
    assert _found(svc, "桶满好") == []                              # the exact words, not just the pairs
    assert _found(svc, trash) == [trash] and _found(svc, f"#{trash}") == [trash]
    assert set(_found(svc, trash[:8])) == {trash, light, lift}      # a day's codes
    assert _found(svc, "%") == [] and _found(svc, "'\"") == []      # no terms: nothing, no error


def test_the_index_follows_a_photo_ticket_getting_its_words(app, wechat):
    svc = app.extensions["jiesu"]
    openid = new_openid()
    _, r = wechat.send_xml(wechat.xml(openid, "image", PicUrl="http://x/p.jpg", MediaId="img1"))
    code = CODE.search(r["Content"]).group(1)
    assert _found(svc, "井盖") == []
    wechat.text(openid, "8号楼门口的井盖不见了")
    assert _found(svc, "井盖") == [code]
    with svc.sessions() as s:
        assert "井盖" in s.scalar(select(Ticket.search).where(Ticket.code == code)).split()


def test_phone_numbers_never_reach_the_index(app, wechat):
    svc = app.extensions["jiesu"]
    code = CODE.search(wechat.text(new_openid(), "3号楼门口垃圾堆了 回电13812345678")).group(1)
    with svc.sessions() as s:
        doc = s.scalar(select(Ticket.search).where(Ticket.code == code))
    assert "1234" not in doc                      # the masked middle digits never reach the index
    assert _found(svc, "13812345678") == []


def test_a_common_word_reads_recent_windows_and_gets_the_same_pages(app, wechat, clock, monkeypatch):
    """Past the count cap the list reads the newest week, 4 weeks, 16 weeks first (handlers/
    desk_queries.SEARCH_WINDOWS): every page must equal the unbounded query's, wherever it falls."""
    svc = app.extensions["jiesu"]
    for i in range(24):                      # 24 matches spread over ~200 days, one every 9 days
        wechat.text(new_openid(), f"{i % 30 + 1}号楼楼道灯坏了")
        clock.advance(days=9)
    monkeypatch.setattr(dq, "COUNT_CAP", 5)

    def pages(windows) -> list[list[str]]:
        monkeypatch.setattr(dq, "SEARCH_WINDOWS", windows)
        out = []
        with svc.sessions() as s:
            for page in range(1, 8):
                rows, total = dq.list_tickets(s, COMMITTEE, dq.TicketFilter(status="all", q="灯坏", page=page),
                                              "Asia/Shanghai", svc.clock.now(), per_page=4)
                out.append([t.code for t in rows])
        return out

    plain = pages(())
    assert sum(len(p) for p in plain) == 24 and plain[0] != plain[1]
    assert pages((7, 28, 112)) == plain == pages((30,)) == pages((1, 2))
