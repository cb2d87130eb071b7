"""Building WeChat callbacks as WeChat does (used by the simulator, tests and the benchmark)."""
from __future__ import annotations

import secrets

from bot.wxcrypto import CallbackError, Crypto, cdata, sha1_signature, xml_fields


def message_xml(to_user: str, from_user: str, msg_type: str, create_time: int, msg_id: int | None = None, **fields) -> str:
    parts = [f"<ToUserName>{cdata(to_user)}</ToUserName>",
             f"<FromUserName>{cdata(from_user)}</FromUserName>",
             f"<CreateTime>{create_time}</CreateTime>",
             f"<MsgType>{cdata(msg_type)}</MsgType>"]
    for name, value in fields.items():
        if value is None:
            continue
        if isinstance(value, (int, float)):
            parts.append(f"<{name}>{value}</{name}>")
        else:
            parts.append(f"<{name}>{cdata(str(value))}</{name}>")
    if msg_id is not None:
        parts.append(f"<MsgId>{msg_id}</MsgId>")
    return "<xml>" + "".join(parts) + "</xml>"


def _fields_or_none(xml: str) -> dict[str, str]:
    try:
        return xml_fields(xml)
    except CallbackError:      # tests sign malformed messages on purpose: sign them all the same
        return {}


def signed_request(crypto: Crypto, xml: str, timestamp: int, mode: str, nonce: str | None = None) -> tuple[dict, bytes]:
    """(query parameters, body) for POST /wechat in plain, compat or safe mode. `xml` need not be
    well-formed: it is signed (and encrypted) as it is."""
    nonce = nonce or secrets.token_hex(5)
    ts = str(timestamp)
    fields = _fields_or_none(xml)
    params = {"signature": sha1_signature(crypto.token, ts, nonce), "timestamp": ts, "nonce": nonce,
              "openid": fields.get("FromUserName", "")}
    if mode == "plain":
        return params, xml.encode("utf-8")
    enc = xml_fields(crypto.encrypt(xml, nonce, ts))
    params.update(encrypt_type="aes", msg_signature=enc["MsgSignature"])
    body = f"<xml><ToUserName>{cdata(fields.get('ToUserName', ''))}</ToUserName><Encrypt><![CDATA[{enc['Encrypt']}]]></Encrypt></xml>"
    if mode == "compat" and fields:   # compat mode carries the plaintext fields and the ciphertext side by side
        head, _, _ = xml.rpartition("</xml>")
        body = f"{head}<Encrypt><![CDATA[{enc['Encrypt']}]]></Encrypt></xml>"
    return params, body.encode("utf-8")


def open_reply(crypto: Crypto, body: bytes | str) -> dict[str, str]:
    """The reply's fields, decrypting (and checking the signature of) an encrypted reply."""
    if not body or (isinstance(body, (bytes, str)) and body.strip() in (b"success", "success", b"", "")):
        return {}
    fields = xml_fields(body)
    if "Encrypt" in fields:
        plain = crypto.decrypt(fields["Encrypt"], fields.get("MsgSignature"), fields["TimeStamp"], fields["Nonce"])
        return xml_fields(plain)
    return fields


def wecom_request(crypto: Crypto, xml: str, timestamp: int, agent_id: int, nonce: str | None = None) -> tuple[dict, bytes]:
    """(query parameters, body) for POST /wecom: WeCom callbacks are always encrypted."""
    nonce = nonce or secrets.token_hex(5)
    enc = xml_fields(crypto.encrypt(xml, nonce, str(timestamp)))
    body = (f"<xml><ToUserName><![CDATA[{crypto.app_id}]]></ToUserName><Encrypt><![CDATA[{enc['Encrypt']}]]></Encrypt>"
            f"<AgentID><![CDATA[{agent_id}]]></AgentID></xml>")
    return {"msg_signature": enc["MsgSignature"], "timestamp": str(timestamp), "nonce": nonce}, body.encode("utf-8")
