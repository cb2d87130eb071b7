"""What WeChat's two web sign-ins share (bot/wecom_login.py for staff, bot/resident_oauth.py for
residents): where the browser is sent (the real platform, or the fake one in local mode), the
one-time `state` that ties the platform's answer to the browser that asked, and the page to return to.

A state is 32 hex characters (WeChat and WeCom take a-zA-Z0-9, at most 128 bytes). It is kept, with
its expiry by the bot's clock and the page to return to, in something only that browser holds (the
desk's session, a signed cookie); the callback compares it in constant time and spends it: the
record is dropped, and its hash is kept in the database until it would have expired, so that a copy
of the old cookie cannot play it again.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

from flask import redirect, request

from storage import repositories as repo

OPEN_AUTHORIZE = "https://open.weixin.qq.com/connect/oauth2/authorize"   # 网页授权: official account and WeCom
WECOM_QR_LOGIN = "https://login.work.weixin.qq.com/wwlogin/sso/login"    # WeCom's QR login for desktops
STATE_TTL = timedelta(minutes=10)


class SignInError(Exception):
    """A refused sign-in: `message` is shown to the person, `status` is the page's HTTP status."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


def _platform(svc, real: str, fake_path: str) -> str:
    # as bot/transports.py does for the APIs: in local mode the bot's own fake platform plays WeChat
    return f"{svc.base_url}/fake{fake_path}" if svc.config.local_mode else real


def authorize_url(svc, appid: str, redirect_uri: str, state: str, agentid: int | None = None) -> str:
    """网页授权 (snsapi_base: silent, the identity only). WeCom wants its agentid; the fragment tells the
    WeChat client to add who is asking."""
    params = {"appid": appid, "redirect_uri": redirect_uri, "response_type": "code", "scope": "snsapi_base",
              "state": state}
    if agentid is not None:
        params["agentid"] = str(agentid)
    return f"{_platform(svc, OPEN_AUTHORIZE, '/open/connect/oauth2/authorize')}?{urlencode(params)}#wechat_redirect"


def qr_login_url(svc, corp_id: str, agent_id: int, redirect_uri: str, state: str) -> str:
    params = {"login_type": "CorpApp", "appid": corp_id, "agentid": str(agent_id), "redirect_uri": redirect_uri,
              "state": state}
    return f"{_platform(svc, WECOM_QR_LOGIN, '/wwlogin/sso/login')}?{urlencode(params)}"


def back_url(svc, path: str) -> str:
    """The redirect_uri: on the bot's public URL, the domain registered with WeChat (可信域名)."""
    return svc.base_url + path


def to_public_host(svc):
    """In local mode, a redirect to the same page on the bot's configured host when the browser came by
    another name (localhost for 127.0.0.1): the platform sends it back there, and the cookie holding
    the state must be on that host. None when it already is (and always in production, where a proxy
    decides the Host header)."""
    public = urlsplit(svc.base_url)
    if not svc.config.local_mode or request.host == public.netloc:
        return None
    return redirect(f"{public.scheme}://{public.netloc}{request.full_path.rstrip('?')}")


def local_path(value: str | None, prefix: str = "/") -> str | None:
    """`value` when it is a path on this site under prefix (no scheme, no //host, no backslash): never
    an open redirect."""
    if not value or not value.startswith(prefix) or value.startswith("//") or "\\" in value:
        return None
    parts = urlsplit(value)
    return value if not parts.scheme and not parts.netloc else None


def new_state(next_path: str, now) -> tuple[str, dict]:
    """(the state to send, the record for the browser to keep)."""
    state = secrets.token_hex(16)
    return state, {"v": state, "exp": int((now + STATE_TTL).timestamp()), "next": next_path}


def spend_state(svc, record, sent: str | None, now) -> str:
    """The page to return to, once: raises SignInError for a missing, wrong, expired or used state."""
    if not isinstance(record, dict) or not isinstance(record.get("v"), str) or not sent:
        raise SignInError("登录请求已失效或不是从本页发起的，请回到登录页重新开始")
    if not hmac.compare_digest(sent.encode("utf-8"), record["v"].encode("utf-8")):
        raise SignInError("登录请求与本浏览器不匹配，请回到登录页重新开始")
    if not isinstance(record.get("exp"), int) or record["exp"] <= now.timestamp():
        raise SignInError("登录请求已过期，请回到登录页重新开始")
    key = "oauth-state:" + hashlib.sha256(sent.encode("utf-8")).hexdigest()[:40]
    with svc.sessions.begin() as s:
        if repo.kv_get(s, key, now) is not None:
            raise SignInError("这个登录请求已经用过了，请回到登录页重新开始")
        repo.kv_set(s, key, "used", now + STATE_TTL)
    return str(record.get("next") or "/")
