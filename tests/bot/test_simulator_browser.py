"""The simulator page in a real browser (Debian's headless chromium through selenium), against a live
server on loopback: chat as a resident, see the reply, deliver the outbox, see the group push; the clock
bar and the overdue reminder; WeCom markdown rendered safely; the phone layout's tabs; Chinese drawn
with real glyphs; / and the favicon. Screenshots go to the test's tmp dir, and a copy to /tmp/jiesu-shots/.

The guided tour is in test_simulator_tour.py, the one-tap cards in test_simulator_cards.py; the shared
fixtures and helpers in simulator_support.py. Needs /usr/bin/chromium and /usr/bin/chromedriver (apt:
chromium chromium-driver); without them the tests are skipped, or fail when CI or JIESU_REQUIRE_BROWSER is set.
"""
from __future__ import annotations

import re

import requests

from tests.bot.simulator_support import browser, config, db_url  # noqa: F401 - fixtures, overriding conftest's per module
from tests.bot.simulator_support import (
    CODE, RESIDENT_A, RESIDENT_B, COMPLAINT, GRID_1, START, _wait, _shot, _ready, _push, _texts, _bubble_with,
    _choose_resident, _js,
)


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
