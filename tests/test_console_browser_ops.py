"""Running the service from the console, in headless Chromium: sites edited, verified and retired,
a texter's WRONG report in the review queue, an HSDS import with its diff, a content reload, and
axe-core on every page at phone and desktop width. One browser and one app for the module; the
texter's side goes through signed webhooks. Needs Chromium (see tests/test_console_browser.py)
and axe-core from npm in tests/axe (`npm ci` there; .ci/run does it).
"""
from __future__ import annotations

import csv
import io
import os
import shutil
from pathlib import Path

import pytest
import redis

from bot import create_app
from tests.conftest import Texter, make_settings
from tests.test_console import PASSWORD
from tests.test_console_browser import Served, browser, wait_for  # noqa: F401 (the fixture)

from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By  # noqa: E402 (after the browser module's checks)

ROOT = Path(__file__).resolve().parent.parent
AXE = ROOT / "tests" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
WIDTHS = (390, 1280)


def need_axe() -> None:
    """Skip without axe-core (as without Chromium), or fail when REQUIRE_BROWSER=1 (CI)."""
    if AXE.exists():
        return
    reason = "axe-core is not installed: run `npm ci` in tests/axe (.ci/run does)"
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(f"REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def ops(redis_url, tmp_path_factory):
    """The app on a real port, with its own copy of content/ and flows/ (the reload test edits
    it), four staff members and a first texter."""
    files = tmp_path_factory.mktemp("files")
    shutil.copytree(ROOT / "content", files / "content")
    shutil.copytree(ROOT / "flows", files / "flows")
    (files / "docs").mkdir()   # content check finds every source described there
    shutil.copy(ROOT / "docs" / "sources.md", files / "docs" / "sources.md")
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    app = create_app(make_settings(redis_url, content_dir=files / "content",
                                   flows_dir=files / "flows"))
    accounts = app.extensions["console"].accounts
    codes = {name: list(accounts.add(name, role, PASSWORD).recovery_codes)
             for name, role in (("ada", "admin"), ("erin", "editor"), ("ed", "editor"),
                                ("val", "viewer"))}
    served = Served(app)
    yield {"base": f"http://localhost:{served.port}", "app": app, "codes": codes,
           "files": files, "texter": Texter(app.test_client(), "+16125550188")}
    served.stop()
    client.flushdb()
    client.close()


def as_staff(driver, ops, name: str) -> None:
    """Sign in (signing out whoever was in); each sign-in uses up one recovery code."""
    for attempt in range(2):  # a page still leaving (its own script) can swap the form under us
        driver.delete_all_cookies()
        driver.get(ops["base"] + "/console/login")
        try:
            driver.find_element(By.ID, "username").send_keys(name)
            driver.find_element(By.ID, "password").send_keys(PASSWORD)
            driver.find_element(By.ID, "code").send_keys(ops["codes"][name].pop())
            break
        except WebDriverException:
            if attempt:
                raise
    driver.find_element(By.ID, "sign-in").click()
    wait_for(driver, "Sign out")


def click(driver, element_id: str) -> None:
    element = driver.find_element(By.ID, element_id)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def test_editors_edit_verify_and_retire_a_site(browser, ops):
    driver, base, person = browser, ops["base"], ops["texter"]
    as_staff(driver, ops, "erin")
    driver.get(base + "/console/places/site/raan-duluth")
    phone = driver.find_element(By.ID, "f-phone")
    phone.clear()
    phone.send_keys("218-481-0000")
    driver.find_element(By.ID, "f-note").send_keys("new number on their website")
    click(driver, "propose")
    wait_for(driver, "another editor or an admin reviews it")
    assert "218-481-7225" in person.send("duluth")              # not live before review
    approve = driver.find_element(By.CSS_SELECTOR, "button[id^='approve-']")
    approve.click()
    wait_for(driver, "another editor (or an admin) must approve your own change")

    as_staff(driver, ops, "ed")
    driver.get(base + "/console/places/review")
    wait_for(driver, "218-481-0000")
    driver.find_element(By.CSS_SELECTOR, "button[id^='approve-']").click()
    wait_for(driver, "is live")
    reply = person.send("duluth")
    assert "218-481-0000" in reply and "218-481-7225" not in reply

    driver.get(base + "/console/places/site/raan-mankato")
    driver.find_element(By.ID, "verify-note").send_keys("called, still give it out")
    click(driver, "verify")
    wait_for(driver, "raan-mankato verified today")
    driver.get(base + "/console/places/site/raan-mankato")
    assert " by ed" in driver.find_element(By.CSS_SELECTOR, ".facts-list").text
    assert "called, still give it out" in driver.find_element(By.ID, "history").text

    driver.get(base + "/console/places/site/red-door-clinic")
    driver.find_element(By.ID, "retire-note").send_keys("closed for good")
    click(driver, "retire")
    wait_for(driver, "red-door-clinic is now temporarily closed")
    assert "Red Door Clinic" not in person.send("55415")
    as_staff(driver, ops, "ada")
    driver.get(base + "/console/audit")
    audit = driver.find_element(By.ID, "audit").text
    assert "site approved: raan-duluth" in audit and "site status temporarily_closed" in audit


def test_a_texters_wrong_report_reaches_the_review_queue(browser, ops):
    driver, base = browser, ops["base"]
    person = Texter(ops["app"].test_client(), "+16125550177")
    second = person.send("bemidji").splitlines()[2].split(",")[0][3:]
    assert person.send("WRONG B").startswith("Thank you for telling us")
    as_staff(driver, ops, "erin")
    driver.get(base + "/console/places")
    wait_for(driver, "1 WRONG report")
    driver.get(base + "/console/places/review")
    report = driver.find_element(By.CSS_SELECTOR, "article.report")
    name = next(s.name for s in ops["app"].config["HELPLINE"].sites.all.sites
                if s.short_name == second)
    assert report.find_element(By.TAG_NAME, "h3").text.lower().startswith(name.lower())
    assert "place B in the list" in report.text and "+1612" not in driver.page_source
    report.find_element(By.CSS_SELECTOR, "button[id^='fixed-']").click()
    wait_for(driver, "closed as fixed")
    assert "No reports." in driver.find_element(By.TAG_NAME, "main").text


def test_an_hsds_import_shows_its_diff_before_anything_changes(browser, ops, tmp_path):
    driver, base, person = browser, ops["base"], ops["texter"]
    app = ops["app"]
    assert app.test_cli_runner().invoke(args=["places", "export", str(tmp_path)]).exit_code == 0
    services = list(csv.DictReader(io.StringIO((tmp_path / "services.csv").read_text())))
    for row in services:
        if row["organization_id"] == "raan-st-cloud":
            row["status"] = "defunct"
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(services[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(services)
    (tmp_path / "services.csv").write_text(buffer.getvalue())

    as_staff(driver, ops, "erin")
    driver.get(base + "/console/places/import")
    for name in ("organizations", "locations", "phones", "services"):
        driver.find_element(By.ID, f"file-{name}_csv").send_keys(str(tmp_path / f"{name}.csv"))
    click(driver, "preview-import")
    wait_for(driver, "What the files would change")
    diff = driver.find_element(By.ID, "import-diff").text
    assert "0 new, 1 changed" in diff and "Nothing has changed yet." in diff
    assert "active" in diff and "defunct" in diff
    assert "RAAN St. Cloud" in person.send("st cloud")            # the preview changed nothing
    click(driver, "stage-import")
    wait_for(driver, "1 change(s) from the import staged for review")
    as_staff(driver, ops, "ada")                                   # an admin approves
    driver.get(base + "/console/places/review")
    driver.find_element(By.CSS_SELECTOR, "button[id^='approve-']").click()
    wait_for(driver, "raan-st-cloud is live")
    assert "RAAN St. Cloud" not in person.send("st cloud")


def test_a_content_reload_checks_first_then_puts_the_edit_live(browser, ops):
    driver, base, person = browser, ops["base"], ops["texter"]
    menu = ops["files"] / "content" / "en" / "menu.yaml"
    original = menu.read_text(encoding="utf-8")
    as_staff(driver, ops, "erin")
    try:
        menu.write_text(original.replace("Reply with a number:", "Reply with a {{ number:", 1))
        driver.get(base + "/console/reload")
        click(driver, "reload")
        wait_for(driver, "Not reloaded: 1 problem")
        assert "en/menu.yaml: menu.main" in driver.find_element(By.ID, "reload-errors").text
        assert "Reply with a number:" in person.send("menu")

        menu.write_text(original.replace("Reply with a number:", "Text us a number:", 1))
        click(driver, "reload")
        wait_for(driver, "Content and flows reloaded")
        assert "Text us a number:" in person.send("menu")
        assert "reloaded by erin" in driver.find_element(By.ID, "content-version").text
    finally:
        menu.write_text(original, encoding="utf-8")


PAGES = [
    ("/console/login", None),
    ("/console/", "ada"), ("/console/?from=2026-01-01&to=2026-01-03", None),
    ("/console/simulator?say=hola&say=55811", None),
    ("/console/content?q=naloxone.nearby", None), ("/console/content/emergency.steps", None),
    ("/console/flows", None), ("/console/simulator", None), ("/console/simulator?channel=voice", None),
    ("/console/places?q=55811&lang=es", None), ("/console/places/site/ka-joog", None),
    ("/console/places/new", None), ("/console/places/review", None),
    ("/console/places/import", None), ("/console/reload", None), ("/console/audit", None),
    ("/console/staff", None), ("/console/inbox", None), ("/console/no-such-page", None),
]


def axe_problems(driver) -> list[str]:
    """Serious and critical axe-core violations on the page as it is now."""
    driver.execute_script(AXE.read_text(encoding="utf-8"))
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']})"
        ".then(r => done(r.violations.map(v => [v.id, v.impact, v.help,"
        " v.nodes.slice(0, 3).map(n => n.target.join(' '))])))"
        ".catch(e => done([['axe', 'critical', String(e), []]]));")
    return [f"{rule} ({impact}): {text} at {targets}"
            for rule, impact, text, targets in result if impact in ("serious", "critical")]


def test_every_page_passes_axe_at_phone_and_desktop_width_without_sideways_scrolling(browser,
                                                                                     ops):
    need_axe()
    driver, base = browser, ops["base"]
    driver.set_script_timeout(30)
    person = Texter(ops["app"].test_client(), "+16125550166")
    for body in ("hola", "55811", "zzqx"):
        person.send(body)
    driver.delete_all_cookies()
    found = []
    try:
        for path, who in PAGES:
            if who:
                as_staff(driver, ops, who)
            if "say=" in path:   # a conversation in the simulator, so its bubbles are checked too
                for body in ("hola", "55811"):
                    driver.get(base + "/console/simulator")
                    driver.find_element(By.ID, "body").send_keys(body)
                    driver.find_element(By.ID, "send").click()
                    wait_for(driver, body)
            for width in WIDTHS:
                driver.set_window_size(width, 900)
                driver.get(base + path)
                found += [f"{path} at {width} px: {p}" for p in axe_problems(driver)]
                if width == 390:
                    wide = driver.execute_script(
                        "return document.documentElement.scrollWidth - window.innerWidth")
                    if wide > 0:
                        found.append(f"{path} at 390 px scrolls sideways by {wide} px")
    finally:
        driver.set_window_size(1280, 900)
    assert not found, "\n".join(found)
