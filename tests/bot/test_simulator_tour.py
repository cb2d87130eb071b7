"""The guided tour (导览) in a real browser (headless chromium through selenium): a whole ticket played
through the real endpoints on the simulated clock, then what each of the three panes shows. Shared
fixtures and helpers are in simulator_support.py; screenshots go to the test's tmp dir and /tmp/jiesu-shots/.
"""
from __future__ import annotations

import re

from tests.bot.simulator_support import browser, config, db_url, sim_live  # noqa: F401 - fixtures, overriding conftest's per module
from tests.bot.simulator_support import (
    CODE, TOUR_WAIT, RESIDENT_A, COMPLAINT, GRID_1, GRID_3, _wait, _shot, _ready, _push, _texts, _bubble_with,
    _choose_resident, _js,
)


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
