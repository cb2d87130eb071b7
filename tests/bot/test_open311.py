"""Open311 GeoReport v2 (bot/open311.py, bot/api_clients.py), checked field by field against the spec
(http://wiki.open311.org/GeoReport_v2) in both formats, with tickets made through the real webhooks."""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot import api_clients
from nlp import categories
from storage.db import transaction
from storage.models import ApiClient, Ticket
from tests.conftest import new_openid, report

ROOT = Path(__file__).resolve().parents[2]
API = "/open311/v2"
DIRTY = "3号楼502 门口垃圾堆了三天，我电话13812345678"
PHONE = "13812345678"
SERVICE_FIELDS = ["service_code", "service_name", "description", "metadata", "type", "keywords", "group"]
REQUEST_FIELDS = ["service_request_id", "status", "status_notes", "service_name", "service_code", "description",
                  "agency_responsible", "service_notice", "requested_datetime", "updated_datetime",
                  "expected_datetime", "address", "lat", "long"]
W3C = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$")


# -- helpers ------------------------------------------------------------------------------------

def parse(r, fmt: str, root: str, item: str) -> list[dict]:
    """The response as a list of {field: value}: JSON as sent; XML read with ElementTree (every
    value text, an empty element None), after checking the declaration, content type and tags."""
    if fmt == "json":
        assert r.content_type == "application/json; charset=utf-8"
        rows = json.loads(r.data.decode("utf-8"))
        assert isinstance(rows, list)
        return rows
    assert r.content_type == "text/xml; charset=utf-8"
    assert r.data.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    top = ET.fromstring(r.data)
    assert top.tag == root and all(el.tag == item for el in top)
    return [{child.tag: child.text for child in el} for el in top]


def get(app, path: str, fmt: str, root="service_requests", item="request", expect=200, **params) -> list[dict]:
    r = app.test_client().get(f"{API}/{path}.{fmt}", query_string=params)
    assert r.status_code == expect, r.data
    return parse(r, fmt, "errors" if expect >= 400 else root, "error" if expect >= 400 else item)


def post(app, fmt: str = "json", expect: int = 200, **form) -> list[dict]:
    r = app.test_client().post(f"{API}/requests.{fmt}", data=form)
    assert r.status_code == expect, r.data
    return parse(r, fmt, "errors" if expect >= 400 else "service_requests", "error" if expect >= 400 else "request")


def raw(app, path: str, **params) -> bytes:
    r = app.test_client().get(f"{API}/{path}", query_string=params)
    assert r.status_code == 200, r.data
    return r.data


def new_key(app, name: str = "city-12345") -> str:
    svc = app.extensions["jiesu"]
    with transaction(svc.sessions) as s:
        return api_clients.issue(s, name, svc.clock.now())


def tickets(app) -> int:
    with app.extensions["jiesu"].sessions() as s:
        return s.scalar(select(func.count()).select_from(Ticket))


def ticket(app, code: str) -> Ticket:
    with app.extensions["jiesu"].sessions() as s:
        return s.scalar(select(Ticket).where(Ticket.code == code))


def local(dt: datetime) -> str:
    """The W3C form the API must give: the community's offset (Asia/Shanghai, +08:00)."""
    return dt.astimezone(timezone(timedelta(hours=8))).isoformat(timespec="seconds")


def one(rows: list[dict]) -> dict:
    assert len(rows) == 1, rows
    return rows[0]


# -- GET services ---------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_every_category_is_a_service_with_the_spec_fields(app, fmt):
    rows = get(app, "services", fmt, "services", "service")
    assert [r["service_code"] for r in rows] == list(categories.CODES)
    for r in rows:
        c = categories.get(r["service_code"])
        assert list(r) == SERVICE_FIELDS
        assert r["service_name"] == c.name and r["group"] == c.handler
        assert r["metadata"] == (False if fmt == "json" else "false")
        assert r["type"] == "realtime"
        words = r["keywords"].split(",")
        assert words[0] == c.name and len(words) == len(set(words)) > 1
        assert r["description"].startswith(c.name) and c.handler in r["description"]


def test_jurisdiction_id_may_be_left_out_or_be_the_community_and_nothing_else(app):
    assert get(app, "services", "json", "services", "service", jurisdiction_id="幸福里社区")
    assert get(app, "services", "xml", "services", "service", jurisdiction_id="")
    for fmt in ("json", "xml"):
        [err] = get(app, "services", fmt, expect=404, jurisdiction_id="sfgov.org")
        assert str(err["code"]) == "404" and "sfgov.org" in err["description"]
        [err] = get(app, "requests", fmt, expect=404, jurisdiction_id="sfgov.org")
        assert str(err["code"]) == "404"
    r = app.test_client().get(f"{API}/services.csv")
    assert r.status_code == 404 and parse(r, "xml", "errors", "error")[0]["code"] == "404"


# -- GET requests: fields, statuses, personal data -------------------------------------------------

@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_residents_report_field_by_field(app, wechat, clock, fmt):
    _, code = report(wechat, DIRTY)
    t = ticket(app, code)
    r = one(get(app, f"requests/{code}", fmt))
    assert list(r) == REQUEST_FIELDS
    assert r["service_request_id"] == code
    assert r["status"] == "open" and r["status_notes"] == "处理中"
    assert r["service_code"] == "garbage" and r["service_name"] == "垃圾与环境卫生"
    assert r["description"] == "3号楼门口垃圾堆了三天，我电话138****5678"     # masked, room dropped
    assert r["agency_responsible"] == "第一网格"
    assert r["address"] == "3号楼门口"
    assert r["requested_datetime"] == local(clock.now()) == "2026-11-21T09:30:00+08:00"
    assert r["updated_datetime"] == r["requested_datetime"]
    assert r["expected_datetime"] == local(t.due_fix_at) and W3C.match(r["expected_datetime"])
    assert "前到场" in r["service_notice"] and "第一网格" in r["service_notice"]
    assert r["lat"] is None and r["long"] is None
    assert one(get(app, "requests", fmt)) == r                                   # the list says the same


def test_no_phone_openid_or_room_in_any_response(app, wechat, staff, clock):
    openid, code = report(wechat, DIRTY)
    other = new_openid()
    _, code2 = report(wechat, "5号楼2单元601室楼上漏水，联系电话 138 1234 5678", other)
    staff("wangfang", f"/close {code} 已清理，3号楼502室住户{PHONE}已告知")
    key = new_key(app)
    [made] = post(app, api_key=key, service_code="facility", description="7号楼1单元1203 楼道灯不亮",
                  address_string="7号楼", phone="13900001111", first_name="张", last_name="三",
                  email="zhang@example.com", account_id="acct-9", device_id="dev-1")
    bodies = [raw(app, f"requests.{f}") for f in ("json", "xml")]
    codes = (code, code2, made["service_request_id"])
    bodies += [raw(app, f"requests/{c}.{f}") for c in codes for f in ("json", "xml")]
    assert len(json.loads(bodies[0])) == len(ET.fromstring(bodies[1])) == 3
    for body in bodies:                                # the bytes as sent (UTF-8; JSON not \u-escaped)
        for secret in (PHONE, "138 1234 5678", "13900001111", openid, other, "zhang@example.com", "acct-9", "dev-1",
                       "张", "502", "601", "1203"):
            assert secret.encode("utf-8") not in body, (secret, body.decode("utf-8"))
    assert "138****5678".encode() in bodies[0]       # masked, not dropped: the words stay useful
    with app.extensions["jiesu"].sessions() as s:      # what POST said about the person is not even kept
        t = s.scalar(select(Ticket).where(Ticket.code == made["service_request_id"]))
        assert "13900001111" not in t.text and "zhang" not in t.text and t.resident_id is None


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_closing_maps_to_closed_with_the_result_and_the_closing_time(app, wechat, staff, clock, fmt):
    _, code = report(wechat, DIRTY)
    clock.advance(hours=2)
    closed_at = clock.now()
    staff("wangfang", f"/close {code} 已清理")
    clock.advance(days=1)
    staff("wangfang", f"/visit {code} 居民满意")          # later changes keep the closing time
    r = one(get(app, f"requests/{code}", fmt))
    assert r["status"] == "closed"
    assert r["status_notes"] == "已回访结案：居民满意"
    assert r["updated_datetime"] == local(closed_at) == "2026-11-21T11:30:00+08:00"
    assert r["service_notice"] is None
    assert [x["service_request_id"] for x in get(app, "requests", fmt, status="closed")] == [code]
    assert get(app, "requests", fmt, status="open") == []


def test_resolved_cancelled_and_merged_are_closed_each_with_its_words(app, wechat, staff):
    _, a = report(wechat, "3号楼楼道灯坏了")
    _, b = report(wechat, "8号楼门口有辆僵尸车停了半年")
    _, c = report(wechat, "12号楼门口垃圾堆成山了")
    staff("wangfang", f"/close {a} 已换灯泡")
    assert "撤销" in staff("zhaomin", f"/cancel {b} 居民已自行处理")
    rows = {r["service_request_id"]: r for r in get(app, "requests", "json")}
    assert rows[a]["status"] == "closed" and rows[a]["status_notes"] == "已办结：已换灯泡"
    assert rows[b]["status"] == "closed" and rows[b]["status_notes"] == "已撤销：居民已自行处理"
    assert rows[c]["status"] == "open" and rows[c]["status_notes"] == "处理中"


# -- GET requests: filters ------------------------------------------------------------------------

def test_filters_by_id_code_dates_and_status(app, wechat, staff, clock):
    _, old = report(wechat, "6号楼楼道灯坏了")                       # facility, 2026-11-21 09:30+08
    clock.advance(days=3)
    _, rubbish = report(wechat, "12号楼门口垃圾堆成山了")            # garbage, 11-24
    _, car = report(wechat, "8号楼门口有辆僵尸车停了半年")            # parking, 11-24
    staff("wangfang", f"/close {car} 已拖走")
    codes = lambda rows: sorted(r["service_request_id"] for r in rows)   # noqa: E731
    assert codes(get(app, "requests", "json")) == sorted([old, rubbish, car])
    assert codes(get(app, "requests", "xml", service_code="garbage,parking")) == sorted([rubbish, car])
    assert codes(get(app, "requests", "json", service_code=["garbage", "facility"])) == sorted([rubbish, old])
    assert codes(get(app, "requests", "json", start_date="2026-11-22T00:00:00+08:00")) == sorted([rubbish, car])
    assert codes(get(app, "requests", "json", end_date="2026-11-21T23:59:59+08:00")) == [old]
    assert codes(get(app, "requests", "json", start_date="2026-11-21T01:00:00Z", end_date="2026-11-21")) == [old]
    assert codes(get(app, "requests", "json", status="open")) == sorted([old, rubbish])
    assert codes(get(app, "requests", "json", status="open,closed")) == sorted([old, rubbish, car])
    # service_request_id overrides every other argument
    assert codes(get(app, "requests", "xml", service_request_id=f"{old},{car},20991231-0001",
                     status="open", service_code="noise")) == sorted([old, car])
    clock.advance(days=88)                                          # old is now 91 days old
    assert codes(get(app, "requests", "json")) == sorted([rubbish, car])     # the last 90 days
    assert codes(get(app, "requests", "json", service_request_id=old)) == [old]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_bad_query_arguments_are_400_in_the_spec_error_list(app, fmt):
    for params, words in [({"start_date": "yesterday"}, "start_date"),
                          ({"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"}, "90 days"),
                          ({"start_date": "2026-06-01T00:00:00Z", "end_date": "2026-01-01T00:00:00Z"}, "before"),
                          ({"status": "pending"}, "pending")]:
        [err] = get(app, "requests", fmt, expect=400, **params)
        assert str(err["code"]) == "400" and words in err["description"], err


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_an_unknown_request_is_404(app, fmt):
    [err] = get(app, "requests/20261121-0999", fmt, expect=404)
    assert str(err["code"]) == "404" and "20261121-0999" in err["description"]


# -- POST requests --------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_post_with_a_good_key_opens_a_ticket_staff_see(app, staff, clock, fmt):
    key = new_key(app)
    r = one(post(app, fmt, api_key=key, jurisdiction_id="幸福里社区", service_code="facility",
                 description="楼道灯不亮，晚上看不见 <b>&", lat="30.274084", long="120.155070"))
    code = r["service_request_id"]
    assert re.fullmatch(r"20261121-\d{4}", code) and list(r) == ["service_request_id", "service_notice"]
    assert "第一网格" in r["service_notice"] and "前到场" in r["service_notice"]
    t = ticket(app, code)
    assert t.source == "open311" and t.category == "facility" and t.resident_id is None
    assert (t.latitude, t.longitude) == (30.274084, 120.15507)
    shown = staff("wangfang", f"/show {code}")
    assert code in shown and "来源：Open311" in shown and "楼道灯不亮" in shown
    got = one(get(app, f"requests/{code}", fmt))
    assert got["description"] == "楼道灯不亮，晚上看不见 <b>&"                   # escaped in XML, read back whole
    assert got["service_code"] == "facility" and got["status"] == "open"
    assert float(got["lat"]) == 30.274084 and float(got["long"]) == 120.15507
    assert got["requested_datetime"] == local(clock.now())


def test_a_posted_address_routes_the_ticket_to_its_grid(app):
    key = new_key(app)
    [r] = post(app, api_key=key, service_code="garbage", description="门口垃圾没人清", address_string="15号楼")
    t = ticket(app, r["service_request_id"])
    assert t.grid.name == "第二网格" and t.building == "15"
    assert one(get(app, f"requests/{t.code}", "json"))["agency_responsible"] == "第二网格"


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_missing_wrong_or_revoked_key_is_403_and_opens_nothing(app, fmt):
    key = new_key(app)
    form = dict(service_code="facility", description="楼道灯不亮", address_string="3号楼")
    for api_key, words in [(None, "not provided"), ("", "not provided"), (key[:-1] + "x", "not valid")]:
        extra = {} if api_key is None else {"api_key": api_key}
        [err] = post(app, fmt, expect=403, **form, **extra)
        assert str(err["code"]) == "403" and words in err["description"]
    svc = app.extensions["jiesu"]
    with transaction(svc.sessions) as s:
        api_clients.revoke(s, "city-12345", svc.clock.now())
    [err] = post(app, fmt, expect=403, api_key=key, **form)
    assert tickets(app) == 0


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_missing_fields_are_400_one_error_each_and_open_nothing(app, fmt):
    key = new_key(app)
    errs = post(app, fmt, expect=400, api_key=key)
    assert [str(e["code"]) for e in errs] == ["400"] * 3
    said = " ".join(e["description"] for e in errs)
    assert "service_code" in said and "description" in said and "address_string" in said
    [err] = post(app, fmt, expect=400, api_key=key, service_code="facility", description="灯不亮", lat="30.1")
    assert "lat and long" in err["description"]
    [err] = post(app, fmt, expect=400, api_key=key, service_code="facility", description="灯不亮", address_id="77")
    assert "address_id" in err["description"]
    [err] = post(app, fmt, expect=400, api_key=key, service_code="facility", description="灯" * 4001,
                 address_string="3号楼")
    assert "4,000" in err["description"]
    [err] = post(app, fmt, expect=404, api_key=key, service_code="potholes", description="坑", address_string="3号楼")
    assert str(err["code"]) == "404" and "potholes" in err["description"]
    [err] = post(app, fmt, expect=404, api_key=key, jurisdiction_id="sfgov.org", service_code="facility",
                 description="灯不亮", address_string="3号楼")
    assert tickets(app) == 0


# -- API keys -------------------------------------------------------------------------------------

def test_keys_are_kept_only_as_hashes_and_checked_against_them(app):
    key = new_key(app, "a")
    other = new_key(app, "b")
    svc = app.extensions["jiesu"]
    with svc.sessions() as s:
        rows = {c.name: c.key_hash for c in s.scalars(select(ApiClient))}
        assert key not in rows.values() and rows["a"] == api_clients.key_hash(key) and len(rows["a"]) == 64
        assert api_clients.verify(s, key).name == "a" and api_clients.verify(s, other).name == "b"
        assert api_clients.verify(s, "") is None and api_clients.verify(s, key.upper()) is None
    with transaction(svc.sessions) as s, pytest.raises(api_clients.ClientError, match="already exists"):
        api_clients.issue(s, "a", svc.clock.now())


def test_the_command_line_adds_lists_and_revokes(app, config, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", config.database.url)
    cfg = ["--config", str(ROOT / "config.yaml")]
    assert api_clients.main(["add", "city-12345", *cfg]) == 0
    out = capsys.readouterr()
    key = out.out.strip()
    assert "\n" not in key and len(key) >= 40 and key not in out.err
    [made] = post(app, api_key=key, service_code="facility", description="楼道灯不亮", address_string="3号楼")
    assert api_clients.main(["list", *cfg]) == 0
    listed = capsys.readouterr().out
    assert "city-12345" in listed and "live" in listed and key not in listed
    assert api_clients.main(["revoke", "city-12345", *cfg]) == 0
    capsys.readouterr()
    post(app, expect=403, api_key=key, service_code="facility", description="楼道灯不亮", address_string="3号楼")
    for argv, words in [(["revoke", "nobody", *cfg], "no client named"),
                        (["add", "city-12345", *cfg], "revoked"),
                        (["add", "has space", *cfg], "bad client name"),
                        (["add", "x", "--config", "/nonexistent.yaml"], "file not found")]:
        assert api_clients.main(argv) != 0
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1 and "Traceback" not in err, err
    for argv in (["frobnicate"], []):
        with pytest.raises(SystemExit) as e:
            api_clients.main(argv)
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "error" in err, err
