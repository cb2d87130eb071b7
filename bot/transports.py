"""Outbound HTTP to WeChat: the official account, the WeCom app and WeCom group robots.

wechatpy's clients hard-code the token URLs, so the subclasses point every call at one base URL:
the real platform in production, the bot's own fake platform in local mode.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import requests
from wechatpy.client import WeChatClient
from wechatpy.enterprise.client import WeChatClient as WeComClient
from wechatpy.exceptions import WeChatClientException

MP_BASE = "https://api.weixin.qq.com/cgi-bin/"
WECOM_BASE = "https://qyapi.weixin.qq.com/cgi-bin/"

# Errors that will not get better by retrying (wrong key, bad content, user out of the 48 h window).
PERMANENT_ERRCODES = frozenset({40003, 40008, 40013, 40058, 41001, 44002, 44004, 45015, 45047, 48001, 93000})


class DeliveryError(Exception):
    def __init__(self, message: str, *, permanent: bool = False, errcode: int | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.errcode = errcode


class MPClient(WeChatClient):
    def __init__(self, base: str, appid: str, secret: str, timeout: float, session=None):
        super().__init__(appid, secret, timeout=timeout, session=session)
        self.API_BASE_URL = base

    def fetch_access_token(self):
        return self._fetch_access_token(url=self.API_BASE_URL + "token",
                                        params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret})


class WeComAppClient(WeComClient):
    def __init__(self, base: str, corp_id: str, secret: str, timeout: float, session=None):
        super().__init__(corp_id, secret, timeout=timeout, session=session)
        self.API_BASE_URL = base

    def fetch_access_token(self):
        return self._fetch_access_token(url=self.API_BASE_URL + "gettoken",
                                        params={"corpid": self.corp_id, "corpsecret": self.secret})


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


def _wechat_error(e: WeChatClientException) -> DeliveryError:
    code = e.errcode if isinstance(e.errcode, int) else None
    return DeliveryError(f"errcode {code}: {e.errmsg}", permanent=code in PERMANENT_ERRCODES, errcode=code)


@dataclass
class Transports:
    mp: MPClient
    wecom: WeComAppClient
    wecom_base: str
    agent_id: int
    timeout: float
    http: requests.Session | None = None    # robot calls: keep-alive (and TLS sessions) across pushes

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
                   qy_base, cfg.wecom.agent_id, t)

    def send(self, channel: str, target: str, payload: dict) -> None:
        """Deliver one outbox row; raises DeliveryError (permanent or not)."""
        try:
            if channel == "robot":
                self._robot(target, payload["body"])
            elif channel == "mp_text":
                self.mp.message.send_text(target, payload["content"])
            elif channel == "wecom_text":
                self.wecom.message.send_text(self.agent_id, target, payload["content"])
            else:
                raise DeliveryError(f"unknown channel {channel}", permanent=True)
        except WeChatClientException as e:
            raise _wechat_error(e) from None
        except requests.RequestException as e:
            raise DeliveryError(f"network: {type(e).__name__}") from None

    def _robot(self, key: str, body: dict) -> None:
        res = self.http.post(self.wecom_base + "webhook/send", params={"key": key}, json=body, timeout=self.timeout)
        if res.status_code >= 500:
            raise DeliveryError(f"HTTP {res.status_code}")
        try:
            data = res.json()
        except ValueError:
            raise DeliveryError(f"HTTP {res.status_code}, not JSON", permanent=res.status_code == 404) from None
        code = int(data.get("errcode", -1))
        if code != 0:
            raise DeliveryError(f"errcode {code}: {data.get('errmsg', '')}", permanent=code in PERMANENT_ERRCODES, errcode=code)
