"""The staffed inbox in two real browsers: two staff members (headless Chromium, as
tests/test_console_browser.py drives it) at the console over HTTP, the texters through signed
Twilio webhooks, a real RQ worker with its scheduler for every text, the local
Twilio-compatible server for sends, and time moved through RQ's scheduler for the timers.

Every change below reaches the staff's open pages live (server-sent events): each check first
marks the page, then waits for the change, then finds the mark still there (no reload).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import redis
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from bot import create_app
from bot.storage.keys import INBOX_ALERTS_KEY, inbox_open_key
from tests.conftest import Texter, drain, make_settings
from tests.signing import AUTH_TOKEN, BASE_URL, post_signed
from tests.test_console import PASSWORD
from tests.test_console_browser import CHROMEDRIVER, CHROMIUM, FLAGS, Served, wait_for
from tests.test_inbox import advance
from tests.test_jobs import texts_to
from tests.twilio_server import ACCOUNT_SID, running_server

from selenium import webdriver  # noqa: E402  (after test_console_browser's skip and offline set-up)
from selenium.webdriver.chrome.service import Service  # noqa: E402

WAIT = 15


@pytest.fixture(scope="module")
def fake(redis_url):
    yield from running_server()


@pytest.fixture(scope="module")
def site(redis_url, fake, tmp_path_factory):
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    env = {"REDIS_URL": redis_url, "HELPLINE_ENV": "test", "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
           "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_FROM_NUMBER": "+16125550100",
           "TWILIO_API_BASE_URL": fake.base_url, "PUBLIC_BASE_URL": BASE_URL,
           "QUIET_HOURS_START": "0", "QUIET_HOURS_END": "0", "SEND_RATE_PER_SECOND": "50",
           "INBOX_HOURS": "daily 00:00-24:00", "INBOX_STREAM_SECONDS": "30"}
    app = create_app(make_settings(redis_url, **env))
    today = datetime.now(timezone.utc).astimezone(app.config["HELPLINE"].settings.tz).date()
    # The same helpline on a holiday (another process on the same Redis): nobody is staffed
    closed = create_app(make_settings(redis_url, **env, INBOX_LEAVE_MESSAGE="on",
                                      INBOX_HOLIDAYS=f"{today}, {today + timedelta(days=1)}"))
    with app.app_context():
        accounts = app.extensions["console"].accounts
        accounts.add("ada", "admin", PASSWORD, totp=False)
        accounts.add("bo", "responder", PASSWORD, totp=False)
    served = Served(app)
    yield {"base": f"http://localhost:{served.port}", "app": app, "closed": closed,
           "redis": client}
    served.stop()
    client.flushdb()
    client.close()


def _driver(tmp_path_factory, name):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp(name)}")
    options.add_argument("--window-size=1280,900")
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


@pytest.fixture(scope="module")
def staff(site, tmp_path_factory):
    """ada (admin) and bo (responder), each signed in in a browser of their own."""
    drivers = {}
    for name in ("ada", "bo"):
        driver = drivers[name] = _driver(tmp_path_factory, f"chromium-{name}")
        driver.get(site["base"] + "/console/login")
        driver.find_element(By.ID, "username").send_keys(name)
        driver.find_element(By.ID, "password").send_keys(PASSWORD)
        driver.find_element(By.ID, "sign-in").click()
        wait_for(driver, "Dashboard")
    yield drivers
    for driver in drivers.values():
        driver.quit()


def texter(app, number: str) -> Texter:
    return Texter(app.test_client(), number)


def ticket_of(app, number: str) -> int:
    helpline = app.config["HELPLINE"]
    return int(helpline.redis.get(inbox_open_key(helpline.vault.subject(number))).split(b"|")[0])


def mark(driver) -> None:
    driver.execute_script("window.__stayed = 'yes'")


def live(driver, text: str, where: str = "body") -> None:
    """`text` appears in `where` without the page being loaded again."""
    WebDriverWait(driver, WAIT).until(
        lambda d: text in d.find_element(By.CSS_SELECTOR, where).text)
    assert driver.execute_script("return window.__stayed") == "yes", "the page was reloaded"


def open_page(driver, url: str) -> None:
    driver.get(url)
    WebDriverWait(driver, WAIT).until(
        lambda d: d.execute_script("return document.readyState") == "complete")
    mark(driver)


def status_of(app, sid: str, state: str) -> None:
    form = {"MessageSid": sid, "MessageStatus": state, "AccountSid": "AC" + "0" * 32}
    assert post_signed(app.test_client(), "/sms/status", form).status_code == 204


def test_two_staff_answer_a_texter_live_claim_race_reply_delivery_urgent_spanish_close(
        site, staff, fake):
    base, app = site["base"], site["app"]
    ada, bo = staff["ada"], staff["bo"]
    for driver in (ada, bo):
        open_page(driver, base + "/console/inbox?folder=all")

    ana = texter(app, "+16125550301")
    assert "A person from our team" in ana.send("talk to a person")
    assert "You are in line" in ana.send("YES")
    assert ana.send("I relapsed last night and feel awful") == ""
    n = ticket_of(app, ana.number)
    for driver in (ada, bo):  # the new ticket reaches both lists live
        live(driver, f"#{n} ·", "#inbox-list")

    # the claim race: both have the ticket open, ada clicks first, bo's click loses
    for driver in (ada, bo):
        open_page(driver, f"{base}/console/inbox/{n}")
    ada.find_element(By.ID, "claim").click()
    wait_for(ada, "The ticket is yours.")
    bo.find_element(By.ID, "claim").click()
    wait_for(bo, f"ada claimed ticket #{n} first.")
    assert "409" not in bo.title and not bo.find_elements(By.ID, "send")

    # a reply: queued, sent by the worker, delivered by Twilio's report, live on the page
    mark(ada)
    ada.find_element(By.ID, "reply-text").send_keys("Hi, this is Ada. I am here with you.")
    ada.find_element(By.ID, "send").click()
    wait_for(ada, "Reply queued.")
    mark(ada)
    drain(app)
    live(ada, "sent", "#thread .entry.out .delivery")
    [sent] = [m for m in fake.messages if m.form["To"] == ana.number]
    assert sent.form["Body"] == "Hi, this is Ada. I am here with you."
    status_of(app, sent.sid, "delivered")
    live(ada, "delivered", "#thread .entry.out .delivery")

    # an emergency during the ticket: the steps first, the ticket urgent and on top, live
    open_page(bo, base + "/console/inbox?folder=all")
    steps = ana.send("he is not breathing")
    assert steps.startswith("CALL 911 NOW.")
    live(ada, "urgent", "#ticket-state")
    live(ada, "emergency.steps", "#thread")
    live(bo, "urgent", f'tr[data-ticket="{n}"]')

    # a Spanish texter, a canned reply in Spanish
    eva = texter(app, "+16125550302")
    assert "Responde SI para empezar" in eva.send("hablar con una persona")
    eva.send("SI")
    m = ticket_of(app, eva.number)
    live(bo, f"#{m} ·", "#inbox-list")
    open_page(bo, f"{base}/console/inbox/{m}")
    Select(bo.find_element(By.ID, "canned")).select_by_value("crisis")
    typed = bo.find_element(By.ID, "reply-text").get_attribute("value")
    assert typed.startswith("Si piensas en hacerte daño, por favor llama o escribe al 988")
    bo.find_element(By.ID, "send").click()
    wait_for(bo, "Reply queued.")
    drain(app)
    assert texts_to(fake, eva.number) == [typed]

    # STOP during a ticket: the person is out, the ticket closes, the page says so
    open_page(bo, f"{base}/console/inbox/{m}")
    assert "ya no vas a recibir nada de nosotros" in eva.send("STOP")
    live(bo, "texted STOP", "#thread")
    live(bo, "closed", "#ticket-state")

    # close: the person is told once, and the bot answers them again
    open_page(ada, f"{base}/console/inbox/{n}")
    ada.find_element(By.ID, "close").click()
    wait_for(ada, "Ticket closed; the person was told.")
    drain(app)
    assert texts_to(fake, ana.number)[-1].startswith("Our team has ended this chat.")
    assert "1 Overdose" in ana.send("hi")


def test_forget_outside_hours_and_each_timer_reach_the_open_pages(site, staff, fake):
    base, app, closed = site["base"], site["app"], site["closed"]
    ada, bo = staff["ada"], staff["bo"]
    open_page(ada, base + "/console/inbox?folder=all")

    # FORGET: the ticket and its thread are erased, and vanish from the open list
    ivy = texter(app, "+16125550303")
    ivy.send("talk to a person")
    ivy.send("YES")
    erased = ticket_of(app, ivy.number)
    live(ada, f"#{erased} ·", "#inbox-list")
    assert "YES" in ivy.send("FORGET")
    assert "erased" in ivy.send("YES").lower()
    WebDriverWait(ada, WAIT).until(
        lambda d: f"#{erased} ·" not in d.find_element(By.ID, "inbox-list").text)
    ada.get(f"{base}/console/inbox/{erased}")
    wait_for(ada, "no longer kept")

    # outside staffed hours: 988 and the menu at once; the team allows a message, which the
    # staffed console shows as one
    open_page(ada, base + "/console/inbox?folder=all")
    olu = texter(closed, "+16125550304")
    told = olu.send("talk to a person")
    assert "Our team is not texting right now" in told
    assert "988" in told and "0 for the menu" in told
    assert "The team reads it when they are back" in olu.send("YES")
    assert olu.send("please text me when you are back") == ""
    left = ticket_of(app, olu.number)
    live(ada, "left a message", f'tr[data-ticket="{left}"]')

    # unclaimed for 10 minutes: the person is told no one is free yet, once
    kim = texter(app, "+16125550305")
    kim.send("talk to a person")
    kim.send("YES")
    k = ticket_of(app, kim.number)
    open_page(bo, f"{base}/console/inbox/{k}")
    now = datetime.now(timezone.utc)
    assert f"inbox-unclaimed-{k}" in advance(app, now + timedelta(minutes=10, seconds=30))
    drain(app)
    drain(app)
    live(bo, "inbox.no_one_free", "#thread")
    [notice] = texts_to(fake, kim.number)
    assert notice.startswith("No one from our team is free yet.") and "988" in notice

    # claimed but silent for 15 minutes: back to the queue, and the admin sees the alert live
    bo.find_element(By.ID, "claim").click()
    wait_for(bo, "The ticket is yours.")
    kim.send("hello? anyone?")
    open_page(ada, base + "/console/inbox?folder=unassigned")
    assert any(j.startswith(f"inbox-silent-{k}-")
               for j in advance(app, now + timedelta(minutes=31)))
    drain(app)
    live(ada, f"went back to the queue: no reply from bo for 15 min", "#inbox-list")
    live(ada, f"#{k} ·", "#inbox-list")
    assert site["redis"].llen(INBOX_ALERTS_KEY) == 1

    # idle for a day: it closes itself, the person is told, and the bot answers again
    open_page(bo, f"{base}/console/inbox/{k}")
    advance(app, now + timedelta(hours=25))
    drain(app)  # the idle timer moves to the last message, a little later
    advance(app, now + timedelta(hours=25))
    drain(app)
    drain(app)
    live(bo, "closed", "#ticket-state")
    assert texts_to(fake, kim.number)[-1].startswith("We closed this chat because it was quiet")
    assert "1 Overdose" in kim.send("hi")
