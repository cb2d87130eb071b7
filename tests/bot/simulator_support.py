"""Shared pieces of the simulator browser tests (test_simulator_browser.py, test_simulator_tour.py,
test_simulator_cards.py): the headless chromium fixture, the per-module db_url and config overrides,
the live server on the simulated clock, page helpers and screenshot helpers.

A plain module, not a conftest: each test module imports the fixtures it uses, e.g.
`from tests.bot.simulator_support import browser, config, db_url  # noqa: F401`, so that, as in the
original single file, they override conftest's db_url/config for that module only.

Needs /usr/bin/chromium and /usr/bin/chromedriver (apt: chromium chromium-driver). Without them the
tests are skipped, or fail when CI or JIESU_REQUIRE_BROWSER is set. Selenium Manager is never used:
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
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait
    # a page that redraws an element between finding it and reading it: look again, as a person would
    return WebDriverWait(driver, timeout, poll_frequency=0.05,
                         ignored_exceptions=(StaleElementReferenceException,)).until(condition, message)


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
