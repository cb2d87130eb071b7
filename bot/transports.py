"""Outbound HTTP to WeChat: the official account, the WeCom app and WeCom group robots.

wechatpy's clients hard-code the token URLs, so the subclasses point every call at one base URL:
the real platform in production, the bot's own fake platform in local mode.

Channels (outbox rows):
- robot: payload {"body": <the robot message>}, target the robot key (text, markdown or image);
- mp_text: a customer-service message to a resident, payload {"kind", "content", "template"?}. Outside
  the 48-hour window WeChat answers 45015 and the message goes as a template message instead
  (wechat.templates[kind], else wechat.templates["default"]);
- wecom_text: a WeCom app message to a staff member, payload {"content"};
- wecom_card: an interactive WeCom card (template_card, button_interaction) to a staff member,
  payload {"kind": "card:<notice>", "task_id", "card"}; WeCom's answer carries the response_code
  that allows changing the card, handed back by send() for the outbox worker to keep;
- wecom_card_update: a card replaced (message/update_template_card), payload {"kind": "card_update",
  "task_id", "response_code", "card"}; a code that is unknown, spent or over 72 h old is refused for good;
- mp_media: not sent here: the outbox worker downloads the media with fetch_media() and hands the
  bytes to bot/media.py, which keeps them (no database code in this module).

Every channel counts as delivered only on a JSON object with errcode 0 (or, from the official
account and WeCom app APIs, without errcode where WeChat omits it); a 200 with an HTML or text page
(a proxy, a gateway, a captive portal) is a failure to retry, as is a token answer without a token.
"""
from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field

import requests
from wechatpy.client import WeChatClient
from wechatpy.enterprise.client import WeChatClient as WeComClient
from wechatpy.exceptions import WeChatClientException

MP_BASE = "https://api.weixin.qq.com/cgi-bin/"
WECOM_BASE = "https://qyapi.weixin.qq.com/cgi-bin/"

# Errors that will not get better by retrying (wrong key, bad content, user out of the 48 h window,
# unknown media or template, not a follower any more).
PERMANENT_ERRCODES = frozenset({40003, 40007, 40008, 40009, 40013, 40037, 40039, 40058, 41001, 43004, 44002, 44004,
                                45015, 45047, 47001, 48001, 93000})
OUT_OF_WINDOW = 45015             # customer-service message outside 48 h of the resident's last interaction
TOKEN_ERRCODES = frozenset({40001, 40014, 42001})     # fetch a new access token and try once more
# WeCom cards: on top of the above, an invalid, spent or expired response_code (40078) and a card
# WeCom refuses (missing title 41016, bad parameter 40058 is already permanent) will not get better.
CARD_PERMANENT_ERRCODES = PERMANENT_ERRCODES | {40078, 41016}
ROBOT_IMAGE_TYPES = ("image/jpeg", "image/png")       # what a WeCom group robot shows ...
ROBOT_IMAGE_MAX = 2 * 1024 * 1024                     # ... up to 2 MB before base64
# Template messages: since 2023-05 WeChat shows each keyword on one line, 20 characters at most
# (first and remark are no longer displayed but still accepted); content is limited to 200.
TEMPLATE_KEYWORD_MAX = 20
TEMPLATE_TEXT_MAX = 200
TICKET_CODE = re.compile(r"\d{8}-\d{4,}")
_MAGIC = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"), (b"GIF87a", "image/gif"),
          (b"GIF89a", "image/gif"))

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    def __init__(self, message: str, *, permanent: bool = False, errcode: int | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.errcode = errcode


def _checked_token(fetch):
    """wechatpy reads a token answer with res.json() and result["access_token"]: a 200 that is HTML
    (a proxy's page) or JSON without a token would escape as ValueError/KeyError; it is a failed
    delivery to retry, like any answer that is not WeChat's."""
    try:
        result = fetch()
    except WeChatClientException:
        raise
    except (ValueError, KeyError, TypeError) as e:        # requests' JSONDecodeError is a ValueError
        raise DeliveryError(f"access token: answer is not a token ({type(e).__name__})") from None
    if not isinstance(result, dict) or not result.get("access_token"):
        raise DeliveryError("access token: answer is not a token")
    return result


class MPClient(WeChatClient):
    def __init__(self, base: str, appid: str, secret: str, timeout: float, session=None):
        super().__init__(appid, secret, timeout=timeout, session=session)
        self.API_BASE_URL = base

    def fetch_access_token(self):
        return _checked_token(lambda: self._fetch_access_token(
            url=self.API_BASE_URL + "token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret}))


class WeComAppClient(WeComClient):
    def __init__(self, base: str, corp_id: str, secret: str, timeout: float, session=None):
        super().__init__(corp_id, secret, timeout=timeout, session=session)
        self.API_BASE_URL = base

    def fetch_access_token(self):
        return _checked_token(lambda: self._fetch_access_token(
            url=self.API_BASE_URL + "gettoken", params={"corpid": self.corp_id, "corpsecret": self.secret}))


def _session_for(base: str) -> requests.Session:
    """A requests.Session that reads the proxy and CA settings of the environment (HTTPS_PROXY,
    NO_PROXY, REQUESTS_CA_BUNDLE, ...) once, here, instead of scanning os.environ on every call."""
    s = requests.Session()
    s.proxies.update(requests.utils.get_environ_proxies(base))
    ca = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if ca:
        s.verify = ca
    s.trust_env = False
    return s


def _wechat_error(e: WeChatClientException, permanent: frozenset[int] = PERMANENT_ERRCODES) -> DeliveryError:
    code = e.errcode if isinstance(e.errcode, int) else None
    if code is None and e.response is not None:
        return DeliveryError(f"HTTP {e.response.status_code}", permanent=False)
    return DeliveryError(f"errcode {code}: {e.errmsg}", permanent=code in permanent, errcode=code)


def _errcode(data: dict, missing: int | None) -> int | None:
    """The answer's errcode as an int (`missing` when absent, -1 when not a number)."""
    if "errcode" not in data:
        return missing
    try:
        return int(data["errcode"])
    except (TypeError, ValueError):
        return -1


def _ok(result, permanent: frozenset[int] = PERMANENT_ERRCODES) -> dict:
    """wechatpy returns the raw response when a 200 body is not JSON (an HTML or text page from a
    proxy or gateway), the decoded JSON otherwise (an errcode other than 0 has already raised). Only
    a JSON object with errcode 0, or without errcode where WeChat omits it, is a success: anything
    else is a failure to retry (the resident would otherwise receive nothing, the row marked sent)."""
    if not isinstance(result, dict):
        status = getattr(result, "status_code", None)
        what = "answer not JSON" if status is not None else f"answer not a JSON object ({type(result).__name__})"
        raise DeliveryError(f"HTTP {status or 200}, {what}")
    code = _errcode(result, 0)
    if code != 0:
        raise DeliveryError(f"errcode {code}: {result.get('errmsg', '')}", permanent=code in permanent,
                            errcode=code)
    return result


def sniff_image(data: bytes) -> str | None:
    """The image type by its first bytes (JPEG, PNG, GIF, WebP); None for anything else (SVG, HTML...)."""
    for magic, ctype in _MAGIC:
        if data.startswith(magic):
            return ctype
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _one_line(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def template_data(payload: dict) -> dict:
    """A template message's data from an mp_text payload: from payload["template"] ({code, status,
    detail, time}) when present, else from the content (first line, the rest as remark, the ticket
    code it names as keyword1). first/remark are cut to 200 characters, keywords to 20 on one line."""
    content = str(payload.get("content") or "")
    lines = [ln.strip() for ln in content.splitlines() if ln.strip()]
    first, rest = (lines[0] if lines else ""), " ".join(lines[1:])
    tpl = payload.get("template")
    if isinstance(tpl, dict):
        fields = {"first": first, "keyword1": tpl.get("code"), "keyword2": tpl.get("status"),
                  "keyword3": tpl.get("time"), "remark": tpl.get("detail") or rest}
    else:
        code = TICKET_CODE.search(content)
        fields = ({"first": first, "keyword1": code.group(0), "keyword2": first, "remark": rest} if code
                  else {"first": first, "keyword1": first, "remark": rest})
    return {name: {"value": _one_line(value, TEMPLATE_KEYWORD_MAX if name.startswith("keyword") else TEMPLATE_TEXT_MAX)}
            for name, value in fields.items() if value not in (None, "")}


def _masked(openid: str) -> str:
    return openid[:6] + "…" if len(openid) > 8 else "…"


def _reached(userid: str, result: dict) -> None:
    """WeCom answers errcode 0 and lists the recipients it could not reach (unknown user, outside the
    app's visible range): for our one recipient that means nobody received it. (update_template_card
    lists them as a JSON array.)"""
    invalid = result.get("invaliduser") or ""
    invalid = [str(u) for u in invalid] if isinstance(invalid, list) else str(invalid).split("|")
    if userid in invalid:
        raise DeliveryError(f"WeCom user {userid} unknown or outside the app's visible range (invaliduser)",
                            permanent=True)


@dataclass
class Media:
    content: bytes
    content_type: str              # by the bytes' magic, not by what the server declared


@dataclass
class Transports:
    mp: MPClient
    wecom: WeComAppClient
    wecom_base: str
    agent_id: int
    timeout: float
    http: requests.Session | None = None    # robot calls: keep-alive (and TLS sessions) across pushes
    templates: dict[str, str] = field(default_factory=dict)   # notice kind -> template id ("default")
    media: object | None = None             # bot.config.MediaConfig: photos fetched from the media API

    def __post_init__(self):
        if self.http is None:
            self.http = _session_for(self.wecom_base)

    @classmethod
    def from_config(cls, cfg, local_base: str | None, token_storage=None) -> "Transports":
        """token_storage: where access tokens live (bot/token_store.py: shared by the workers);
        None keeps them in this process."""
        mp_base = cfg.wechat.api_base_url or (f"{local_base}/fake/mp/cgi-bin/" if local_base else MP_BASE)
        qy_base = cfg.wecom.api_base_url or (f"{local_base}/fake/qy/cgi-bin/" if local_base else WECOM_BASE)
        t = cfg.outbox.http_timeout_seconds
        return cls(MPClient(mp_base, cfg.wechat.app_id, cfg.wechat.app_secret, t, session=token_storage),
                   WeComAppClient(qy_base, cfg.wecom.corp_id, cfg.wecom.app_secret, t, session=token_storage),
                   qy_base, cfg.wecom.agent_id, t, templates=dict(cfg.wechat.templates), media=cfg.media)

    def send(self, channel: str, target: str, payload: dict) -> str | None:
        """Deliver one outbox row; raises DeliveryError (permanent or not). Returns the response_code
        WeCom answered for a "wecom_card" send (None when it gave none), None for every other channel."""
        card = channel in ("wecom_card", "wecom_card_update")
        try:
            if channel == "robot":
                self._robot(target, payload["body"])
            elif channel == "mp_text":
                self._mp_text(target, payload)
            elif channel == "wecom_text":
                self._wecom_text(target, payload["content"])
            elif channel == "wecom_card":
                return self._wecom_card(target, payload)
            elif channel == "wecom_card_update":
                self._wecom_card_update(target, payload)
            else:
                raise DeliveryError(f"unknown channel {channel}", permanent=True)
        except WeChatClientException as e:
            raise _wechat_error(e, CARD_PERMANENT_ERRCODES if card else PERMANENT_ERRCODES) from None
        except requests.RequestException as e:
            raise DeliveryError(f"network: {type(e).__name__}") from None
        return None

    def _mp_text(self, openid: str, payload: dict) -> None:
        try:
            _ok(self.mp.message.send_text(openid, payload["content"]))
            return
        except WeChatClientException as e:
            if e.errcode != OUT_OF_WINDOW:
                raise
        kind = str(payload.get("kind") or "")
        template_id = self.templates.get(kind) or self.templates.get("default")
        if not template_id:
            raise DeliveryError(f"resident outside the 48-hour window (errcode 45015) and no template message "
                                f"configured: set wechat.templates.{kind or 'default'} or wechat.templates.default "
                                f"in config.yaml", permanent=True, errcode=OUT_OF_WINDOW)
        _ok(self.mp.message.send_template(openid, template_id, template_data(payload)))
        log.info("mp %s: outside the 48-hour window, sent %s as template message %s", _masked(openid),
                 kind or "(no kind)", template_id)

    def _wecom_text(self, userid: str, content: str) -> None:
        _reached(userid, _ok(self.wecom.message.send_text(self.agent_id, userid, content)))

    def _wecom_card(self, userid: str, payload: dict) -> str | None:
        """POST message/send with msgtype template_card; the answer's response_code (None if absent:
        the card was delivered all the same, it just cannot be changed until a tap brings a code)."""
        card = payload.get("card")
        if not isinstance(card, dict) or not payload.get("task_id"):
            raise DeliveryError("wecom_card payload without card or task_id", permanent=True)
        result = _ok(self.wecom.post("message/send", data={
            "touser": userid, "msgtype": "template_card", "agentid": self.agent_id, "template_card": card}),
            CARD_PERMANENT_ERRCODES)
        _reached(userid, result)
        code = result.get("response_code")
        if not code:
            log.warning("wecom card %s to %s: WeCom answered no response_code", payload.get("task_id"), userid)
            return None
        return str(code)

    def _wecom_card_update(self, userid: str, payload: dict) -> None:
        """POST message/update_template_card: replace the card this user holds, spending the code."""
        card, code = payload.get("card"), payload.get("response_code")
        if not isinstance(card, dict) or not code:
            raise DeliveryError("wecom_card_update payload without card or response_code", permanent=True)
        result = _ok(self.wecom.post("message/update_template_card", data={
            "userids": [userid], "agentid": self.agent_id, "response_code": code, "template_card": card}),
            CARD_PERMANENT_ERRCODES)
        _reached(userid, result)

    def fetch_media(self, media_id: str) -> Media:
        """Download media the official account received (GET cgi-bin/media/get): a JPEG, PNG, GIF or
        WebP (by its bytes, of media.types) of at most media.max_bytes; raises DeliveryError, permanent
        for an unknown media id, another type of body or one too large."""
        max_bytes, types = self.media.max_bytes, set(self.media.types)
        url = self.mp.API_BASE_URL + "media/get"
        try:
            for attempt in (1, 2):
                params = {"access_token": self.mp.access_token, "media_id": media_id}
                with self.mp._http.get(url, params=params, timeout=self.timeout, stream=True) as res:
                    if res.status_code != 200:
                        raise DeliveryError(f"HTTP {res.status_code}", permanent=res.status_code in (403, 404))
                    try:
                        declared = int(res.headers.get("Content-Length") or 0)
                    except ValueError:
                        declared = 0
                    if declared > max_bytes:
                        raise DeliveryError(f"media of {declared} bytes, over media.max_bytes {max_bytes}", permanent=True)
                    data = bytearray()
                    for chunk in res.iter_content(64 * 1024):
                        data += chunk
                        if len(data) > max_bytes:
                            raise DeliveryError(f"media over media.max_bytes {max_bytes}", permanent=True)
                if data[:1] == b"{":              # WeChat answers errors as JSON
                    try:
                        err = json.loads(bytes(data).decode("utf-8", "replace"))
                    except ValueError:
                        err = None
                    if isinstance(err, dict):
                        try:
                            code = int(err.get("errcode") or 0)
                        except (TypeError, ValueError):
                            code = -1
                        if code == 0:                 # e.g. a video's link: not a photo
                            raise DeliveryError("media is a JSON answer, not an image", permanent=True)
                        if code in TOKEN_ERRCODES and attempt == 1:
                            self.mp.fetch_access_token()
                            continue
                        raise DeliveryError(f"errcode {code}: {err.get('errmsg', '')}",
                                            permanent=code in PERMANENT_ERRCODES, errcode=code)
                ctype = sniff_image(bytes(data[:16]))
                shown = res.headers.get("Content-Type", "?").split(";")[0].strip().lower()[:40]
                if ctype is None and (shown.startswith("text/") or shown == "application/json"):
                    # neither media nor WeChat's JSON: a proxy's or gateway's page, worth another try
                    raise DeliveryError(f"HTTP {res.status_code}, answer neither media nor JSON ({shown})")
                if ctype is None or ctype not in types:
                    raise DeliveryError(f"media is not an allowed image ({ctype or 'unknown bytes'}, declared {shown})",
                                        permanent=True)
                return Media(bytes(data), ctype)
        except WeChatClientException as e:
            raise _wechat_error(e) from None
        except requests.RequestException as e:
            raise DeliveryError(f"network: {type(e).__name__}") from None
        raise DeliveryError("access token refused twice")

    def _robot(self, key: str, body: dict) -> None:
        """Success is only a JSON object with errcode 0 (the robot API always sends one)."""
        res = self.http.post(self.wecom_base + "webhook/send", params={"key": key}, json=body, timeout=self.timeout)
        if res.status_code >= 500:
            raise DeliveryError(f"HTTP {res.status_code}")
        try:
            data = res.json()
        except ValueError:
            raise DeliveryError(f"HTTP {res.status_code}, answer not JSON", permanent=res.status_code == 404) from None
        if not isinstance(data, dict):
            raise DeliveryError(f"HTTP {res.status_code}, answer not a JSON object")
        code = _errcode(data, -1)
        if code != 0:
            raise DeliveryError(f"errcode {code}: {data.get('errmsg', '')}", permanent=code in PERMANENT_ERRCODES,
                                errcode=code)
