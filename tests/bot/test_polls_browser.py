"""问卷 in a real browser (Debian's headless chromium through selenium) against a live server: the
committee makes a questionnaire of several questions on the desk, a resident opens its page on a
phone's width (signed in through the fake platform's 网页授权) and answers, and the desk's results
show it. Screenshots go to the test's tmp dir and /tmp/jiesu-shots/."""
from __future__ import annotations

from bot import users
from tests.bot.simulator_support import browser, config, db_url  # noqa: F401 - fixtures
from tests.bot.simulator_support import RESIDENT_A, _shot, _wait
from tests.bot.test_desk import PASSWORD


def desk_sign_in(d, live) -> None:
    from selenium.webdriver.common.by import By
    d.get(live.url + "/desk/login")
    d.find_element(By.NAME, "username").send_keys("zhao")
    d.find_element(By.NAME, "password").send_keys(PASSWORD)
    d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    _wait(d, lambda x: x.find_elements(By.ID, "ticket-list"), "the desk did not open")


def test_questionnaire_made_on_the_desk_and_answered_on_a_phone(browser, live, live_wechat, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    svc = live.services
    with svc.sessions.begin() as s:
        users.add(s, "zhao", PASSWORD, "zhaomin", svc.clock.now())
    live_wechat.text(RESIDENT_A, "3号楼门口垃圾堆了好几天没人清")
    d = browser
    d.set_window_size(1280, 1400)
    desk_sign_in(d, live)
    d.find_element(By.LINK_TEXT, "问卷").click()
    _wait(d, lambda x: x.find_elements(By.ID, "new-poll"), "no poll form")
    d.find_element(By.NAME, "title").send_keys("楼道环境满意度")
    d.find_element(By.NAME, "audience").send_keys("第一网格")
    d.find_element(By.NAME, "prompt0").send_keys("楼道干净吗？")
    d.find_element(By.NAME, "options0").send_keys("干净\n一般\n不干净")
    Select(d.find_element(By.NAME, "kind1")).select_by_value("scale")
    d.find_element(By.NAME, "prompt1").send_keys("给保洁打几分？")
    Select(d.find_element(By.NAME, "kind2")).select_by_value("text")
    d.find_element(By.NAME, "prompt2").send_keys("还有什么建议？")
    _shot(d, tmp_path, "poll-desk-form.png")
    d.find_element(By.CSS_SELECTOR, "#new-poll button[type=submit]").click()
    _wait(d, lambda x: x.find_elements(By.ID, "poll"), "the poll page did not open")
    assert "已发出，问 1 人" in d.find_element(By.CSS_SELECTOR, ".flash").text
    poll_url = d.current_url
    poll_id = poll_url.rstrip("/").rsplit("/", 1)[-1]

    d.delete_all_cookies()
    d.set_window_size(390, 844)
    d.get(f"{live.url}/r/poll/{poll_id}")
    _wait(d, lambda x: x.find_elements(By.ID, "fake-sign-in"), "no WeChat sign-in page")
    d.find_element(By.CSS_SELECTOR, f'button[value="{RESIDENT_A}"]').click()
    _wait(d, lambda x: x.find_elements(By.ID, "poll-form"), "the poll page did not open")
    d.find_element(By.CSS_SELECTOR, 'input[name="q0"][value="3"]').click()
    d.find_element(By.CSS_SELECTOR, 'input[name="q1"][value="2"]').click()
    d.find_element(By.NAME, "q2").send_keys("垃圾桶每天多清一次")
    _shot(d, tmp_path, "poll-resident-form.png")
    d.find_element(By.CSS_SELECTOR, "#poll-form button[type=submit]").click()
    _wait(d, lambda x: x.find_elements(By.ID, "saved"), "no confirmation")
    assert d.find_element(By.CSS_SELECTOR, 'input[name="q0"][value="3"]').is_selected()
    _shot(d, tmp_path, "poll-resident-saved.png")

    d.delete_all_cookies()
    d.set_window_size(1280, 1400)
    desk_sign_in(d, live)
    d.get(poll_url)
    text = d.find_element(By.ID, "poll").text
    assert "1 人作答" in text.replace("\n", " ") and "垃圾桶每天多清一次" in text and "平均 2.00 分" in text
    _shot(d, tmp_path, "poll-desk-results.png")
