"""Checking and opening WeChat callbacks (pure: no Flask). Signatures are compared in constant time
(wechatpy's own check uses ==); DTDs and entities are refused before any XML parser sees the body."""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import xml.etree.ElementTree as ET

from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException


class CallbackError(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


_DTD = re.compile(rb"<!(?!\[CDATA\[)", re.I)   # <!DOCTYPE, <!ENTITY, <!-- ... anything but CDATA


def sha1_signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def signature_ok(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), given.lower().encode())


def check_timestamp(timestamp: str | None, now: int, max_skew: int) -> int:
    try:
        ts = int(timestamp or "")
    except ValueError:
        raise CallbackError(400, "timestamp missing or not a number") from None
    if abs(now - ts) > max_skew:
        raise CallbackError(403, "timestamp too far from server time")
    return ts


def check_xml(body: bytes) -> None:
    if not body.strip():
        raise CallbackError(400, "empty body")
    if _DTD.search(body):
        raise CallbackError(400, "XML declarations (DOCTYPE/ENTITY) are not accepted")


def xml_fields(body: bytes | str) -> dict[str, str]:
    """Top-level child elements of <xml> as text (CDATA or not)."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise CallbackError(400, "malformed XML") from None
    return {child.tag: (child.text or "") for child in root}


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
            plain = PrpCrypto(self.key).decrypt(encrypt, self.app_id)
        except InvalidAppIdException:
            raise CallbackError(403, "message is for another app id") from None
        except Exception:
            raise CallbackError(400, "cannot decrypt message") from None
        return plain.decode("utf-8") if isinstance(plain, bytes) else plain

    def encrypt(self, xml: str, nonce: str, timestamp: str) -> str:
        return self._wechatpy.encrypt_message(xml, nonce, timestamp)
