"""/wechat: the official account's callback (URL verification and messages, plain/compat/safe)."""
from __future__ import annotations

import logging
import secrets

from flask import Blueprint, Response, current_app, request
from wechatpy import parse_message
from wechatpy.replies import EmptyReply, TextReply

from bot.wxcrypto import CallbackError, check_timestamp, check_xml, sha1_signature, signature_ok, xml_fields
from handlers.inbound import Inbound
from handlers.receive import receive

log = logging.getLogger(__name__)
bp = Blueprint("wechat", __name__)


def _services():
    return current_app.extensions["jiesu"]


@bp.errorhandler(CallbackError)
def _refused(e: CallbackError):
    log.warning("callback refused (%s) from %s", e.reason, request.remote_addr)
    return Response(e.reason, status=e.status, mimetype="text/plain")


def _check_request() -> tuple[str, str]:
    svc = _services()
    cfg = svc.config.wechat
    args = request.args
    timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
    check_timestamp(timestamp, int(svc.clock.now().timestamp()), cfg.max_clock_skew_seconds)
    if not signature_ok(sha1_signature(cfg.token, timestamp, nonce), args.get("signature")):
        raise CallbackError(403, "bad signature")
    return timestamp, nonce


@bp.get("/wechat")
def verify():
    """URL verification: echo echostr when the signature is ours."""
    _check_request()
    return Response(request.args.get("echostr", ""), mimetype="text/plain")


@bp.post("/wechat")
def message():
    svc = _services()
    timestamp, nonce = _check_request()
    body = request.get_data(cache=False)
    check_xml(body)
    fields = xml_fields(body)
    encrypted = "Encrypt" in fields
    if encrypted:
        xml = svc.crypto.decrypt(fields["Encrypt"], request.args.get("msg_signature"), timestamp, nonce)
        check_xml(xml.encode("utf-8"))
        fields = xml_fields(xml)
    elif svc.config.wechat.message_mode == "safe":
        raise CallbackError(400, "safe mode: the message must be encrypted")
    else:
        xml = body.decode("utf-8", errors="replace")
    if "FromUserName" not in fields or "MsgType" not in fields:
        raise CallbackError(400, "not a WeChat message")

    msg = parse_message(xml)
    inbound = to_inbound(msg, fields)
    text, _first = receive(svc.sessions, svc.intake, inbound, xml)
    if _first:
        svc.wake_outbox()
    reply = TextReply(message=msg, content=text).render() if text else EmptyReply().render()
    if encrypted and text:
        reply = svc.crypto.encrypt(reply, secrets.token_hex(8), timestamp)
    return Response(reply, mimetype="application/xml")


def to_inbound(msg, fields: dict[str, str]) -> Inbound:
    """wechatpy message -> the handlers' Inbound (with the dedupe key WeChat's retries share)."""
    openid = fields.get("FromUserName", "")
    mtype = (fields.get("MsgType") or "unknown").lower()
    if fields.get("MsgId"):
        key = f"msg:{fields['MsgId']}"
    else:   # events carry no MsgId: WeChat documents FromUserName + CreateTime as their identity
        key = f"evt:{openid}:{fields.get('CreateTime', '')}:{fields.get('Event', '')}"
    common = dict(openid=openid, dedupe_key=key[:128])
    if mtype == "text":
        return Inbound(type="text", content=msg.content or "", **common)
    if mtype == "voice":
        return Inbound(type="voice", content=fields.get("Recognition") or "", media_id=fields.get("MediaId"), **common)
    if mtype == "image":
        return Inbound(type="image", media_id=fields.get("MediaId"), pic_url=fields.get("PicUrl"), **common)
    if mtype == "location":
        try:
            lat, lng = float(fields.get("Location_X", "")), float(fields.get("Location_Y", ""))
        except ValueError:
            return Inbound(type="unknown", **common)
        return Inbound(type="location", latitude=lat, longitude=lng, label=fields.get("Label") or None, **common)
    if mtype == "event":
        return Inbound(type="event", event=(fields.get("Event") or "").lower(), event_key=fields.get("EventKey"), **common)
    return Inbound(type=mtype, **common)
