"""The per-message path stays lean without changing what it does: grids from memory, the photo
check only when a photo-only ticket may be waiting, a bounded number of statements."""
from __future__ import annotations

import dataclasses
import re

from sqlalchemy import event, func, select

from storage.models import Outbox, Resident, Ticket, TicketEvent
from tests.conftest import new_openid

CODE = re.compile(r"#(\d{8}-\d{4})")


class Statements:
    def __init__(self, engine):
        self.engine, self.seen = engine, []

    def __enter__(self):
        self.commits = 0
        event.listen(self.engine, "before_cursor_execute", self._on)
        event.listen(self.engine, "commit", self._commit)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._on)
        event.remove(self.engine, "commit", self._commit)

    def _commit(self, conn):
        self.commits += 1

    def _on(self, conn, cursor, statement, params, context, executemany):
        self.seen.append(" ".join(statement.split()))


def _tickets(app):
    with app.extensions["jiesu"].sessions() as s:
        return list(s.scalars(select(Ticket).order_by(Ticket.id)))


def test_a_report_takes_few_statements_and_no_grid_or_photo_lookup(wechat, app):
    svc = app.extensions["jiesu"]
    openid = new_openid()
    wechat.text(openid, "3号楼楼道有人飞线充电")              # the resident exists from now on
    with Statements(svc.engine) as st:
        reply = wechat.text(openid, "3号楼门口垃圾堆了三天没人清")
    assert CODE.search(reply)
    assert not [s for s in st.seen if "FROM grid" in s], st.seen
    assert not [s for s in st.seen if s.startswith("SELECT ticket.id, ticket.code") and "resident_id =" in s], st.seen
    # BEGIN IMMEDIATE (SQLite), inbound insert, resident with its activity, "+1" candidates,
    # counter (SQLite; on PostgreSQL only when this worker's block of numbers ran out), ticket,
    # event, milestones (one multi-row upsert), outbox, inbound update; no savepoint, no NOTIFY
    assert len(st.seen) <= 10, "\n".join(s[:90] for s in st.seen)
    assert not [s for s in st.seen if "SAVEPOINT" in s or "NOTIFY" in s], st.seen
    assert st.commits == 1                        # stored and handled in one transaction
    [_, t] = _tickets(app)
    assert t.grid.name == "第一网格" and t.grid_id == svc.intake.grids["第一网格"].id


def test_words_after_a_photo_fill_it_once_and_then_open_tickets_again(wechat, app, clock):
    openid = new_openid()
    _, r = wechat.send_xml(wechat.xml(openid, "image", PicUrl="http://x/p.jpg", MediaId="img1"))
    photo_code = CODE.search(r["Content"]).group(1)
    assert photo_code in wechat.text(openid, "楼下的路灯坏了一个星期了")
    with app.extensions["jiesu"].sessions() as s:
        assert "photo" not in s.scalar(select(Resident.state).where(Resident.openid == openid))
    reply = wechat.text(openid, "20号楼门口垃圾堆了三天")
    assert CODE.search(reply).group(1) != photo_code
    ts = _tickets(app)
    assert len(ts) == 2 and not ts[0].needs_detail and ts[0].text == "楼下的路灯坏了一个星期了"


def test_words_long_after_a_photo_open_their_own_ticket(wechat, app, clock):
    openid = new_openid()
    _, r = wechat.send_xml(wechat.xml(openid, "image", PicUrl="http://x/p.jpg", MediaId="img1"))
    photo_code = CODE.search(r["Content"]).group(1)
    clock.advance(minutes=11)
    reply = wechat.text(openid, "楼下的路灯坏了一个星期了")
    assert photo_code not in reply and CODE.search(reply)
    ts = _tickets(app)
    assert len(ts) == 2 and ts[0].needs_detail and ts[1].text == "楼下的路灯坏了一个星期了"


def test_low_confidence_ticket_is_unconfirmed_and_its_push_held(wechat, app, clock, monkeypatch):
    intake = app.extensions["jiesu"].intake
    classify = intake.classify
    monkeypatch.setattr(intake, "classify", lambda text: dataclasses.replace(classify(text), low_confidence=True, emergency=None))
    reply = wechat.text(new_openid(), "那个东西又弄成那样了")
    [t] = _tickets(app)
    assert t.code in reply and t.category_confirmed is False
    with app.extensions["jiesu"].sessions() as s:
        [push] = s.scalars(select(Outbox)).all()
        assert push.next_attempt_at > clock.now() and push.status == "pending"
        assert s.scalar(select(func.count()).select_from(TicketEvent).where(TicketEvent.ticket_id == t.id)) == 1


def _sweep_statements(app, clock) -> tuple[int, int]:
    from handlers import promises
    svc = app.extensions["jiesu"]
    with Statements(svc.engine) as st, svc.sessions() as s, s.begin():
        queued = promises.sweep(s, clock.now(), svc.directory, svc.intake.grid_by_id)
    return queued, len([x for x in st.seen if not x.startswith(("BEGIN", "SAVEPOINT", "RELEASE"))])


def test_a_sweep_writes_its_warnings_in_the_same_few_statements_however_many_are_due(wechat, app, clock):
    """Every notice, card and event of a sweep goes in one INSERT per table (handlers/promises.py)."""
    for n in (2, 5):
        for i in range(n):
            wechat.text(new_openid(), f"{i + 1}号楼门口垃圾堆了三天没人清")
        clock.advance(minutes=45)                   # past the 40 minutes for someone on site
        queued, statements = _sweep_statements(app, clock)
        assert queued >= n
        if n == 2:
            few = statements
        else:
            assert statements == few, (few, statements)
        clock.advance(days=3)                       # the next round starts from a quiet sweep
        _sweep_statements(app, clock)
