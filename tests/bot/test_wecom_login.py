"""企业微信登录 for the web desk (bot/wecom_login.py) against a live server: the browser's side with
requests, and the bot's own calls over real HTTP to the fake platform, which plays WeCom (its QR
login and authorize pages, gettoken, auth/getuserinfo)."""
from __future__ import annotations

import logging
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select

from bot import users
from bot.config import ConfigError
from storage.models import DeskUser
from tests.conftest import make_config, new_openid

CODE = re.compile(r"#(\d{8}-\d{4})")
PASSWORD = "correct horse battery"
# production behind https://jiesu.example, with credentials that look real
PRODUCTION = {"mode": "production", "wechat.app_id": "wx1234567890abcdef", "wechat.app_secret": "a" * 32,
              "wecom.corp_id": "ww1234567890abcdef", "wecom.app_secret": "b" * 32,
              "server.public_url": "https://jiesu.example",
              "grids": [{"name": "第一网格", "buildings": "1-36", "leader": {"name": "王芳", "wecom_userid": "wangfang"},
                         "robot_key": "693a91f6-7aaa-4bc4-97a0-0ec2c1fa5aa0"}]}
WECOM_UA = "Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 Mobile wxwork/4.1.22 MicroMessenger/7.0.1"


def start(s: requests.Session, live, headers=None) -> tuple[str, str]:
    """Press 企业微信登录: (the state sent, the platform page the browser is sent to)."""
    page = s.get(live.url + "/desk/login").text
    href = re.search(r'id="wecom-login" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    r = s.get(live.url + href, headers=headers, allow_redirects=False)
    assert r.status_code == 302, r.text
    to = r.headers["Location"]
    return parse_qs(urlsplit(to).query)["state"][0], to


def pick(s: requests.Session, live, page_url: str, who: str) -> str:
    """Choose who you are on the fake platform's page: the callback URL it sends the browser to."""
    page = s.get(page_url)
    assert page.status_code == 200, page.text
    action = re.search(r'action="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    r = s.post(live.url + action, data={"who": who}, allow_redirects=False)
    assert r.status_code == 302, r.text
    return r.headers["Location"]


def sign_in(s: requests.Session, live, who: str) -> requests.Response:
    _, to = start(s, live)
    return s.get(pick(s, live, to, who), allow_redirects=False)


def refusal(r: requests.Response) -> str:
    return re.search(r'id="refusal">([^<]+)<', r.text).group(1)


def report(live_wechat, text: str) -> str:
    return CODE.search(live_wechat.text(new_openid(), text)).group(1)


def test_sign_in_on_a_desktop_by_the_qr_login_acts_as_that_staff_member(live):
    svc = live.services
    s = requests.Session()
    state, to = start(s, live)
    url = urlsplit(to)
    q = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert url.path == "/fake/wwlogin/sso/login"           # login.work.weixin.qq.com/wwlogin/sso/login
    assert q == {"login_type": "CorpApp", "appid": "wwlocal00000000001", "agentid": "1000002", "state": state,
                 "redirect_uri": live.url + "/desk/wecom/callback"}
    assert re.fullmatch(r"[0-9a-f]{32}", state)
    back = pick(s, live, to, "zhaomin")
    assert back.startswith(live.url + "/desk/wecom/callback?") and f"state={state}" in back
    r = s.get(back, allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"] == "/desk/"
    assert "赵敏" in s.get(live.url + "/desk/").text
    with svc.sessions() as db:                      # recorded as a desk sign-in, with its actor
        user = db.scalar(select(DeskUser).where(DeskUser.username == "wecom:zhaomin"))
        assert user.staff_userid == "zhaomin" and user.last_login_at == svc.clock.now()
    [call] = [c for c in svc.fake_store.all_calls() if c["api"] == "wecom_getuserinfo"]
    assert call["target"] == "zhaomin" and call["errcode"] == 0
    # signing out ends it; signing in again reuses the account
    token = re.search(r'name="csrf_token" value="([^"]+)"', s.get(live.url + "/desk/").text).group(1)
    s.post(live.url + "/desk/logout", data={"csrf_token": token})
    assert s.get(live.url + "/desk/", allow_redirects=False).status_code == 302
    assert sign_in(s, live, "zhaomin").status_code == 302
    with svc.sessions() as db:
        assert len(db.scalars(select(DeskUser)).all()) == 1


def test_inside_wecom_the_silent_authorize_page_is_used_and_next_is_kept(live):
    s = requests.Session()
    r = s.get(live.url + "/desk/t/20260101-0001", allow_redirects=False)      # signed out: to the login page
    page = s.get(live.url + r.headers["Location"]).text
    href = re.search(r'id="wecom-login" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    r = s.get(live.url + href, headers={"User-Agent": WECOM_UA}, allow_redirects=False)
    to = r.headers["Location"]
    url = urlsplit(to)
    q = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert url.path == "/fake/open/connect/oauth2/authorize" and url.fragment == "wechat_redirect"
    assert q["appid"] == "wwlocal00000000001" and q["agentid"] == "1000002"
    assert q["response_type"] == "code" and q["scope"] == "snsapi_base"
    r = s.get(pick(s, live, to, "wangfang"), allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"] == "/desk/t/20260101-0001"


def test_a_missing_wrong_expired_or_reused_state_is_refused(live):
    svc = live.services
    s = requests.Session()
    _, to = start(s, live)
    back = pick(s, live, to, "zhaomin")
    code = parse_qs(urlsplit(back).query)["code"][0]
    r = s.get(f"{live.url}/desk/wecom/callback?code={code}", allow_redirects=False)
    assert r.status_code == 400 and "登录请求" in refusal(r)                  # no state
    _, to = start(s, live)
    back = pick(s, live, to, "zhaomin")
    r = s.get(re.sub(r"state=\w+", "state=" + "0" * 32, back), allow_redirects=False)
    assert r.status_code == 400 and "不匹配" in refusal(r)                    # not this browser's state
    assert s.get(live.url + "/desk/", allow_redirects=False).status_code == 302

    other = requests.Session()                  # another browser's state is not this browser's
    _, their = start(other, live)
    r = s.get(pick(other, live, their, "zhaomin"), allow_redirects=False)
    assert r.status_code == 400

    _, to = start(s, live)
    back = pick(s, live, to, "zhaomin")
    svc.clock.advance(minutes=11)                                               # states last 10 minutes
    r = s.get(back, allow_redirects=False)
    assert r.status_code == 400 and "过期" in refusal(r)

    _, to = start(s, live)
    back = pick(s, live, to, "zhaomin")
    copied = requests.Session()                 # a copy of the cookie that still holds the state
    copied.cookies.update(s.cookies)
    assert s.get(back, allow_redirects=False).status_code == 302
    r = s.get(back, allow_redirects=False)
    assert r.status_code == 400                                                 # the session's state is spent
    r = copied.get(back, allow_redirects=False)
    assert r.status_code == 400 and "已经用过" in refusal(r)                   # and so is the state itself
    assert copied.get(live.url + "/desk/", allow_redirects=False).status_code == 302


def test_a_code_used_twice_is_refused(live):
    s = requests.Session()
    _, to = start(s, live)
    first = pick(s, live, to, "zhaomin")
    assert s.get(first, allow_redirects=False).status_code == 302
    intruder = requests.Session()
    state, _ = start(intruder, live)            # a fresh, valid state, with the spent code
    code = parse_qs(urlsplit(first).query)["code"][0]
    r = intruder.get(f"{live.url}/desk/wecom/callback?code={code}&state={state}", allow_redirects=False)
    assert r.status_code == 400 and "已过期或已用过" in refusal(r)
    assert intruder.get(live.url + "/desk/", allow_redirects=False).status_code == 302
    errcodes = [c["errcode"] for c in live.services.fake_store.all_calls() if c["api"] == "wecom_getuserinfo"]
    assert errcodes == [0, 40163]


def test_a_wecom_member_who_is_not_staff_is_refused(live):
    svc = live.services
    s = requests.Session()
    r = sign_in(s, live, "stranger01")
    assert r.status_code == 403
    assert "stranger01" in refusal(r) and "不在本社区的工作人员名单中" in refusal(r)
    assert s.get(live.url + "/desk/", allow_redirects=False).status_code == 302
    with svc.sessions.begin() as db:
        assert db.scalars(select(DeskUser)).all() == []
        # an account made by hand under the WeCom name of someone else never acts as them
        users.add(db, "wecom:zhaomin", PASSWORD, "jiedao01", svc.clock.now())
    r = sign_in(s, live, "zhaomin")
    assert r.status_code == 403 and "另一位工作人员" in refusal(r)


def test_a_grid_leader_signed_in_through_wecom_sees_what_their_password_sign_in_sees(live, live_wechat):
    svc = live.services
    mine = report(live_wechat, "3号楼门口垃圾堆了好几天没人清")             # 第一网格 (王芳)
    theirs = report(live_wechat, "15号楼门口垃圾堆了好几天没人清")          # 第二网格 (李强)
    by_wecom = requests.Session()
    assert sign_in(by_wecom, live, "wangfang").status_code == 302
    with svc.sessions.begin() as db:
        users.add(db, "wang", PASSWORD, "wangfang", svc.clock.now())
    by_password = requests.Session()
    token = re.search(r'name="csrf_token" value="([^"]+)"', by_password.get(live.url + "/desk/login").text).group(1)
    by_password.post(live.url + "/desk/login", data={"username": "wang", "password": PASSWORD, "csrf_token": token})
    lists = [re.findall(r"#\d{8}-\d{4}", c.get(live.url + "/desk/?status=all").text) for c in (by_wecom, by_password)]
    assert f"#{mine}" in lists[0] and f"#{theirs}" not in lists[0]
    assert lists[0] == lists[1]
    assert by_wecom.get(f"{live.url}/desk/t/{theirs}").status_code == 404


def test_wecom_unreachable_is_a_page_and_no_secret_is_logged(live, caplog):
    s = requests.Session()
    _, to = start(s, live)
    back = pick(s, live, to, "zhaomin")
    requests.post(live.url + "/fake/_control/faults", json={"api": "wecom_getuserinfo", "http_status": 500}, timeout=10)
    with caplog.at_level("DEBUG"):
        r = s.get(back, allow_redirects=False)
    assert r.status_code == 502 and "连不上企业微信" in refusal(r)
    # ours, not the fake platform's access log (werkzeug), which stands for WeChat's own servers
    ours = "\n".join(logging.Formatter().format(rec) for rec in caplog.records if rec.name != "werkzeug")
    assert "auth/getuserinfo answered HTTP 500" in ours
    token = live.services.fake_store.live_token("qy", live.services.clock.now())[0]
    for secret in ("local-wecom-secret", token, parse_qs(urlsplit(back).query)["code"][0]):
        assert secret not in ours


def test_it_can_be_turned_off_and_production_goes_to_the_real_wecom(tmp_path, sqlite_url, clock):
    from bot.app import create_app
    off = create_app(make_config(tmp_path, sqlite_url, **{"wecom.desk_login": False}), clock=clock).test_client()
    assert 'id="wecom-login"' not in off.get("/desk/login").data.decode()
    assert off.get("/desk/wecom").status_code == 404 and off.get("/desk/wecom/callback").status_code == 404
    from bot.wecom_login import enabled
    unset = {"wecom.desk_login": None}          # left out: on in local mode only
    assert enabled(make_config(tmp_path, sqlite_url, **unset))
    assert not enabled(make_config(tmp_path, sqlite_url, **PRODUCTION, **unset))
    on = create_app(make_config(tmp_path, sqlite_url, **PRODUCTION, **{"wecom.desk_login": True}), clock=clock).test_client()
    r = on.get("/desk/wecom", base_url="https://jiesu.example")
    assert r.headers["Location"].startswith(
        "https://login.work.weixin.qq.com/wwlogin/sso/login?login_type=CorpApp&appid=ww1234567890abcdef&agentid=1000002"
        "&redirect_uri=https%3A%2F%2Fjiesu.example%2Fdesk%2Fwecom%2Fcallback&state=")
    r = on.get("/desk/wecom", base_url="https://jiesu.example", headers={"User-Agent": WECOM_UA})
    assert r.headers["Location"].startswith(
        "https://open.weixin.qq.com/connect/oauth2/authorize?appid=ww1234567890abcdef&")
    assert r.headers["Location"].endswith("&agentid=1000002#wechat_redirect")
    with pytest.raises(ConfigError) as e:
        make_config(tmp_path, sqlite_url, **{"wecom.desk_login": "sometimes"})
    assert str(e.value).count("\n") == 0 and "wecom.desk_login:" in str(e.value)
