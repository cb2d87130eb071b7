"""公众号网页授权 for residents' pages (bot/resident_oauth.py) and its first page, /me (我的反映),
against a live server: the bot exchanges codes over real HTTP with the fake platform, which plays
open.weixin.qq.com and sns/oauth2/access_token."""
from __future__ import annotations

import logging
import re
from urllib.parse import parse_qs, urlsplit

import requests
from itsdangerous import URLSafeSerializer

from bot.resident_oauth import COOKIE
from storage import repositories as repo
from storage.models import Resident, Ticket
from tests.bot.test_wecom_login import PRODUCTION
from tests.conftest import make_config

CODE = re.compile(r"#(\d{8}-\d{4})")
ZHANG = "o-sim-zhang-ayi"


def to_wechat(s: requests.Session, live, path: str = "/me") -> str:
    r = s.get(live.url + path, allow_redirects=False)
    assert r.status_code == 302, r.text
    return r.headers["Location"]


def pick(s: requests.Session, live, page_url: str, openid: str) -> str:
    page = s.get(page_url)
    action = re.search(r'action="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    r = s.post(live.url + action, data={"who": openid}, allow_redirects=False)
    assert r.status_code == 302, r.text
    return r.headers["Location"]


def sign_in(s: requests.Session, live, openid: str, path: str = "/me") -> requests.Response:
    return s.get(pick(s, live, to_wechat(s, live, path), openid), allow_redirects=False)


def refusal(r: requests.Response) -> str:
    return re.search(r'id="refusal">([^<]+)<', r.text).group(1)


def test_me_signs_the_resident_in_through_wechat_and_shows_only_their_reports(live, live_wechat):
    svc = live.services
    own = CODE.search(live_wechat.text(ZHANG, "3号楼门口垃圾堆了好几天没人清，电话13812345678")).group(1)
    followed = CODE.search(live_wechat.text("o-test-neighbour", "5号楼楼道灯坏了，我家电话13900001111")).group(1)
    other = CODE.search(live_wechat.text("o-test-stranger", "28号楼电梯又坏了")).group(1)
    with svc.sessions.begin() as db:                # 张阿姨 said "+1" to her neighbour's report
        zhang = db.query(Resident).filter_by(openid=ZHANG).one()
        repo.add_follower(db, db.query(Ticket).filter_by(code=followed).one(), zhang.id, svc.clock.now())

    s = requests.Session()
    to = to_wechat(s, live)
    url = urlsplit(to)
    q = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert url.path == "/fake/open/connect/oauth2/authorize" and url.fragment == "wechat_redirect"
    assert q == {"appid": "wxlocal00000000001", "redirect_uri": live.url + "/oauth/resident/callback",
                 "response_type": "code", "scope": "snsapi_base", "state": q["state"]}
    assert "张阿姨（3号楼）" in s.get(to).text                       # the fake lists the simulator's residents
    r = s.get(pick(s, live, to, ZHANG), allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"] == "/me"
    cookie = r.headers["Set-Cookie"]
    assert f"{COOKIE}=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie                                      # plain http in local mode
    page = s.get(live.url + "/me")
    assert page.status_code == 200 and "private" in page.headers["Cache-Control"]
    text = page.text
    assert f"#{own}" in text and "138****5678" in text and "13812345678" not in text
    assert f"#{followed}" in text and "楼道灯" not in text and "1390000" not in text   # theirs: no words
    assert f"#{other}" not in text
    assert "我跟进（+1）的" in text and "处理中" in text
    [call] = [c for c in svc.fake_store.all_calls() if c["api"] == "mp_oauth"]
    assert call["target"] == ZHANG and call["errcode"] == 0


def test_a_resident_without_reports_sees_how_to_report_and_no_row_is_made(live):
    s = requests.Session()
    assert sign_in(s, live, "o-test-newcomer").status_code == 302
    assert 'id="no-tickets"' in s.get(live.url + "/me").text
    with live.services.sessions() as db:
        assert db.query(Resident).filter_by(openid="o-test-newcomer").first() is None


def test_a_forged_or_expired_cookie_is_not_trusted(live, live_wechat):
    svc = live.services
    live_wechat.text(ZHANG, "3号楼门口垃圾堆了好几天没人清")
    s = requests.Session()
    assert sign_in(s, live, "o-test-someone").status_code == 302
    value = s.cookies.get(COOKIE)
    payload, signature = value.rsplit(".", 1)
    for forged in (f"{payload}.{signature[:-2]}xx",                                   # tampered signature
                   URLSafeSerializer("a guessed key", salt="jiesu-resident").dumps({"o": ZHANG, "exp": 2 ** 40}),
                   URLSafeSerializer(live.app.secret_key, salt="another-use").dumps({"o": ZHANG, "exp": 2 ** 40}),
                   URLSafeSerializer(live.app.secret_key, salt="jiesu-resident").dumps({"o": ZHANG})):  # no expiry
        r = requests.get(live.url + "/me", cookies={COOKIE: forged}, allow_redirects=False)
        assert r.status_code == 302 and "/fake/open/connect/oauth2/authorize" in r.headers["Location"], forged
    assert s.get(live.url + "/me", allow_redirects=False).status_code == 200            # the real one works
    svc.clock.advance(days=31)                                                           # it lasts 30 days
    assert s.get(live.url + "/me", allow_redirects=False).status_code == 302


def test_a_bad_or_reused_state_and_a_reused_code_are_refused(live):
    s = requests.Session()
    back = pick(s, live, to_wechat(s, live), ZHANG)
    r = s.get(re.sub(r"state=\w+", "state=" + "0" * 32, back), allow_redirects=False)
    assert r.status_code == 400 and "不匹配" in refusal(r) and f"{COOKIE}=" not in r.headers.get("Set-Cookie", "")
    back = pick(s, live, to_wechat(s, live), ZHANG)
    code = parse_qs(urlsplit(back).query)["code"][0]
    r = requests.get(f"{live.url}/oauth/resident/callback?code={code}", allow_redirects=False)
    assert r.status_code == 400                                                          # no state, no cookie
    assert s.get(back, allow_redirects=False).status_code == 302
    r = s.get(back, allow_redirects=False)
    assert r.status_code == 400 and "登录请求" in refusal(r)                             # its state is spent
    other = requests.Session()                                                           # a fresh state, a spent code
    state = parse_qs(urlsplit(to_wechat(other, live)).query)["state"][0]
    r = other.get(f"{live.url}/oauth/resident/callback?code={code}&state={state}", allow_redirects=False)
    assert r.status_code == 400 and "已过期或已用过" in refusal(r)
    assert [c["errcode"] for c in live.services.fake_store.all_calls() if c["api"] == "mp_oauth"] == [0, 40163]


def test_wechat_down_is_a_page_and_the_secret_is_never_logged(live, caplog):
    s = requests.Session()
    back = pick(s, live, to_wechat(s, live), ZHANG)
    requests.post(live.url + "/fake/_control/faults", json={"api": "mp_oauth", "http_status": 200, "body": "html"},
                  timeout=10)
    with caplog.at_level("DEBUG"):
        r = s.get(back, allow_redirects=False)
    assert r.status_code == 502 and "连不上微信" in refusal(r)
    # ours, not the fake platform's access log (werkzeug), which stands for WeChat's own servers
    ours = "\n".join(logging.Formatter().format(rec) for rec in caplog.records if rec.name != "werkzeug")
    assert "sns/oauth2/access_token unreachable or not JSON" in ours
    assert "local-mp-secret" not in ours and parse_qs(urlsplit(back).query)["code"][0] not in ours


def test_production_goes_to_the_real_wechat_with_a_secure_state_cookie(tmp_path, sqlite_url, clock):
    from bot.app import create_app
    client = create_app(make_config(tmp_path, sqlite_url, **PRODUCTION), clock=clock).test_client()
    r = client.get("/me?from=menu", base_url="https://jiesu.example")
    assert r.headers["Location"] == (
        "https://open.weixin.qq.com/connect/oauth2/authorize?appid=wx1234567890abcdef"
        "&redirect_uri=https%3A%2F%2Fjiesu.example%2Foauth%2Fresident%2Fcallback&response_type=code&scope=snsapi_base"
        f"&state={parse_qs(urlsplit(r.headers['Location']).query)['state'][0]}#wechat_redirect")
    cookie = r.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "Path=/oauth/resident" in cookie
