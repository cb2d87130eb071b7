"""Shared fixtures: a real database (SQLite file and, when reachable, the machine's PostgreSQL in a
schema of its own), a fake clock, the app, a WeChat client that signs like WeChat, a live server."""
from __future__ import annotations

import itertools
import os
import re
import secrets
import threading
import uuid
from pathlib import Path

import psycopg
import pytest
from werkzeug.serving import make_server

from bot.app import create_app
from bot.config import load_config
from bot.wire import message_xml, open_reply, signed_request, wecom_request
from handlers.clock import FakeClock

ROOT = Path(__file__).resolve().parents[1]
PG_DSN = os.environ.get("JIESU_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_PG = bool(os.environ.get("CI") or os.environ.get("JIESU_REQUIRE_PG"))


def _pg_available() -> str | None:
    try:
        with psycopg.connect(PG_DSN, connect_timeout=3):
            return None
    except Exception as e:  # noqa: BLE001 - any failure means "not available"
        return f"{type(e).__name__}: {e}"


_PG_PROBLEM = _pg_available()


@pytest.fixture(scope="session")
def pg_schema_url():
    """A fresh schema in the PostgreSQL test database, dropped at the end."""
    if _PG_PROBLEM:
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL required under CI but unreachable at {PG_DSN}: {_PG_PROBLEM}")
        pytest.skip(f"PostgreSQL not reachable at {PG_DSN} ({_PG_PROBLEM}); set CI=1 to make this a failure")
    yield PG_DSN


def _new_pg_schema(base: str) -> tuple[str, str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as c:
        c.execute(f"CREATE SCHEMA {schema}")
    return schema, f"{base}?options=-csearch_path%3D{schema}"


def _drop_pg_schema(base: str, schema: str) -> None:
    with psycopg.connect(base, autocommit=True) as c:
        c.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/jiesu.sqlite3"
        return
    base = request.getfixturevalue("pg_schema_url")
    schema, url = _new_pg_schema(base)
    yield url
    _drop_pg_schema(base, schema)


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path}/jiesu.sqlite3"


@pytest.fixture
def clock():
    return FakeClock()


def make_config(tmp_path, db_url, **overrides):
    # 一键派单 (promises.category_party) adds a party notice to most reports; tests of it turn it on
    base = {"database.url": db_url, "local.fake_store": str(tmp_path / "fake.sqlite3"),
            "nlp.model_root": str(tmp_path / "models"), "media.folder": str(tmp_path / "media"),
            "inbound.spool": str(tmp_path / "spool.sqlite3"), "promises.category_party": {},
            # cards add a row beside each staff notice; the tests of cards turn them on
            "wecom.cards": False,
            # WeChat waits 5 s; tests on a loaded machine take the most of it before the holding reply
            "inbound.reply_budget_seconds": 4.9}
    base.update(overrides)
    return load_config(ROOT / "config.yaml", environ={}, overrides=base)


@pytest.fixture
def config(tmp_path, db_url):
    return make_config(tmp_path, db_url)


@pytest.fixture
def app(config, clock):
    app = create_app(config, clock=clock)
    yield app
    app.extensions["jiesu"].engine.dispose()


_msg_ids = itertools.count(7_000_000_000_000_000_000)


class WeChat:
    """Sends callbacks the way WeChat's servers do (signed; encrypted in safe/compat mode). Being
    WeChat's servers, it also tells the fake platform (local mode) of every resident action, once per
    action (not per retry), at the fake clock's time: that opens the 48-hour customer-service window."""

    def __init__(self, post, services, mode: str | None = None):
        self.post = post                 # (path, params, body) -> (status, bytes)
        self.svc = services
        self.mode = mode or services.config.wechat.message_mode
        self._noted: set[tuple] = set()
        self._noted_lock = threading.Lock()

    def _note_interaction(self, xml: str) -> None:
        from bot.wxcrypto import xml_fields
        store = getattr(self.svc, "fake_store", None)
        if store is None or "<!DOCTYPE" in xml or "<!ENTITY" in xml:
            return
        try:
            f = xml_fields(xml)
        except Exception:  # noqa: BLE001 - a deliberately malformed callback is no resident action
            return
        openid, mtype = f.get("FromUserName"), f.get("MsgType")
        if not openid or not mtype:
            return
        key = (openid, f.get("MsgId") or (f.get("CreateTime"), f.get("Event")))
        with self._noted_lock:
            if key in self._noted:
                return                   # WeChat retrying the same message
            self._noted.add(key)
        body = {"type": mtype, "content": f.get("Content") or f.get("Recognition") or f.get("PicUrl") or f.get("Label") or ""}
        if mtype == "event":
            body["event"] = f.get("Event", "")
        store.record(self.svc.clock.now(), "resident", openid, body)

    def xml(self, openid: str, msg_type: str, msg_id: int | None = -1, **fields) -> str:
        if msg_id == -1:
            msg_id = next(_msg_ids)
        return message_xml(self.svc.config.wechat.app_id, openid, msg_type,
                           int(self.svc.clock.now().timestamp()), msg_id, **fields)

    def send_xml(self, xml: str, timestamp: int | None = None) -> tuple[int, dict]:
        ts = int(self.svc.clock.now().timestamp()) if timestamp is None else timestamp
        self._note_interaction(xml)
        params, body = signed_request(self.svc.crypto, xml, ts, self.mode)
        status, content = self.post("/wechat", params, body)
        return status, (open_reply(self.svc.crypto, content) if status == 200 else {"error": content})

    def text(self, openid: str, content: str) -> str:
        status, reply = self.send_xml(self.xml(openid, "text", Content=content))
        assert status == 200, reply
        return reply.get("Content", "")

    def event(self, openid: str, event: str, **fields) -> tuple[int, dict]:
        """An event (subscribe, unsubscribe, CLICK with EventKey=..., LOCATION ...)."""
        return self.send_xml(self.xml(openid, "event", msg_id=None, Event=event, **fields))

    def image(self, openid: str, data: bytes, content_type: str = "image/png", media_id: str | None = None) -> tuple[int, dict]:
        """A photo: the fake platform keeps the bytes under the media id (for cgi-bin/media/get), as
        WeChat does, then the image message is delivered."""
        media_id = media_id or f"img-{secrets.token_hex(8)}"
        self.svc.fake_store.put_media(media_id, data, content_type)
        return self.send_xml(self.xml(openid, "image", PicUrl=f"http://mmbiz.example/{media_id}.jpg", MediaId=media_id))


@pytest.fixture
def wechat(app):
    client = app.test_client()

    def post(path, params, body):
        r = client.post(path, query_string=params, data=body, content_type="text/xml")
        return r.status_code, r.data

    return WeChat(post, app.extensions["jiesu"])


class LiveServer:
    def __init__(self, config, clock):
        self._app = None
        self.server = make_server("127.0.0.1", 0, lambda env, start: self._app(env, start), threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.app = create_app(config, clock=clock, base_url=self.url)
        self._app = self.app.wsgi_app
        self.services = self.app.extensions["jiesu"]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.services.engine.dispose()


@pytest.fixture
def live(config, clock):
    server = LiveServer(config, clock)
    yield server
    server.stop()


@pytest.fixture
def live_wechat(live):
    import requests

    def post(path, params, body):
        r = requests.post(live.url + path, params=params, data=body, headers={"Content-Type": "text/xml"}, timeout=10)
        return r.status_code, r.content

    return WeChat(post, live.services)


def new_openid() -> str:
    return "o-test-" + secrets.token_hex(6)


_staff_ids = itertools.count(9_000_000_000)


@pytest.fixture
def staff(app):
    svc = app.extensions["jiesu"]
    client = app.test_client()

    def send(userid: str, content: str, msg_id: int | None = None) -> str:
        now = int(svc.clock.now().timestamp())
        xml = message_xml(svc.config.wecom.corp_id, userid, "text", now, msg_id or next(_staff_ids), Content=content, AgentID=1000002)
        params, body = wecom_request(svc.staff_crypto, xml, now, 1000002)
        r = client.post("/wecom", query_string=params, data=body)
        assert r.status_code == 200, r.data
        return open_reply(svc.staff_crypto, r.data)["Content"]
    return send


def report(wechat, text: str, openid: str | None = None) -> tuple[str, str]:
    openid = openid or new_openid()
    return openid, re.search(r"#(\d{8}-\d{4})", wechat.text(openid, text)).group(1)



def at_once(fn, items) -> list:
    """fn(item) for every item, each in its own thread, all released at the same moment."""
    import threading
    from concurrent.futures import ThreadPoolExecutor
    items = list(items)
    barrier = threading.Barrier(len(items))

    def go(item):
        barrier.wait()
        return fn(item)

    with ThreadPoolExecutor(len(items)) as pool:
        return list(pool.map(go, items))
