"""Fuzzing /wechat and /wecom through the Flask test client (issue 10): generated XML trees (odd roots,
repeated, missing and huge fields, any unicode, "]]>", control characters, surrogates raw and escaped,
entities, DTDs), signed and unsigned, in plain, compat and safe form, with random query strings,
methods and content types. Whatever arrives: no 500 and nothing logged at ERROR; every answer is 2xx
or 4xx; every 200 answer to a message is XML that opens (when encrypted) to a text reply addressed to
the sender. Derandomized, so a failure here fails the same way in CI."""
from __future__ import annotations

import hashlib
import logging
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wechatpy.crypto import PrpCrypto

from bot.app import create_app
from bot.wire import message_xml, signed_request
from tests.conftest import make_config

# requests per test; together at least 10,000 (asserted in each test and here)
QUOTA = {"plain": 2600, "compat": 2600, "safe": 2600, "wecom": 2600}
assert sum(QUOTA.values()) >= 10_000
SETTINGS = dict(deadline=None, database=None, derandomize=True, print_blob=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])

# This checks what the webhooks do with their input, not timing: the longest reply budget the config
# allows keeps a slow commit on a loaded machine off the outage path (which rightly logs an ERROR).
TIMING = {"inbound.reply_budget_seconds": 4.9}
ACCOUNT = "gh_fuzz0000001"
CORP = "wwlocal00000000001"
STAFF = ["wangfang", "liqiang", "chenjing", "zhaomin", "wuye01", "jiedao01"]
RESIDENTS = ["o-fuzz-a", "o-fuzz-b", "o-fuzz-c", "oFuzzD_-9", "o]]>e"]


def sha1(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


# --- values -----------------------------------------------------------------------------------

NASTY = ["]]>", "]]]]>", "<![CDATA[", "]]", "&amp;", "&lt;b&gt;", "&#x1F600;", "&#20320;", "&#0;", "&#1;",
         "&#xD800;", "&#xDFFF;", "&#xFFFE;", "&bogus;", "&lol;", "\x00", "\x01", "\x0b", "\x1f", "\x7f", "\ud800",
         "\udfff", "\ufffe", "\uffff", "\u202e", "\u200b", "\U0001F600", "\r\n", "\r", "\t", "<", ">", "&", "'", '"',
         "<b>", "</xml>", "<xml>", "<!DOCTYPE xml>", "<!ENTITY a 'b'>", "<!--", "-->", "<?pi x?>", "号楼", "3号楼2单元",
         "15号楼", "菜场", "东门", "着火了", "救命", "有人晕倒", "垃圾", "飞线充电", "进度", "人工", "谢谢", "1", "2", "5",
         "没解决", "取消", "催办", "#20261121-0001", "0002", "13812345678", "nan", "inf", "-0", "1e309", " ", ""]
# what residents and staff say, so that generated messages also open, join, rate and close tickets
WORDS = ["3号楼", "15号楼2单元", "28号楼302", "东门", "菜场", "地库", "楼道", "垃圾", "好几天没人清了", "飞线充电", "电梯坏了",
         "着火了", "冒黑烟", "有人晕倒了", "漏水", "路灯不亮", "噪音扰民", "井盖丢了", "进度", "人工", "谢谢", "没解决",
         "取消", "催办", "5分", "1分", "1", "2", "3", "4", "#20261121-0001", "20261121-0002", "0003", "我电话13812345678",
         "，", "。", "！", " ", "\n", "已处理", "热线 ", "来访 ", "巡查 ", "wuye ", "物业", "城管", "居委会", "已联系电工"]
phrase = st.lists(st.sampled_from(WORDS), min_size=1, max_size=6).map("".join)
piece = st.one_of(st.text(max_size=12), st.sampled_from(NASTY))
text = st.lists(piece, max_size=6).map("".join)
# query strings cannot carry a lone surrogate at all (no client could send one)
query_text = st.lists(st.one_of(st.text(max_size=12), st.sampled_from([n for n in NASTY if not 0xD800 <= ord(n[:1] or " ") < 0xE000])),
                      max_size=6).map("".join)
huge = st.builds(lambda s, n: (s or "x") * n, st.sampled_from(["a", "号", "]]>", "&amp;", "\U0001F600"]),
                 st.integers(100, 20_000))
value = st.one_of(text, text, text, text, text, text, text, text, text, huge)
coordinate = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(str), st.floats(-200, 200).map(str), text)

FIELDS = ["ToUserName", "FromUserName", "CreateTime", "MsgType", "MsgId", "Content", "Event", "EventKey", "MediaId",
          "PicUrl", "Label", "Location_X", "Location_Y", "Scale", "Recognition", "Format", "AgentID", "Encrypt"]
ASCII = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
digits = st.text(alphabet="0123456789", min_size=1, max_size=20)
tag = st.one_of(st.sampled_from(FIELDS), st.sampled_from(FIELDS), st.text(alphabet=ASCII[:53], min_size=1, max_size=10),
                st.sampled_from(["a:b", "xmlns", "1bad", "", "x y", "名字"]))
MSG_TYPES = ["text", "image", "voice", "video", "shortvideo", "location", "link", "event", "miniprogrampage", "TEXT",
             "", "file"]
EVENTS = ["subscribe", "unsubscribe", "SCAN", "LOCATION", "CLICK", "VIEW", "subscribe_scan", "enter_agent",
          "TEMPLATESENDJOBFINISH", ""]


def cdata(s: str) -> str:
    return "<![CDATA[" + s.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def escaped(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


STYLES = {"cdata": cdata, "escaped": escaped, "raw": lambda s: s, "cdata-unsplit": lambda s: f"<![CDATA[{s}]]>"}
style = st.sampled_from(["cdata"] * 6 + ["escaped"] * 2 + ["raw", "cdata-unsplit"])


@st.composite
def element(draw, depth: int = 0) -> str:
    name = draw(tag)
    if depth < 2 and draw(st.integers(0, 9)) == 0:          # nested children, one or two levels
        inner = "".join(draw(st.lists(element(depth + 1), max_size=3)))
    else:
        inner = STYLES[draw(style)](draw(value))
    attrs = draw(st.sampled_from(["", "", "", ' a="1"', " a='&amp;'", ' xmlns="urn:x"', " a=<"]))
    return f"<{name}{attrs}>{inner}</{name}>"


PROLOGUES = ["", "", "", "", '<?xml version="1.0" encoding="UTF-8"?>', '<?xml version="1.0" encoding="UTF-16"?>',
             "\ufeff", "<!-- hi -->", "<?pi data?>", "<!DOCTYPE xml>",
             '<!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>',
             '<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>', "  \n", "garbage"]


@st.composite
def tree(draw) -> str:
    """Any XML-ish document: random root, random (repeated, missing, nested, huge) children."""
    root = draw(st.one_of(st.just("xml"), st.just("xml"), st.just("xml"), tag))
    children = draw(st.lists(element(), max_size=8))
    tail = draw(st.sampled_from(["", "", "", "", "trailing", "<xml/>", "<!-- c -->", "</xml>"]))
    close = "" if draw(st.integers(0, 19)) == 0 else f"</{root}>"
    return f"{draw(st.sampled_from(PROLOGUES))}<{root}>{''.join(children)}{close}{tail}"


# Derandomized draws repeat small numbers, and a repeated MsgId (or an event's CreateTime) is WeChat
# retrying: answered from the stored reply, not handled. So a message usually carries FRESH, which
# the harness replaces with a number new to each document (its forms are then retries of each other).
FRESH = "@fresh@"
media_id = st.one_of(st.text(alphabet=ASCII, max_size=128), st.text(max_size=130))
ids = st.one_of(st.just(FRESH), st.just(FRESH), st.just(FRESH), st.integers(0, 2**64 - 1).map(str))


@st.composite
def message(draw, senders: list[str], to_user: str, wecom: bool) -> str:
    """A message WeChat (or WeCom) could send, with random content: it reaches the handlers."""
    mtype = draw(st.sampled_from(["text"] * (8 if wecom else 3) + MSG_TYPES[:9]))   # text reaches the most code
    known = st.sampled_from(senders)
    sender = draw(st.one_of(known, known, known, st.text(alphabet=ASCII, min_size=1, max_size=64)))
    fields = {"ToUserName": to_user, "FromUserName": sender, "CreateTime": draw(ids),
              "MsgType": mtype}
    say = st.one_of(phrase, phrase, text)
    if wecom:
        command = st.builds(lambda c, code, a: f"/{c} {code} {a}", st.sampled_from(COMMANDS), st.sampled_from(CODES), say)
        say = st.one_of(command, command, command, say)
    if mtype == "text":
        fields["Content"] = draw(say)
    elif mtype == "voice":
        fields.update(MediaId=draw(media_id), Format="amr", Recognition=draw(say))
    elif mtype in ("image", "video", "shortvideo"):
        fields.update(MediaId=draw(media_id), PicUrl=draw(text))
    elif mtype == "location":
        fields.update(Location_X=draw(coordinate), Location_Y=draw(coordinate), Scale="15", Label=draw(say))
    elif mtype == "event":
        fields.update(Event=draw(st.sampled_from(EVENTS[:-1])), EventKey=draw(st.text(max_size=128)))
    if mtype != "event" or draw(st.booleans()):
        fields["MsgId"] = draw(ids)
    if wecom:
        fields["AgentID"] = "1000002"
    body = "".join(f"<{k}>{cdata(v)}</{k}>" for k, v in fields.items())
    return f"<xml>{body}</xml>"


CODES = ["", "20261121-0001", "#20261121-0002", "3", "0004", "20261121-0005", "20261121-9999", "x"]
COMMANDS = ["list", "show", "close", "note", "assign", "help", "new", "reopen", "merge", "refer", "emergency",
            "回访", "办结", "吹哨", "", "nosuch"]


@dataclass
class Request:
    """What was drawn; made into an HTTP request by Harness.send (encryption draws on `random`, which
    must not happen inside a strategy)."""
    method: str
    form: str                    # how it is signed (or not)
    doc: str                     # the message, as XML text (or not)
    forged: str | None           # compat: the plaintext copy beside the ciphertext
    bad: str | None              # the replaced signature, stale offset or junk ciphertext
    junk: dict
    echostr: str | None
    content_type: str
    first: bool = False          # the first of its document's forms: it gets a fresh number


METHODS = st.sampled_from(["POST"] * 16 + ["GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
CONTENT_TYPES = st.sampled_from(["text/xml", "text/xml", "application/xml", "", "application/x-www-form-urlencoded",
                                 "multipart/form-data; boundary=x", "application/json", "text/xml; charset=utf-16",
                                 "text/plain; charset=gbk"])
junk_query = st.dictionaries(st.sampled_from(["signature", "timestamp", "nonce", "msg_signature", "echostr",
                                              "encrypt_type", "openid", "x"]), st.text(max_size=40), max_size=6)


def encode(s: str) -> bytes:
    return s.encode("utf-8", "surrogatepass")       # a raw surrogate becomes invalid UTF-8, as a fuzzer wants


# --- the harness ------------------------------------------------------------------------------

class ErrorRecords(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def errors():
    """ERROR records from any logger (Flask logs an unhandled exception there before its 500), and
    exceptions that escape a thread (handling may run off the request thread)."""
    handler = ErrorRecords()
    root = logging.getLogger()
    root.addHandler(handler)
    before = threading.excepthook
    threading.excepthook = lambda a: handler.records.append(logging.makeLogRecord(
        {"levelno": logging.ERROR, "msg": f"unhandled in {a.thread}: {a.exc_type.__name__}: {a.exc_value}"}))
    yield handler.records
    threading.excepthook = before
    root.removeHandler(handler)


WECHAT_FORMS = ["plain", "compat", "safe", "safe", "unsigned", "bad-signature", "bad-msg-signature", "stale", "junk-query"]
WECOM_FORMS = ["signed", "signed", "signed", "plain-body", "unsigned", "bad-msg-signature", "stale", "junk-query",
               "not-base64"]
BAD_SIGNATURES = ["", "0" * 40, "last-digit", "G" * 40]


class Harness:
    def __init__(self, app, wecom: bool):
        self.client = app.test_client()
        self.svc = app.extensions["jiesu"]
        self.wecom = wecom
        self.crypto = self.svc.staff_crypto if wecom else self.svc.crypto
        self.path = "/wecom" if wecom else "/wechat"
        self.sent = 0
        self.fresh = 1_000_000_000
        self.statuses: dict[int, int] = {}

    def _sign(self, *parts: str, bad: str | None = None) -> str:
        good = sha1(self.crypto.token, *parts)
        if bad is None:
            return good
        return good[:-1] + ("0" if good[-1] != "0" else "1") if bad == "last-digit" else bad

    def build(self, req: Request) -> tuple[dict, bytes, bytes | None]:
        """(query, body, the plaintext a 200 answers to: None when nothing was properly signed)."""
        ts, nonce = str(int(self.svc.clock.now().timestamp())), "n0nce"
        if req.first:
            self.fresh += 1
        plaintext = encode(req.doc.replace(FRESH, str(self.fresh)))
        if req.form == "stale":
            ts = str(int(ts) - int(req.bad))
        wrapped = self.wecom or req.form in ("compat", "safe", "bad-msg-signature", "stale", "junk-query")
        enc = req.bad if req.form == "not-base64" else (
            PrpCrypto(self.crypto.key).encrypt(plaintext, self.crypto.app_id).decode() if wrapped else None)
        if self.wecom:
            query = {"msg_signature": self._sign(ts, nonce, enc, bad=req.bad if req.form == "bad-msg-signature" else None),
                     "timestamp": ts, "nonce": nonce}
            body = encode(f"<xml><ToUserName>{cdata(CORP)}</ToUserName><Encrypt>{cdata(enc)}</Encrypt>"
                          f"<AgentID>1000002</AgentID></xml>")
            if req.form == "plain-body":
                body = plaintext
            if req.form == "unsigned":
                del query["msg_signature"]
            signed = req.form in ("signed", "stale", "junk-query")
        else:
            query = {"signature": self._sign(ts, nonce, bad=req.bad if req.form == "bad-signature" else None),
                     "timestamp": ts, "nonce": nonce}
            body = plaintext
            if wrapped:
                query.update(encrypt_type="aes",
                             msg_signature=self._sign(ts, nonce, enc, bad=req.bad if req.form == "bad-msg-signature" else None))
                body = encode(f"<xml><ToUserName>{cdata(ACCOUNT)}</ToUserName><Encrypt>{cdata(enc)}</Encrypt></xml>")
            if req.form == "compat":      # the plaintext copy beside the ciphertext: often a forged one
                head, _, _ = req.forged.rpartition("</")
                body = encode(f"{head or req.forged}<Encrypt>{cdata(enc)}</Encrypt></xml>")
            if req.form == "unsigned":
                query = {"timestamp": ts, "nonce": nonce}
            signed = req.form in ("plain", "compat", "safe", "stale", "junk-query")
        if req.form == "junk-query":
            query = {**query, **req.junk}
        if req.echostr is not None:
            query["echostr"] = enc if self.wecom else req.echostr
        return query, body, plaintext if signed else None

    def send(self, req: Request) -> None:
        query, body, plaintext = self.build(req)
        r = self.client.open(self.path, method=req.method, query_string=query, data=body,
                             content_type=req.content_type or None)
        self.sent += 1
        self.statuses[r.status_code] = self.statuses.get(r.status_code, 0) + 1
        assert 200 <= r.status_code < 300 or 400 <= r.status_code < 500, (r.status_code, r.data[:200], req)
        if req.method == "POST" and r.status_code == 200 and r.data:
            self.check_reply(r.data, req, plaintext)

    def check_reply(self, data: bytes, req: Request, plaintext: bytes | None) -> None:
        """A 200 with a body: XML; if encrypted, signed by us and opening to XML; a text reply to the sender."""
        assert plaintext is not None, ("a message nobody signed was answered", req)
        outer = ET.fromstring(data)
        fields = {c.tag: c.text or "" for c in outer}
        if "Encrypt" in fields:
            assert fields["MsgSignature"] == sha1(self.crypto.token, fields["TimeStamp"], fields["Nonce"], fields["Encrypt"])
            reply = ET.fromstring(PrpCrypto(self.crypto.key).decrypt(fields["Encrypt"], self.crypto.app_id))
        else:
            assert not self.wecom and req.form == "plain", ("a reply in plaintext to an encrypted message", req)
            reply = outer
        got = {c.tag: c.text or "" for c in reply}
        sent = {c.tag: c.text or "" for c in ET.fromstring(plaintext.decode("utf-8"))}
        assert reply.tag == "xml" and got["MsgType"] == "text", got
        assert got["ToUserName"] == sent["FromUserName"], (got, sent)
        assert got["FromUserName"] == (CORP if self.wecom else sent["ToUserName"]), (got, sent)


def draw_requests(draw, forms: list[str], docs) -> list[Request]:
    """One document sent FORMS_PER_DOC ways (drawing a document costs more than sending it)."""
    doc = draw(docs)
    out = []
    for form in draw(st.lists(st.sampled_from(forms), min_size=FORMS_PER_DOC, max_size=FORMS_PER_DOC)):
        bad = {"bad-signature": st.sampled_from(BAD_SIGNATURES), "bad-msg-signature": st.sampled_from(BAD_SIGNATURES),
               "stale": st.sampled_from(["301", "10000", "-400"]), "not-base64": query_text.filter(bool)}.get(form)
        method = draw(METHODS)
        out.append(Request(
            first=not out, method=method, form=form, doc=doc,
            forged=draw(st.one_of(st.just(doc), tree(), docs)) if form == "compat" else None,
            bad=draw(bad) if bad is not None else None, junk=draw(junk_query) if form == "junk-query" else {},
            echostr=draw(st.one_of(digits, query_text)) if method == "GET" else None, content_type=draw(CONTENT_TYPES)))
    return out


@st.composite
def wechat_requests(draw) -> list[Request]:
    return draw_requests(draw, WECHAT_FORMS, st.one_of(message(RESIDENTS, ACCOUNT, wecom=False),
                                                       message(RESIDENTS, ACCOUNT, wecom=False), tree()))


@st.composite
def wecom_requests(draw) -> list[Request]:
    return draw_requests(draw, WECOM_FORMS, st.one_of(message(STAFF + ["nobody", "u]]>x"], CORP, wecom=True),
                                                      message(STAFF, CORP, wecom=True), tree()))


FORMS_PER_DOC = 3
DOCS_PER_EXAMPLE = 2


def run(h: Harness, strategy, quota: int, errors: list) -> None:
    per_example = FORMS_PER_DOC * DOCS_PER_EXAMPLE

    @settings(max_examples=quota // per_example + 1, **SETTINGS)
    @given(st.lists(strategy(), min_size=DOCS_PER_EXAMPLE, max_size=DOCS_PER_EXAMPLE), st.integers(0, 19),
           st.integers(1, 90))
    def batch(docs, tick, minutes):
        for requests in docs:
            for req in requests:
                h.send(req)
        if tick == 0:
            h.svc.clock.advance(minutes=minutes)      # menus and photo windows expire as the run goes on
        assert not errors, [r.getMessage() for r in errors]

    batch()
    assert h.sent >= quota
    assert not errors, [r.getMessage() for r in errors]
    assert 500 not in h.statuses


@pytest.mark.parametrize("mode", ["plain", "compat", "safe"])
def test_fuzz_wechat(tmp_path, sqlite_url, clock, errors, mode):
    # the app is built once for this test function (not per example): the database fills as it goes
    app = create_app(make_config(tmp_path, sqlite_url, **{"wechat.message_mode": mode}, **TIMING), clock=clock)
    h = Harness(app, wecom=False)
    run(h, wechat_requests, QUOTA[mode], errors)
    assert h.statuses.get(200, 0) > QUOTA[mode] // 10      # the generated messages do get through
    app.extensions["jiesu"].engine.dispose()


def test_fuzz_wecom(tmp_path, sqlite_url, clock, errors):
    app = create_app(make_config(tmp_path, sqlite_url, **TIMING), clock=clock)
    svc = app.extensions["jiesu"]
    for i, report in enumerate(["3号楼楼道堆满杂物", "15号楼电梯坏了", "28号楼漏水", "东门路灯不亮", "5号楼着火了"]):
        # tickets 20261121-0001..0005 for the generated commands to act on
        xml = message_xml(ACCOUNT, f"o-seed-{i}", "text", int(clock.now().timestamp()), i + 1, Content=report)
        params, body = signed_request(svc.crypto, xml, int(clock.now().timestamp()), "safe")
        assert app.test_client().post("/wechat", query_string=params, data=body).status_code == 200
    h = Harness(app, wecom=True)
    run(h, wecom_requests, QUOTA["wecom"], errors)
    assert h.statuses.get(200, 0) > QUOTA["wecom"] // 10
    app.extensions["jiesu"].engine.dispose()
