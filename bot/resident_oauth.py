"""Which resident is this? For web pages opened from the official account (公众号网页授权,
snsapi_base: silent, it gives the openid and nothing else). In any Flask view:

    from bot.resident_oauth import resident_openid_or_redirect

    @bp.get("/survey")
    def survey():
        openid = resident_openid_or_redirect()
        ...

With a valid cookie it returns the openid. Without one (or a tampered or expired one) it ends the
view with a redirect to WeChat's authorize page (in local mode the fake platform's, where you pick a
simulated resident); WeChat sends the browser to /oauth/resident/callback with a one-time code,
exchanged at sns/oauth2/access_token for the openid; the cookie is set and the browser goes back to
the page (after a POST, to the same path by GET: the form is shown again, not resubmitted).

The cookie `jiesu_resident` holds {"o": openid, "exp": unix time by the bot's clock}, signed with the
app's secret (bot/desk_auth.py) under its own salt; HttpOnly, SameSite=Lax, Secure behind HTTPS,
RESIDENT_DAYS days. The state travels in a cookie of its own, signed likewise, sent to the callback only.
"""
from __future__ import annotations

import logging
import re
from datetime import timedelta

import requests
from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from itsdangerous import BadSignature, URLSafeSerializer

from bot import web_oauth
from bot.web_oauth import SignInError

log = logging.getLogger(__name__)
bp = Blueprint("resident_oauth", __name__, url_prefix="/oauth/resident", template_folder="templates")
COOKIE, STATE_COOKIE = "jiesu_resident", "jiesu_resident_state"
RESIDENT_DAYS = 30
OPENID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _svc():
    return current_app.extensions["jiesu"]


def _signer(salt: str) -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt=salt)


def _read(name: str, salt: str):
    try:
        return _signer(salt).loads(request.cookies.get(name, ""))
    except BadSignature:
        return None


def _secure(cfg) -> bool:
    # as the desk's session cookie: Secure behind HTTPS, and always in production
    return cfg.server.public_url.startswith("https://") or not cfg.local_mode


def current_openid() -> str | None:
    """The signed-in resident's openid, or None (no cookie, a forged or an expired one)."""
    data = _read(COOKIE, "jiesu-resident")
    if not isinstance(data, dict) or not isinstance(data.get("o"), str) or not isinstance(data.get("exp"), int):
        return None
    return data["o"] if data["exp"] > _svc().clock.now().timestamp() else None


def resident_openid_or_redirect() -> str:
    """The resident's openid, or (raised, so the view ends here) the redirect through WeChat."""
    openid = current_openid()
    if openid is not None:
        return openid
    svc = _svc()
    if (moved := web_oauth.to_public_host(svc)) is not None:
        abort(moved)
    page = request.full_path.rstrip("?") if request.method == "GET" else request.path
    state, record = web_oauth.new_state(page, svc.clock.now())
    back = web_oauth.back_url(svc, url_for("resident_oauth.callback"))
    response = redirect(web_oauth.authorize_url(svc, svc.config.wechat.app_id, back, state))
    response.set_cookie(STATE_COOKIE, _signer("jiesu-resident-state").dumps(record), path=bp.url_prefix,
                        max_age=int(web_oauth.STATE_TTL.total_seconds()), httponly=True, samesite="Lax",
                        secure=_secure(svc.config))
    abort(response)


@bp.get("/callback")
def callback():
    svc = _svc()
    now = svc.clock.now()
    try:
        page = web_oauth.spend_state(svc, _read(STATE_COOKIE, "jiesu-resident-state"), request.args.get("state"), now)
        page = web_oauth.local_path(page) or "/"
        code = request.args.get("code")
        if not code:
            raise SignInError("没有得到微信的授权，请从公众号菜单重新打开")
        openid = _openid(svc, code)
    except SignInError as e:
        response = current_app.make_response((render_template("resident/signin_failed.html", message=e.message,
                                                               community=svc.config.community.name), e.status))
    else:
        response = redirect(page)
        exp = now + timedelta(days=RESIDENT_DAYS)
        response.set_cookie(COOKIE, _signer("jiesu-resident").dumps({"o": openid, "exp": int(exp.timestamp())}),
                            max_age=RESIDENT_DAYS * 86400, httponly=True, samesite="Lax", secure=_secure(svc.config))
    response.delete_cookie(STATE_COOKIE, path=bp.url_prefix)
    return response


def _openid(svc, code: str) -> str:
    """通过 code 换取网页授权 access_token: only the openid is kept. The URL carries the app secret,
    so neither it nor an exception's text (which quotes it) is ever logged."""
    cfg = svc.config.wechat
    url = svc.transports.mp.API_BASE_URL.removesuffix("cgi-bin/") + "sns/oauth2/access_token"
    params = {"appid": cfg.app_id, "secret": cfg.app_secret, "code": code, "grant_type": "authorization_code"}
    try:
        data = svc.transports.mp._http.get(url, params=params, timeout=svc.transports.timeout).json()
    except (requests.RequestException, ValueError) as e:
        log.warning("resident sign-in: sns/oauth2/access_token unreachable or not JSON (%s)", type(e).__name__)
        raise SignInError("暂时连不上微信，请稍后再试", 502) from None
    if not isinstance(data, dict):
        raise SignInError("暂时连不上微信，请稍后再试", 502)
    if data.get("errcode"):
        log.warning("resident sign-in: sns/oauth2/access_token refused the code (errcode %s)", data.get("errcode"))
        raise SignInError("微信授权未成功（已过期或已用过），请从公众号菜单重新打开")
    openid = data.get("openid")
    if not isinstance(openid, str) or not OPENID.fullmatch(openid):
        raise SignInError("微信没有给出您的身份，请从公众号菜单重新打开", 502)
    return openid
