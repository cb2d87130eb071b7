"""The simulator page in a real browser (Debian's headless chromium through selenium), against a live
server on loopback: chat as a resident, see the reply, deliver the outbox, see the group push; the
guided tour (导览) end to end; WeCom markdown rendered safely; the phone layout's tabs; Chinese drawn
with real glyphs. Screenshots go to the test's tmp dir, and a copy to /tmp/jiesu-shots/.

Needs /usr/bin/chromium and /usr/bin/chromedriver (apt: chromium chromium-driver). Without them the
test is skipped, or fails when CI or JIESU_REQUIRE_BROWSER is set. Selenium Manager is never used:
the driver path is given explicitly, so nothing is downloaded.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
REQUIRE_BROWSER = bool(os.environ.get("CI") or os.environ.get("JIESU_REQUIRE_BROWSER"))
CODE = re.compile(r"#(\d{8}-\d{4})")
WAIT = 8          # seconds: the page polls every second; everything here is on loopback
TOUR_WAIT = 60    # seconds for the whole guided tour (eleven steps, each waiting on the one before)
SHOTS = Path("/tmp/jiesu-shots")      # a copy of every screenshot, for people to look at

RESIDENT_A = "o-sim-zhang-ayi"        # 张阿姨（3号楼）
RESIDENT_B = "o-sim-li-laoshi"        # 李老师（15号楼）
RESIDENT_C = "o-sim-wang-xiansheng"   # 王先生（28号楼）
COMPLAINT = "3号楼楼道有人飞线充电"
GRID_1 = "local-robot-grid-1"
GRID_3 = "local-robot-grid-3"
START = datetime(2026, 11, 21, 1, 30, tzinfo=timezone.utc)      # 09:30 in Asia/Shanghai, a Saturday


def _browser_problem() -> str | None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not (Path(p).is_file() and os.access(p, os.X_OK))]
    if missing:
        return "not installed: " + ", ".join(missing) + " (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError as e:
        return f"selenium not importable: {e}"
    return None


@pytest.fixture
def db_url(sqlite_url):
    """SQLite only: this file is about the page, the database paths are covered elsewhere."""
    return sqlite_url


@pytest.fixture
def config(tmp_path, db_url):
    """The demo as shipped: one-tap cards on (tests elsewhere turn them off to count rows)."""
    from tests.conftest import make_config
    return make_config(tmp_path, db_url, **{"wecom.cards": True})


@pytest.fixture
def browser():
    problem = _browser_problem()
    if problem:
        if REQUIRE_BROWSER:
            pytest.fail(f"browser required (CI or JIESU_REQUIRE_BROWSER set) but {problem}")
        pytest.skip(f"headless chromium unavailable: {problem}; set JIESU_REQUIRE_BROWSER=1 to make this a failure")

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="jiesu-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1280,900", f"--user-data-dir={profile}"):
        options.add_argument(arg)
    # An explicit driver path: Selenium Manager is skipped, nothing is downloaded.
    service = Service(executable_path=CHROMEDRIVER)
    try:
        driver = webdriver.Chrome(service=service, options=options)
    except Exception as e:  # noqa: BLE001 - report why the browser could not start
        shutil.rmtree(profile, ignore_errors=True)
        if REQUIRE_BROWSER:
            pytest.fail(f"headless chromium did not start: {type(e).__name__}: {e}")
        pytest.skip(f"headless chromium did not start: {type(e).__name__}: {e}")
    driver.set_page_load_timeout(15)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


# -- page helpers ----------------------------------------------------------------------------------

def _wait(driver, condition, message: str, timeout: float = WAIT):
    from selenium.webdriver.support.ui import WebDriverWait
    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition, message)


def _shot(driver, tmp_path: Path, name: str) -> Path:
    """A screenshot in the test's tmp dir, and a copy in /tmp/jiesu-shots/."""
    path = tmp_path / name
    driver.save_screenshot(str(path))
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, SHOTS / name)
    return path


def _ready(driver, url: str) -> None:
    """Load the page and wait until it has shown everything recorded so far."""
    driver.get(url)
    _wait(driver, lambda d: d.execute_script("return document.body.dataset.ready === '1'"), "the page did not load its records")


def _push(grid: str) -> str:
    return f'#group-feed .push[data-key="{grid}"]'


def _texts(driver, css: str) -> list[str]:
    from selenium.webdriver.common.by import By
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, css)]


def _bubble_with(driver, css: str, needle: str | re.Pattern, message: str) -> str:
    """Wait until an element matching css contains needle; return its text."""
    def found(d):
        for t in _texts(d, css):
            if (needle.search(t) if isinstance(needle, re.Pattern) else needle in t):
                return t
        return False
    return _wait(driver, found, message)


def _choose_resident(driver, openid: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    Select(driver.find_element(By.ID, "resident")).select_by_value(openid)   # fires change -> renderChat


# -- the test --------------------------------------------------------------------------------------

def test_simulator_chat_push_switch_photo_and_errors(browser, live, tmp_path):
    from selenium.webdriver.common.by import By

    driver = browser
    _ready(driver, live.url + "/simulator")
    assert "接诉" in driver.title

    # 1. A resident reports a problem in words.
    _choose_resident(driver, RESIDENT_A)
    box = driver.find_element(By.ID, "text")
    box.send_keys(COMPLAINT)
    driver.find_element(By.ID, "send-btn").click()
    reply = _bubble_with(driver, "#chat .msg.bot", "已受理 #", "no '已受理 #' reply bubble appeared")
    code = CODE.search(reply).group(1)
    assert "王芳" in reply                                     # 3号楼 is 第一网格
    assert _texts(driver, "#chat .msg.me") == [COMPLAINT]
    assert box.get_attribute("value") == ""                    # the input was cleared
    assert driver.find_element(By.ID, "error").text == ""

    # 2. The outbox delivers the push; it shows in 第一网格's panel with the same ticket code.
    assert _texts(driver, "#group-feed .push") == []           # nothing delivered yet
    assert live.services.outbox.run_once() == 2                # the push, and the grid leader's card (staff pane)
    push = _bubble_with(driver, _push(GRID_1), code, f"push for #{code} did not appear as 第一网格's")
    assert COMPLAINT in push or "飞线充电" in push
    assert _texts(driver, f'#group-feed .push:not([data-key="{GRID_1}"])') == []   # only grid 1 got it

    # 3. Another resident: the chat shows only their messages (none yet).
    _choose_resident(driver, RESIDENT_B)
    _wait(driver, lambda d: not d.find_elements(By.CSS_SELECTOR, "#chat .msg"), "chat still shows the other resident's messages")

    # 4. That resident sends a photo: a new ticket that waits for words.
    driver.find_element(By.ID, "photo").click()
    photo_reply = _bubble_with(driver, "#chat .msg.bot", "已收到照片", "no reply to the photo appeared")
    photo_code = CODE.search(photo_reply).group(1)
    assert photo_code != code
    [photo] = driver.find_elements(By.CSS_SELECTOR, "#chat .msg.me img")          # the picture, not "[照片]"
    _wait(driver, lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", photo) == 240,
          "the resident's photo did not load")
    _shot(driver, tmp_path, "simulator-photo.png")
    assert all(COMPLAINT not in t and code not in t for t in _texts(driver, "#chat .msg"))

    # ...and back to the first resident: their conversation only, no photo.
    _choose_resident(driver, RESIDENT_A)
    _wait(driver, lambda d: _texts(d, "#chat .msg.me") == [COMPLAINT], "first resident's chat not restored")
    assert [t for t in _texts(driver, "#chat .msg.bot") if code in t] and not [t for t in _texts(driver, "#chat .msg") if photo_code in t]

    # 5. Errors are shown on the page (the page's own send() with a type the server refuses).
    driver.execute_script("send({type: 'sticker'});")
    err = _wait(driver, lambda d: d.find_element(By.ID, "error").text or False, "no visible error for a refused message")
    assert "unknown type" in err and "sticker" in err

    # 6. The recorded calls: resident message, reply and robot push for the ticket.
    calls = requests.get(live.url + "/simulator/api/messages", timeout=5).json()["messages"]
    mine = [c for c in calls if c["target"] == RESIDENT_A]
    assert {"api": "resident", "body": {"type": "text", "content": COMPLAINT}}.items() <= mine[0].items()
    assert [c["api"] for c in mine] == ["resident", "reply"]
    assert mine[1]["body"]["type"] == "text" and f"#{code}" in mine[1]["body"]["content"]
    [robot] = [c for c in calls if c["api"] == "robot"]
    assert robot["target"] == GRID_1 and code in robot["body"]["markdown"]["content"]
    assert [c["body"]["type"] for c in calls if c["target"] == RESIDENT_B] == ["image", "text"]
    since = max(c["id"] for c in calls)
    assert requests.get(live.url + "/simulator/api/messages", params={"since": since}, timeout=5).json() == {"messages": []}

    # 7. Bad input straight at the API: 400 with an error, nothing recorded.
    r = requests.post(live.url + "/simulator/api/send", json={"openid": "", "type": "text", "content": "x"}, timeout=5)
    assert r.status_code == 400 and r.json() == {"error": "openid is required"}
    r = requests.post(live.url + "/simulator/api/send", json={"openid": RESIDENT_A, "type": "text", "content": "  "}, timeout=5)
    assert r.status_code == 400 and "error" in r.json()
    assert requests.get(live.url + "/simulator/api/messages", params={"since": since}, timeout=5).json() == {"messages": []}


# -- the clock bar: +40 分钟 and the 54321 reminder; template cards and robot images -------------------

def _png(width: int = 48, height: int = 32) -> bytes:
    """A small two-colour PNG, written by hand (no imaging library needed)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    rows = b"".join(b"\x00" + b"".join(b"\xd0\x30\x30" if x < width // 2 else b"\x30\x60\xd0" for x in range(width))
                    for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def test_clock_bar_advances_time_and_the_overdue_reminder_appears(browser, config, tmp_path):
    import base64
    import hashlib

    from selenium.webdriver.common.by import By

    from bot.scheduler import Scheduler
    from bot.sim_clock import FILE_NAME, SimClock
    from handlers.clock import FakeClock
    from tests.conftest import LiveServer

    base = FakeClock(START)                                                  # 09:30 in Asia/Shanghai
    live = LiveServer(config, SimClock(tmp_path / FILE_NAME, base=base))     # the clock run_bot.py gives local mode
    try:
        svc = live.services
        svc.scheduler = Scheduler(svc)               # its sweep, not started; waking the outbox drains it here
        svc.wake_outbox = svc.outbox.run_once        # (so the new-ticket push leaves as soon as it is queued)
        driver = browser
        _ready(driver, live.url + "/simulator")
        shown = _wait(driver, lambda d: (t := d.find_element(By.ID, "sim-time").text) != "…" and t, "no simulated time shown")
        assert shown == "2026-11-21 周六 09:30"
        assert "快进时间，看 54321 时限提醒" in driver.find_element(By.ID, "clockbar").text

        _choose_resident(driver, RESIDENT_A)
        driver.find_element(By.ID, "text").send_keys(COMPLAINT)
        driver.find_element(By.ID, "send-btn").click()
        code = CODE.search(_bubble_with(driver, "#chat .msg.bot", "已受理 #", "no reply")).group(1)
        _bubble_with(driver, _push(GRID_1), code, "no push for the ticket")
        base.advance(minutes=1)                                                # a minute passes

        driver.find_element(By.XPATH, "//button[normalize-space()='+40 分钟']").click()
        _wait(driver, lambda d: d.find_element(By.ID, "sim-time").text == "2026-11-21 周六 10:11",
              "the simulated time did not move 40 minutes on")
        assert driver.find_element(By.ID, "sim-offset").text == "（快进 40 分钟）"
        assert driver.find_element(By.ID, "clock-error").text == ""
        reminder = _bubble_with(driver, _push(GRID_1), "超时", "no overdue reminder in 第一网格's pane")
        assert code in reminder
        times = _texts(driver, f'#group-feed .gmsg[data-key="{GRID_1}"] .gmeta time')
        assert times[0] == "09:30" and times[-1] == "10:11"       # sent at, in the community's time, today: HH:MM

        # Calls the fake platform records for template messages and robot images, and a shape it may not know.
        png = _png()
        now = svc.clock.now()
        svc.fake_store.record(now, "mp_template_send", RESIDENT_A, {
            "touser": RESIDENT_A, "template_id": "local-tpl-ticket-progress", "url": "",
            "data": {"first": {"value": f"您的工单 #{code} 有新进展"}, "keyword1": {"value": code},
                     "keyword2": {"value": "网格长已到场", "color": "#173177"}, "keyword10": {"value": "第十项"},
                     "remark": {"value": "回复“进度”查看详情"}}})
        svc.fake_store.record(now, "robot", GRID_1, {"msgtype": "image", "image": {
            "base64": base64.b64encode(png).decode(), "md5": hashlib.md5(png).hexdigest()}})
        svc.fake_store.record(now, "robot", GRID_1, {"msgtype": "news", "news": {"articles": [{"title": "图文消息"}]}})
        svc.fake_store.record(now, "mp_template_send", RESIDENT_A, {"touser": RESIDENT_A, "data": "不是对象"})

        card = _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#chat .card.template"), "no template card")[0]
        assert "local-tpl-ticket-progress" in card.text and f"您的工单 #{code} 有新进展" in card.text
        assert [dt.text for dt in card.find_elements(By.TAG_NAME, "dt")] == ["keyword1", "keyword2", "keyword10"]
        assert [dd.text for dd in card.find_elements(By.TAG_NAME, "dd")] == [code, "网格长已到场", "第十项"]
        assert "回复“进度”查看详情" in card.text
        _bubble_with(driver, "#chat .msg", "不是对象", "an odd template message was not shown as text")
        img = _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, f'{_push(GRID_1)} img.robot-image'),
                    "no robot image in 第一网格's pane")[0]
        _wait(driver, lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img) == 48,
              "the robot image did not decode")
        _bubble_with(driver, _push(GRID_1), "图文消息", "a robot news message was not shown")

        _shot(driver, tmp_path, "simulator-clock.png")
    finally:
        live.stop()


# -- the guided tour: a whole ticket through the real endpoints, then what each pane shows -------------------

@pytest.fixture
def sim_live(config, tmp_path):
    """A live server on the clock run_bot.py gives local mode (a SimClock over a FakeClock at 09:30), with
    the scheduler's sweep and an outbox that is drained as soon as something is queued."""
    from bot.scheduler import Scheduler
    from bot.sim_clock import FILE_NAME, SimClock
    from handlers.clock import FakeClock
    from tests.conftest import LiveServer

    live = LiveServer(config, SimClock(tmp_path / FILE_NAME, base=FakeClock(START)))
    live.services.scheduler = Scheduler(live.services)      # not started: the clock bar runs its sweep in place
    live.services.wake_outbox = live.services.outbox.run_once
    try:
        yield live
    finally:
        live.stop()


def _js(driver, script: str, *args):
    return driver.execute_script(script, *args)


def test_guided_tour_plays_a_ticket_through_all_three_panes(browser, sim_live, tmp_path):
    from selenium.webdriver.common.by import By

    driver = browser
    _ready(driver, sim_live.url + "/simulator?tour_pause=0")
    driver.find_element(By.ID, "tour-start").click()
    state = _wait(driver, lambda d: (s := _js(d, "return document.body.dataset.tour")) in ("done", "failed") and s,
                  "the guided tour did not finish", timeout=TOUR_WAIT)
    caption = driver.find_element(By.ID, "tour").text
    assert state == "done", caption
    code = CODE.search(caption).group(1)                       # the tour names its ticket at the end

    # The resident pane: 张阿姨's whole conversation, at 09:30 and, three hours on, 12:30 (Shanghai).
    _choose_resident(driver, RESIDENT_A)
    _wait(driver, lambda d: _texts(d, "#chat .msg.me") == [COMPLAINT, "5"], "张阿姨's chat is not the tour's")
    bot = _texts(driver, "#chat .msg.bot")
    assert f"已受理 #{code}" in bot[0] and "王芳" in bot[0]
    assert any(code in t and "已到场" in t for t in bot)
    assert any(code in t and "已拆除" in t and "打分" in t for t in bot)
    assert f"谢谢您对 #{code} 的评价（5 分）" in bot[-1]
    assert _texts(driver, "#chat .ctime time") == ["09:30", "12:30"]
    assert driver.find_element(By.ID, "sim-time").text == "2026-11-21 周六 12:30"

    # The group pane: WeCom markdown rendered, the leader's mention by name, the @all page as a red banner.
    new_ticket = driver.find_element(By.XPATH, f"//div[contains(@class,'push')][.//b[contains(., '新工单 #{code}')]]")
    assert new_ticket.get_attribute("data-key") == GRID_1
    assert new_ticket.find_element(By.TAG_NAME, "b").text == f"新工单 #{code}｜飞线充电"
    urgent = new_ticket.find_element(By.CSS_SELECTOR, ".md-warning")
    assert urgent.text == "紧急" and urgent.value_of_css_property("color") == "rgba(255, 106, 0, 1)"     # WeCom orange
    assert new_ticket.find_element(By.CSS_SELECTOR, ".md-comment").value_of_css_property("color") == "rgba(143, 149, 158, 1)"
    assert [q.text.splitlines()[0] for q in new_ticket.find_elements(By.CSS_SELECTOR, ".md-quote")] == ["地点：3号楼楼道"]
    mention = new_ticket.find_element(By.CSS_SELECTOR, ".mention")
    assert mention.text == "@王芳" and mention.get_attribute("title") == "wangfang"
    assert mention.value_of_css_property("background-color") != "rgba(0, 0, 0, 0)"                 # highlighted
    feed = driver.find_element(By.ID, "group-feed").text
    assert "**" not in feed and "<font" not in feed and "<@" not in feed and "&lt;" not in feed
    reminder = _bubble_with(driver, _push(GRID_1), re.compile(r"超时(提醒|督办) #" + code), "no overdue reminder shown")
    assert "办结时限 11-21 12:30 已过" in reminder
    times = {r.get_attribute("data-id"): r.find_element(By.CSS_SELECTOR, ".gmeta time").text
             for r in driver.find_elements(By.CSS_SELECTOR, "#group-feed .gmsg")}
    assert set(times.values()) == {"09:30", "12:30"}
    [banner] = driver.find_elements(By.CSS_SELECTOR, "#group-feed .push.emergency")
    assert banner.get_attribute("data-key") == GRID_3
    assert "@所有人" in banner.text and "119" in banner.text and "28号楼" in banner.text
    emergency_code = CODE.search(banner.text).group(1)
    assert emergency_code != code
    assert banner.value_of_css_property("border-top-color") == "rgba(245, 34, 45, 1)"
    assert banner.find_element(By.CSS_SELECTOR, ".banner").value_of_css_property("background-color") == "rgba(245, 34, 45, 1)"
    assert len(driver.find_elements(By.CSS_SELECTOR, "#group-feed .push.markdown .md-quote")) >= 3   # other pushes are not banners

    # The staff pane: each command under its sender's name, the bot's answer under it.
    def staff_log(d):
        return [(r.find_element(By.CSS_SELECTOR, ".smeta").text, r.find_element(By.CSS_SELECTOR, ".msg").text)
                for r in d.find_elements(By.CSS_SELECTOR, "#staff-log .smsg")]
    log = staff_log(driver)
    cmds = [(who, text) for who, text in log if text.startswith("/")]
    assert [text for _, text in cmds] == [f"/onsite {code}", f"/close {code} 已拆除"]
    assert all(who.startswith("王芳（网格长·第一网格）") and who.endswith("09:30" if "onsite" in t else "12:30") for who, t in cmds)
    assert any(code in text and who.startswith("接诉 → 王芳") for who, text in log if not text.startswith("/"))

    # Times are local everywhere; ticket codes, dates and times never break across lines; words break normally.
    body = driver.find_element(By.TAG_NAME, "body").text
    assert "UTC" not in body and "T01:30" not in body and "01:30" not in body
    kept = _js(driver, "return [...document.querySelectorAll('.nb')].map((e) => [e.textContent, e.getClientRects().length])")
    assert {text for text, _ in kept} >= {f"#{code}", code, "11-21", "12:30", "1-5"}
    assert [text for text, lines in kept if lines != 1] == []
    assert _js(driver, "return getComputedStyle(document.querySelector('#chat .msg')).wordBreak") == "normal"
    _shot(driver, tmp_path, "simulator-tour-wide.png")

    # Reloaded (or opened in another tab), the staff log is rebuilt from what the server recorded.
    driver.refresh()
    _ready(driver, sim_live.url + "/simulator")
    assert staff_log(driver) == log
    assert driver.find_element(By.ID, "tour").is_displayed() is False


# -- rendering: WeCom markdown rules, and nothing a resident writes becomes markup ----------------------------

XSS = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script> 5号楼门口垃圾没人清 [点我](javascript:alert(1))'


def test_markdown_rules_and_resident_text_cannot_inject_html(browser, live):
    from selenium.webdriver.common.by import By

    driver = browser
    _ready(driver, live.url + "/simulator")

    # The renderer's rules, one by one, in the page itself.
    html = _js(driver, """
        const d = document.createElement('div');
        d.innerHTML = renderMarkdown(arguments[0]);
        const a = [...d.querySelectorAll('a')];
        return {b: [...d.querySelectorAll('b')].map((e) => e.textContent),
                info: [...d.querySelectorAll('.md-info')].map((e) => e.textContent),
                quote: [...d.querySelectorAll('.md-quote .md-line')].map((e) => e.textContent),
                h: [...d.querySelectorAll('.md-h2')].map((e) => e.textContent),
                links: a.map((e) => [e.textContent, e.getAttribute('href'), e.getAttributeNames().sort().join(',')]),
                mentions: [...d.querySelectorAll('.mention')].map((e) => e.textContent),
                code: [...d.querySelectorAll('code')].map((e) => e.textContent),
                text: d.textContent};""",
        "## 标题\n**粗体** 与 <font color='info'>绿色</font>\n> 引用一\n> 引用二 `/onsite 1`\n"
        "[链接](https://example.org/a?b=1&c=2) [坏链接](javascript:alert(1)) "
        '[引号](https://example.org/"onmouseover="x) <@wangfang> <@nobody> <@&quot;x>')
    assert html["b"] == ["粗体"] and html["info"] == ["绿色"] and html["h"] == ["标题"]
    assert html["quote"] == ["引用一", "引用二 /onsite 1"] and html["code"] == ["/onsite 1"]
    assert html["links"] == [["链接", "https://example.org/a?b=1&c=2", "href,rel,target"],
                             ["引号", 'https://example.org/"onmouseover="x', "href,rel,target"]]   # a quote stays in the URL
    assert "[坏链接](javascript:alert(1))" in html["text"]              # not a link: shown as written
    assert html["mentions"] == ["@王芳", "@nobody"]

    # A resident's message with markup in it: shown as text in the chat and in the group push.
    _choose_resident(driver, RESIDENT_B)
    driver.find_element(By.ID, "text").send_keys(XSS)
    driver.find_element(By.ID, "send-btn").click()
    code = CODE.search(_bubble_with(driver, "#chat .msg.bot", "已受理 #", "no reply")).group(1)
    live.services.outbox.run_once()
    push = _wait(driver, lambda d: [e for e in d.find_elements(By.CSS_SELECTOR, "#group-feed .push") if code in e.text],
                 "no push for the ticket")[0]
    assert '<img src=x onerror="window.__pwned=1"><script>' in push.text
    assert '<img src=x onerror="window.__pwned=1"><script>' in _texts(driver, "#chat .msg.me")[0]
    assert push.find_elements(By.CSS_SELECTOR, "img, script, a") == []
    assert driver.find_elements(By.CSS_SELECTOR, "#chat img, #chat script, #group-feed script, #group-feed img") == []
    assert _js(driver, "return window.__pwned === undefined")


# -- the phone layout: tabs with unread badges; each pane fills the screen and keeps its input in view -------

def _phone(driver) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True})


def test_phone_layout_has_tabs_with_unread_badges(browser, live, tmp_path):
    from selenium.webdriver.common.by import By

    driver = browser
    _phone(driver)
    _ready(driver, live.url + "/simulator")
    assert _js(driver, "return innerWidth") == 390
    tabs = {t.get_attribute("data-tab"): t for t in driver.find_elements(By.CSS_SELECTOR, "#tabs .tab")}
    assert [t.text for t in tabs.values()] == ["居民", "网格群", "工作人员"] and all(t.is_displayed() for t in tabs.values())

    def shown():
        return [p.get_attribute("data-tab") for p in driver.find_elements(By.CSS_SELECTOR, ".pane") if p.is_displayed()]
    assert shown() == ["resident"]
    pane = driver.find_element(By.ID, "pane-resident").rect
    assert pane["width"] == 390 and pane["y"] + pane["height"] <= 844                   # the whole pane on screen

    _choose_resident(driver, RESIDENT_A)
    driver.find_element(By.ID, "text").send_keys(COMPLAINT)
    driver.find_element(By.ID, "send-btn").click()
    code = CODE.search(_bubble_with(driver, "#chat .msg.bot", "已受理 #", "no reply")).group(1)
    badge = tabs["groups"].find_element(By.CSS_SELECTOR, ".badge")
    assert not badge.is_displayed()
    live.services.outbox.run_once()                                                   # the push, while the chat is shown
    _wait(driver, lambda d: badge.is_displayed() and badge.text == "1", "no unread badge on the groups tab")
    _shot(driver, tmp_path, "simulator-phone-resident.png")

    tabs["groups"].click()
    assert shown() == ["groups"] and not badge.is_displayed()
    assert code in driver.find_element(By.CSS_SELECTOR, _push(GRID_1)).text
    assert driver.find_element(By.CSS_SELECTOR, _push(GRID_1)).is_displayed()
    _shot(driver, tmp_path, "simulator-phone-groups.png")

    tabs["staff"].click()
    assert shown() == ["staff"]
    command = driver.find_element(By.ID, "command")
    box = command.rect
    assert command.is_displayed() and box["y"] + box["height"] <= 844               # the input stays in view
    command.send_keys(f"/show {code}")
    driver.find_element(By.ID, "command-btn").click()
    _bubble_with(driver, "#staff-log .smsg.reply .msg", code, "no answer to /show in the staff pane")
    assert driver.find_element(By.CSS_SELECTOR, "#staff-log .smsg.cmd .who").text == "赵敏（居委会）"
    box = driver.find_element(By.ID, "command").rect
    assert box["y"] + box["height"] <= 844
    _shot(driver, tmp_path, "simulator-phone-staff.png")

    tabs["resident"].click()
    assert shown() == ["resident"] and _texts(driver, "#chat .msg.me") == [COMPLAINT]


# -- Chinese is drawn with real glyphs, not boxes -------------------------------------------------------------

# Drawn on a canvas in the page's own font stack (what the page renders with), each string's pixels are
# compared. Without a font for a character, Chromium draws that font's "missing glyph" (an empty box, or
# nothing), the same picture for every missing character, so two different Chinese characters come out
# identical, and identical to a code point no font has (U+0378 is unassigned). With a CJK font they differ
# from each other and from that box, have ink, and are full-width (about 1 em). Widths alone are not
# enough: a CJK font's own missing-glyph box is 1 em wide too. The control case (two unassigned code points
# draw the same) shows the method would see boxes if Chinese were boxes.
GLYPHS_JS = """
const family = getComputedStyle(document.body).fontFamily;
const draw = (text) => {
  const c = document.createElement('canvas');
  c.width = 48; c.height = 48;
  const g = c.getContext('2d');
  g.font = '32px ' + family;
  g.textBaseline = 'top';
  g.fillText(text, 6, 6);
  const alpha = [...g.getImageData(0, 0, 48, 48).data].filter((_, i) => i % 4 === 3);
  return {ink: alpha.filter((a) => a > 0).length, pixels: alpha.join(','), width: g.measureText(text).width};
};
return {family, jie: draw('接'), su: draw('诉'), ban: draw('办'), none1: draw('\\u0378'), none2: draw('\\u0379')};
"""


def test_chinese_is_drawn_with_real_glyphs_not_boxes(browser, live, tmp_path):
    from selenium.webdriver.common.by import By

    driver = browser
    _ready(driver, live.url + "/simulator")
    g = _js(driver, GLYPHS_JS)
    assert g["none1"]["pixels"] == g["none2"]["pixels"], "control: two missing glyphs should draw the same box"
    chinese = [g["jie"], g["su"], g["ban"]]
    assert all(c["ink"] > 40 for c in chinese), f"Chinese drew (almost) nothing in {g['family']}"
    assert len({c["pixels"] for c in chinese}) == 3, f"different Chinese characters drew the same box in {g['family']}: no CJK font"
    assert all(c["pixels"] != g["none1"]["pixels"] for c in chinese), "Chinese drew the missing-glyph box"
    assert all(abs(c["width"] - 32) <= 2 for c in chinese), [c["width"] for c in chinese]      # full-width
    # and the page's own Chinese text is laid out at that width (a header of 14+ characters, 15 px each)
    title = driver.find_element(By.CSS_SELECTOR, "#pane-resident .pane-title")
    assert title.text.startswith("公众号") and title.rect["width"] > 100
    _shot(driver, tmp_path, "simulator-wide-empty.png")


# -- / and the favicon -----------------------------------------------------------------------------------------

def test_root_redirects_to_the_simulator_and_a_favicon_is_served(app):
    client = app.test_client()
    r = client.get("/")
    assert r.status_code == 302 and r.headers["Location"].endswith("/simulator")
    r = client.get("/favicon.ico")
    assert r.status_code == 200 and r.mimetype == "image/svg+xml" and r.data.startswith(b"<svg")
    page = client.get("/simulator").get_data(as_text=True)
    assert 'rel="icon" href="/favicon.ico"' in page
    for asset in re.findall(r'(?:src|href)="(/simulator/assets/[^"]+)"', page):
        assert client.get(asset).status_code == 200
    assert client.get("/simulator/assets/../config.py").status_code == 404
    assert client.get("/simulator/assets/simulator.html").status_code == 404


# -- one-tap WeCom cards: the grid leader's card in the staff pane, 到场 tapped in the browser ----------------

def _drain(outbox) -> int:
    """Deliver everything due (bounded: each run sends a batch; a few runs empty any queue here)."""
    sent = 0
    for _ in range(10):
        n = outbox.run_once()
        if not n:
            return sent
        sent += n
    raise AssertionError("the outbox kept finding rows to send")


def _card(driver, task: str | None = None, code: str | None = None, userid: str = "wangfang"):
    """The staff log's card entry for this task (or the first of this user's cards naming the ticket)."""
    from selenium.webdriver.common.by import By
    for row in driver.find_elements(By.CSS_SELECTOR, f'#staff-log .card-row[data-userid="{userid}"]'):
        if (task and row.get_attribute("data-task") == task) or (not task and code and code in row.text):
            return row
    return None


def test_grid_leader_taps_onsite_on_the_card_in_the_staff_pane(browser, live, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver = browser
    svc = live.services
    _ready(driver, live.url + "/simulator")

    # A resident reports; the outbox delivers the push and the grid leader's card.
    _choose_resident(driver, RESIDENT_A)
    driver.find_element(By.ID, "text").send_keys(COMPLAINT)
    driver.find_element(By.ID, "send-btn").click()
    code = CODE.search(_bubble_with(driver, "#chat .msg.bot", "已受理 #", "no '已受理 #' reply")).group(1)
    _drain(svc.outbox)
    row = _wait(driver, lambda d: _card(d, code=code), f"no card for #{code} to 王芳 in the staff log")
    task = row.get_attribute("data-task")
    [held] = [c for c in svc.fake_store.cards("wangfang") if c["task_id"] == task]     # what the fake platform holds
    card = held["card"]
    assert card["card_type"] == "button_interaction"

    # Drawn as WeCom draws it: main title and desc, the resident's words, the key/value list, the buttons.
    assert row.find_element(By.CSS_SELECTOR, ".wc-title").text == card["main_title"]["title"]
    assert f"#{code}" in card["main_title"]["title"]
    assert row.find_element(By.CSS_SELECTOR, ".wc-desc").text == card["main_title"].get("desc", "")
    assert row.find_element(By.CSS_SELECTOR, ".wc-sub").text == card["sub_title_text"]
    assert [e.text for e in row.find_elements(By.CSS_SELECTOR, ".wc-list dt")] == \
        [i["keyname"] for i in card["horizontal_content_list"]]
    assert [e.text for e in row.find_elements(By.CSS_SELECTOR, ".wc-list dd")] == \
        [i["value"] for i in card["horizontal_content_list"]]
    buttons = row.find_elements(By.CSS_SELECTOR, ".wc-buttons .cbtn")
    assert [(b.text, b.get_attribute("data-key")) for b in buttons] == [(b["text"], b["key"]) for b in card["button_list"]]
    assert "onsite" in [b["key"] for b in card["button_list"]]
    assert row.find_element(By.CSS_SELECTOR, ".smeta").text.startswith("卡片消息 → 王芳")

    # Only the card's recipient can tap: as 赵敏 (the page's first staff member) its buttons are off.
    onsite = row.find_element(By.CSS_SELECTOR, '.cbtn[data-key="onsite"]')
    assert Select(driver.find_element(By.ID, "staff")).first_selected_option.get_attribute("value") != "wangfang"
    assert not onsite.is_enabled()
    Select(driver.find_element(By.ID, "staff")).select_by_value("wangfang")
    _wait(driver, lambda d: onsite.is_enabled(), "the 到场 button did not come on for 王芳")
    assert "mine" in row.get_attribute("class")

    # The endpoint refuses what WeCom could never send; nothing reaches the bot.
    before = len(requests.get(live.url + "/simulator/api/messages", timeout=5).json()["messages"])
    for payload, status in (({"userid": "nobody", "task_id": task, "key": "onsite"}, 400),
                            ({"userid": "wangfang", "task_id": task, "key": "fly"}, 400),
                            ({"userid": "wangfang", "task_id": "t-none", "key": "onsite"}, 404),
                            ({"userid": "zhaomin", "task_id": task, "key": "onsite"}, 404),
                            ({"userid": "wangfang", "task_id": task}, 400)):
        r = requests.post(live.url + "/simulator/api/card_tap", json=payload, timeout=5)
        assert r.status_code == status and r.json()["error"], (payload, r.status_code, r.text)
    assert len(requests.get(live.url + "/simulator/api/messages", timeout=5).json()["messages"]) == before

    # Tap 到场 in the browser: the tap goes to /wecom as a template_card_event, then the outbox updates the card.
    _shot(driver, tmp_path, "cards-before.png")
    onsite.click()
    _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, '#staff-log .smsg.tap[data-userid="wangfang"]')
          and d.find_element(By.ID, "staff-log").get_attribute("data-tapping") == "0", "the tap did not finish")
    assert driver.find_element(By.ID, "staff-error").text == ""
    tap = driver.find_elements(By.CSS_SELECTOR, "#staff-log .smsg.tap .msg")[-1].text
    assert "到场" in tap and code in tap
    _drain(svc.outbox)

    # The same entry, redrawn in place with its new state: 已到场, no 到场 button; the resident is told.
    def redrawn(d, says: str):
        r = _card(d, task=task)
        return r is not None and says in r.find_element(By.CSS_SELECTOR, ".wc-desc").text and r
    moved = _wait(driver, lambda d: redrawn(d, "已到场"), "the card was not redrawn as 已到场")
    assert "王芳" in moved.find_element(By.CSS_SELECTOR, ".wc-desc").text
    assert len(driver.find_elements(By.CSS_SELECTOR, f'#staff-log .card-row[data-task="{task}"]')) == 1
    assert moved.get_attribute("data-id") == row.get_attribute("data-id")           # where it was sent, not appended
    keys = [b.get_attribute("data-key") for b in moved.find_elements(By.CSS_SELECTOR, ".cbtn")]
    assert "onsite" not in keys and "close" in keys
    told = _bubble_with(driver, "#chat .msg.bot", re.compile(f"{code}.*到场"), "the resident was not told 王芳 is there")
    assert "王芳" in told
    assert any(code in t and "到场" in t for t in _texts(driver, "#staff-log .smsg.reply .msg"))

    # 办结 on the card asks for the result in words; the answer, typed in the app, closes the ticket.
    moved.find_element(By.CSS_SELECTOR, '.cbtn[data-key="close"]').click()
    _bubble_with(driver, "#staff-log .smsg.reply .msg", "办结结果", "no prompt for the result after tapping 办结")
    _wait(driver, lambda d: d.find_element(By.ID, "staff-log").get_attribute("data-tapping") == "0", "the tap did not finish")
    driver.find_element(By.ID, "command").send_keys("已拆除")
    driver.find_element(By.ID, "command-btn").click()
    _bubble_with(driver, "#staff-log .smsg.reply .msg", f"已办结 #{code}", "the result did not close the ticket")
    _drain(svc.outbox)

    # Settled: one 已处理 button, disabled; it says what happened; the resident is asked to rate.
    settled = _wait(driver, lambda d: (r := _card(d, task=task)) and r.find_elements(By.CSS_SELECTOR, '.wecard[data-settled="1"]')
                    and r, "the card did not change to its settled state")
    assert len(driver.find_elements(By.CSS_SELECTOR, f'#staff-log .card-row[data-task="{task}"]')) == 1
    assert settled.get_attribute("data-id") == row.get_attribute("data-id")
    [done] = settled.find_elements(By.CSS_SELECTOR, ".wc-buttons .cbtn")
    assert done.text == "已处理" and done.get_attribute("data-key") == "noop" and not done.is_enabled()
    assert "已办结" in settled.find_element(By.CSS_SELECTOR, ".wc-desc").text and "王芳" in settled.text
    assert f"#{code}" in settled.find_element(By.CSS_SELECTOR, ".wc-title").text
    _bubble_with(driver, "#chat .msg.bot", re.compile(f"{code}.*已拆除"), "the resident was not told it is done")
    _js(driver, "arguments[0].scrollIntoView({block: 'start'})", settled)       # the card, then the taps under it
    _shot(driver, tmp_path, "cards.png")

    # Reloaded, the log shows the card once, settled, where it was sent.
    driver.refresh()
    _ready(driver, live.url + "/simulator")
    again = driver.find_elements(By.CSS_SELECTOR, f'#staff-log .card-row[data-task="{task}"]')
    assert len(again) == 1 and again[0].find_elements(By.CSS_SELECTOR, '.wecard[data-settled="1"]')
