"""The staffed text inbox from the texter's side and the staff's, without a browser: signed
Twilio webhooks for the person, the console's forms through the Flask test client for staff,
real RQ workers (with the scheduler) for every text, the local Twilio-compatible server for
sends, and time moved through RQ's scheduler (advance), never by sleeping.

The browser, two staff members at once and the live updates: tests/test_inbox_browser.py.
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from bot import create_app
from bot.checkins.dispatch import SEND_QUEUE
from bot.storage.keys import (INBOX_ALERTS_KEY, inbox_messages_key, inbox_open_key,
                              inbox_person_key, inbox_ticket_key)
from tests.conftest import Texter, drain, make_settings
from tests.signing import post_signed
from tests.test_console import Staff, token_of
from tests.test_jobs import texts_to

NUMBER = "+16125550177"
ALWAYS = {"INBOX_HOURS": "daily 00:00-24:00"}
ASK = "A person from our team can text with you here"


@pytest.fixture()
def inbox_env(worker_env):
    return {**worker_env, **ALWAYS}


@pytest.fixture()
def inbox_app(inbox_env):
    return create_app(make_settings(inbox_env["REDIS_URL"], **inbox_env))


@pytest.fixture()
def person(inbox_app):
    return Texter(inbox_app.test_client(), NUMBER)


def host(app):
    return app.config["HELPLINE"].extras["inbox"]


def open_ticket(person: Texter, ask: str = "talk to a person", yes: str = "YES") -> int:
    asked = person.send(ask)
    assert ASK in asked or "puede escribirse contigo" in asked
    person.send(yes)
    return ticket_of(person)


def ticket_of(person: Texter) -> int:
    """The person's open ticket number, as each of their texts finds it."""
    helpline = person.client.application.config["HELPLINE"]
    pointer = helpline.redis.get(inbox_open_key(helpline.vault.subject(person.number)))
    return int(pointer.decode().split("|")[0])


def advance(app, to: datetime) -> list[str]:
    """Time passes until `to`: the jobs RQ's scheduler would enqueue by then are due now."""
    redis = app.config["HELPLINE"].redis
    registry = ScheduledJobRegistry(SEND_QUEUE, connection=redis)
    due = registry.get_jobs_to_schedule(int(to.timestamp()))
    for job_id in due:
        registry.schedule(Job.fetch(job_id, connection=redis), datetime.now(timezone.utc))
    return due


def later(minutes: float) -> datetime:
    return datetime.now(timezone.utc) + timedelta(minutes=minutes)


def responder(app, name: str = "ada", role: str = "responder") -> Staff:
    staff = Staff(app, name, role, totp=False)
    assert staff.sign_in().status_code == 302
    return staff


def act(staff: Staff, n: int, action: str, **form):
    token = token_of(staff.client.get(f"/console/inbox/{n}").get_data(as_text=True))
    return staff.client.post(f"/console/inbox/{n}/{action}", data={"csrf_token": token, **form})


def thread_html(staff: Staff, n: int) -> str:
    return staff.client.get(f"/console/inbox/{n}/thread").get_data(as_text=True)


# --- asking for a person ---------------------------------------------------------------------
def test_in_staffed_hours_the_person_is_told_first_and_yes_opens_one_quiet_ticket(
        inbox_app, person, redis_client):
    asked = person.send("talk to a person")
    assert ASK in asked and "911" in asked
    assert "We keep these texts a week, then delete them. FORGET deletes them now." in asked
    assert "We cannot say yet how long a reply takes." in asked  # nothing measured yet
    opened = person.send("YES")
    assert "You are in line" in opened and "Call 911" in opened and "DONE" in opened
    assert person.send("I used again last night and feel awful") == ""  # the bot stays quiet
    assert person.send("2") == ""  # a number is a message to the team, not a menu choice

    n = ticket_of(person)
    ticket = host(inbox_app).tickets.get(n)
    assert ticket.status == "waiting" and ticket.locale == "en" and len(ticket.alias.split()) == 2
    texts = [e.text for e in host(inbox_app).tickets.thread(ticket) if e.kind == "in"]
    assert texts == ["I used again last night and feel awful", "2"]
    raw = b"".join(redis_client.lrange(inbox_messages_key(n), 0, -1))
    assert b"used again" not in raw and NUMBER[2:].encode() not in raw  # encrypted at rest
    assert redis_client.ttl(inbox_messages_key(n)) <= 7 * 86400


def test_the_talk_menu_and_the_check_in_help_screen_offer_the_team_only_with_staffed_hours(
        inbox_app, redis_url, redis_client):
    plain = Texter(create_app(make_settings(redis_url)).test_client(), "+16125550178")
    plain.send("hi")
    assert "2 text with our team" not in plain.send("6")
    assert ASK not in plain.send("talk to a person")  # no staffed hours: the talk screen
    staffed = Texter(inbox_app.test_client(), "+16125550179")
    staffed.send("hi")
    talk = staffed.send("6")
    assert "Reply 1 find treatment, 2 text with our team, 0 menu" in talk
    assert ASK in staffed.send("2")
    spanish = Texter(inbox_app.test_client(), "+16125550180")
    asked = spanish.send("hablar con una persona")
    assert "Una persona de nuestro equipo puede escribirse contigo" in asked
    assert "Responde SI para empezar" in asked


def test_a_helpline_that_sends_no_texts_never_offers_the_team(inbox_env, redis_url):
    """Staff replies are texts: with OUTBOUND_TEXTS=off the team is not offered, even in hours."""
    silent = create_app(make_settings(redis_url, **{**inbox_env, "OUTBOUND_TEXTS": "off"}))
    person = Texter(silent.test_client(), "+16125550181")
    person.send("hi")
    assert "2 text with our team" not in person.send("6")
    assert ASK not in person.send("talk to a person")


def test_outside_staffed_hours_988_and_the_menu_at_once_and_a_message_only_if_allowed(
        inbox_env, redis_url):
    today = datetime.now(timezone.utc).astimezone(make_settings(redis_url).tz).date()
    closed = {**inbox_env, "INBOX_HOLIDAYS": f"{today}, {today + timedelta(days=1)}"}
    app = create_app(make_settings(redis_url, **closed))
    person = Texter(app.test_client(), NUMBER)
    told = person.send("talk to a person")
    assert "Our team is not texting right now. They are back" in told
    assert "call or text 988, 24/7" in told and "Reply 0 for the menu" in told
    assert "leave a message" not in told
    assert "You are in line" not in person.send("YES")
    assert host(app).tickets.all() == []

    leave = create_app(make_settings(redis_url, **closed, INBOX_LEAVE_MESSAGE="on"))
    person = Texter(leave.test_client(), NUMBER)
    assert "Reply YES to leave a message" in person.send("talk to a person")
    assert "The team reads it when they are back" in person.send("YES")
    assert person.send("please call me back tomorrow") == ""
    [ticket] = host(leave).tickets.all()
    assert ticket.mode == "message" and ticket.due > ticket.opened  # waits from the next shift


# --- while a ticket is open -------------------------------------------------------------------
def test_an_emergency_during_a_ticket_gets_the_steps_first_and_the_ticket_goes_to_the_top(
        inbox_app, redis_url):
    first = Texter(inbox_app.test_client(), "+16125550181")
    older = open_ticket(first)
    first.send("hello?")
    n = open_ticket(Texter(inbox_app.test_client(), NUMBER))
    person = Texter(inbox_app.test_client(), NUMBER)
    steps = person.send("he is not breathing")
    assert steps.startswith("CALL 911 NOW.") and "Naloxone" in steps
    assert "What to do in an overdose" in person.send("1")  # "Reply 1 more" keeps its promise
    ticket = host(inbox_app).tickets.get(n)
    assert ticket.urgent and ticket.status == "waiting"
    kinds = [(e.kind, e.key) for e in host(inbox_app).tickets.thread(ticket) if e.kind == "bot"]
    assert ("bot", "emergency.steps") in kinds and ("bot", "overdose.steps") in kinds
    ada = responder(inbox_app)
    listing = ada.client.get("/console/inbox").get_data(as_text=True)
    assert listing.index(f'data-ticket="{n}"') < listing.index(f'data-ticket="{older}"')
    assert "urgent" in thread_html(ada, n)


def test_help_still_answers_and_done_ends_the_chat_and_the_bot_returns(inbox_app, person):
    n = open_ticket(person)
    assert "Msg & data rates may apply" in person.send("HELP")
    ended = person.send("done")
    assert ended.startswith("Chat ended.") and "1 Overdose" in ended
    assert host(inbox_app).tickets.get(n).status == "closed"
    assert "Naloxone" in person.send("2")  # the menu again, not the ticket


def test_stop_during_a_ticket_opts_out_closes_it_and_a_queued_reply_never_goes(
        inbox_app, person, fake_twilio):
    n = open_ticket(person)
    ada = responder(inbox_app)
    assert act(ada, n, "claim").status_code == 303
    assert act(ada, n, "reply", text="Hi, I am here.").status_code == 303
    assert "you are unsubscribed" in person.send("STOP")
    assert host(inbox_app).tickets.get(n).status == "closed"
    drain(inbox_app)
    assert texts_to(fake_twilio, NUMBER) == []  # STOP won: the marker claim refused the send
    assert "opted_out" in thread_html(ada, n) and "texted STOP" in thread_html(ada, n)
    refused = act(ada, n, "reply", text="Still there?")
    assert refused.status_code == 409 and "closed" in refused.get_data(as_text=True)


def test_forget_during_a_ticket_erases_every_ticket_of_the_person(inbox_app, person,
                                                                   redis_client):
    n = open_ticket(person)
    person.send("this is private")
    subject = inbox_app.config["HELPLINE"].vault.subject(NUMBER)
    assert "erase" in person.send("FORGET")
    assert "erased" in person.send("YES").lower()
    for key in (inbox_ticket_key(n), inbox_messages_key(n), inbox_open_key(subject),
                inbox_person_key(subject)):
        assert not redis_client.exists(key), key
    ada = responder(inbox_app)
    assert ada.client.get(f"/console/inbox/{n}").status_code == 404
    assert "1 Overdose" in person.send("hi")  # nothing left: a new conversation


# --- staff -------------------------------------------------------------------------------------
def test_a_reply_goes_out_once_through_the_worker_and_shows_its_delivery(
        inbox_app, person, fake_twilio):
    n = open_ticket(person)
    ada = responder(inbox_app)
    assert act(ada, n, "reply", text="Hi, this is Ada. I am here.").status_code == 303
    assert host(inbox_app).tickets.get(n).owner == "ada"  # replying claims an unclaimed ticket
    fake_twilio.fail_next(status=500)  # Twilio's 5xx: the job retries later, never twice
    drain(inbox_app)
    assert texts_to(fake_twilio, NUMBER) == []
    advance(inbox_app, later(20))
    drain(inbox_app)
    drain(inbox_app)
    assert texts_to(fake_twilio, NUMBER) == ["Hi, this is Ada. I am here."]
    assert '<span class="delivery">sent</span>' in thread_html(ada, n)
    [sent] = [m for m in fake_twilio.messages if m.form["To"] == NUMBER]
    form = {"MessageSid": sent.sid, "MessageStatus": "delivered", "AccountSid": "AC" + "0" * 32}
    assert post_signed(inbox_app.test_client(), "/sms/status", form).status_code == 204
    assert '<span class="delivery">delivered</span>' in thread_html(ada, n)
    late = dict(form, MessageStatus="sent")  # a late "sent" never hides "delivered"
    post_signed(inbox_app.test_client(), "/sms/status", late)
    assert '<span class="delivery">delivered</span>' in thread_html(ada, n)


def test_a_reply_longer_than_three_texts_is_refused_with_the_reason(inbox_app, person):
    n = open_ticket(person)
    ada = responder(inbox_app)
    refused = act(ada, n, "reply", text="word " * 120)
    assert refused.status_code == 400 and "keep it to 3" in refused.get_data(as_text=True)


def test_two_staff_claiming_at_once_exactly_one_wins(inbox_app, person):
    n = open_ticket(person)
    desk, results = host(inbox_app).desk, {}
    start = threading.Barrier(8)

    def claim(name):
        start.wait()
        results[name] = desk.claim(name, n)

    threads = [threading.Thread(target=claim, args=(f"staff{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [name for name, done in results.items() if done.ok]
    assert len(winners) == 1
    assert host(inbox_app).tickets.get(n).owner == winners[0]
    assert all(f"{winners[0]} claimed ticket #{n} first." == d.message
               for name, d in results.items() if name != winners[0])


def test_staff_without_the_responder_role_never_see_the_inbox(inbox_app, person):
    n = open_ticket(person)
    for role in ("viewer", "editor"):
        staff = responder(inbox_app, f"x{role}", role)
        assert "Inbox" not in staff.client.get("/console/").get_data(as_text=True)
        assert staff.client.get("/console/inbox").status_code == 403
        assert staff.client.get(f"/console/inbox/{n}/thread").status_code == 403
    page = responder(inbox_app).client.get("/console/inbox").get_data(as_text=True)
    assert "Inbox" in page and NUMBER not in page and NUMBER[-4:] not in page


def test_every_staff_action_is_audited_by_name_without_a_text(inbox_app, person, redis_client):
    n = open_ticket(person)
    ada, bo = responder(inbox_app, "ada", "admin"), responder(inbox_app, "bo")
    assert act(ada, n, "claim").status_code == 303
    assert act(ada, n, "note", note="sounds tired, be gentle").status_code == 303
    assert act(ada, n, "reply", canned="hello").status_code == 303
    assert act(ada, n, "transfer", to="bo").status_code == 303
    assert act(bo, n, "snooze", minutes="30").status_code == 303
    assert act(bo, n, "close").status_code == 303
    audit = ada.client.get("/console/audit").get_data(as_text=True)
    for who, what in (("ada", "inbox claim"), ("ada", "inbox note"), ("ada", "inbox reply"),
                      ("ada", "inbox transfer"), ("bo", "inbox snooze"), ("bo", "inbox close")):
        assert what in audit
    assert "gentle" not in audit and NUMBER not in audit and "(canned: hello)" in audit


# --- timers (RQ's scheduler, time moved by advance) ---------------------------------------------
def test_unclaimed_for_n_minutes_the_person_is_told_once_with_988_and_the_ticket_stays(
        inbox_app, person, fake_twilio):
    n = open_ticket(person)
    assert advance(inbox_app, later(9)) == []
    assert advance(inbox_app, later(10.1)) == [f"inbox-unclaimed-{n}"]
    drain(inbox_app)
    drain(inbox_app)
    [told] = texts_to(fake_twilio, NUMBER)
    assert told.startswith("No one from our team is free yet. You are still in line.")
    assert "988" in told and "DONE to leave the line and get the menu" in told
    ticket = host(inbox_app).tickets.get(n)
    assert ticket.status == "waiting" and ticket.told


def test_claimed_but_silent_for_m_minutes_the_ticket_goes_back_and_admins_are_alerted(
        inbox_app, person, redis_client):
    n = open_ticket(person)
    ada, boss = responder(inbox_app), responder(inbox_app, "boss", "admin")
    act(ada, n, "claim")
    person.send("are you there?")
    due = advance(inbox_app, later(16))
    assert any(j.startswith(f"inbox-silent-{n}-") for j in due)
    drain(inbox_app)
    ticket = host(inbox_app).tickets.get(n)
    assert ticket.status == "waiting" and not ticket.owner
    assert redis_client.llen(INBOX_ALERTS_KEY) == 1
    page = boss.client.get("/console/inbox").get_data(as_text=True)
    assert f"#{n}</a> went back to the queue: no reply from ada for 15 min" in page
    assert "went back to the queue" not in ada.client.get("/console/inbox").get_data(as_text=True)


def test_a_reply_in_time_keeps_the_ticket_with_its_owner(inbox_app, person):
    n = open_ticket(person)
    ada = responder(inbox_app)
    act(ada, n, "claim")
    act(ada, n, "reply", text="I am here, take your time.")
    advance(inbox_app, later(16))
    drain(inbox_app)
    assert host(inbox_app).tickets.get(n).owner == "ada"


def test_an_idle_ticket_closes_itself_after_a_day_and_the_bot_answers_again(
        inbox_app, person, fake_twilio):
    n = open_ticket(person)
    advance(inbox_app, later(11))
    drain(inbox_app)  # the unclaimed notice
    assert advance(inbox_app, later(23 * 60)) == []
    assert f"inbox-idle-{n}-" in " ".join(advance(inbox_app, later(24 * 60 + 1)))
    drain(inbox_app)
    drain(inbox_app)
    assert host(inbox_app).tickets.get(n).status == "closed"
    assert texts_to(fake_twilio, NUMBER)[-1].startswith("We closed this chat because it was quiet")
    assert "1 Overdose" in person.send("hi")


def test_staff_close_texts_the_person_once_and_the_bot_answers_again(
        inbox_app, person, fake_twilio):
    n = open_ticket(person)
    ada = responder(inbox_app)
    act(ada, n, "claim")
    assert act(ada, n, "close").status_code == 303
    assert act(ada, n, "close").status_code == 409
    drain(inbox_app)
    assert texts_to(fake_twilio, NUMBER) == [texts_to(fake_twilio, NUMBER)[0]]
    assert texts_to(fake_twilio, NUMBER)[0].startswith("Our team has ended this chat.")
    assert "1 Overdose" in person.send("hi")


# --- live updates ------------------------------------------------------------------------------
def test_the_event_stream_relays_changes_and_works_behind_a_buffering_proxy(inbox_app, person):
    ada = responder(inbox_app)
    response = ada.client.get("/console/inbox/events", headers={"Last-Event-ID": "0"})
    # The test client is not a held-open server: the stream answers at once (sync-worker mode)
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    assert response.headers["X-Accel-Buffering"] == "no"
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_data(as_text=True)
    assert body.startswith("retry: 10000") and "event: change" not in body  # nothing new
    open_ticket(person)
    body = ada.client.get("/console/inbox/events",
                          headers={"Last-Event-ID": "0"}).get_data(as_text=True)
    assert "event: change" in body and NUMBER not in body and "relapsed" not in body
    events = host(inbox_app).events
    chunks = events.stream(None, seconds=5)
    assert next(chunks).startswith("retry: 2000")
    assert next(chunks).startswith("id: ")  # a new page: its version, no change
    events.notify("message", 1)
    assert '"what": "message"' in next(chunks)


# --- figures --------------------------------------------------------------------------------------
def test_figures_on_the_dashboard_and_in_metrics_keep_the_under_5_rule_and_tell_texters(
        inbox_app):
    desk = host(inbox_app).desk
    people = [Texter(inbox_app.test_client(), f"+1612555020{i}") for i in range(6)]
    numbers = [open_ticket(p) for p in people]
    for n in numbers[:5]:
        assert desk.claim("ada", n).ok and desk.reply("ada", n, "Hi, I am here.").ok
        assert desk.close("ada", n, admin=False).ok
    people[5].send("done")  # closed without a reply: abandoned
    boss = responder(inbox_app, "boss", "admin")
    page = boss.client.get("/console/").get_data(as_text=True)
    card = page[page.index('id="inbox-figures"'):]
    card = card[:card.index("</section>")]
    assert "<th>opened</th><td>6</td><td>6</td>" in card
    assert "<th>handled</th><td>5</td><td>5</td>" in card
    assert "<th>abandoned</th><td>&lt;5</td><td>&lt;5</td>" in card
    assert "<th>waiting time (median / 90th percentile)</th><td>&lt;1 min / &lt;1 min</td>" in card
    assert 'id="inbox-by-hour"' in card
    metrics = inbox_app.test_client().get("/metrics").get_data(as_text=True)
    assert 'helpline_inbox_tickets_7d{result="opened"} 6.0' in metrics
    assert 'helpline_inbox_first_reply_seconds_7d{quantile="0.5"}' in metrics
    assert 'helpline_inbox_open_tickets{state="waiting"} 0.0' in metrics
    # five replies were timed: the next person is told the measured time, not a promise
    asked = Texter(inbox_app.test_client(), "+16125550299").send("talk to a person")
    assert "This week, replies came in about 1 min." in asked


def test_need_help_after_a_check_offers_the_team_instead_of_the_menu(inbox_app, person,
                                                                    fake_twilio):
    assert person.send("he is not breathing").startswith("CALL 911 NOW.")
    assert "to ask how you are" in person.send("CHECK")
    advance(inbox_app, later(61))
    drain(inbox_app)
    assert "2 need help" in texts_to(fake_twilio, NUMBER)[-1]
    answer = person.send("need help")
    assert "Call or text 988" in answer and "4 text with our team" in answer
    assert ASK in person.send("4")


def test_a_ticket_whose_record_is_gone_never_leaves_the_person_talking_to_no_one(
        inbox_app, person, redis_client):
    n = open_ticket(person)
    redis_client.delete(inbox_ticket_key(n), inbox_messages_key(n))  # e.g. restored from backup
    person.send("hello?")  # this one went nowhere; the next one reaches the bot again
    assert "1 Overdose" in person.send("hi")


def test_a_crisis_during_a_ticket_gets_988_at_once_and_the_ticket_turns_urgent(inbox_app,
                                                                                person):
    n = open_ticket(person)
    reply = person.send("I want to die")
    assert "988" in reply
    ticket = host(inbox_app).tickets.get(n)
    assert ticket.urgent and ticket.is_open  # the person stays with the team, first in line
