"""/wecom: the WeCom staff app's callback, where committee staff and grid leaders type slash commands.
Always encrypted (WeCom has no plaintext mode); the receive id is the CorpID."""
from __future__ import annotations

import secrets
import time

from flask import Blueprint, Response, current_app, request

from bot.webhook import _refused  # noqa: F401  (same error handling)
from bot.wxcrypto import CallbackError, check_timestamp, check_xml, xml_fields
from handlers.inbound import Inbound
from handlers.receive import receive

bp = Blueprint("wecom", __name__)
bp.register_error_handler(CallbackError, _refused)


def _svc():
    return current_app.extensions["jiesu"]


def _params() -> tuple[str, str, str | None]:
    svc = _svc()
    a = request.args
    check_timestamp(a.get("timestamp"), int(svc.clock.now().timestamp()), svc.config.wechat.max_clock_skew_seconds)
    return a.get("timestamp", ""), a.get("nonce", ""), a.get("msg_signature")


@bp.get("/wecom")
def verify():
    timestamp, nonce, sig = _params()
    return Response(_svc().staff_crypto.decrypt(request.args.get("echostr", ""), sig, timestamp, nonce), mimetype="text/plain")


@bp.post("/wecom")
def message():
    svc = _svc()
    timestamp, nonce, sig = _params()
    body = request.get_data(cache=False)
    check_xml(body)
    outer = xml_fields(body)
    if "Encrypt" not in outer:
        raise CallbackError(400, "WeCom callbacks are always encrypted")
    xml = svc.staff_crypto.decrypt(outer["Encrypt"], sig, timestamp, nonce)
    check_xml(xml.encode("utf-8"))
    f = xml_fields(xml)
    userid, mtype = f.get("FromUserName", ""), (f.get("MsgType") or "").lower()
    if not userid or not mtype:
        raise CallbackError(400, "not a WeCom message")
    if mtype == "event":
        return Response("", mimetype="text/plain")        # enter_agent etc.: nothing to say
    key = f"wecom:{f['MsgId']}" if f.get("MsgId") else f"wecom:{userid}:{f.get('CreateTime', '')}"
    msg = Inbound(openid=userid, type=mtype, dedupe_key=key[:128], content=f.get("Content", ""))
    text, first = receive(svc.sessions, svc.staff_desk, msg, xml)
    if first:
        svc.wake_outbox()
    reply = (f"<xml><ToUserName><![CDATA[{userid}]]></ToUserName><FromUserName><![CDATA[{svc.config.wecom.corp_id}]]></FromUserName>"
             f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
             f"<Content><![CDATA[{text.replace(']]>', ']]]]><![CDATA[>')}]]></Content></xml>")
    return Response(svc.staff_crypto.encrypt(reply, secrets.token_hex(8), timestamp), mimetype="application/xml")
