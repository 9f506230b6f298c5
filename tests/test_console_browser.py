"""The console in a real browser: headless Chromium (Debian's chromium + chromium-driver) drives
the app served over HTTP, one browser for the whole module.

Without a Chromium these tests are skipped with the reason; with REQUIRE_BROWSER=1 (CI sets it)
a missing browser fails instead. Screenshots at phone (390 px) and desktop (1280 px) widths go
to a temporary folder (CONSOLE_SCREENSHOTS=<dir> keeps them; docs/img/ holds chosen ones).
"""
from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pyotp
import pytest
import redis
import rq
from werkzeug.serving import make_server

from bot import create_app
from bot.console import keys
from tests.conftest import Texter, make_settings
from tests.test_console import PASSWORD

# CHROMIUM_BIN / CHROMEDRIVER_BIN point elsewhere (e.g. another distribution's paths).
CHROMIUM = os.environ.get("CHROMIUM_BIN") or shutil.which("chromium") \
    or shutil.which("chromium-browser")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BIN") or (
    "/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver") else shutil.which("chromedriver"))
CHROMIUM = CHROMIUM if CHROMIUM and os.access(CHROMIUM, os.X_OK) else None
CHROMEDRIVER = CHROMEDRIVER if CHROMEDRIVER and os.access(CHROMEDRIVER, os.X_OK) else None
TRAFFIC = [("hi", "1", "2")] * 4 + [("naloxone near 55811",), ("Duluth",), ("55811",),
                                   ("he is not breathing",), ("hi", "2", "2", "Bemidji")] * 2
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync")

if not (CHROMIUM and CHROMEDRIVER):
    reason = ("no Chromium for the browser tests: install the Debian packages "
              "(apt-get install chromium chromium-driver)")
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(f"REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)

os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never download a driver or browser
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


class Served:
    """A WSGI app on a real port, in a thread, for the length of the module."""

    def __init__(self, app, host: str = "127.0.0.1"):
        self.server = make_server(host, 0, app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.port = self.server.server_port

    def stop(self):
        self.server.shutdown()
        self.thread.join(10)


@pytest.fixture(scope="module")
def site(redis_url):
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    app = create_app(make_settings(redis_url))
    with app.app_context():
        accounts = app.extensions["console"].accounts
        enrolled = {"ada": accounts.add("ada", "admin", PASSWORD),
                    "val": accounts.add("val", "viewer", PASSWORD)}
    webhook = app.test_client()  # some real, signed traffic for the dashboard to count
    for n, words in enumerate(TRAFFIC):
        texter = Texter(webhook, f"+1612555{n:04d}")
        for body in words:
            texter.send(body)
    served = Served(app)
    yield {"base": f"http://localhost:{served.port}", "redis": client, "enrolled": enrolled,
           "app": app}
    served.stop()
    client.flushdb()
    client.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.add_argument("--window-size=1280,900")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # CSP reports, errors
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    folder = Path(os.environ.get("CONSOLE_SCREENSHOTS") or tmp_path_factory.mktemp("screens"))
    folder.mkdir(parents=True, exist_ok=True)

    def take(driver, name: str) -> None:
        for width in (1280, 390):
            driver.set_window_size(width, 900)
            height = driver.execute_script("return document.documentElement.scrollHeight")
            driver.set_window_size(width, min(max(height, 700), 2400))
            driver.save_screenshot(str(folder / f"{name}-{width}.png"))
        driver.set_window_size(1280, 900)
    return take


def wait_for(driver, text: str, timeout: float = 10) -> None:
    WebDriverWait(driver, timeout).until(EC.text_to_be_present_in_element((By.TAG_NAME, "body"),
                                                                          text))


def sign_in(driver, base: str, username: str, code: str) -> None:
    driver.get(base + "/console/")
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "code").send_keys(code)
    driver.find_element(By.ID, "sign-in").click()


def sign_out(driver) -> None:
    driver.find_element(By.ID, "sign-out").click()
    wait_for(driver, "Sign in")


def test_an_admin_signs_in_reads_messages_texts_an_emergency_and_signs_out(site, browser,
                                                                          shots):
    base, driver = site["base"], browser
    driver.get(base + "/console/")
    assert "/console/login" in driver.current_url
    shots(driver, "login")
    secret = site["enrolled"]["ada"].totp_secret
    sign_in(driver, base, "ada", pyotp.TOTP(secret).now())
    wait_for(driver, "Texts in per day")
    texts_in = driver.find_element(By.XPATH, "//th[text()='texts in']/following-sibling::td")
    assert texts_in.text == str(sum(len(words) for words in TRAFFIC))
    assert driver.find_element(By.ID, "health").text.startswith("Service:")
    shots(driver, "dashboard")

    driver.get(base + "/console/content?q=emergency")
    driver.find_element(By.LINK_TEXT, "emergency.steps").click()
    wait_for(driver, "On the phone line")
    assert "911" in driver.find_element(By.CSS_SELECTOR, ".bubble.line").text
    shots(driver, "message")

    driver.get(base + "/console/simulator")
    for body in ("hi", "my friend is not breathing"):
        field = driver.find_element(By.ID, "body")
        field.send_keys(body)
        driver.find_element(By.ID, "send").click()
        wait_for(driver, body)
    wait_for(driver, "screen emergency")
    last = driver.find_elements(By.CSS_SELECTOR, ".bubble.line")[-1].text
    assert "911" in last
    shots(driver, "simulator")

    driver.get(base + "/console/simulator?channel=voice")
    driver.find_element(By.ID, "call-start").click()
    wait_for(driver, "listens for")
    driver.find_element(By.CSS_SELECTOR, "button.key[value='1']").click()
    wait_for(driver, "press 1")
    shots(driver, "simulator-voice")

    driver.get(base + "/console/flows")
    assert driver.find_element(By.ID, "n-emergency")
    shots(driver, "flows")
    driver.get(base + "/console/places?q=Bemidji")
    wait_for(driver, "Read as")
    shots(driver, "places")
    driver.get(base + "/console/audit")
    wait_for(driver, "signed in")
    sign_out(driver)
    driver.get(base + "/console/")
    assert "/console/login" in driver.current_url


def test_a_viewer_cannot_reach_admin_pages(site, browser):
    base, driver = site["base"], browser
    sign_in(driver, base, "val", pyotp.TOTP(site["enrolled"]["val"].totp_secret).now())
    wait_for(driver, "Dashboard")
    nav = driver.find_element(By.TAG_NAME, "nav").text
    assert "Simulator" not in nav and "Queues" not in nav and "audit" not in nav

    driver.get(base + "/console/audit")
    wait_for(driver, "403")
    driver.get(base + "/admin/rq/")
    wait_for(driver, "403")
    driver.get(base + "/console/")
    sign_out(driver)


def test_a_cross_site_form_post_is_refused(site, browser, tmp_path):
    """A page on another origin posts a form into the console of a signed-in admin."""
    base, driver = site["base"], browser
    sign_in(driver, base, "ada", site["enrolled"]["ada"].recovery_codes[0])
    wait_for(driver, "Dashboard")
    evil_html = (f'<form method="post" action="{base}/console/simulator/text">'
                 '<input name="body" value="my friend is not breathing">'
                 '<button id="go" type="submit">win a prize</button></form>').encode()

    def evil(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/html")])
        return [evil_html]

    def texts_sent() -> int:
        logs = list(site["redis"].scan_iter(match=keys.sim_log("*")))
        return sum(1 for key in logs for m in site["redis"].lrange(key, 0, -1)
                   if b"not breathing" in m)

    before = texts_sent()
    other = Served(evil)
    try:
        driver.get(f"http://127.0.0.1:{other.port}/")
        driver.find_element(By.ID, "go").click()
        wait_for(driver, "400")
        assert "did not come from the console" in driver.page_source
    finally:
        other.stop()
    assert texts_sent() == before  # nothing reached the simulator
    driver.get(base + "/console/")
    sign_out(driver)


def rows(driver, css: str, attribute: str | None = None, timeout: float = 10) -> list[str]:
    """The text (or an attribute) of the rows a page's script filled in, once there is one; read
    again if the page's polling redraws them meanwhile."""
    def read(d):
        found = d.find_elements(By.CSS_SELECTOR, css)
        return [e.get_attribute(attribute) if attribute else e.text for e in found] or False
    return WebDriverWait(driver, timeout, ignored_exceptions=[StaleElementReferenceException]
                         ).until(read)


def test_an_admin_sees_queues_workers_and_jobs_on_the_rq_dashboard(site, browser):
    """RQ's dashboard fills its tables with script under its own CSP, with no violation."""
    base, driver, client = site["base"], browser, site["redis"]
    job = rq.Queue("probe", connection=client).enqueue("os.getcwd")
    worker = rq.Worker(["probe"], connection=client, name="probe-worker")
    worker.register_birth()
    try:
        sign_in(driver, base, "ada", site["enrolled"]["ada"].recovery_codes[1])
        wait_for(driver, "Dashboard")
        driver.get_log("browser")  # only this test's messages from here on
        driver.get(base + "/admin/rq/")
        assert "probe" in [r.split()[0] for r in rows(driver, "#queues tr[data-role=queue]")]
        driver.get(base + "/admin/rq/0/view/workers")
        assert "probe-worker" in rows(driver, "#workers tr[data-role=worker]")[0]
        driver.get(base + "/admin/rq/0/view/jobs/probe/queued/8/asc/1")
        assert rows(driver, "#jobs tr[data-role=job]", "data-job-id") == [job.id]
        problems = [m["message"] for m in driver.get_log("browser")  # its favicon is not ours
                    if m["level"] == "SEVERE" and "favicon.ico" not in m["message"]]
        assert problems == []
        driver.get(base + "/console/")
        sign_out(driver)
    finally:
        worker.register_death()


def test_an_admin_unlocks_and_adds_staff_on_the_staff_page(site, browser, shots):
    base, driver, app = site["base"], browser, site["app"]
    stranger = app.test_client()
    stranger.environ_base["REMOTE_ADDR"] = "203.0.113.5"
    page = stranger.get("/console/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    for _ in range(5):  # someone guessing val's password from elsewhere
        stranger.post("/console/login", data={"csrf_token": token, "username": "val",
                                               "password": "guessing guessing"})
    sign_in(driver, base, "ada", site["enrolled"]["ada"].recovery_codes[2])
    wait_for(driver, "Dashboard")
    driver.find_element(By.LINK_TEXT, "Staff & audit").click()
    wait_for(driver, "Add an account")
    assert "locked (1 address)" in driver.find_element(By.ID, "staff-val").text
    shots(driver, "staff")

    driver.find_element(By.ID, "unlock-val").click()
    wait_for(driver, "Unlocked val; the password is unchanged.")
    assert "active" in driver.find_element(By.ID, "staff-val").text
    driver.find_element(By.ID, "new-username").send_keys("nina")
    driver.find_element(By.ID, "add-staff").click()
    wait_for(driver, "shown only now")
    assert len(driver.find_element(By.ID, "new-password").text) >= 12
    driver.get(base + "/console/audit")
    wait_for(driver, "account unlocked")
    audit = driver.find_element(By.ID, "audit").text
    assert "ada account unlocked val" in audit and "ada account added nina (viewer)" in audit
    sign_out(driver)
