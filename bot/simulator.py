"""/simulator (local mode): chat as a resident through the real signed webhook, watch the replies,
messages sent to residents and the pushes to grid groups."""
from __future__ import annotations

import random

import requests
from flask import Blueprint, current_app, jsonify, render_template, request

from bot.wire import message_xml, open_reply, signed_request, wecom_request
from bot.wxcrypto import CallbackError
from handlers.commands.registry import ROLE_NAMES

bp = Blueprint("simulator", __name__, url_prefix="/simulator")

RESIDENTS = [
    {"openid": "o-sim-zhang-ayi", "name": "张阿姨（3号楼）"},
    {"openid": "o-sim-li-laoshi", "name": "李老师（15号楼）"},
    {"openid": "o-sim-wang-xiansheng", "name": "王先生（28号楼）"},
    {"openid": "o-sim-new", "name": "新居民"},
]
SAMPLE_PHOTO = "/simulator/static/photo.svg"


def _svc():
    return current_app.extensions["jiesu"]


@bp.get("")
@bp.get("/")
def page():
    svc = _svc()
    staff = [{"userid": s.userid, "name": f"{s.name}（{ROLE_NAMES[s.role]}{'·' + s.grid if s.grid else ''}）"}
             for s in svc.staff_desk.staff.values()]
    return render_template("simulator.html", residents=RESIDENTS, community=svc.config.community.name, staff=staff,
                           grids=[{"name": g.name, "key": g.robot_key, "leader": g.leader.name} for g in svc.config.grids])


@bp.get("/static/photo.svg")
def photo():
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="160" height="100"><rect width="160" height="100" fill="#ddd"/>'
           '<text x="80" y="55" font-size="14" text-anchor="middle">随手拍照片</text></svg>')
    return current_app.response_class(svg, mimetype="image/svg+xml")


@bp.get("/api/messages")
def messages():
    """Everything the fake platform recorded: resident messages, replies, pushes, sends."""
    since = request.args.get("since", 0, type=int)
    return jsonify(messages=_svc().fake_store.all_calls(since))


@bp.post("/api/send")
def send():
    """Send one message as a resident: {openid, type: text|voice|image|location|subscribe, ...}."""
    svc = _svc()
    cfg = svc.config
    data = request.get_json(silent=True) or {}
    openid = str(data.get("openid") or "")[:64]
    mtype = data.get("type", "text")
    if not openid:
        return jsonify(error="openid is required"), 400
    now = int(svc.clock.now().timestamp())
    msg_id = random.getrandbits(63)
    if mtype == "text":
        content = str(data.get("content") or "")
        if not content.strip():
            return jsonify(error="content is empty"), 400
        xml = message_xml(cfg.wechat.app_id, openid, "text", now, msg_id, Content=content)
        shown = {"type": "text", "content": content}
    elif mtype == "voice":
        rec = str(data.get("recognition") or "")
        xml = message_xml(cfg.wechat.app_id, openid, "voice", now, msg_id, MediaId=f"voice-{msg_id}", Format="amr",
                          Recognition=rec or None)
        shown = {"type": "voice", "content": rec}
    elif mtype == "image":
        xml = message_xml(cfg.wechat.app_id, openid, "image", now, msg_id, PicUrl=svc.base_url + SAMPLE_PHOTO, MediaId=f"img-{msg_id}")
        shown = {"type": "image", "content": SAMPLE_PHOTO}
    elif mtype == "location":
        lat, lng = float(data.get("lat", 30.2741)), float(data.get("lng", 120.1551))
        label = str(data.get("label") or "")
        xml = message_xml(cfg.wechat.app_id, openid, "location", now, msg_id, Location_X=lat, Location_Y=lng, Scale=15, Label=label)
        shown = {"type": "location", "content": label or f"{lat},{lng}"}
    elif mtype == "subscribe":
        xml = message_xml(cfg.wechat.app_id, openid, "event", now, None, Event="subscribe")
        shown = {"type": "event", "content": "关注了公众号"}
    else:
        return jsonify(error=f"unknown type {mtype}"), 400

    svc.fake_store.record(svc.clock.now(), "resident", openid, shown)
    params, body = signed_request(svc.crypto, xml, now, cfg.wechat.message_mode)
    try:
        res = requests.post(svc.base_url + "/wechat", params=params, data=body,
                            headers={"Content-Type": "text/xml"}, timeout=10)
    except requests.RequestException as e:
        return jsonify(error=f"webhook unreachable: {type(e).__name__}"), 502
    if res.status_code != 200:
        return jsonify(error=f"webhook answered {res.status_code}: {res.text[:200]}"), 502
    try:
        reply = open_reply(svc.crypto, res.content).get("Content", "")
    except CallbackError as e:
        return jsonify(error=f"reply could not be opened: {e.reason}"), 502
    if reply:
        svc.fake_store.record(svc.clock.now(), "reply", openid, {"type": "text", "content": reply})
    return jsonify(reply=reply)


@bp.post("/api/staff")
def staff_send():
    """Type a slash command as a staff member, through the real encrypted /wecom callback."""
    svc = _svc()
    cfg = svc.config
    data = request.get_json(silent=True) or {}
    userid, content = str(data.get("userid") or "")[:64], str(data.get("content") or "")
    if not userid or not content.strip():
        return jsonify(error="userid and content are required"), 400
    now = int(svc.clock.now().timestamp())
    xml = message_xml(cfg.wecom.corp_id, userid, "text", now, random.getrandbits(63), Content=content, AgentID=cfg.wecom.agent_id)
    svc.fake_store.record(svc.clock.now(), "staff", userid, {"type": "text", "content": content})
    params, body = wecom_request(svc.staff_crypto, xml, now, cfg.wecom.agent_id)
    try:
        res = requests.post(svc.base_url + "/wecom", params=params, data=body, headers={"Content-Type": "text/xml"}, timeout=10)
    except requests.RequestException as e:
        return jsonify(error=f"callback unreachable: {type(e).__name__}"), 502
    if res.status_code != 200:
        return jsonify(error=f"callback answered {res.status_code}: {res.text[:200]}"), 502
    reply = open_reply(svc.staff_crypto, res.content).get("Content", "")
    if reply:
        svc.fake_store.record(svc.clock.now(), "staff_reply", userid, {"type": "text", "content": reply})
    return jsonify(reply=reply)
