"""The web desk in a real browser (Debian's headless chromium through selenium) against a live server:
a wrong password, signing in, filtering, searching, opening a ticket, closing it with the form, the
export, and the phone layout. Screenshots go to the test's tmp dir and /tmp/jiesu-shots/.
"""
from __future__ import annotations

import re

import requests

from tests.bot.simulator_support import browser, config, db_url  # noqa: F401 - fixtures
from tests.bot.simulator_support import _shot, _wait
from tests.conftest import new_openid

CODE = re.compile(r"#(\d{8}-\d{4})")
PASSWORD = "correct horse battery"


def _text_of(driver, element_id: str) -> str:
    """The element's text, or "" while the page is being replaced (a form was just submitted: the
    old document's node may vanish between finding it and reading it)."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    try:
        return driver.find_element(By.ID, element_id).text
    except WebDriverException:
        return ""


def _submitted(driver, url_part: str) -> None:
    """Wait until the browser has loaded the page a form submission asked for."""
    _wait(driver, lambda d: url_part in d.current_url and d.execute_script("return document.readyState") == "complete",
          f"the page with {url_part!r} did not load")


def _sign_in(driver, url: str, username: str, password: str) -> None:
    from selenium.webdriver.common.by import By
    driver.get(url + "/desk/login")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form.login button").click()


def test_desk_sign_in_filter_search_move_export(browser, live, live_wechat, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from bot import users
    svc = live.services
    with svc.sessions.begin() as s:
        users.add(s, "zhao", PASSWORD, "zhaomin", svc.clock.now())
    garbage = CODE.search(live_wechat.text(new_openid(), "3号楼门口垃圾堆了好几天没人清，电话13812345678")).group(1)
    light = CODE.search(live_wechat.text(new_openid(), "8号楼楼道灯坏了，晚上看不见")).group(1)
    driver = browser

    _sign_in(driver, live.url, "zhao", "not the password")
    err = _wait(driver, lambda d: d.find_elements(By.ID, "login-error"), "no error for a wrong password")
    assert "用户名或密码不正确" in err[0].text
    _shot(driver, tmp_path, "desk-login-error.png")

    _sign_in(driver, live.url, "zhao", PASSWORD)
    _submitted(driver, "/desk/")
    _wait(driver, lambda d: d.find_elements(By.ID, "ticket-list"), "the list did not open after signing in")
    rows = driver.find_element(By.ID, "ticket-list").text
    assert f"#{garbage}" in rows and f"#{light}" in rows and "13812345678" not in rows
    _shot(driver, tmp_path, "desk-list.png")
    # the page draws Chinese with a real CJK font (not boxes): the text is wider than it is tall per glyph
    width = driver.execute_script(
        "const r=document.createRange(); r.selectNodeContents(document.querySelector('#count')); return r.getBoundingClientRect().width")
    assert width > 100

    Select(driver.find_element(By.NAME, "category")).select_by_visible_text("公共设施")
    driver.find_element(By.CSS_SELECTOR, "#filters button").click()
    _submitted(driver, "category=facility")
    _wait(driver, lambda d: f"#{light}" in _text_of(d, "ticket-list"), "the filter did not apply")
    assert f"#{garbage}" not in _text_of(driver, "ticket-list")
    assert f"#{light}" in driver.find_element(By.ID, "ticket-list").text

    Select(driver.find_element(By.NAME, "category")).select_by_visible_text("全部类别")
    box = driver.find_element(By.NAME, "q")
    box.clear()
    box.send_keys("垃圾")
    driver.find_element(By.CSS_SELECTOR, "#filters button").click()
    _submitted(driver, "q=")
    _wait(driver, lambda d: f"#{garbage}" in _text_of(d, "ticket-list"), "the search did not apply")
    assert f"#{light}" not in _text_of(driver, "ticket-list")
    assert "共 1 件" in driver.find_element(By.ID, "count").text
    _shot(driver, tmp_path, "desk-search.png")

    driver.find_element(By.LINK_TEXT, f"#{garbage}").click()
    _submitted(driver, f"/desk/t/{garbage}")
    _wait(driver, lambda d: d.find_elements(By.ID, "moves"), "the ticket page shows no moves")
    assert "垃圾与环境卫生" in driver.find_element(By.ID, "ticket").text
    assert "登记" in driver.find_element(By.ID, "timeline").text
    _shot(driver, tmp_path, "desk-ticket.png")
    form = driver.find_element(By.CSS_SELECTOR, 'form.move[data-command="close"]')
    form.find_element(By.NAME, "value").send_keys("已清运完毕")
    form.find_element(By.TAG_NAME, "button").click()
    _wait(driver, lambda d: "已办结" in _text_of(d, "ticket") and d.find_elements(By.CSS_SELECTOR, ".flash"),
          "closing from the desk did not show")
    assert "已清运完毕" in driver.find_element(By.ID, "timeline").text
    assert "已办结" in driver.find_element(By.CSS_SELECTOR, ".flash").text
    _shot(driver, tmp_path, "desk-ticket-closed.png")

    # the export link, with the browser's session cookie
    driver.get(live.url + "/desk/")
    href = driver.find_element(By.ID, "export-xlsx").get_attribute("href")
    cookies = {c["name"]: c["value"] for c in driver.get_cookies()}
    r = requests.get(href, cookies=cookies, timeout=10)
    assert r.status_code == 200 and r.content[:2] == b"PK"              # an .xlsx (a zip)

    # the numbers and the weekly review draw their charts (ECharts from our own static files)
    today = svc.clock.now().astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai")).date()
    for path, charts, shot in (("/desk/numbers", "2", "desk-numbers.png"),
                               (f"/desk/review?week={today}", "1", "desk-review.png")):
        driver.get(live.url + path)
        _wait(driver, lambda d: d.execute_script("return document.body.dataset.charts") == charts,
              f"the charts of {path} did not draw")
        drawn = driver.execute_script(
            "return Array.from(document.querySelectorAll('.chart')).map(function (el) {"
            " var c = el.querySelector('canvas'); return !!(echarts.getInstanceByDom(el) && c && c.width > 100); })")
        assert drawn and all(drawn), (path, drawn)
        _shot(driver, tmp_path, shot)
    assert "垃圾与环境卫生" in driver.find_element(By.ID, "top").text

    # the phone layout: one column, no header row, still every ticket
    driver.set_window_size(390, 844)
    driver.get(live.url + "/desk/?status=all")
    assert not driver.find_element(By.CSS_SELECTOR, "table.list thead").is_displayed()
    assert f"#{garbage}" in driver.find_element(By.ID, "ticket-list").text
    _shot(driver, tmp_path, "desk-phone.png")
    driver.set_window_size(1280, 900)
