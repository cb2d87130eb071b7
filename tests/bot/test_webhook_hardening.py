"""Issue 10, parts 2 and 9: what /wechat and /wecom refuse (4xx with a short reason, never a 500),
and that every reply is XML whatever the message held. One test per defect found."""
from __future__ import annotations

import re
import base64
import logging
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select
from wechatpy.crypto import PrpCrypto
from wechatpy.replies import TextReply

from bot.app import create_app
from bot.wire import open_reply, signed_request, wecom_request
from bot.wxcrypto import Crypto, cdata, sha1_signature, text_reply, xml_fields
from storage.models import InboundMessage, Ticket
from tests.conftest import ROOT, make_config, new_openid

ACCOUNT = "gh_0123456789ab"


def count(app, model=InboundMessage) -> int:
    with app.extensions["jiesu"].sessions() as s:
        return s.scalar(select(func.count()).select_from(model))


def el(tag: str, value: str) -> str:
    return f"<{tag}>{cdata(value)}</{tag}>"


def msg(root: str = "xml", extra: tuple[str, ...] = (), **fields) -> str:
    """A text message with the given fields changed (None: left out) and raw XML appended."""
    base = {"ToUserName": ACCOUNT, "FromUserName": "o-hardening-0001", "CreateTime": "1700000000",
            "MsgType": "text", "Content": "3号楼楼道堆满了杂物", "MsgId": "424242"}
    body = "".join(el(k, v) for k, v in {**base, **fields}.items() if v is not None) + "".join(extra)
    return f"<{root}>{body}</{root}>"


def now(app) -> int:
    return int(app.extensions["jiesu"].clock.now().timestamp())


def post_wechat(app, xml: str, mode: str = "safe"):
    params, body = signed_request(app.extensions["jiesu"].crypto, xml, now(app), mode)
    return app.test_client().post("/wechat", query_string=params, data=body, content_type="text/xml")


def post_wecom(app, xml: str):
    params, body = wecom_request(app.extensions["jiesu"].staff_crypto, xml, now(app), 1000002)
    return app.test_client().post("/wecom", query_string=params, data=body, content_type="text/xml")


def app_with(tmp_path, db_url, clock, **overrides):
    return create_app(make_config(tmp_path, db_url, **overrides), clock=clock)


# --- part 2: compat mode uses the ciphertext alone; plain bodies are refused in production ---------

def test_compat_body_without_encrypt_is_refused(tmp_path, sqlite_url, clock):
    """Before: a compat-mode callback whose body had no <Encrypt> was handled as plaintext, so a URL
    seen once could be replayed (within the clock skew) with any sender and text."""
    app = app_with(tmp_path, sqlite_url, clock, **{"wechat.message_mode": "compat"})
    r = post_wechat(app, msg(FromUserName="o-forged-sender"), mode="plain")    # URL signed, body not
    assert r.status_code == 400 and b"encrypted" in r.data
    assert count(app) == 0


def test_compat_reads_only_the_encrypted_fields(tmp_path, sqlite_url, clock):
    """The plaintext copy beside the ciphertext is signed by nothing: whatever it says, the message
    handled, stored and answered is the encrypted one."""
    app = app_with(tmp_path, sqlite_url, clock, **{"wechat.message_mode": "compat"})
    svc = app.extensions["jiesu"]
    real, forged = new_openid(), new_openid()
    params, body = signed_request(svc.crypto, msg(FromUserName=real, Content="5号楼门口垃圾堆成山", MsgId="1001"),
                                  now(app), "compat")
    enc = xml_fields(body)["Encrypt"]
    tampered = msg(FromUserName=forged, Content="12号楼着火了", MsgId="9999", extra=(el("Encrypt", enc),))
    r = app.test_client().post("/wechat", query_string=params, data=tampered.encode())
    assert r.status_code == 200
    reply = open_reply(svc.crypto, r.data)
    assert reply["ToUserName"] == real and reply["FromUserName"] == ACCOUNT
    with svc.sessions() as s:
        [row] = s.scalars(select(InboundMessage)).all()
        [ticket] = s.scalars(select(Ticket)).all()
    assert row.openid == real and row.dedupe_key == "msg:1001" and forged not in row.raw
    assert ticket.text == "5号楼门口垃圾堆成山" and ticket.emergency is None
    unsigned = {k: v for k, v in params.items() if k != "msg_signature"}     # the ciphertext must be signed too
    assert app.test_client().post("/wechat", query_string=unsigned, data=tampered.encode()).status_code == 403


def test_plain_mode_still_takes_an_encrypted_body(tmp_path, sqlite_url, clock):
    # the operator switched WeChat to safe mode before the config: the signed ciphertext is fine
    app = app_with(tmp_path, sqlite_url, clock, **{"wechat.message_mode": "plain"})
    r = post_wechat(app, msg(), mode="safe")
    assert r.status_code == 200 and b"<Encrypt>" in r.data


def production(tmp_path, db_url, **overrides):
    shipped = yaml.safe_load(Path(ROOT / "config.yaml").read_text(encoding="utf-8"))
    real = {"mode": "production", "wechat.app_id": "wx1234567890abcdef", "wechat.app_secret": "a" * 32,
            "wecom.corp_id": "ww1234567890abcdef", "wecom.app_secret": "b" * 32,
            "grids": [{**g, "robot_key": f"693a91f6-7aaa-4bc4-97a0-0ec2c1fa5aa{i}"} for i, g in enumerate(shipped["grids"])]}
    return make_config(tmp_path, db_url, **{**real, **overrides})


def test_production_refuses_plain_bodies_and_says_so_at_start(tmp_path, sqlite_url, clock, caplog):
    """Before: production accepted unsigned plain bodies whatever allow_unsigned_bodies said."""
    with caplog.at_level(logging.WARNING, logger="bot.webhook"):
        app = create_app(production(tmp_path, sqlite_url, **{"wechat.message_mode": "plain"}), clock=clock)
    assert any("plain in production" in r.getMessage() for r in caplog.records)
    r = post_wechat(app, msg(), mode="plain")
    assert r.status_code == 403 and b"unsigned" in r.data
    assert post_wechat(app, msg(MsgId="77"), mode="safe").status_code == 200   # the signed kind still works
    assert count(app) == 1


def test_production_takes_plain_bodies_only_when_allowed_and_warns(tmp_path, sqlite_url, clock, caplog):
    cfg = production(tmp_path, sqlite_url, **{"wechat.message_mode": "plain", "wechat.allow_unsigned_bodies": True})
    with caplog.at_level(logging.WARNING, logger="bot.webhook"):
        app = create_app(cfg, clock=clock)
    [warning] = [r for r in caplog.records if "allow_unsigned_bodies" in r.getMessage()]
    assert warning.levelno == logging.WARNING and "replay" in warning.getMessage()
    r = post_wechat(app, msg(), mode="plain")
    assert r.status_code == 200 and xml_fields(r.data)["ToUserName"] == "o-hardening-0001"


def test_local_plain_mode_allows_plain_bodies_without_warning(tmp_path, sqlite_url, clock, caplog):
    with caplog.at_level(logging.WARNING, logger="bot.webhook"):
        app = app_with(tmp_path, sqlite_url, clock, **{"wechat.message_mode": "plain"})
    assert not [r for r in caplog.records if r.name == "bot.webhook"]
    assert post_wechat(app, msg(), mode="plain").status_code == 200


# --- part 9: odd signed XML is a 400 naming the problem, never a 500 --------------------------------

# name: (message, words the 400's reason holds). Before, most were a 500, a failed handling on PostgreSQL
# (over-long values), or handled as if well-formed (bad numbers, spaces, nested Content).
ODD = {
    "empty MsgType": (msg(MsgType=""), "MsgType"),
    "repeated MsgType": (msg(extra=(el("MsgType", "image"),)), "repeated <MsgType>"),
    "root other than xml": (msg(root="message"), "root"),
    "empty Event": (msg(MsgType="event", Event="", Content=None, MsgId=None), "Event"),
    "event without Event": (msg(MsgType="event", Content=None, MsgId=None), "Event"),
    "MsgType over 32": (msg(MsgType="t" * 33), "MsgType"),
    "MsgType not a name": (msg(MsgType="text message"), "MsgType"),
    "FromUserName over 64": (msg(FromUserName="o" * 65), "FromUserName"),
    "FromUserName missing": (msg(FromUserName=None), "FromUserName"),
    "FromUserName with a space": (msg(FromUserName="o 1"), "FromUserName"),
    "ToUserName over 64": (msg(ToUserName="g" * 65), "ToUserName"),
    "Event over 64": (msg(MsgType="event", Event="E" * 65, Content=None, MsgId=None), "Event"),
    "EventKey over 1024": (msg(MsgType="event", Event="VIEW", EventKey="k" * 1025, Content=None, MsgId=None), "EventKey"),
    "MediaId over 128": (msg(MsgType="image", MediaId="m" * 129, PicUrl="http://x/p.jpg", Content=None), "MediaId"),
    "Label over 256": (msg(MsgType="location", Location_X="30.27", Location_Y="120.15", Label="L" * 257, Content=None),
                       "Label"),
    "CreateTime not a number": (msg(CreateTime="yesterday"), "CreateTime"),
    "CreateTime empty": (msg(CreateTime=""), "CreateTime"),
    "MsgId not a number": (msg(MsgId="12ab"), "MsgId"),
    "Content with elements": (msg(Content=None, extra=("<Content>a<b>c</b></Content>",)), "Content"),
}


@pytest.mark.parametrize("name", ODD)
def test_odd_signed_message_is_400_on_both_callbacks(app, name, caplog):
    """On SQLite and PostgreSQL (where an over-long value used to fail the insert). Both callbacks
    share the checks (wxcrypto.message_fields); nothing is stored; nothing logs an ERROR."""
    xml, reason = ODD[name]
    for r in (post_wechat(app, xml), post_wecom(app, xml)):
        assert r.status_code == 400, (r.status_code, r.data)
        assert reason in r.data.decode() and len(r.data) < 100
    assert count(app) == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_odd_plain_message_is_400_too(tmp_path, sqlite_url, clock):
    app = app_with(tmp_path, sqlite_url, clock, **{"wechat.message_mode": "plain"})
    for name, (xml, reason) in ODD.items():
        r = post_wechat(app, xml, mode="plain")
        assert r.status_code == 400 and reason in r.data.decode(), name
    r = app.test_client().post("/wechat", query_string=signed_request(app.extensions["jiesu"].crypto, "", now(app), "plain")[0],
                               data=msg().encode("utf-16"))
    assert r.status_code == 400       # WeChat sends UTF-8; a UTF-16 body was stored as mojibake before
    assert count(app) == 0


def test_values_at_the_limits_are_stored(app):
    """The limits are the columns' own: a value exactly that long goes through (PostgreSQL enforces it)."""
    openid = "o" * 64
    cases = [msg(FromUserName=openid, MsgType="t" * 32, MsgId="1", ToUserName="g" * 64),
             msg(FromUserName=openid, MsgType="image", MediaId="m" * 128, PicUrl="http://x/p.jpg", Content=None, MsgId="2"),
             msg(FromUserName=openid, MsgType="location", Location_X="30.27", Location_Y="120.15", Label="L" * 256,
                 Content=None, MsgId="3"),
             msg(FromUserName=openid, MsgType="event", Event="E" * 64, EventKey="k" * 1024, Content=None, MsgId=None)]
    for xml in cases:
        r = post_wechat(app, xml)
        assert r.status_code == 200, r.data
    with app.extensions["jiesu"].sessions() as s:
        rows = s.scalars(select(InboundMessage).order_by(InboundMessage.id)).all()
        assert [(x.openid, x.msg_type, x.status) for x in rows] == [
            (openid, "t" * 32, "handled"), (openid, "image", "handled"), (openid, "location", "handled"),
            (openid, "event", "handled")]


@pytest.mark.parametrize("x,y", [("nan", "120.1"), ("30.2", "inf"), ("91", "120"), ("30", "-181"), ("", "")])
def test_location_off_the_globe_gets_the_polite_reply(wechat, app, x, y):
    """float() takes nan and inf; before, they reached the ticket's coordinates."""
    status, r = wechat.send_xml(wechat.xml(new_openid(), "location", Location_X=x, Location_Y=y, Label="东门"))
    assert status == 200 and "文字" in r["Content"]
    with app.extensions["jiesu"].sessions() as s:
        assert s.scalar(select(InboundMessage.msg_type)) == "unknown"


def test_unknown_but_well_formed_type_gets_the_polite_reply(app):
    r = post_wechat(app, msg(MsgType="miniprogrampage", Content=None))
    assert r.status_code == 200 and "文字" in open_reply(app.extensions["jiesu"].crypto, r.data)["Content"]


# --- replies are XML whatever they hold --------------------------------------------------------------

def test_wechatpy_text_reply_breaks_on_cdata_end_ours_does_not():
    """Why the webhooks render their own replies: wechatpy puts text into CDATA unchanged."""
    with pytest.raises(ET.ParseError):
        ET.fromstring(TextReply(source="gh", target="o", content="东门]]>北门").render())
    odd = "东门]]>北门 <b>&amp; ]]]]> \x00\x0b\ufffe end"
    fields = xml_fields(text_reply("o]]>x", "gh]]>", 1700000000, odd))
    assert fields == {"MsgType": "text", "Content": "东门]]>北门 <b>&amp; ]]]]>  end", "FromUserName": "gh]]>",
                      "ToUserName": "o]]>x", "CreateTime": "1700000000"}


@pytest.mark.parametrize("mode", ["plain", "compat", "safe"])
def test_location_label_with_cdata_end_gives_a_valid_reply(tmp_path, sqlite_url, clock, mode):
    """Before: the label came back inside the reply's CDATA and ended it early (the reply was no XML)."""
    app = app_with(tmp_path, sqlite_url, clock, **{"wechat.message_mode": mode})
    label = "东门]]><x>&amp;<![CDATA["
    r = post_wechat(app, msg(MsgType="location", Location_X="30.27", Location_Y="120.15", Label=label, Content=None),
                    mode=mode)
    assert r.status_code == 200
    reply = open_reply(app.extensions["jiesu"].crypto, r.data)
    assert label in reply["Content"] and reply["ToUserName"] == "o-hardening-0001"


def test_sender_with_cdata_end_is_answered_in_valid_xml(app):
    r = post_wechat(app, msg(FromUserName="o]]>x", Content="进度"))
    assert r.status_code == 200
    assert open_reply(app.extensions["jiesu"].crypto, r.data)["ToUserName"] == "o]]>x"
    r = post_wecom(app, msg(FromUserName="u]]>x", ToUserName="wwlocal00000000001", Content="/help"))
    assert r.status_code == 200
    reply = open_reply(app.extensions["jiesu"].staff_crypto, r.data)
    assert reply["ToUserName"] == "u]]>x" and reply["FromUserName"] == "wwlocal00000000001"


def test_wecom_event_gets_an_empty_answer(app):
    r = post_wecom(app, msg(MsgType="event", Event="enter_agent", Content=None, MsgId=None))
    assert r.status_code == 200 and r.data == b""


# --- URL verification, signatures and ciphertexts ----------------------------------------------------

def wechat_get(app, **extra):
    svc = app.extensions["jiesu"]
    ts, nonce = str(now(app)), "12345"
    return app.test_client().get("/wechat", query_string={
        "signature": sha1_signature(svc.config.wechat.token, ts, nonce), "timestamp": ts, "nonce": nonce, **extra})


def test_wechat_verification_needs_a_plausible_echostr(app):
    """Before: a signed GET without echostr answered 200 with an empty body."""
    assert wechat_get(app, echostr="5927782489442352469").data == b"5927782489442352469"
    assert wechat_get(app).status_code == 400
    assert wechat_get(app, echostr="").status_code == 400
    assert wechat_get(app, echostr="<script>alert(1)</script>").status_code == 400
    assert wechat_get(app, echostr="9" * 129).status_code == 400


def test_timestamp_must_be_ascii_digits(app):
    svc = app.extensions["jiesu"]
    for ts in (f" {now(app)}", "١٢٣", "1_700_000_000", "-1", "9" * 5000):
        sig = sha1_signature(svc.config.wechat.token, ts, "n")
        r = app.test_client().get("/wechat", query_string={"signature": sig, "timestamp": ts, "nonce": "n", "echostr": "1"})
        assert r.status_code == 400, ts


def signed_ciphertext(app, crypto: Crypto, encrypt: str) -> dict:
    ts, nonce = str(now(app)), "n0nce"
    return {"timestamp": ts, "nonce": nonce, "msg_signature": sha1_signature(crypto.token, ts, nonce, encrypt),
            "signature": sha1_signature(crypto.token, ts, nonce)}


def bad_ciphertexts(crypto: Crypto) -> dict[str, tuple[str, int]]:
    """name: (Encrypt, expected status). Each is signed correctly: only the payload is wrong."""
    other = Crypto(crypto.token, base64.b64encode(crypto.key).decode().rstrip("="), "wx_someone_else")
    return {
        "not base64": ("%%%not*base64%%%", 400),
        "base64 with junk inside": (crypto.encrypt("<xml/>", "n", "1").split("CDATA[")[1].split("]")[0][:20] + "!!", 400),
        "not a whole AES block": (base64.b64encode(b"x" * 20).decode(), 400),
        "random blocks": (base64.b64encode(bytes(range(64))).decode(), 400),
        "empty": ("", 400),
        "plaintext not UTF-8": (PrpCrypto(crypto.key).encrypt(b"\xff\xfe<xml>\x80</xml>", crypto.app_id).decode(), 400),
        "for another app id": (xml_fields(other.encrypt(msg(), "n", "1"))["Encrypt"], 403),
    }


def test_bad_ciphertexts_are_4xx_on_wechat(app):
    crypto = app.extensions["jiesu"].crypto
    for name, (encrypt, status) in bad_ciphertexts(crypto).items():
        body = f"<xml><ToUserName>{cdata(ACCOUNT)}</ToUserName><Encrypt>{cdata(encrypt)}</Encrypt></xml>"
        r = app.test_client().post("/wechat", query_string=signed_ciphertext(app, crypto, encrypt), data=body)
        assert r.status_code == status, (name, r.data)
    assert count(app) == 0


def test_bad_ciphertexts_are_4xx_on_wecom(app):
    crypto = app.extensions["jiesu"].staff_crypto
    for name, (encrypt, status) in bad_ciphertexts(crypto).items():
        params = signed_ciphertext(app, crypto, encrypt)
        body = f"<xml><ToUserName>{cdata('wwlocal00000000001')}</ToUserName><Encrypt>{cdata(encrypt)}</Encrypt></xml>"
        r = app.test_client().post("/wecom", query_string=params, data=body)
        assert r.status_code == status, ("POST", name, r.data)
        r = app.test_client().get("/wecom", query_string={**params, "echostr": encrypt})
        assert r.status_code == (400 if not encrypt else status), ("GET", name, r.data)
    assert count(app) == 0


def test_wecom_verification_refusals(app):
    crypto = app.extensions["jiesu"].staff_crypto
    params, body = wecom_request(crypto, "8223459846", now(app), 1)
    echostr = xml_fields(body)["Encrypt"]
    client = app.test_client()
    assert client.get("/wecom", query_string={**params, "echostr": echostr}).data == b"8223459846"
    assert client.get("/wecom", query_string=params).status_code == 400                   # no echostr
    assert client.get("/wecom", query_string={**params, "echostr": echostr[:-4] + "AAA="}).status_code == 403
    assert client.get("/wecom", query_string={**params, "msg_signature": "0" * 40, "echostr": echostr}).status_code == 403
    assert client.get("/wecom", query_string={**params, "timestamp": "soon", "echostr": echostr}).status_code == 400


def test_a_resident_typing_xml_declarations_inside_cdata_is_heard_not_refused(wechat):
    """"<!--" or "<!DOCTYPE" typed by a resident is text inside CDATA: refusing it would lose the
    message (WeChat retries, then shows the resident "service unavailable")."""
    reply = wechat.text(new_openid(), "3号楼楼道堆满杂物<!-- 还有 <!DOCTYPE x> 字样的纸箱")
    assert re.search(r"#\d{8}-\d{4}", reply)
