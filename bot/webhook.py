"""/wechat: the official account's callback (URL verification and messages, plain/compat/safe)."""
from __future__ import annotations

import logging
import re
import secrets

from flask import Blueprint, Response, current_app, request

from bot.wxcrypto import (CallbackError, check_timestamp, check_xml, coordinates, message_fields, sha1_signature,
                          signature_ok, text_reply, xml_fields)
from handlers.inbound import Inbound

log = logging.getLogger(__name__)
bp = Blueprint("wechat", __name__)

# WeChat's echostr is a random number; anything else (or nothing) is not WeChat verifying the URL
_ECHOSTR = re.compile(r"[0-9A-Za-z_\-+/=.]{1,128}")


def _services():
    return current_app.extensions["jiesu"]


@bp.errorhandler(CallbackError)
def _refused(e: CallbackError):
    log.warning("callback refused (%s) from %s", e.reason, request.remote_addr)
    return Response(e.reason, status=e.status, mimetype="text/plain")


def warn_about_config(cfg) -> None:
    """At start (create_app): say when this deployment accepts bodies nobody signed, or refuses
    every message because production forbids them."""
    if cfg.wechat.allow_unsigned_bodies:
        log.warning("wechat.allow_unsigned_bodies is set: plaintext /wechat bodies are accepted although nothing "
                    "signs them; anyone who sees one callback URL can replay it with any sender and text for "
                    "%ss. Use message_mode: safe.", cfg.wechat.max_clock_skew_seconds)
    elif cfg.wechat.message_mode == "plain" and not cfg.local_mode:
        log.warning("wechat.message_mode is plain in production: unsigned bodies are refused, so only encrypted "
                    "callbacks will be handled. Use message_mode: safe (or set wechat.allow_unsigned_bodies).")


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
    echostr = request.args.get("echostr", "")
    if not _ECHOSTR.fullmatch(echostr):
        raise CallbackError(400, "echostr missing or malformed")
    return Response(echostr, mimetype="text/plain")


def _open_body(svc, timestamp: str, nonce: str) -> tuple[str, bool]:
    """(message XML, encrypted?). The URL signature covers timestamp and nonce only, never the
    body: only the ciphertext (msg_signature) ties a body to WeChat. So compat and safe mode read
    the ciphertext alone (compat's plaintext copy beside it is ignored, whatever it says), and a
    plaintext body is taken only in plain mode, and in production only when the operator allows it."""
    cfg = svc.config.wechat
    body = request.get_data(cache=False)
    check_xml(body)
    outer = xml_fields(body)
    if "Encrypt" in outer:
        return svc.crypto.decrypt(outer["Encrypt"], request.args.get("msg_signature"), timestamp, nonce), True
    if cfg.message_mode != "plain":
        raise CallbackError(400, f"{cfg.message_mode} mode: the message must be encrypted")
    if not svc.config.local_mode and not cfg.allow_unsigned_bodies:
        raise CallbackError(403, "unsigned plaintext bodies are refused in production")
    try:
        return body.decode("utf-8"), False
    except UnicodeDecodeError:
        raise CallbackError(400, "body is not UTF-8") from None


@bp.post("/wechat")
def message():
    svc = _services()
    timestamp, nonce = _check_request()
    xml, encrypted = _open_body(svc, timestamp, nonce)
    fields = message_fields(xml)
    inbound = to_inbound(fields)
    text = svc.receive("mp", inbound, xml)
    if not text:
        return Response("", mimetype="application/xml")     # nothing to say (WeChat does not retry)
    reply = text_reply(fields["FromUserName"], fields["ToUserName"], int(svc.clock.now().timestamp()), text)
    if encrypted:
        reply = svc.crypto.encrypt(reply, secrets.token_hex(8), timestamp)
    return Response(reply, mimetype="application/xml")


def to_inbound(fields: dict[str, str]) -> Inbound:
    """Checked message fields (wxcrypto.message_fields) -> the handlers' Inbound (with the dedupe
    key WeChat's retries share)."""
    openid = fields["FromUserName"]
    mtype = fields["MsgType"].lower()
    if fields.get("MsgId"):
        key = f"msg:{fields['MsgId'].strip()}"
    else:   # events carry no MsgId: WeChat documents FromUserName + CreateTime as their identity
        key = f"evt:{openid}:{fields['CreateTime'].strip()}:{fields.get('Event', '')}"
    common = dict(openid=openid, dedupe_key=key[:128])
    if mtype == "text":
        return Inbound(type="text", content=fields.get("Content", ""), **common)
    if mtype == "voice":
        return Inbound(type="voice", content=fields.get("Recognition") or "", media_id=fields.get("MediaId") or None, **common)
    if mtype == "image":
        return Inbound(type="image", media_id=fields.get("MediaId") or None, pic_url=fields.get("PicUrl") or None, **common)
    if mtype == "location":
        where = coordinates(fields)
        if where is None:
            return Inbound(type="unknown", **common)
        return Inbound(type="location", latitude=where[0], longitude=where[1], label=fields.get("Label") or None, **common)
    if mtype == "event":
        return Inbound(type="event", event=fields["Event"].lower(), event_key=fields.get("EventKey"), **common)
    return Inbound(type=mtype, **common)
