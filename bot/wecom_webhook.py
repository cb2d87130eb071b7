"""/wecom: the WeCom staff app's callback, where committee staff and grid leaders type slash commands.
Always encrypted (WeCom has no plaintext mode); the receive id is the CorpID."""
from __future__ import annotations

import secrets

from flask import Blueprint, Response, current_app, request

from bot.webhook import _refused  # noqa: F401  (same error handling)
from bot.wxcrypto import CallbackError, check_timestamp, check_xml, message_fields, text_reply, xml_fields
from handlers.inbound import Inbound

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
    echostr = request.args.get("echostr", "")
    if not echostr:
        raise CallbackError(400, "echostr missing")
    return Response(_svc().staff_crypto.decrypt(echostr, sig, timestamp, nonce), mimetype="text/plain")


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
    f = message_fields(xml)       # root, envelope, numbers, lengths: 400 here rather than a 500 below
    userid, mtype = f["FromUserName"], f["MsgType"].lower()
    if mtype == "event":
        if f["Event"] != "template_card_event":
            return Response("", mimetype="text/plain")    # enter_agent etc.: nothing to say
        task, event_key = f.get("TaskId", "").strip(), f.get("EventKey", "").strip()
        if not task or not event_key:
            raise CallbackError(400, "<TaskId> and <EventKey> required for template_card_event")
        key = f"wecom:card:{userid}:{task}:{event_key}:{f['CreateTime'].strip()}"
        msg = Inbound(openid=userid, type="event", dedupe_key=key[:128], event="template_card_event",
                      event_key=event_key, task_id=task, response_code=f.get("ResponseCode", "").strip() or None)
    else:
        key = f"wecom:{f['MsgId'].strip()}" if f.get("MsgId") else f"wecom:{userid}:{f['CreateTime'].strip()}"
        msg = Inbound(openid=userid, type=mtype, dedupe_key=key[:128], content=f.get("Content", ""))
    text = svc.receive("wecom", msg, xml)
    if not text:                                          # a tap with nothing to say: the empty answer
        return Response("", mimetype="text/plain")
    # CreateTime from the service clock (the fake one in tests and the simulator)
    reply = text_reply(userid, svc.config.wecom.corp_id, int(svc.clock.now().timestamp()), text)
    return Response(svc.staff_crypto.encrypt(reply, secrets.token_hex(8), timestamp), mimetype="application/xml")
