"""Checking and opening WeChat callbacks (pure: no Flask). Signatures are compared in constant time
(wechatpy's own check uses ==); DTDs and entities are refused before any XML parser sees the body."""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import re
import xml.etree.ElementTree as ET

import defusedxml.ElementTree as safe_xml
from defusedxml import DefusedXmlException

from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException


class CallbackError(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason




def sha1_signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def signature_ok(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), given.lower().encode())


def check_timestamp(timestamp: str | None, now: int, max_skew: int) -> int:
    # ASCII digits only: int() would also take " 12", "1_2" and other scripts' digits
    if not timestamp or not re.fullmatch(r"[0-9]{1,12}", timestamp):
        raise CallbackError(400, "timestamp missing or not a number")
    ts = int(timestamp)
    if abs(now - ts) > max_skew:
        raise CallbackError(403, "timestamp too far from server time")
    return ts


def check_xml(body: bytes) -> None:
    if not body.strip():
        raise CallbackError(400, "empty body")


def xml_fields(body: bytes | str) -> dict[str, str]:
    """Top-level child elements of <xml> as text (CDATA or not)."""
    return {child.tag: (child.text or "") for child in _root(body)}


def _root(body: bytes | str) -> ET.Element:
    # defusedxml refuses DTDs, entity declarations and external references inside the parser, so a
    # resident's "<!--" or "<!DOCTYPE" typed inside CDATA is text, not a reason to lose the message
    try:
        root = safe_xml.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise CallbackError(400, "XML declarations (DOCTYPE/ENTITY) are not accepted") from None
    except ET.ParseError:
        raise CallbackError(400, "malformed XML") from None
    if root.tag != "xml":
        raise CallbackError(400, "root element must be <xml>")
    return root


# The fields the webhooks read, each at most this many characters: the database columns they end
# in (storage/models.py) or, for those stored nowhere, the platform's documented limits. Content and
# Recognition go to Text columns: the request body limit (server.max_body_bytes) bounds them.
FIELD_LIMITS = {
    "ToUserName": 64,        # our account's id: the reply's FromUserName
    "FromUserName": 64,      # inbound_message.openid, resident.openid String(64)
    "CreateTime": 13,
    "MsgType": 32,           # inbound_message.msg_type String(32)
    "MsgId": 20,             # a uint64; dedupe_key String(128)
    "Event": 64,             # events are short identifiers (subscribe, CLICK, enter_agent ...)
    "EventKey": 1024,        # a VIEW event's key is the menu's URL: 1024 bytes at most (WeChat docs)
    "MediaId": 128,          # attachment.media_id, outbox.target String(128)
    "PicUrl": 2048,
    "Label": 256,            # attachment.label String(256)
    "TaskId": 128,           # template_card_event: our card's task id (ticket_card.task_id String(128))
    "ResponseCode": 256,     # template_card_event: ticket_card.response_code String(256)
    "CardType": 32,
    "Location_X": 32, "Location_Y": 32, "Scale": 16, "Format": 16, "AgentID": 16,
    "Content": None, "Recognition": None,
}
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_DIGITS = re.compile(r"[0-9]+")
_ID = re.compile(r"[^\s\x00-\x1f\x7f]+")      # openids, userids, account ids: no spaces or controls


def message_fields(xml: str) -> dict[str, str]:
    """The fields of a (decrypted or plain) message, checked so that nothing after this fails on
    them: root <xml>; the fields we read present at most once, as text, within FIELD_LIMITS; the
    envelope (To/From/CreateTime/MsgType) present and well-formed; MsgId and CreateTime numbers;
    an event names its Event. Anything else is a CallbackError(400) naming the field."""
    check_xml(xml.encode("utf-8"))
    root = _root(xml)
    fields: dict[str, str] = {}
    for child in root:
        tag = child.tag
        if tag not in FIELD_LIMITS:
            fields.setdefault(tag, child.text or "")     # not read by us: kept as it is
            continue
        if tag in fields:
            raise CallbackError(400, f"repeated <{tag}>")
        if len(child):
            raise CallbackError(400, f"<{tag}> must be text")
        value = child.text or ""
        limit = FIELD_LIMITS[tag]
        if limit is not None and len(value) > limit:
            raise CallbackError(400, f"<{tag}> too long")
        fields[tag] = value
    for tag in ("ToUserName", "FromUserName"):
        if not _ID.fullmatch(fields.get(tag, "")):
            raise CallbackError(400, f"<{tag}> missing or not an id")
    if not _NAME.fullmatch(fields.get("MsgType", "")):
        raise CallbackError(400, "<MsgType> missing or not a name")
    for tag in ("CreateTime", "MsgId"):
        if (tag == "CreateTime" or tag in fields) and not _DIGITS.fullmatch(fields.get(tag, "").strip()):
            raise CallbackError(400, f"<{tag}> must be a number")
    if fields["MsgType"].lower() == "event" and not _NAME.fullmatch(fields.get("Event", "")):
        raise CallbackError(400, "<Event> missing or not a name")
    return fields


def coordinates(fields: dict[str, str]) -> tuple[float, float] | None:
    """(latitude, longitude) of a location message, None unless both are finite and on the globe
    (float() takes "nan" and "inf", which nothing downstream expects)."""
    try:
        lat, lng = float(fields.get("Location_X", "")), float(fields.get("Location_Y", ""))
    except ValueError:
        return None
    if not (math.isfinite(lat) and math.isfinite(lng) and abs(lat) <= 90 and abs(lng) <= 180):
        return None
    return lat, lng


# Characters XML 1.0 cannot carry at all (not even as &#...;): a reply holding one is not XML.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def cdata(text: str) -> str:
    """text as a CDATA section that stays one whatever it holds: "]]>" is split across two
    sections and characters XML cannot carry are dropped. (wechatpy's replies put text into
    CDATA unchanged, so a label holding "]]>" ended the section early and broke the reply.)"""
    text = _NOT_XML.sub("", text)
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def text_reply(to_user: str, from_user: str, create_time: int, content: str) -> str:
    """A passive text reply (the layout of wechatpy's TextReply), valid XML whatever the values."""
    return (f"<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content>{cdata(content)}</Content>\n"
            f"<FromUserName>{cdata(from_user)}</FromUserName>\n<ToUserName>{cdata(to_user)}</ToUserName>\n"
            f"<CreateTime>{int(create_time)}</CreateTime>\n</xml>")


class Crypto:
    """The AES part (安全模式), via wechatpy's PrpCrypto."""

    def __init__(self, token: str, encoding_aes_key: str, app_id: str):
        self.token = token
        self.app_id = app_id
        self.key = base64.b64decode(encoding_aes_key + "=")
        if len(self.key) != 32:
            raise ValueError("encoding_aes_key must decode to 32 bytes")
        self._wechatpy = WeChatCrypto(token, encoding_aes_key, app_id)

    def decrypt(self, encrypt: str, msg_signature: str | None, timestamp: str, nonce: str) -> str:
        if not signature_ok(sha1_signature(self.token, timestamp, nonce, encrypt), msg_signature):
            raise CallbackError(403, "bad msg_signature")
        try:
            # wechatpy decodes leniently (it skips characters outside the alphabet): be strict
            base64.b64decode(encrypt, validate=True)
        except (binascii.Error, ValueError):
            raise CallbackError(400, "ciphertext is not base64") from None
        try:
            plain = PrpCrypto(self.key).decrypt(encrypt, self.app_id)
            # inside the try: invalid UTF-8 in the plaintext is a bad payload, not a crash
            return plain.decode("utf-8") if isinstance(plain, bytes) else plain
        except InvalidAppIdException:
            raise CallbackError(403, "message is for another app id") from None
        except Exception:   # noqa: BLE001 - short block, bad padding, length, UTF-8: all a bad payload
            raise CallbackError(400, "cannot decrypt message") from None

    def encrypt(self, xml: str, nonce: str, timestamp: str) -> str:
        return self._wechatpy.encrypt_message(xml, nonce, timestamp)
