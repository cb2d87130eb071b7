"""The simulator page in a real browser (Debian's headless chromium through selenium), against a live
server on loopback: chat as a resident, see the reply, deliver the outbox, see the group push.

Needs /usr/bin/chromium and /usr/bin/chromedriver (apt: chromium chromium-driver). Without them the
test is skipped, or fails when CI or JIESU_REQUIRE_BROWSER is set. Selenium Manager is never used:
the driver path is given explicitly, so nothing is downloaded.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest
import requests

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
REQUIRE_BROWSER = bool(os.environ.get("CI") or os.environ.get("JIESU_REQUIRE_BROWSER"))
CODE = re.compile(r"#(\d{8}-\d{4})")
WAIT = 8          # seconds: the page polls every second; everything here is on loopback

RESIDENT_A = "o-sim-zhang-ayi"        # 张阿姨（3号楼）
RESIDENT_B = "o-sim-li-laoshi"        # 李老师（15号楼）
COMPLAINT = "3号楼楼道有人飞线充电"
GRID_1 = "local-robot-grid-1"


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

def _wait(driver, condition, message: str):
    from selenium.webdriver.support.ui import WebDriverWait
    return WebDriverWait(driver, WAIT, poll_frequency=0.05).until(condition, message)


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

def test_simulator_chat_push_switch_photo_and_errors(browser, live):
    from selenium.webdriver.common.by import By

    driver = browser
    driver.get(live.url + "/simulator")
    _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, f'.grid[data-key="{GRID_1}"] .pushes'), "page did not render")
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
    assert _texts(driver, ".grid .push") == []                 # nothing delivered yet
    assert live.services.outbox.run_once() == 1
    push = _bubble_with(driver, f'.grid[data-key="{GRID_1}"] .pushes .push', code,
                        f"push for #{code} did not appear in 第一网格's panel")
    assert COMPLAINT in push or "飞线充电" in push
    assert _texts(driver, '.grid:not([data-key="local-robot-grid-1"]) .push') == []   # only grid 1 got it

    # 3. Another resident: the chat shows only their messages (none yet).
    _choose_resident(driver, RESIDENT_B)
    _wait(driver, lambda d: not d.find_elements(By.CSS_SELECTOR, "#chat .msg"), "chat still shows the other resident's messages")

    # 4. That resident sends a photo: a new ticket that waits for words.
    driver.find_element(By.ID, "photo").click()
    photo_reply = _bubble_with(driver, "#chat .msg.bot", "已收到照片", "no reply to the photo appeared")
    photo_code = CODE.search(photo_reply).group(1)
    assert photo_code != code
    assert _texts(driver, "#chat .msg.me") == ["[照片]"]
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
    from datetime import datetime, timezone

    from selenium.webdriver.common.by import By

    from bot.scheduler import Scheduler
    from bot.sim_clock import FILE_NAME, SimClock
    from handlers.clock import FakeClock
    from tests.conftest import LiveServer

    base = FakeClock(datetime(2026, 11, 21, 1, 30, tzinfo=timezone.utc))      # 09:30 in Asia/Shanghai
    live = LiveServer(config, SimClock(tmp_path / FILE_NAME, base=base))     # the clock run_bot.py gives local mode
    try:
        svc = live.services
        scheduler = Scheduler(svc)                   # its sweep, not started; waking it drains the outbox here
        scheduler.wake = svc.outbox.run_once         # (so the new-ticket push leaves as soon as it is queued)
        svc.scheduler = scheduler
        driver = browser
        driver.get(live.url + "/simulator")
        shown = _wait(driver, lambda d: (t := d.find_element(By.ID, "sim-time").text) != "…" and t, "no simulated time shown")
        assert shown == "2026-11-21 周六 09:30"
        assert "快进时间，看 54321 时限提醒" in driver.find_element(By.ID, "clockbar").text

        _choose_resident(driver, RESIDENT_A)
        driver.find_element(By.ID, "text").send_keys(COMPLAINT)
        driver.find_element(By.ID, "send-btn").click()
        code = CODE.search(_bubble_with(driver, "#chat .msg.bot", "已受理 #", "no reply")).group(1)
        _bubble_with(driver, f'.grid[data-key="{GRID_1}"] .push', code, "no push for the ticket")
        base.advance(minutes=1)                                                # a minute passes

        driver.find_element(By.XPATH, "//button[normalize-space()='+40 分钟']").click()
        _wait(driver, lambda d: d.find_element(By.ID, "sim-time").text == "2026-11-21 周六 10:11",
              "the simulated time did not move 40 minutes on")
        assert driver.find_element(By.ID, "sim-offset").text == "（快进 40 分钟）"
        assert driver.find_element(By.ID, "clock-error").text == ""
        reminder = _bubble_with(driver, f'.grid[data-key="{GRID_1}"] .push', "超时", "no overdue reminder in 第一网格's pane")
        assert code in reminder and reminder.startswith("2026-11-21 10:11:00")    # sent at, in the community's time

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
        img = _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, f'.grid[data-key="{GRID_1}"] img.robot-image'),
                    "no robot image in 第一网格's pane")[0]
        _wait(driver, lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img) == 48,
              "the robot image did not decode")
        _bubble_with(driver, f'.grid[data-key="{GRID_1}"] .push', "图文消息", "an unknown robot message was not shown as text")

        driver.save_screenshot("/tmp/jiesu-simulator-clock.png")
    finally:
        live.stop()
