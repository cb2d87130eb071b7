"""One-tap WeCom cards in the simulator, in a real browser (headless chromium through selenium): the grid
leader's card drawn in the staff pane, 到场 and 办结 tapped in the browser, the card redrawn in place. Shared
fixtures and helpers are in simulator_support.py; screenshots go to the test's tmp dir and /tmp/jiesu-shots/.
"""
from __future__ import annotations

import re

import requests

from tests.bot.simulator_support import browser, config, db_url  # noqa: F401 - fixtures, overriding conftest's per module
from tests.bot.simulator_support import (
    CODE, RESIDENT_A, COMPLAINT, _wait, _shot, _ready, _texts, _bubble_with, _choose_resident, _js,
)


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
