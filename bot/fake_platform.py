"""A fake WeChat platform served by the bot in local mode: it accepts the real API calls of the bot's
own clients, checks them as WeChat would (credentials, access token, robot key, JSON shape),
answers with WeChat's error codes and records every call. Never registered outside local mode.

Customer-service messages follow WeChat's 48-hour rule: allowed only within 48 hours of the
resident's last interaction (a message, a subscribe, a menu click), which the platform learns from
the "resident" records of whoever plays WeChat's servers (the simulator, the tests' WeChat client);
outside it, errcode 45015 and the bot falls back to a template message.

WeCom's interactive cards (template_card, button_interaction) are checked as WeCom does (title,
task_id, 1-6 buttons with unique keys, the lengths of each field), recorded as the card each staff
member holds and answered with a response_code; message/update_template_card spends such a code
(unknown, used or older than 72 hours by the platform's clock: errcode 40078) and replaces the card.
The simulator plays taps with FakeStore.issue_code and shows FakeStore.cards.

网页授权 (signing in on web pages): the authorize page of open.weixin.qq.com (official account or
WeCom, by appid) and WeCom's QR login page ask who you are (the real client knows: a simulated
resident, a configured staff member, or one typed) and send the browser back with a code good once
for 5 minutes, which sns/oauth2/access_token (official account) or auth/getuserinfo (WeCom) spends.

Failures can be injected for testing retries: POST /fake/_control/faults {"api": "robot", "count": 2,
"errcode": -1} (or "http_status": 500). A 2xx "http_status" answers a page that is not JSON, as a
proxy or gateway in front of WeChat may: HTML by default, plain text with "body": "text".
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
import struct
import zlib
from datetime import timedelta

from urllib.parse import urlencode, urlsplit

from flask import Blueprint, Response, current_app, jsonify, redirect, render_template, request

from bot.fake_store import WINDOW_HOURS
from domain.states import ROLE_NAMES

bp = Blueprint("fake_platform", __name__, url_prefix="/fake")
MP_TOKEN_GRACE = 300     # seconds an old official-account token still works after a new one
TOKEN_TTL = 7200
FAULT_APIS = ("robot", "mp_custom_send", "mp_template_send", "mp_media_get", "wecom_send", "wecom_card_update",
              "mp_token", "wecom_token", "wecom_getuserinfo", "mp_oauth")   # wecom_send: message/send, a card's too
OPENID = re.compile(r"[A-Za-z0-9_-]{1,64}")
TEMPLATE_FIELD = re.compile(r"[a-z][a-z_]*\d*")
TEMPLATE_VALUE_MAX = 200        # template content: 200 characters at most (WeChat's documentation)
TEMPLATE_KEYWORD_MAX = 20       # since 2023-05 a keyword shows 20 characters on one line (WeChat cuts the
                                # rest silently; the fake refuses it, so that a test sees text being lost)
# template_card, button_interaction (WeCom's documentation; lengths in characters)
CARD_TYPES = ("text_notice", "news_notice", "button_interaction", "vote_interaction", "multiple_interaction")
CARD_TASK_ID = re.compile(r"[A-Za-z0-9_\-@.]{1,128}")
CARD_TITLE_MAX, CARD_DESC_MAX, CARD_SUBTITLE_MAX = 26, 30, 100
CARD_HCONTENT_MAX, CARD_KEYNAME_MAX, CARD_VALUE_MAX = 6, 5, 30
CARD_BUTTONS_MAX, CARD_BUTTON_TEXT_MAX, CARD_BUTTON_KEY_MAX = 6, 10, 1024
ROBOT_IMAGE_MAX = 2 * 1024 * 1024
ROBOT_BODY_MAX = 4 * 1024 * 1024           # room for the base64 of a 2 MB image


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


FAULT_PAGES = {"html": ("<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
                         "<body><h1>502 Bad Gateway</h1></body></html>", "text/html; charset=utf-8"),
               "text": ("upstream temporarily unavailable", "text/plain; charset=utf-8")}


def _fault_pages() -> dict:
    """api -> which page a 2xx injected fault answers (kept with the app: the fault store keeps codes only)."""
    return current_app.extensions.setdefault("fake_fault_pages", {})


def _fault(api: str):
    f = _svc().fake_store.take_fault(api)
    if f is None:
        return None
    errcode, http_status = f
    if http_status and 200 <= http_status < 300:
        body, ctype = FAULT_PAGES[_fault_pages().get(api, "html")]
        return Response(body, status=http_status, content_type=ctype)
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


def _mp_credentials(grant_type: str, bad_secret: tuple[int, str]):
    """The official account's answer to a wrong grant_type, appid or secret (None when all are right)."""
    cfg, a = _svc().config.wechat, request.args
    if a.get("grant_type") != grant_type:
        return _err(40002, "invalid grant_type")
    if a.get("appid") != cfg.app_id:
        return _err(40013, "invalid appid")
    if a.get("secret") != cfg.app_secret:
        return _err(*bad_secret)
    return None


@bp.get("/mp/cgi-bin/token")
def mp_token():
    refused = _mp_credentials("client_credential", (40001, "invalid credential, access_token is invalid or not latest"))
    return refused or _fault("mp_token") or _issue("mp")


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
    if not _in_window(data["touser"]):
        _record("mp_custom_send", data["touser"], data, errcode=45015)
        return _err(45015, "response out of time limit or subscription is canceled")
    _record("mp_custom_send", data["touser"], data)
    return _err(0, "ok")


def _in_window(openid: str) -> bool:
    svc = _svc()
    seen = svc.fake_store.follower(openid)
    if seen is None or not seen[1] or seen[0] is None:
        return False
    return svc.clock.now().replace(tzinfo=None) - seen[0] <= timedelta(hours=WINDOW_HOURS)


def _template_data_problem(data) -> str | None:
    if not isinstance(data, dict) or not data:
        return "data must be an object of fields"
    for name, field in data.items():
        if not TEMPLATE_FIELD.fullmatch(str(name)):
            return f"invalid field name {name!r}"
        if not isinstance(field, dict) or not isinstance(field.get("value"), str) or set(field) - {"value", "color"}:
            return f"field {name} must be {{\"value\": string}}"
        value = field["value"]
        if len(value) > TEMPLATE_VALUE_MAX:
            return f"field {name} longer than {TEMPLATE_VALUE_MAX} characters"
        if name.startswith("keyword") and (len(value) > TEMPLATE_KEYWORD_MAX or "\n" in value):
            return f"field {name} longer than {TEMPLATE_KEYWORD_MAX} characters or not on one line"
    return None


@bp.post("/mp/cgi-bin/message/template/send")
def mp_template_send():
    if (bad := _check_token("mp")) is not None:
        return bad
    data = _json_body()
    if data is None:
        return _err(44002, "empty post data")
    touser = data.get("touser")
    if not isinstance(touser, str) or not OPENID.fullmatch(touser):
        return _err(40003, "invalid openid")
    if data.get("template_id") not in set(_svc().config.wechat.templates.values()):
        return _err(40037, "invalid template_id")
    if (problem := _template_data_problem(data.get("data"))) is not None:
        return _err(47001, f"data format error: {problem}")
    if "url" in data and not (isinstance(data["url"], str) and data["url"].startswith(("http://", "https://"))):
        return _err(40039, "invalid url")
    if (fault := _fault("mp_template_send")) is not None:
        return fault
    seen = _svc().fake_store.follower(touser)
    if seen is not None and not seen[1]:
        _record("mp_template_send", touser, data, errcode=43004)
        return _err(43004, "require subscribe")
    _record("mp_template_send", touser, data)
    return jsonify(errcode=0, errmsg="ok", msgid=secrets.randbits(40))


@bp.get("/mp/cgi-bin/media/get")
def mp_media_get():
    """Temporary media the account received: the bytes with their content type, as WeChat serves them."""
    if (bad := _check_token("mp")) is not None:
        return bad
    media_id = request.args.get("media_id", "")
    if not media_id:
        return _err(40007, "invalid media_id")
    if (fault := _fault("mp_media_get")) is not None:
        return fault
    found = _svc().fake_store.get_media(media_id)
    if found is None:
        return _err(40007, "invalid media_id")
    content, content_type = found
    _record("mp_media_get", media_id, {"size": len(content), "content_type": content_type})
    ext = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/webp": "webp"}.get(content_type, "bin")
    return Response(content, content_type=content_type,
                    headers={"Content-Disposition": f'attachment; filename="{secrets.token_hex(8)}.{ext}"'})


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
    if data.get("msgtype") not in ("text", "markdown", "textcard", "template_card"):
        return _err(40008, "invalid message type")
    if data["msgtype"] == "template_card":
        return _wecom_card_send(data)
    if (fault := _fault("wecom_send")) is not None:
        return fault
    _record("wecom_send", data.get("touser"), data)
    return jsonify(errcode=0, errmsg="ok", invaliduser="")


def _text(obj, name: str) -> str | None:
    v = obj.get(name) if isinstance(obj, dict) else None
    return v if isinstance(v, str) else None


def _card_problem(card) -> tuple[int, str] | None:
    """What WeCom would refuse in a button_interaction template_card: (errcode, errmsg), or None."""
    if not isinstance(card, dict):
        return 41016, "missing template_card"
    ctype = card.get("card_type")
    if ctype not in CARD_TYPES:
        return 40058, "invalid template_card.card_type"
    if ctype != "button_interaction":
        return 40058, f"card_type {ctype} not supported by the fake platform"
    main = card.get("main_title")
    if main is not None and not isinstance(main, dict):
        return 40058, "invalid main_title"
    title, desc, sub = _text(main, "title"), _text(main, "desc"), _text(card, "sub_title_text")
    if not title and not sub:
        return 41016, "missing title: main_title.title or sub_title_text is required"
    if title and len(title) > CARD_TITLE_MAX:
        return 40058, f"main_title.title exceeds {CARD_TITLE_MAX} characters"
    if desc and len(desc) > CARD_DESC_MAX:
        return 40058, f"main_title.desc exceeds {CARD_DESC_MAX} characters"
    if sub and len(sub) > CARD_SUBTITLE_MAX:
        return 40058, f"sub_title_text exceeds {CARD_SUBTITLE_MAX} characters"
    task_id = card.get("task_id")
    if not isinstance(task_id, str) or not CARD_TASK_ID.fullmatch(task_id):
        return 40058, "invalid task_id: 1-128 of letters, digits and _-@."
    items = card.get("horizontal_content_list", [])
    if not isinstance(items, list) or len(items) > CARD_HCONTENT_MAX:
        return 40058, f"horizontal_content_list: at most {CARD_HCONTENT_MAX} items"
    for item in items:
        keyname = _text(item, "keyname")
        if not keyname or len(keyname) > CARD_KEYNAME_MAX:
            return 40058, f"horizontal_content_list.keyname: 1-{CARD_KEYNAME_MAX} characters"
        if len(_text(item, "value") or "") > CARD_VALUE_MAX:
            return 40058, f"horizontal_content_list.value exceeds {CARD_VALUE_MAX} characters"
    buttons = card.get("button_list")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= CARD_BUTTONS_MAX:
        return 40058, f"invalid button_list: 1-{CARD_BUTTONS_MAX} buttons"
    keys = set()
    for b in buttons:
        text, key = _text(b, "text"), _text(b, "key")
        if not text or len(text) > CARD_BUTTON_TEXT_MAX:
            return 40058, f"button_list.text: 1-{CARD_BUTTON_TEXT_MAX} characters"
        if not key or len(key) > CARD_BUTTON_KEY_MAX:
            return 40058, f"button_list.key: 1-{CARD_BUTTON_KEY_MAX} characters"
        if key in keys:
            return 40058, f"button_list.key duplicated: {key}"
        keys.add(key)
        style = b.get("style", 1)
        if isinstance(style, bool) or style not in (1, 2, 3, 4):
            return 40058, "button_list.style must be 1-4"
    return None


def _wecom_card_send(data: dict):
    """message/send with msgtype template_card: checked, recorded as each recipient's card, answered
    with a fresh response_code."""
    svc = _svc()
    card = data.get("template_card")
    users = [u for u in str(data.get("touser") or "").split("|") if u]
    if not users:
        return _err(40031, "invalid user list")
    if (problem := _card_problem(card)) is not None:
        _record("wecom_card", data.get("touser"), data, errcode=problem[0])
        return _err(*problem)
    if (fault := _fault("wecom_send")) is not None:
        return fault
    code = svc.fake_store.send_card(card["task_id"], users, card, svc.clock.now())
    if code is None:
        _record("wecom_card", data.get("touser"), data, errcode=40058)
        return _err(40058, "invalid task_id: already used by another card of this app")
    _record("wecom_card", data.get("touser"), data)
    return jsonify(errcode=0, errmsg="ok", invaliduser="", msgid=secrets.token_hex(16), response_code=code)


@bp.post("/qy/cgi-bin/message/update_template_card")
def wecom_card_update():
    """Replace a card the users hold: the response code (of its send or of a tap) is spent."""
    if (bad := _check_token("qy")) is not None:
        return bad
    svc = _svc()
    data = _json_body()
    if data is None:
        return _err(44002, "empty post data")
    if str(data.get("agentid")) != str(svc.config.wecom.agent_id):
        return _err(40056, "invalid agentid")
    users = data.get("userids")
    if not isinstance(users, list) or not users or not all(isinstance(u, str) and u for u in users):
        return _err(40031, "invalid user list")
    code = data.get("response_code")
    if not isinstance(code, str) or not code:
        return _err(40078, "invalid response_code")
    card = data.get("template_card")
    if (problem := _card_problem(card)) is not None:
        _record("wecom_card_update", "|".join(users), data, errcode=problem[0])
        return _err(*problem)
    if (fault := _fault("wecom_card_update")) is not None:
        return fault
    errcode, errmsg, missing = svc.fake_store.update_card(code, users, card, svc.clock.now())
    _record("wecom_card_update", "|".join(users), data, errcode=errcode)
    if errcode:
        return _err(errcode, errmsg)
    return jsonify(errcode=0, errmsg="ok", invaliduser=missing)


@bp.post("/qy/cgi-bin/webhook/send")
def robot_send():
    key = request.args.get("key", "")
    if key not in {g.robot_key for g in _svc().config.grids}:
        return _err(93000, "invalid webhook url")
    request.max_content_length = ROBOT_BODY_MAX     # an image's base64 is far over the bot's own body limit
    data = _json_body()
    if data is None:
        return _err(40058, "invalid json")
    mtype = data.get("msgtype")
    if mtype == "image":
        return _robot_image(key, data)
    content = (data.get(mtype) or {}).get("content") if mtype in ("text", "markdown") else None
    if not content:
        return _err(40008, "invalid message type" if mtype not in ("text", "markdown") else "content empty")
    if len(content.encode("utf-8")) > (4096 if mtype == "markdown" else 2048):
        return _err(40058, "content exceed max length")
    if (fault := _fault("robot")) is not None:
        return fault
    _record("robot", key, data)
    return _err(0, "ok")


def _robot_image(key: str, data: dict):
    """A group-robot image: base64 of a JPG or PNG of at most 2 MB, with the md5 of its bytes."""
    image = data.get("image") if isinstance(data.get("image"), dict) else {}
    b64, md5 = image.get("base64"), image.get("md5")
    if not isinstance(b64, str) or not isinstance(md5, str):
        return _err(40058, "image.base64 and image.md5 are required")
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        return _err(40058, "invalid base64")
    if not raw or len(raw) > ROBOT_IMAGE_MAX:
        return _err(40009, "invalid image size")
    if hashlib.md5(raw).hexdigest() != md5.lower():
        return _err(40058, "md5 not match")
    if not (raw.startswith(b"\xff\xd8\xff") or raw.startswith(b"\x89PNG\r\n\x1a\n")):
        return _err(40058, "image must be jpg or png")
    if (fault := _fault("robot")) is not None:
        return fault
    _record("robot", key, data)
    return _err(0, "ok")


def sample_png(width: int = 4, height: int = 3, rgb: tuple[int, int, int] = (200, 120, 40)) -> bytes:
    """A small real PNG (the standard library's zlib and struct): what a resident's photo is in local mode."""
    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF)
    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


# -- 网页授权: the platform's sign-in pages and the code exchanges --------------------------------------

SUBJECT = re.compile(r"[A-Za-z0-9_.@-]{1,64}")      # a WeCom userid or an openid


@bp.route("/open/connect/oauth2/authorize", methods=["GET", "POST"])
def oauth_authorize():
    """open.weixin.qq.com's 网页授权: appid = wechat.app_id for a resident, wecom.corp_id for staff."""
    cfg, a = _svc().config, request.args
    kind = {cfg.wechat.app_id: "mp", cfg.wecom.corp_id: "wecom"}.get(a.get("appid", ""))
    agent = str(cfg.wecom.agent_id)
    problem = ("appid 参数错误" if kind is None else
               "response_type 参数错误（应为 code）" if a.get("response_type") != "code" else
               "scope 参数错误（应为 snsapi_base）" if a.get("scope") != "snsapi_base" else
               "agentid 参数错误" if kind == "wecom" and a.get("agentid", agent) != agent else None)
    return _sign_in_page(kind or "mp", problem, "企业微信网页授权" if kind == "wecom" else "微信网页授权")


@bp.route("/wwlogin/sso/login", methods=["GET", "POST"])
def wecom_qr_login():
    """WeCom's QR login (扫码登录) of a self-built app, for a desktop browser."""
    cfg, a = _svc().config, request.args
    problem = ("login_type 参数错误（应为 CorpApp）" if a.get("login_type") != "CorpApp" else
               "appid 参数错误" if a.get("appid") != cfg.wecom.corp_id else
               "agentid 参数错误" if a.get("agentid") != str(cfg.wecom.agent_id) else None)
    return _sign_in_page("wecom", problem, "企业微信扫码登录")


def _sign_in_page(kind: str, problem: str | None, title: str):
    """GET: who are you (the choices of local mode); POST: a one-time code, and back to redirect_uri."""
    svc = _svc()
    back = request.args.get("redirect_uri", "")
    if problem is None and urlsplit(back)[:2] != urlsplit(svc.base_url)[:2]:
        problem = "redirect_uri 参数错误：域名与应用设置的可信域名不一致"
    if problem is not None:
        return render_template("fake/sign_in.html", title=title, problem=problem), 400
    if request.method == "POST":
        who = (request.form.get("who") or "").strip()
        if SUBJECT.fullmatch(who):
            code = svc.fake_store.issue_oauth_code(kind, who, svc.clock.now())
            query = urlencode({"code": code, "state": request.args.get("state", "")})
            return redirect(f"{back}{'&' if '?' in back else '?'}{query}")
        problem = "账号只能是字母、数字和 _.@-（最多 64 个）"
    if kind == "wecom":
        choices = [(a.id, f"{a.name}（{ROLE_NAMES.get(a.role, a.role)}{'·' + a.grid if a.grid else ''}）")
                   for a in svc.directory.staff.values()]
    else:
        from bot.simulator import RESIDENTS
        choices = [(r["openid"], r["name"]) for r in RESIDENTS]
    return render_template("fake/sign_in.html", title=title, kind=kind, choices=choices, error=problem,
                           action=request.full_path), 400 if problem else 200


def _spend(api: str, kind: str, code: str) -> tuple[str | None, tuple[int, str] | None]:
    """(subject, None) or (None, (errcode, errmsg)) for a 网页授权 code; the call is recorded."""
    svc = _svc()
    subject, why = svc.fake_store.spend_oauth_code(code, kind, svc.clock.now()) if code else (None, "missing")
    refused = {"ok": None, "used": (40163, "code been used"), "missing": (41008, "missing code")}.get(
        why, (40029, "invalid code"))
    _record(api, subject, {"scope": "snsapi_base"}, errcode=refused[0] if refused else 0)
    return subject, refused


@bp.get("/qy/cgi-bin/auth/getuserinfo")
def wecom_getuserinfo():
    """获取访问用户身份: the member's userid for a code from the authorize or QR login page."""
    if (bad := _check_token("qy")) is not None:
        return bad
    if (fault := _fault("wecom_getuserinfo")) is not None:
        return fault
    userid, refused = _spend("wecom_getuserinfo", "wecom", request.args.get("code", ""))
    return _err(*refused) if refused else jsonify(errcode=0, errmsg="ok", userid=userid)


@bp.get("/mp/sns/oauth2/access_token")
def mp_oauth_access_token():
    """通过 code 换取网页授权 access_token: with snsapi_base, the openid is all the bot needs."""
    if (bad := _mp_credentials("authorization_code", (40125, "invalid appsecret"))) is not None:
        return bad
    if (fault := _fault("mp_oauth")) is not None:
        return fault
    openid, refused = _spend("mp_oauth", "mp", request.args.get("code", ""))
    if refused:
        return _err(*refused)
    return jsonify(access_token="fake-sns-" + secrets.token_hex(12), expires_in=TOKEN_TTL, openid=openid,
                   refresh_token="fake-refresh-" + secrets.token_hex(12), scope="snsapi_base")


@bp.post("/_control/faults")
def control_faults():
    data = _json_body() or {}
    if data.get("api") not in FAULT_APIS:
        return jsonify(error="api must be one of " + ", ".join(FAULT_APIS)), 400
    if data.get("body", "html") not in FAULT_PAGES:
        return jsonify(error="body must be one of " + ", ".join(FAULT_PAGES)), 400
    _fault_pages()[data["api"]] = data.get("body", "html")
    _svc().fake_store.set_fault(data["api"], int(data.get("count", 1)), data.get("errcode"), data.get("http_status"))
    return jsonify(ok=True)
