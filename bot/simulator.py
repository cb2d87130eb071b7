"""/simulator (local mode): chat as a resident through the real signed webhook, watch the replies,
messages sent to residents and the pushes to grid groups, type staff commands, and move the bot's
clock forward to see the 54321 promises come due (GET/POST /simulator/api/clock).

The page (templates/simulator.html, its script and styles in templates/simulator_assets/) renders
everything the fake platform recorded: WeCom robot markdown as the WeCom client shows it, times in
the community's timezone, and a guided tour (导览) that plays a whole ticket through these same
endpoints. Registering this blueprint also serves `/` (a redirect here) and `/favicon.ico`: both
exist only in local mode, as the blueprint does."""
from __future__ import annotations

import logging
import math
import random
import struct
import zlib
from datetime import timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import requests
from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, request, send_from_directory, url_for

from bot.wire import message_xml, open_reply, signed_request, wecom_request
from bot.wxcrypto import CallbackError
from handlers.clock import SystemClock
from domain.states import ROLE_NAMES

log = logging.getLogger(__name__)
bp = Blueprint("simulator", __name__, url_prefix="/simulator")

RESIDENTS = [
    {"openid": "o-sim-zhang-ayi", "name": "张阿姨（3号楼）"},
    {"openid": "o-sim-li-laoshi", "name": "李老师（15号楼）"},
    {"openid": "o-sim-wang-xiansheng", "name": "王先生（28号楼）"},
    {"openid": "o-sim-new", "name": "新居民"},
]
ASSETS = Path(__file__).parent / "templates" / "simulator_assets"
ASSET_FILES = {"simulator.js": "text/javascript", "simulator.css": "text/css"}
FAVICON = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64">'
           '<rect width="64" height="64" rx="14" fill="#07c160"/>'
           '<path d="M14 18h36a4 4 0 0 1 4 4v18a4 4 0 0 1-4 4H30l-10 8v-8h-6a4 4 0 0 1-4-4V22a4 4 0 0 1 4-4z" fill="#fff"/>'
           '<path d="M22 31l7 7 13-14" fill="none" stroke="#07c160" stroke-width="5" stroke-linecap="round" '
           'stroke-linejoin="round"/></svg>')


def _svc():
    return current_app.extensions["jiesu"]


@bp.record_once
def _root_routes(state) -> None:
    """`/` and `/favicon.ico` on the app itself, registered with this blueprint: local mode only."""
    state.app.add_url_rule("/", "simulator_root", lambda: redirect(request.script_root + bp.url_prefix))
    state.app.add_url_rule("/favicon.ico", "simulator_favicon", favicon)


def favicon():
    return current_app.response_class(FAVICON, mimetype="image/svg+xml", headers={"Cache-Control": "max-age=86400"})


def _people(svc) -> dict:
    """userid -> {name, label} of every staff member and grid leader (mentions and the staff log)."""
    return {s.id: {"name": s.name, "label": f"{s.name}（{ROLE_NAMES.get(s.role, s.role)}{'·' + s.grid if s.grid else ''}）"}
            for s in svc.staff_desk.staff.values()}


@bp.get("")
@bp.get("/")
def page():
    svc = _svc()
    people = _people(svc)
    staff = [{"userid": uid, "name": p["label"]} for uid, p in people.items()]
    grids = [{"name": g.name, "key": g.robot_key, "leader": g.leader.name, "leader_userid": g.leader.wecom_userid}
             for g in svc.config.grids]
    sim = {"timezone": svc.config.community.timezone, "community": svc.config.community.name, "people": people,
           "grids": grids, "residents": RESIDENTS}
    return render_template("simulator.html", residents=RESIDENTS, community=svc.config.community.name, staff=staff,
                           grids=grids, sim=sim)


@bp.get("/assets/<name>")
def asset(name: str):
    """The page's script and styles, served by the bot itself (no CDN)."""
    if name not in ASSET_FILES:
        abort(404)
    return send_from_directory(ASSETS, name, mimetype=ASSET_FILES[name], max_age=0)


@bp.get("/media/<media_id>")
def media(media_id: str):
    """A photo a simulated resident sent (the bytes the bot fetches from the fake media API)."""
    found = _svc().fake_store.get_media(media_id) if media_id.startswith("img-") else None
    if found is None:
        abort(404)
    content, content_type = found
    return current_app.response_class(content, mimetype=content_type, headers={"Cache-Control": "max-age=86400"})


@cache
def photo_png(width: int = 240, height: int = 180) -> bytes:
    """The simulator's 随手拍: a hallway with an e-bike charging from a cable run out of a window (a PNG
    drawn here, no imaging library), so the resident's bubble and the group's image show a picture."""
    def colour(x: int, y: int) -> tuple[int, int, int]:
        # the orange cable from the window down to the bike's battery, over everything else
        ax, ay, bx, by = 214, 38, 168, 104
        t = max(0.0, min(1.0, ((x - ax) * (bx - ax) + (y - ay) * (by - ay)) / ((bx - ax) ** 2 + (by - ay) ** 2)))
        if (x - ax - t * (bx - ax)) ** 2 + (y - ay - t * (by - ay)) ** 2 <= 4:
            return 245, 120, 20
        for cx in (128, 186):                                           # wheels
            d = (x - cx) ** 2 + (y - 140) ** 2
            if 120 <= d <= 225:
                return 35, 35, 40
            if d < 120 and (x == cx or y == 140):
                return 120, 120, 125
        if 124 <= x <= 190 and 104 <= y <= 124:                         # body
            return 40, 90, 150
        if 116 <= x <= 132 and 88 <= y <= 104 or 176 <= x <= 184 and 80 <= y <= 104:
            return 40, 40, 48                                           # handlebar stem and seat post
        if 108 <= x <= 132 and 84 <= y <= 89 or 168 <= x <= 194 and 76 <= y <= 82:
            return 25, 25, 30                                           # handlebar and seat
        if 196 <= x <= 232 and 14 <= y <= 52:                           # window, with its frame
            return (90, 90, 90) if x in (196, 214, 232) or y in (14, 33, 52) else (170, 205, 235)
        if 24 <= x <= 76 and 30 <= y <= 146:                            # a flat's door
            return (205, 170, 60) if (x - 68) ** 2 + (y - 92) ** 2 <= 9 else (150, 95, 60)
        if y >= 146:                                                    # floor tiles
            shade = 160 - (y - 146) // 2 + (8 if (x // 30 + (y - 146) // 12) % 2 else 0)
            return shade, shade, shade - 6
        return 236 - y // 8, 228 - y // 8, 208 - y // 8                 # wall
    rows = b"".join(b"\x00" + b"".join(bytes(colour(x, y)) for x in range(width)) for y in range(height))

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


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
        media_id = f"img-{msg_id}"      # the photo's bytes, for the bot to fetch from cgi-bin/media/get
        svc.fake_store.put_media(media_id, photo_png(), "image/png")
        shown_at = url_for("simulator.media", media_id=media_id)
        xml = message_xml(cfg.wechat.app_id, openid, "image", now, msg_id, PicUrl=svc.base_url + shown_at, MediaId=media_id)
        shown = {"type": "image", "content": shown_at}
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


def _staff_callback(svc, userid: str, xml: str, now: int):
    """POST a WeCom callback to /wecom over real HTTP, signed and encrypted as WeCom does; record the
    bot's answer in the staff log. (reply, None) or (None, an error response)."""
    params, body = wecom_request(svc.staff_crypto, xml, now, svc.config.wecom.agent_id)
    try:
        res = requests.post(svc.base_url + "/wecom", params=params, data=body, headers={"Content-Type": "text/xml"}, timeout=10)
    except requests.RequestException as e:
        return None, (jsonify(error=f"callback unreachable: {type(e).__name__}"), 502)
    if res.status_code != 200:
        return None, (jsonify(error=f"callback answered {res.status_code}: {res.text[:200]}"), 502)
    try:
        reply = open_reply(svc.staff_crypto, res.content).get("Content", "")
    except CallbackError as e:
        return None, (jsonify(error=f"reply could not be opened: {e.reason}"), 502)
    if reply:
        svc.fake_store.record(svc.clock.now(), "staff_reply", userid, {"type": "text", "content": reply})
    return reply, None


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
    reply, failed = _staff_callback(svc, userid, xml, now)
    return failed or jsonify(reply=reply)


# -- WeCom template cards (button_interaction) sent to staff, and taps on their buttons -------------------

def _cards(svc, userid: str | None = None) -> list[dict]:
    """The newest content of every card the fake platform holds ([] before it records cards)."""
    cards = getattr(svc.fake_store, "cards", None)
    return cards(userid) if callable(cards) else []


@bp.get("/api/cards")
def cards():
    """Every template card sent to staff, as it looks now (an updated card replaces the old one):
    {"cards": [{task_id, userid, card, updated_at}]}; ?userid= for one person's."""
    found = _cards(_svc(), request.args.get("userid") or None)
    for c in found:
        at = c.get("updated_at")
        if hasattr(at, "isoformat"):
            c["updated_at"] = at.isoformat() + ("Z" if at.tzinfo is None else "")
    return jsonify(cards=found)


@bp.post("/api/card_tap")
def card_tap():
    """Tap a button on a card as its recipient: {userid, task_id, key}. Builds the template_card_event
    callback WeCom sends (with a fresh ResponseCode from the fake platform), posts it to /wecom over
    real HTTP, and returns the bot's reply."""
    svc = _svc()
    cfg = svc.config
    data = request.get_json(silent=True)
    data = data if isinstance(data, dict) else {}
    userid, task_id, key = (data.get(k) for k in ("userid", "task_id", "key"))
    if not all(isinstance(v, str) and v for v in (userid, task_id, key)):
        return jsonify(error="userid, task_id and key are required (strings)"), 400
    if userid not in svc.staff_desk.staff:
        return jsonify(error=f"unknown staff userid {userid!r}: only the configured staff can be played"), 400
    issue_code = getattr(svc.fake_store, "issue_code", None)
    if not callable(issue_code):
        return jsonify(error="the fake platform does not issue card response codes (FakeStore.issue_code missing)"), 501
    card = next((c["card"] for c in _cards(svc, userid) if c.get("task_id") == task_id and c.get("userid") == userid), None)
    if not isinstance(card, dict):
        return jsonify(error=f"no card {task_id!r} was sent to {userid}"), 404
    buttons = [b for b in card.get("button_list") or [] if isinstance(b, dict)]
    button = next((b for b in buttons if b.get("key") == key), None)
    if button is None:
        return jsonify(error=f"card {task_id!r} has no button {key!r}"), 400
    when = svc.clock.now()
    now = int(when.timestamp())
    code = issue_code(task_id, userid, when)
    xml = message_xml(cfg.wecom.corp_id, userid, "event", now, None, Event="template_card_event", EventKey=key,
                      TaskId=task_id, CardType="button_interaction", ResponseCode=code, AgentID=cfg.wecom.agent_id)
    title = (card.get("main_title") or {}).get("title") if isinstance(card.get("main_title"), dict) else None
    svc.fake_store.record(when, "staff", userid, {"type": "card_tap", "task_id": task_id, "key": key,
                                                  "content": f"点了卡片「{title or task_id}」的「{button.get('text') or key}」"})
    reply, failed = _staff_callback(svc, userid, xml, now)
    return failed or jsonify(reply=reply)


# -- the clock -------------------------------------------------------------------------------------

CLOCK_UNITS = {"weeks": "周", "days": "天", "hours": "小时", "minutes": "分钟", "seconds": "秒"}
MAX_STEP = timedelta(days=366)
WEEKDAYS = "一二三四五六日"


def _offset_seconds(clock) -> float | None:
    """How far the clock is ahead of real time: the simulated clock knows; SystemClock is 0; a test's
    FakeClock has no such notion (None)."""
    if isinstance(clock, SystemClock):
        return 0.0
    value = getattr(clock, "offset_seconds", None)
    return float(value) if isinstance(value, (int, float)) else None


def _offset_text(seconds: float | None) -> str:
    if not seconds:
        return "" if seconds is None else "实时"
    left, parts = int(abs(seconds)) // 60, []
    for size, unit in ((7 * 24 * 60, "周"), (24 * 60, "天"), (60, "小时"), (1, "分钟")):
        if left >= size:
            parts.append(f"{left // size} {unit}")
            left %= size
    return ("快进 " if seconds > 0 else "拨回 ") + (" ".join(parts) or "不到 1 分钟")


def _clock_state(svc) -> dict:
    clock = svc.clock
    now = clock.now()
    tz = svc.config.community.timezone
    local = now.astimezone(ZoneInfo(tz))
    offset = _offset_seconds(clock)
    return {"now": now.isoformat(), "now_local": local.isoformat(), "timezone": tz, "offset_seconds": offset,
            "display": f"{local:%Y-%m-%d} 周{WEEKDAYS[local.weekday()]} {local:%H:%M}",
            "offset_text": _offset_text(offset),
            "can_advance": callable(getattr(clock, "advance", None)), "can_reset": callable(getattr(clock, "reset", None))}


def _step(advance) -> tuple[dict | None, str | None]:
    """{"minutes": 40} -> (kwargs for timedelta, None) or (None, why it is refused)."""
    usage = 'advance must look like {"minutes": 40}, with ' + ", ".join(CLOCK_UNITS)
    if not isinstance(advance, dict) or not advance:
        return None, usage
    for unit, amount in advance.items():
        if unit not in CLOCK_UNITS:
            return None, f"unknown unit {unit!r}: {usage}"
        if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not math.isfinite(amount):
            return None, f"{unit} must be a number"
    step = timedelta(**advance)
    if step <= timedelta(0):
        return None, 'time only moves forward here; {"reset": true} goes back to real time'
    if step > MAX_STEP:
        return None, "at most 366 days at a time"
    return dict(advance), None


def _sweep(svc) -> bool:
    """Run the promise sweep now, in this process, as the scheduler does every minute. Only through
    the scheduler's own sweep(): without a scheduler (tests that drive the outbox themselves) nothing
    is swept here and the caller says so."""
    sweep = getattr(svc.scheduler, "sweep", None)
    if not callable(sweep):
        return False
    sweep()
    return True


@bp.get("/api/clock")
def clock_get():
    """The bot's time: {now (UTC), now_local (community.timezone), offset_seconds, display, ...}."""
    return jsonify(_clock_state(_svc()))


@bp.post("/api/clock")
def clock_post():
    """{"advance": {"minutes": 40}} or {"reset": true}: move the bot's clock, then sweep the 54321
    promises at once and wake the outbox, so the reminders that came due are sent within a second."""
    svc = _svc()
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or (("advance" in data) == (data.get("reset") is True)):
        return jsonify(error='send {"advance": {"minutes": 40}} or {"reset": true}'), 400
    clock, name = svc.clock, type(svc.clock).__name__
    if data.get("reset") is True:
        if not callable(getattr(clock, "reset", None)):
            return jsonify(error=f"this bot's clock ({name}) cannot be reset"), 400
        clock.reset()
    else:
        step, problem = _step(data["advance"])
        if problem:
            return jsonify(error=problem), 400
        if not callable(getattr(clock, "advance", None)):
            return jsonify(error=f"this bot's clock ({name}) cannot be advanced: only the local-mode bot started by "
                                 f"run_bot.py (or a test's FakeClock) has a clock the simulator can move"), 400
        clock.advance(**step)
    try:
        swept = _sweep(svc)
    except Exception as e:  # noqa: BLE001 - the clock did move: say so, and why nothing was swept
        log.exception("the promise sweep after moving the clock failed")
        return jsonify(error=f"the clock moved but the promise sweep failed: {type(e).__name__}: {e}",
                       **_clock_state(svc)), 500
    svc.wake_outbox()
    return jsonify(swept=swept, **_clock_state(svc))
