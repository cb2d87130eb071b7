"""Signing in through WeChat in a real browser (Debian's headless chromium through selenium) against a
live server whose fake platform plays WeCom and the official account: 企业微信登录 on the desk's login
page, then 我的反映 opened from the simulator. Screenshots go to the test's tmp dir and /tmp/jiesu-shots/.
"""
from __future__ import annotations

import re

from tests.bot.simulator_support import browser, config, db_url  # noqa: F401 - fixtures
from tests.bot.simulator_support import RESIDENT_A, _shot, _wait

CODE = re.compile(r"#(\d{8}-\d{4})")


def _loaded(driver, path: str) -> None:
    _wait(driver, lambda d: d.current_url.split("?")[0].endswith(path)
          and d.execute_script("return document.readyState") == "complete", f"{path} did not load")


def test_wecom_sign_in_and_my_reports_in_a_browser(browser, live, live_wechat, tmp_path):
    from selenium.webdriver.common.by import By

    mine = CODE.search(live_wechat.text(RESIDENT_A, "3号楼门口垃圾堆了好几天没人清，电话13812345678")).group(1)
    theirs = CODE.search(live_wechat.text("o-test-other", "15号楼楼道灯坏了")).group(1)
    driver = browser

    # the desk: 企业微信登录 -> the platform asks who you are -> the desk as 王芳, her grid only
    driver.get(live.url + "/desk/login")
    button = driver.find_element(By.ID, "wecom-login")
    assert button.text == "企业微信登录" and button.is_displayed()
    _shot(driver, tmp_path, "signin-desk-login.png")
    button.click()
    _loaded(driver, "/fake/wwlogin/sso/login")
    assert "您是哪位工作人员" in driver.find_element(By.ID, "fake-sign-in").text
    _shot(driver, tmp_path, "signin-wecom-pick.png")
    driver.find_element(By.CSS_SELECTOR, 'button[value="wangfang"]').click()
    _loaded(driver, "/desk/")
    _wait(driver, lambda d: d.find_elements(By.ID, "ticket-list"), "the desk did not open after 企业微信登录")
    assert "王芳" in driver.find_element(By.CSS_SELECTOR, "header.top").text
    rows = driver.find_element(By.ID, "ticket-list").text
    assert f"#{mine}" in rows and f"#{theirs}" not in rows
    _shot(driver, tmp_path, "signin-desk-as-wangfang.png")

    # someone on WeCom but not on the staff list
    driver.delete_all_cookies()
    driver.get(live.url + "/desk/login")
    driver.find_element(By.ID, "wecom-login").click()
    _loaded(driver, "/fake/wwlogin/sso/login")
    driver.find_element(By.ID, "other-who").send_keys("stranger01")
    driver.find_element(By.ID, "other-submit").click()
    _loaded(driver, "/desk/wecom/callback")
    assert "不在本社区的工作人员名单中" in driver.find_element(By.ID, "refusal").text
    _shot(driver, tmp_path, "signin-wecom-refused.png")

    # a resident: 我的反映 from the simulator -> 微信网页授权 -> their own reports, on a phone's width
    driver.set_window_size(390, 844)
    driver.get(live.url + "/simulator")
    href = driver.find_element(By.ID, "my-tickets").get_attribute("href")
    driver.get(href)                              # the link opens a new tab; one tab is enough here
    _loaded(driver, "/fake/open/connect/oauth2/authorize")
    assert "您是哪位居民" in driver.find_element(By.ID, "fake-sign-in").text
    _shot(driver, tmp_path, "signin-resident-pick.png")
    driver.find_element(By.CSS_SELECTOR, f'button[value="{RESIDENT_A}"]').click()
    _loaded(driver, "/me")
    page = driver.find_element(By.ID, "my-tickets").text
    assert f"#{mine}" in page and "138****5678" in page and f"#{theirs}" not in page
    cookie = driver.get_cookie("jiesu_resident")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    _shot(driver, tmp_path, "signin-resident-me.png")
    driver.set_window_size(1280, 900)
