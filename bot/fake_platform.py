"""A fake WeChat platform served by the bot in local mode: it accepts the real API calls of the bot's
own clients, checks them as WeChat would (credentials, access token, robot key, JSON shape),
answers with WeChat's error codes and records every call. Never registered outside local mode.

Failures can be injected for testing retries: POST /fake/_control/faults {"api": "robot", "count": 2,
"errcode": -1} (or "http_status": 500).
"""
from __future__ import annotations

import json
import secrets
from datetime import timedelta

from flask import Blueprint, Response, current_app, jsonify, request

bp = Blueprint("fake_platform", __name__, url_prefix="/fake")
MP_TOKEN_GRACE = 300     # seconds an old official-account token still works after a new one
TOKEN_TTL = 7200


def _svc():
    return current_app.extensions["jiesu"]


def _err(code: int, msg: str):
    return jsonify(errcode=code, errmsg=msg)


def _json_body():
    try:
        data = json.loads(request.get_data() or b"")
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _fault(api: str):
    f = _svc().fake_store.take_fault(api)
    if f is None:
        return None
    errcode, http_status = f
    if http_status:
        return Response("injected failure", status=http_status)
    return _err(errcode if errcode is not None else -1, "system error (injected)")


def _issue(kind: str):
    """As WeChat does: the official account issues a new token on every call and the previous one
    stops working 5 minutes later; WeCom returns the same token while it is valid."""
    svc = _svc()
    now = svc.clock.now()
    if kind == "qy":
        live = svc.fake_store.live_token(kind, now)
        if live is not None:
            return jsonify(errcode=0, errmsg="ok", access_token=live[0],
                           expires_in=int((live[1] - now).total_seconds()))
    token = f"fake-{kind}-" + secrets.token_hex(12)
    svc.fake_store.issue_token(token, kind, now + timedelta(seconds=TOKEN_TTL),
                               revoke_after=now + timedelta(seconds=MP_TOKEN_GRACE) if kind == "mp" else None)
    return jsonify(access_token=token, expires_in=TOKEN_TTL)


def _record(api: str, target: str | None, body, errcode: int = 0):
    svc = _svc()
    svc.fake_store.record(svc.clock.now(), api, target, body, errcode)


@bp.get("/mp/cgi-bin/token")
def mp_token():
    cfg = _svc().config.wechat
    a = request.args
    if a.get("grant_type") != "client_credential":
        return _err(40002, "invalid grant_type")
    if a.get("appid") != cfg.app_id:
        return _err(40013, "invalid appid")
    if a.get("secret") != cfg.app_secret:
        return _err(40001, "invalid credential, access_token is invalid or not latest")
    return _fault("mp_token") or _issue("mp")


@bp.get("/qy/cgi-bin/gettoken")
def wecom_token():
    cfg = _svc().config.wecom
    if request.args.get("corpid") != cfg.corp_id:
        return _err(40013, "invalid corpid")
    if request.args.get("corpsecret") != cfg.app_secret:
        return _err(40001, "invalid secret")
    return _fault("wecom_token") or _issue("qy")


def _check_token(kind: str):
    svc = _svc()
    token = request.args.get("access_token", "")
    if not token:
        return _err(41001, "access_token missing")
    if not svc.fake_store.token_valid(token, kind, svc.clock.now()):
        return _err(40014 if not token.startswith(f"fake-{kind}-") else 42001, "invalid or expired access_token")
    return None


@bp.post("/mp/cgi-bin/message/custom/send")
def mp_custom_send():
    if (bad := _check_token("mp")) is not None:
        return bad
    data = _json_body()
    if data is None:
        return _err(44002, "empty post data")
    if not data.get("touser"):
        return _err(40003, "invalid openid")
    if data.get("msgtype") != "text" or not (data.get("text") or {}).get("content"):
        return _err(40008, "invalid message type")
    if (fault := _fault("mp_custom_send")) is not None:
        return fault
    _record("mp_custom_send", data["touser"], data)
    return _err(0, "ok")


@bp.post("/qy/cgi-bin/message/send")
def wecom_send():
    if (bad := _check_token("qy")) is not None:
        return bad
    data = _json_body()
    if data is None:
        return _err(44002, "empty post data")
    if str(data.get("agentid")) != str(_svc().config.wecom.agent_id):
        return _err(40056, "invalid agentid")
    if not (data.get("touser") or data.get("toparty") or data.get("totag")):
        return _err(40031, "invalid user list")
    if data.get("msgtype") not in ("text", "markdown", "textcard"):
        return _err(40008, "invalid message type")
    if (fault := _fault("wecom_send")) is not None:
        return fault
    _record("wecom_send", data.get("touser"), data)
    return jsonify(errcode=0, errmsg="ok", invaliduser="")


@bp.post("/qy/cgi-bin/webhook/send")
def robot_send():
    key = request.args.get("key", "")
    if key not in {g.robot_key for g in _svc().config.grids}:
        return _err(93000, "invalid webhook url")
    data = _json_body()
    if data is None:
        return _err(40058, "invalid json")
    mtype = data.get("msgtype")
    content = (data.get(mtype) or {}).get("content") if mtype in ("text", "markdown") else None
    if not content:
        return _err(40008, "invalid message type" if mtype not in ("text", "markdown") else "content empty")
    if len(content.encode("utf-8")) > (4096 if mtype == "markdown" else 2048):
        return _err(40058, "content exceed max length")
    if (fault := _fault("robot")) is not None:
        return fault
    _record("robot", key, data)
    return _err(0, "ok")


@bp.post("/_control/faults")
def control_faults():
    data = _json_body() or {}
    if data.get("api") not in ("robot", "mp_custom_send", "wecom_send", "mp_token", "wecom_token"):
        return jsonify(error="api must be one of robot, mp_custom_send, wecom_send, mp_token, wecom_token"), 400
    _svc().fake_store.set_fault(data["api"], int(data.get("count", 1)), data.get("errcode"), data.get("http_status"))
    return jsonify(ok=True)
