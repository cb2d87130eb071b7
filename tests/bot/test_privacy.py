"""Issue 10, personal data: retention purge, a resident's export and erasure (storage/privacy.py),
phone and ID numbers masked in every log line (bot/logs.py), statement values kept out of database
errors (storage/db.py)."""
from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys
import traceback
from datetime import datetime, timedelta, timezone

import pytest
import yaml
from sqlalchemy import Column, Integer, MetaData, String, Table, Text, event, insert, inspect, null, select
from sqlalchemy.exc import IntegrityError

from bot import logs
from bot.app import create_app
from storage import privacy
from storage.db import make_engine, transaction
from storage.models import InboundMessage, Outbox, Resident, Ticket, TicketEvent, TicketRating
from tests.conftest import ROOT, make_config, new_openid, report

PHONE = "13812345678"
ID = "11010519491231002X"


def svc(app):
    return app.extensions["jiesu"]


def rows(app, model, *where):
    with svc(app).sessions() as s:
        return list(s.scalars(select(model).where(*where).order_by(model.id)))


def dump_all(app) -> str:
    """Every row of every table as text: what a leak check searches (JSON columns hold Chinese as
    \\u escapes: read back as characters)."""
    engine = svc(app).engine
    out = []
    with engine.connect() as c:
        for name in sorted(inspect(engine).get_table_names()):    # rows sorted: PostgreSQL returns an
            out += sorted(repr(tuple(r)) for r in c.exec_driver_sql(f"SELECT * FROM {name}"))   # updated row last
    return re.sub(r"\\+u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), "\n".join(out))


@pytest.fixture
def plain_logging():
    """The stdlib record factory for the duration of a test (create_app installs ours for the
    session), restored afterwards with the root handlers' filters."""
    factory = logging.getLogRecordFactory()
    filters = {h: list(h.filters) for h in logging.getLogger().handlers}
    logging.setLogRecordFactory(logging.LogRecord)
    yield
    logging.setLogRecordFactory(factory)
    for h, fs in filters.items():
        h.filters[:] = fs


# --- retention ---------------------------------------------------------------------------------

def test_purge_masks_what_outlived_retention_and_keeps_statistics(app, wechat, staff, clock):
    old_resident, code = report(wechat, f"5号楼电梯坏了，有事打{PHONE}，身份证{ID}")
    staff("wangfang", f"/note {code} 业主电话 139 1234 5678 已联系")
    clock.advance(days=181)
    fresh, fresh_code = report(wechat, f"3号楼楼道灯坏了 电话{PHONE}")
    before = {t.code: (t.category, t.status, t.created_at) for t in rows(app, Ticket)}

    assert privacy.purge_all(svc(app).sessions, clock.now(), 180) > 0

    old_msg = rows(app, InboundMessage, InboundMessage.openid == old_resident)[0]
    assert old_msg.raw == "" and old_msg.purged_at == clock.now()
    assert old_msg.inbound["content"] == "5号楼电梯坏了，有事打138****5678，身份证110***********002X"
    assert old_msg.msg_type == "text" and old_msg.status == "handled"            # statistics stay
    old_t = rows(app, Ticket, Ticket.code == code)[0]
    assert PHONE not in old_t.text and "138****5678" in old_t.text
    note = [e for e in rows(app, TicketEvent, TicketEvent.ticket_id == old_t.id) if e.kind == "note"][0]
    assert note.data["text"] == "业主电话 139****5678 已联系"
    assert {t.code: (t.category, t.status, t.created_at) for t in rows(app, Ticket)} == before

    new_msg = rows(app, InboundMessage, InboundMessage.openid == fresh)[0]
    assert new_msg.purged_at is None and PHONE in new_msg.raw and PHONE in new_msg.inbound["content"]
    assert PHONE in rows(app, Ticket, Ticket.code == fresh_code)[0].text

    # idempotent: a second run finds nothing to do and changes nothing
    snapshot = dump_all(app)
    assert privacy.purge_all(svc(app).sessions, clock.now(), 180) == 0
    assert dump_all(app) == snapshot


def test_purge_works_in_batches_and_resumes_where_it_stopped(app, wechat, clock):
    for _ in range(4):
        wechat.text(new_openid(), f"8号楼有人高空抛物 {PHONE}")
        clock.advance(minutes=1)
    with transaction(svc(app).sessions) as s:                   # a row from before the parsed column
        s.execute(insert(InboundMessage.__table__).values(
            dedupe_key="msg:1", openid="o-old", msg_type="text", raw=f"<xml>{PHONE}</xml>", status="handled",
            received_at=clock.now(), inbound=null()))
    clock.advance(days=200)

    def purged() -> int:
        return sum(m.purged_at is not None for m in rows(app, InboundMessage))

    progress = []
    for _ in range(20):
        with transaction(svc(app).sessions) as s:
            if not privacy.purge_expired(s, clock.now(), 180, batch=2):
                break
        progress.append(purged())
    assert progress[:3] == [2, 4, 5]                            # 2 a batch, oldest first, none twice
    assert all(m.raw == "" for m in rows(app, InboundMessage))
    assert all(PHONE not in t.text for t in rows(app, Ticket))
    with svc(app).engine.connect() as c:                        # still SQL NULL, not JSON null
        assert c.exec_driver_sql("SELECT count(*) FROM inbound_message WHERE inbound IS NULL").scalar() == 1


def test_purge_reads_the_received_at_index(sqlite_url, tmp_path, clock):
    """The inbound query is a range scan of ix_inbound_received_at, the second one starting where the
    first stopped (SQLite's plan; PostgreSQL's planner prefers a scan on tables this small)."""
    app = create_app(make_config(tmp_path, sqlite_url), clock=clock)
    with transaction(svc(app).sessions) as s:
        for n in range(2):
            s.execute(insert(InboundMessage.__table__).values(
                dedupe_key=f"msg:{n}", openid="o-old", msg_type="text", raw="<xml/>", status="handled",
                received_at=clock.advance(minutes=1)))
    clock.advance(days=200)
    statements = []
    event.listen(svc(app).engine, "before_cursor_execute",
                 lambda conn, cur, stmt, params, ctx, many: statements.append((stmt, params)))
    for _ in range(2):
        with transaction(svc(app).sessions) as s:
            assert privacy.purge_expired(s, clock.now(), 180, batch=1)
    reads = [(st, p) for st, p in statements if "FROM inbound_message" in st and "purged_at IS NULL" in st]
    assert len(reads) == 2 and "received_at >=" in reads[1][0]
    with svc(app).engine.connect() as c:
        for stmt, params in reads:
            plan = " ".join(str(r[-1]) for r in c.exec_driver_sql("EXPLAIN QUERY PLAN " + stmt, params))
            assert "USING INDEX ix_inbound_received_at" in plan, plan
    svc(app).engine.dispose()


# --- export and erasure --------------------------------------------------------------------------

def _a_resident_with_a_history(app, wechat, staff):
    """A reports (with their phone and room), sends a location, is joined by B (+1), the ticket is
    closed and A rates it 5."""
    a = new_openid()
    assert wechat.event(a, "subscribe")[0] == 200               # an event's dedupe key holds the openid
    code = report(wechat, f"7号楼2单元502门口垃圾堆成山了好几天没人清 我电话{PHONE}", a)[1]
    wechat.send_xml(wechat.xml(a, "location", msg_id=-1, Location_X="31.20000", Location_Y="121.40000",
                               Scale="15", Label="幸福小区7号楼"))
    b = new_openid()
    assert code in wechat.text(b, "7号楼门口垃圾堆成山了好几天没人清理")
    staff("wangfang", f"/close {code} 已清运")
    assert "5 分" in wechat.text(a, "5")
    return a, b, code


def test_erase_anonymises_the_resident_and_keeps_the_statistics(app, wechat, staff, clock):
    a, b, code = _a_resident_with_a_history(app, wechat, staff)
    t0 = rows(app, Ticket, Ticket.code == code)[0]
    assert PHONE in dump_all(app) and a in dump_all(app)        # the test looks for something real

    with transaction(svc(app).sessions) as s:
        done = privacy.erase_resident(s, a, clock.now())
    token = done["token"]
    assert token.startswith("erased:") and a not in token

    everything = dump_all(app)
    assert a not in everything                                  # nowhere: residents, messages, events, outbox
    assert PHONE not in everything and "138****5678" not in everything
    assert "2单元502" not in everything and "幸福小区" not in everything   # their home, their position
    r = rows(app, Resident, Resident.openid == token)[0]
    assert (r.building, r.phone, r.state) == (None, None, {})
    t = rows(app, Ticket, Ticket.code == code)[0]
    assert t.text == privacy.ERASED_TICKET_TEXT and t.resident_id == r.id
    assert (t.category, t.status, t.created_at, t.resolved_at, t.rating, t.building) == \
           (t0.category, t0.status, t0.created_at, t0.resolved_at, 5, "7")
    assert (t.room, t.latitude, t.location_text) == (None, None, "7号楼2单元")
    assert [x.score for x in rows(app, TicketRating, TicketRating.resident_id == r.id)] == [5]
    msgs = rows(app, InboundMessage, InboundMessage.openid == token)
    assert msgs and all(m.raw == "" for m in msgs)
    assert {m.inbound["content"] for m in msgs if m.msg_type == "text"} == {privacy.ERASED_TEXT}
    assert all(e.actor != f"resident:{a}" for e in rows(app, TicketEvent))
    assert any(e.actor == f"resident:{token}" and e.kind == "rated" and e.data.get("score") == 5
               for e in rows(app, TicketEvent))
    # B keeps everything of theirs
    assert b in everything and rows(app, InboundMessage, InboundMessage.openid == b)[0].raw
    # A may come back: a new resident, a new ticket
    assert "已受理" in wechat.text(a, "9号楼路灯坏了")
    assert len(rows(app, Resident, Resident.openid == a)) == 1


def test_erase_stops_deliveries_to_the_resident(app, wechat, staff, clock):
    a, code = report(wechat, "6号楼楼道灯坏了")
    staff("wangfang", f"/onsite {code}")
    assert rows(app, Outbox, Outbox.target == a)                 # a notice is queued for them
    with transaction(svc(app).sessions) as s:
        token = privacy.erase_resident(s, a, clock.now())["token"]
    sent = rows(app, Outbox, Outbox.target == token)
    assert sent and all(o.status in ("cancelled", "sent", "failed") for o in sent)
    assert all(o.payload["content"] == privacy.ERASED_TEXT for o in sent)


def test_export_lists_everything_kept(app, wechat, staff):
    a, b, code = _a_resident_with_a_history(app, wechat, staff)
    with svc(app).sessions() as s:
        data = privacy.export_resident(s, a)
        assert privacy.export_resident(s, "o-nobody") is None
    assert data["openid"] == a and data["resident"]["building"] == "7"
    [t] = data["tickets"]
    assert t["code"] == code and PHONE in t["text"] and t["status"] == "resolved" and t["rating"] == 5
    assert t["created_at"].startswith("2026-11-21")
    assert {x["kind"] for x in t["attachments"]} == {"location"}
    assert any(PHONE in (m["content"] or "") and PHONE in m["raw"] for m in data["messages"])
    assert {e["kind"] for e in data["events"]} >= {"created", "location_added", "rated"}
    assert [(x["ticket"], x["score"]) for x in data["ratings"]] == [(code, 5)]
    assert data["sent_to_resident"] and data["following"] == []
    json.dumps(data, ensure_ascii=False)                         # all of it is JSON


def test_points_and_the_ranking_name_are_exported_and_erased(app, wechat, staff):
    a, b, code = _a_resident_with_a_history(app, wechat, staff)
    assert "10" in staff("zhaomin", f"/points {code} volunteer 清扫楼道")
    wechat.text(a, "积分实名 张阿姨")
    with svc(app).sessions() as s:
        data = privacy.export_resident(s, a)
    assert data["resident"]["points_name"] == "张阿姨"
    assert [(x["kind"], x["amount"], x["reason"]) for x in data["points"]] == [("award", 10, "清扫楼道")]
    with svc(app).sessions.begin() as s:
        privacy.erase_resident(s, a, svc(app).clock.now())
    with svc(app).sessions() as s:
        from storage.models import Resident
        assert s.scalar(select(Resident.points_name).where(Resident.openid == privacy.erased_token(a))) is None
    assert "张阿姨" not in staff("zhaomin", "/pointsrank")


# --- the command line ---------------------------------------------------------------------------

def _cli(*args, config, stdin=""):
    return subprocess.run([sys.executable, "-m", "storage.privacy", *args, "--config", str(config)], cwd=ROOT,
                          input=stdin, capture_output=True, text=True, encoding="utf-8", timeout=120)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)     # the CLI's database: a SQLite file
def test_cli_export_erase_purge(app, wechat, config, clock, tmp_path):
    clock.set(datetime.now(timezone.utc))                      # the CLI runs on the real clock
    data = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    data["database"] = {"url": config.database.url}
    path = tmp_path / "privacy.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    a, code = report(wechat, f"3号楼楼道堆满杂物 电话{PHONE}")

    r = _cli("export", a, config=path)
    assert r.returncode == 0, r.stderr
    assert "楼道堆满杂物" in r.stdout                            # UTF-8, not \\u escapes
    data = json.loads(r.stdout)
    assert data["tickets"][0]["code"] == code and PHONE in data["tickets"][0]["text"]

    r = _cli("export", "o-nobody", config=path)
    assert r.returncode == 1 and "o-nobody" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1

    r = _cli("erase", a, config=path, stdin="n\n")             # asked, and declined
    assert r.returncode == 1 and "not erased" in r.stderr
    assert rows(app, Resident, Resident.openid == a)

    r = _cli("erase", a, config=path, stdin="y\n")
    assert r.returncode == 0, r.stderr
    assert not rows(app, Resident, Resident.openid == a)
    assert rows(app, Ticket, Ticket.code == code)[0].text == privacy.ERASED_TICKET_TEXT
    r = _cli("erase", a, "--yes", config=path)
    assert r.returncode == 1 and "no resident" in r.stderr and "Traceback" not in r.stderr

    r = _cli("purge", config=path)                              # nothing is 180 days old yet
    assert r.returncode == 0 and "purged 0 row(s)" in r.stdout, r.stderr
    with transaction(svc(app).sessions) as s:
        s.execute(insert(InboundMessage.__table__).values(
            dedupe_key="msg:old", openid="o-old", msg_type="text", raw=f"<xml>{PHONE}</xml>", status="handled",
            received_at=clock.now() - timedelta(days=200)))
    r = _cli("purge", config=path)
    assert r.returncode == 0 and "purged 1 row(s)" in r.stdout, r.stdout + r.stderr
    assert rows(app, InboundMessage, InboundMessage.dedupe_key == "msg:old")[0].raw == ""

    r = _cli("export", a, config=ROOT / "no-such-config.yaml")
    assert r.returncode == 2 and r.stderr.startswith("config error:") and "Traceback" not in r.stderr


# --- logs ----------------------------------------------------------------------------------------

def test_create_app_masks_logs(plain_logging, config, clock):
    assert not logs.installed()
    app = create_app(config, clock=clock)
    assert logs.installed()
    svc(app).engine.dispose()


def test_log_lines_are_masked_in_handlers_added_later(plain_logging):
    logs.install()
    factory = logging.getLogRecordFactory()
    logs.install()                                              # idempotent: wrapped once
    assert logging.getLogRecordFactory() is factory

    stream, seen = io.StringIO(), []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(record)

    log = logging.getLogger("test.privacy.later")
    handler = logging.StreamHandler(stream)                     # configured after install()
    log.addHandler(handler), log.addHandler(Keep())
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        log.info("resident %s phone %s", "o-1", PHONE)
        log.info("ticket %(code)s", {"code": "20261206-0001", "unused": PHONE})
        try:
            raise IntegrityError("INSERT …", {"raw": f"<xml>{PHONE}</xml>"}, Exception(f"DETAIL: Key (id)=({ID})"))
        except IntegrityError:
            log.exception("handling failed for %s", "138 1234 5678")
    finally:
        log.handlers.clear()
    text = stream.getvalue()
    assert PHONE not in text and ID not in text and "138 1234 5678" not in text
    assert "resident o-1 phone 138****5678" in text and "ticket 20261206-0001" in text
    assert "Traceback" in text and "110***********002X" in text   # the traceback is kept, masked
    for record in seen:                                         # nothing left in the record either
        assert PHONE not in repr(record.args) and record.exc_info is None
        assert PHONE not in record.getMessage()


def test_filter_masks_records_made_without_the_factory(plain_logging):
    record = logging.makeLogRecord({"msg": "call %s", "args": (PHONE,), "levelno": logging.INFO})
    assert logs.PiiFilter().filter(record) is True
    assert record.getMessage() == "call 138****5678"
    logs.install()
    root_handler = logging.StreamHandler(io.StringIO())
    logging.getLogger().addHandler(root_handler)
    try:
        logs.install()
        assert any(isinstance(f, logs.PiiFilter) for f in root_handler.filters)
    finally:
        logging.getLogger().removeHandler(root_handler)


# --- database errors -----------------------------------------------------------------------------

def test_failed_statements_keep_their_values_out_of_errors_and_logs(db_url, caplog, plain_logging):
    """hide_parameters on both engines, and PostgreSQL's DETAIL ("Failing row contains (…)") cut
    from the error text; the log filter is off here, so this is the database layer alone."""
    engine = make_engine(db_url)
    meta = MetaData()
    t = Table("pii_probe", meta, Column("id", Integer, primary_key=True), Column("key", String(40), unique=True),
              Column("raw", Text, nullable=False), Column("note", Text))
    meta.create_all(engine)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")   # statements echoed, as with echo=True
    log = logging.getLogger("test.privacy.db")
    errors = []
    try:
        with engine.begin() as c:
            c.execute(insert(t), {"key": PHONE, "raw": f"<xml><Content>{PHONE}</Content></xml>"})
        for values in ({"key": PHONE, "raw": f"<xml>{PHONE}</xml>"},             # unique key
                       {"key": "k2", "raw": None, "note": f"电话{PHONE}"}):       # NOT NULL: the whole row
            try:
                with engine.begin() as c:
                    c.execute(insert(t), values)
            except IntegrityError as e:
                errors.append(e)
                log.exception("insert failed")
    finally:
        meta.drop_all(engine)
        engine.dispose()
    assert len(errors) == 2
    for e in errors:
        assert PHONE not in str(e) and "parameters hidden" in str(e)
        assert PHONE not in "".join(traceback.format_exception(e))          # nor in the chained cause
    assert "insert failed" in caplog.text and PHONE not in caplog.text
    if engine.dialect.name == "postgresql":                    # still there for code that asks
        assert PHONE in errors[1].orig.diag.message_detail
        assert "not-null" in str(errors[1])
