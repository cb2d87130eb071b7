"""Signing in to the web desk with WeCom (企业微信): inside the WeCom client by its 网页授权
(snsapi_base: silent), in a desktop browser by scanning the app's QR code (扫码登录).

    GET /desk/wecom?next=/desk/…   a fresh state in the desk's session, then to WeCom
    GET /desk/wecom/callback       ?code=&state= from WeCom: the state checked and spent
                                   (bot/web_oauth.py), the code exchanged at cgi-bin/auth/getuserinfo
                                   for the member's userid

The userid must be a staff member of config.yaml (`staff`, or a grid leader): the desk then acts as
them, with the same role, grid and party as in chat; anyone else gets a page saying why not. Each
staff member signing in this way has a desk account of their own, `wecom:<userid>`, made on first
use and without a password, so that `python -m bot.users signout wecom:<userid>` ends its sessions
and its last_login_at records the sign-in, as a password sign-in's does.

The code is exchanged with the app's access token from the shared token store (bot/token_store.py)
through the WeCom client of bot/transports.py: WeCom, or the fake platform in local mode.
wecom.desk_login turns this on or off (left out: on in local mode only).
"""
from __future__ import annotations

import hashlib
import logging
import re

import requests
from flask import abort, redirect, render_template, request, session, url_for
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from wechatpy.exceptions import WeChatClientException

from bot import desk_auth, web_oauth
from bot.desk import _svc, bp
from bot.transports import DeliveryError
from bot.web_oauth import SignInError
from storage.models import DeskUser

log = logging.getLogger(__name__)
IN_WECOM = re.compile(r"\bwxwork/", re.IGNORECASE)    # the WeCom client's user agent
PREFIX = "wecom:"
NO_PASSWORD = "!wecom-sign-in"     # not an argon2 hash: no password ever matches it
STATE_KEY = "wecom_state"
UNREACHABLE = "暂时连不上企业微信，请稍后再试，或用账号密码登录"


def enabled(cfg) -> bool:
    return cfg.local_mode if cfg.wecom.desk_login is None else cfg.wecom.desk_login


@bp.context_processor
def _sign_in_choices():
    return {"wecom_login": enabled(_svc().config)}


@bp.get("/wecom")
def wecom_login():
    svc = _svc()
    if not enabled(svc.config):
        abort(404)
    if (moved := web_oauth.to_public_host(svc)) is not None:
        return moved
    nxt = web_oauth.local_path(request.args.get("next"), "/desk/") or url_for("desk.tickets")
    state, session[STATE_KEY] = web_oauth.new_state(nxt, svc.clock.now())
    back = web_oauth.back_url(svc, url_for("desk.wecom_callback"))
    w = svc.config.wecom
    if IN_WECOM.search(request.headers.get("User-Agent", "")):
        return redirect(web_oauth.authorize_url(svc, w.corp_id, back, state, agentid=w.agent_id))
    return redirect(web_oauth.qr_login_url(svc, w.corp_id, w.agent_id, back, state))


@bp.get("/wecom/callback")
def wecom_callback():
    svc = _svc()
    if not enabled(svc.config):
        abort(404)
    now = svc.clock.now()
    try:
        nxt = web_oauth.spend_state(svc, session.pop(STATE_KEY, None), request.args.get("state"), now)
        code = request.args.get("code")
        if not code:                    # WeCom comes back without one when the person declines
            raise SignInError("没有得到企业微信的授权，请重新登录")
        userid = _userid(svc, code)
        if userid not in svc.directory.staff:
            log.info("desk sign-in through WeCom refused: %s is not staff", userid)
            raise SignInError(f"企业微信账号「{userid}」不在本社区的工作人员名单中，不能登录工作台。"
                              f"如需开通，请联系居委会。", 403)
        with svc.sessions.begin() as s:
            desk_auth.sign_in(_account(s, userid, now))
    except SignInError as e:
        return render_template("desk/signin_refused.html", message=e.message), e.status
    log.info("desk sign-in through WeCom: staff:%s", userid)
    return redirect(nxt)


def _userid(svc, code: str) -> str:
    """获取访问用户身份. Never log an exception's text: its URL carries the access token."""
    try:
        result = svc.transports.wecom.get("auth/getuserinfo", params={"code": code})
    except WeChatClientException as e:
        if e.errcode is None:           # an HTTP error status
            log.warning("WeCom sign-in: auth/getuserinfo answered HTTP %s", getattr(e.response, "status_code", "?"))
            raise SignInError(UNREACHABLE, 502) from None
        log.warning("WeCom sign-in: auth/getuserinfo refused the code (errcode %s)", e.errcode)
        raise SignInError("企业微信登录未成功（授权已过期或已用过），请重新登录") from None
    except (requests.RequestException, DeliveryError) as e:
        log.warning("WeCom sign-in: auth/getuserinfo unreachable (%s)", type(e).__name__)
        raise SignInError(UNREACHABLE, 502) from None
    if not isinstance(result, dict):
        log.warning("WeCom sign-in: auth/getuserinfo answered something that is not JSON")
        raise SignInError(UNREACHABLE, 502)
    userid = result.get("userid")
    if not isinstance(userid, str) or not userid:
        # a WeChat user outside the organisation: WeCom answers an openid (or external_userid) instead
        raise SignInError("您不是本单位企业微信的成员，不能登录工作台。", 403)
    return userid


def _username(userid: str) -> str:
    name = PREFIX + userid          # a userid has up to 64 bytes, the username column 64 characters
    return name if len(name) <= 64 else PREFIX + hashlib.sha256(userid.encode("utf-8")).hexdigest()[:40]


def _account(s, userid: str, now) -> DeskUser:
    name = _username(userid)
    user = s.scalar(select(DeskUser).where(DeskUser.username == name))
    if user is None:
        try:
            with s.begin_nested():
                user = DeskUser(username=name, password_hash=NO_PASSWORD, staff_userid=userid, failed_logins=0,
                                session_version=1, created_at=now)
                s.add(user)
        except IntegrityError:          # the same person's first sign-in in two tabs at once
            user = s.scalar(select(DeskUser).where(DeskUser.username == name))
    if user.staff_userid != userid:     # made by hand with another --staff: never act as someone else
        raise SignInError(f"工作台账号 {name} 对应的是另一位工作人员，请联系管理员处理。", 403)
    user.last_login_at = now
    return user
