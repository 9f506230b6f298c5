"""Whole phone calls through the real, signed /voice webhooks and Redis, TwiML parsed as XML.

A Caller posts what Twilio posts and follows each <Gather action> and <Redirect> it is given.
Paths to screens come from flows/ and expected words from content/, so a new screen is covered
without touching this file.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import deque
from pathlib import Path

import pytest
import yaml

from bot import create_app
from bot.conversation.flows import load_flow
from bot.voice.twiml import spoken
from tests.conftest import make_settings
from tests.signing import new_sid, post_signed

NUMBER = "+16125550123"
HERE = Path(__file__).resolve().parent / "transcripts_voice"
EMERGENCY_START = "Hang up and call 9 1 1 now."


class Caller:
    """A person on the phone, with Twilio in between: signed posts, TwiML followed as Twilio does."""

    def __init__(self, client, number: str = NUMBER):
        self.client, self.number, self.sid = client, number, new_sid("CA")
        self.root: ET.Element | None = None
        self.last: tuple[str, dict] | None = None
        self.xml = ""

    def post(self, url: str, **fields) -> str:
        form = {"CallSid": self.sid, "AccountSid": "AC" + "0" * 32, "From": self.number,
                "To": "+16125550100", "CallStatus": "in-progress", "Direction": "inbound",
                **fields}
        response = post_signed(self.client, url, form)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.mimetype == "application/xml"
        self.xml, self.last = response.get_data(as_text=True), (url, fields)
        self.root = ET.fromstring(self.xml)
        assert self.root.tag == "Response"
        return self.said()

    def said(self) -> str:
        return " ".join((say.text or "") for say in self.root.iter("Say"))

    def says(self) -> list[ET.Element]:
        return list(self.root.iter("Say"))

    def gather(self) -> ET.Element:
        [gather] = self.root.findall("./Gather")
        return gather

    def dial_in(self) -> str:
        return self.post("/voice")

    def start(self) -> str:
        """Ring, and let the language step pass in silence: the English main menu."""
        self.dial_in()
        return self.wait()

    def press(self, key: str) -> str:
        return self.post(self.gather().get("action"), Digits=key)

    def say(self, words: str) -> str:
        return self.post(self.gather().get("action"), SpeechResult=words, Confidence="0.91")

    def wait(self) -> str:
        """Silence: the Gather times out and Twilio follows the <Redirect> after it."""
        self.gather()
        [redirect] = self.root.findall("./Redirect")
        assert redirect.get("method") == "POST"
        return self.post(redirect.text)

    def dial_result(self, status: str) -> str:
        [dial] = self.root.findall("./Dial")
        return self.post(dial.get("action"), DialCallStatus=status, DialCallDuration="0")

    def retry(self) -> str:
        """Twilio posting the same request again (a timeout on its side)."""
        url, fields = self.last
        return self.post(url, **fields)

    @property
    def hung_up(self) -> bool:
        return self.root.find("./Hangup") is not None


def key_paths(flow) -> dict[str, list[str]]:
    """The shortest key presses from the main menu to every screen, from flows/ itself."""
    paths, todo = {"main": []}, deque(["main"])
    while todo:
        node = flow.nodes[todo.popleft()]
        for option in node.options:
            if option.goto not in paths:
                paths[option.goto] = paths[node.id] + [option.key]
                if option.goto != "talk":
                    todo.append(option.goto)
    return paths


def first_sentence(helpline, key: str) -> str:
    return spoken(helpline.content.render(key, "en", "voice")).split(". ")[0]


def walk_to(caller: Caller, keys: list[str]) -> str:
    said = caller.start()
    for key in keys:
        said = caller.press(key)
    return said


@pytest.fixture(scope="module")
def voice_app(redis_url):
    """One app for the module (building one takes a quarter second); Redis is flushed per test."""
    return create_app(make_settings(redis_url))


@pytest.fixture()
def client(voice_app, redis_client):
    return voice_app.test_client()


@pytest.fixture()
def helpline(voice_app):
    return voice_app.config["HELPLINE"]


@pytest.fixture()
def caller(client):
    return Caller(client)


FLOW = load_flow(Path(__file__).resolve().parent.parent / "flows")
PATHS = key_paths(FLOW)
SCREENS = sorted(node for node in PATHS if node != "talk")


# --- answering --------------------------------------------------------------------------------
def test_a_call_is_greeted_then_offered_english_or_spanish_each_in_its_own_voice(caller):
    said = caller.dial_in()

    assert said.startswith("Welcome to the MN Overdose Help Line.")
    assert "hang up and call 9 1 1" in said
    gather = caller.gather()
    assert gather.get("input") == "dtmf speech" and gather.get("numDigits") == "1"
    assert int(gather.get("timeout")) <= 5 and gather.get("action").startswith("/voice/step?")
    welcome, english, bienvenida, spanish = caller.says()
    assert english.text == "For English, stay on the line, or press 1."
    # A Spanish caller hears the 911 line in Spanish before any choice (issue 24).
    assert bienvenida.text == ("Gracias por llamar a MN Overdose Help Line. Si alguien tiene una "
                               "sobredosis, cuelgue y llame al 9 1 1 ahora.")
    assert bienvenida.get("voice") == "Polly.Lupe-Neural"
    assert (english.get("voice"), english.get("language")) == ("Polly.Joanna-Neural", "en-US")
    assert spanish.text == "Para español, oprima 2."
    assert (spanish.get("voice"), spanish.get("language")) == ("Polly.Lupe-Neural", "es-US")
    assert "espanol" in gather.get("hints")


def test_silence_at_the_greeting_reads_the_english_main_menu_with_hints_from_its_options(caller):
    said = caller.start()

    assert "For overdose signs and what to do, press 1." in said
    assert "To talk to someone, press 6." in said and "press 9" in said
    gather = caller.gather()
    assert gather.get("language") == "en-US" and gather.get("speechTimeout") == "auto"
    hints = gather.get("hints").split(", ")
    assert {"narcan", "treatment", "talk to someone", "overdose", "help"} <= set(hints)
    assert all(say.get("voice") == "Polly.Joanna-Neural" for say in caller.says())


def test_pressing_2_at_the_greeting_switches_the_call_to_the_spanish_voice(caller):
    caller.dial_in()
    caller.press("2")

    assert caller.gather().get("language") == "es-US"
    assert {say.get("voice") for say in caller.says()} == {"Polly.Lupe-Neural"}
    caller.press("1")
    assert caller.gather().get("language") == "es-US"  # the choice holds for the whole call


def test_saying_spanish_at_the_greeting_also_switches(caller):
    caller.dial_in()
    caller.say("Español")
    assert caller.gather().get("language") == "es-US"


def test_voice_settings_pick_the_voice(redis_url, redis_client):
    app = create_app(make_settings(redis_url, VOICE_NAME="Google.en-US-Neural2-F",
                                   VOICE_LANGUAGE="en-GB"))
    caller = Caller(app.test_client())
    caller.start()
    assert {say.get("voice") for say in caller.says()} == {"Google.en-US-Neural2-F"}
    assert caller.gather().get("language") == "en-GB"


# --- every branch --------------------------------------------------------------------------
@pytest.mark.parametrize("node", SCREENS)
def test_every_screen_is_reachable_by_keys_and_spoken_for_the_ear(caller, helpline, node):
    said = walk_to(caller, PATHS[node])

    assert first_sentence(helpline, helpline.flow.nodes[node].say) in said
    assert "Reply" not in said and "http" not in said
    for option in helpline.flow.nodes[node].options:
        assert f"press {option.key}" in said, f"{node} does not offer key {option.key}"
    assert ("press 8" in said) == (node != "main"), "information screens offer a text copy"


@pytest.mark.parametrize("words, node", [
    ("what are the signs", "overdose"), ("Narcan.", "naloxone"), ("two", "naloxone"),
    ("Will I get arrested?", "legal"), ("treatment", "treatment"), ("stay safe", "safer"),
    ("where can I get narcan", "naloxone_where"), ("methadone", "tx_meds"),
])
def test_main_menu_branches_by_speech(caller, helpline, words, node):
    caller.start()
    said = caller.say(words)
    assert first_sentence(helpline, helpline.flow.nodes[node].say) in said


def test_saying_talk_to_someone_connects_the_call(caller, helpline):
    caller.start()
    caller.say("I want to talk to someone")
    [dial] = caller.root.findall("./Dial")
    assert dial.text == helpline.settings.live_line_number == "+18006624357"


def test_a_town_said_at_the_naloxone_prompt_reads_the_nearest_places_digit_by_digit(caller):
    walk_to(caller, PATHS["naloxone_where"])
    said = caller.say("Duluth")
    assert "places near Duluth" in said
    assert "St. Louis County Public Health, in Duluth. Call 2 1 8, 7 2 5, 5 2 6 0." in said
    assert "218-725-5260" not in said
    more = caller.say("more")
    assert "Call" in more and more != said


# --- emergency first -----------------------------------------------------------------------
@pytest.mark.parametrize("node", ["language"] + SCREENS)
def test_pressing_9_on_any_screen_gives_the_emergency_steps_911_first(caller, node):
    caller.dial_in()
    if node != "language":
        caller.wait()
        for key in PATHS[node]:
            caller.press(key)
    said = caller.press("9")

    assert said.startswith(EMERGENCY_START)
    assert said.index("9 1 1") < said.index("naloxone") < said.index("breath") < said.index("side")


@pytest.mark.parametrize("words", ["overdose", "he's not breathing", "Help.", "emergency",
                                   "she won't wake up"])
@pytest.mark.parametrize("node", ["language", "main", "naloxone_use", "tx_levels", "legal_more"])
def test_speaking_an_emergency_on_any_screen_gives_the_steps(caller, node, words):
    caller.dial_in()
    if node != "language":
        caller.wait()
        for key in PATHS[node]:
            caller.press(key)
    assert caller.say(words).startswith(EMERGENCY_START)


def test_emergency_steps_repeat_until_a_key_is_pressed(caller):
    caller.start()
    first = caller.press("9")
    assert int(caller.gather().get("timeout")) <= 3
    for _ in range(4):
        assert caller.wait() == first
        assert not caller.hung_up
    assert "For overdose signs and what to do, press 1." in caller.press("0")


# --- repeat, menu, silence, wrong keys -----------------------------------------------------
def test_star_repeats_and_0_returns_to_the_main_menu(caller, helpline):
    screen = walk_to(caller, PATHS["naloxone_use"])
    assert caller.press("*") == screen
    assert caller.say("repeat that") == screen
    assert "For overdose signs and what to do, press 1." in caller.press("0")


def test_silence_reprompts_once_then_offers_the_menu_then_ends_the_call_politely(caller, helpline):
    walk_to(caller, PATHS["legal"])
    legal = first_sentence(helpline, "legal.good_samaritan")

    once = caller.wait()
    assert once.startswith("Sorry, I did not hear a choice.") and legal in once
    twice = caller.wait()
    assert "Here is the main menu again." in twice and "press 6" in twice and legal not in twice
    goodbye = caller.wait()
    assert "we will end the call now" in goodbye and "call 9 1 1" in goodbye
    assert caller.hung_up and caller.root.find("./Gather") is None


def test_a_wrong_key_reprompts_then_offers_the_menu_and_keys_still_work(caller, helpline):
    walk_to(caller, PATHS["naloxone_safe"])
    safe = first_sentence(helpline, "naloxone.safe")

    wrong = caller.press("7")
    assert wrong.startswith("That key is not on this menu.") and safe in wrong
    again = caller.say("purple monkey dishwasher")
    # issue 17 E: the not-understood answer starts with the overdose line
    assert again.startswith("If someone is overdosing, call 9 1 1 and give naloxone. "
                            "Sorry, I did not get that. Here is the main menu again.")
    assert safe not in again and "press 6" in again
    assert "Here is the main menu again." in caller.press("#")
    assert first_sentence(helpline, "legal.good_samaritan") in caller.press("3")


def test_8_on_the_main_menu_is_a_wrong_key(caller):
    caller.start()
    assert caller.press("8").startswith("That key is not on this menu.")


# --- talk to someone -----------------------------------------------------------------------
def test_talk_to_someone_dials_the_live_line_and_says_goodbye_after(caller):
    caller.start()
    said = caller.press("6")
    # The default live line is SAMHSA's: treatment referral, so the words say so and name 988
    # for a crisis, never "someone who can help" (issue 24).
    assert said.startswith("If someone is overdosing, hang up and call 9 1 1.")
    assert "call or text 9 8 8" in said and "stay on the line for the SAMHSA National Helpline" in said
    assert "someone who can help" not in said
    [dial] = caller.root.findall("./Dial")
    assert dial.text == "+18006624357" and dial.get("action").startswith("/voice/dial?")
    assert "Thank you for calling" in caller.dial_result("completed") and caller.hung_up


@pytest.mark.parametrize("status", ["busy", "no-answer", "failed", "canceled", "surprise"])
def test_a_failed_dial_says_so_and_offers_the_menu_again(caller, status):
    walk_to(caller, PATHS["tx_find"])
    caller.press("1")
    said = caller.dial_result(status)
    assert said.startswith("Sorry, we could not connect your call.")
    assert "1, 8 0 0, 6 6 2, 4 3 5 7" in said and "press 6" in said
    assert "press 2" in caller.press("2") and not caller.hung_up


def test_live_line_number_setting_is_dialed(redis_url, redis_client):
    app = create_app(make_settings(redis_url, LIVE_LINE_NUMBER="+16125559876"))
    caller = Caller(app.test_client())
    caller.start()
    caller.press("6")
    assert caller.root.find("./Dial").text == "+16125559876"


# --- retries and bad input -----------------------------------------------------------------
def test_a_retried_webhook_gets_the_same_answer_and_does_not_skip_a_step(caller, helpline):
    caller.start()
    about = caller.press("2")
    first_xml = caller.xml
    assert caller.retry() == about and caller.xml == first_xml
    assert caller.retry() == about
    assert first_sentence(helpline, "naloxone.use") in caller.press("1")


def test_a_retried_greeting_and_silence_do_not_advance_either(caller):
    greeting = caller.dial_in()
    assert caller.retry() == greeting
    menu = caller.wait()
    assert caller.retry() == menu and "press 1" in menu


def test_a_stale_step_url_gets_the_current_screen(caller, helpline):
    walk_to(caller, ["2"])
    stale_url = caller.gather().get("action")
    caller.press("1")
    now = caller.said()
    assert caller.post(stale_url, Digits="3") == now  # not naloxone.safe from the old screen


def test_forged_or_missing_signatures_are_refused(client):
    form = {"CallSid": new_sid("CA"), "From": NUMBER, "Digits": "9"}
    for path in ("/voice", "/voice/step?n=1&at=main&lang=en", "/voice/dial?n=1&at=talk&lang=en"):
        assert client.post(path, data=form).status_code == 403
        forged = {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}
        assert client.post(path, data=form, headers=forged).status_code == 403
        assert post_signed(client, path, form, token="someone-elses-token").status_code == 403


@pytest.mark.parametrize("path, form, status", [
    ("/voice", {"From": NUMBER}, 400),
    ("/voice/step", {"CallSid": "CA1", "Digits": "1"}, 400),
    ("/voice/step?n=abc&at=main", {"CallSid": "CA1", "Digits": "1"}, 400),
    ("/voice/step?n=1&at=nowhere&lang=xx", {"CallSid": "CA" + "2" * 32, "Digits": "ab"}, 200),
    ("/voice/step?n=1&at=main&lang=en", {"CallSid": "CA" + "3" * 32, "SpeechResult": "x" * 5000},
     200),
    ("/voice/step?n=1&at=main&lang=en", {"CallSid": "CA" + "4" * 32, "Digits": "\x00\u202e9"},
     200),
])
def test_bad_input_gets_a_clear_4xx_or_a_safe_spoken_answer(client, path, form, status):
    response = post_signed(client, path, dict(form, AccountSid="AC" + "0" * 32))
    assert response.status_code == status, response.get_data(as_text=True)
    if status == 200:
        root = ET.fromstring(response.get_data(as_text=True))
        assert root.find("./Gather") is not None


# --- when things break ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def redis_down_client():
    return create_app(make_settings("redis://127.0.0.1:1/0")).test_client()


def test_with_redis_down_the_caller_still_gets_emergency_steps_and_menus(redis_down_client):
    caller = Caller(redis_down_client)
    assert caller.dial_in().startswith("Welcome")
    assert caller.press("9").startswith(EMERGENCY_START)
    caller = Caller(redis_down_client)
    caller.dial_in()
    assert caller.say("he's not breathing").startswith(EMERGENCY_START)
    caller = Caller(redis_down_client)
    caller.start()
    assert "press 3" in caller.press("2")  # the place rides in the URL
    assert "How to give naloxone" in caller.press("1")
    assert "cannot send a text message" in caller.press("8")


def test_with_redis_down_talk_to_someone_still_dials_with_the_helpline_number(redis_down_client):
    caller = Caller(redis_down_client)
    caller.start()
    caller.press("6")
    assert caller.root.find("./Dial").text == "+18006624357"
    assert "1, 8 0 0, 6 6 2, 4 3 5 7" in caller.dial_result("no-answer")


def test_a_bug_still_gets_the_spoken_emergency_steps_and_the_helpline(caller, monkeypatch):
    from bot.voice.phone_tree import PhoneTree

    caller.start()

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(PhoneTree, "answer", broken)
    said = caller.press("1")
    assert "hang up and call 9 1 1 now" in said and "1, 8 0 0, 6 6 2, 4 3 5 7" in said
    assert caller.root.find("./Redirect") is not None


# --- calls kept as data --------------------------------------------------------------------
def load_scripts():
    for path in sorted(HERE.glob("*.yaml")):
        for case in yaml.safe_load(path.read_text(encoding="utf-8")):
            yield pytest.param(case, id=f"{path.stem}:{case['name']}")


@pytest.mark.parametrize("case", list(load_scripts()))
def test_call_script(client, case):
    caller = Caller(client, case.get("from", NUMBER))
    said = caller.dial_in()
    for number, step in enumerate(case["steps"], 1):
        if "press" in step:
            said = caller.press(str(step["press"]))
        elif "say" in step:
            said = caller.say(step["say"])
        elif "dial" in step:
            said = caller.dial_result(step["dial"])
        else:
            said = caller.wait()
        where = f"step {number} {step} heard:\n{said}"
        for text in step.get("expect", []):
            assert text.lower() in said.lower(), f"missing {text!r} at {where}"
        for text in step.get("not", []):
            assert text.lower() not in said.lower(), f"unexpected {text!r} at {where}"
        if "starts" in step:
            assert said.startswith(step["starts"]), where
        if "dials" in step:
            assert caller.root.find("./Dial").text == step["dials"], where
        assert caller.hung_up == bool(step.get("hangup")), where


def test_zip_screens_take_keys_until_pound_and_menus_take_one_key(caller):
    """A ZIP code needs five keys and #; every other menu acts on the first key pressed."""
    walk_to(caller, PATHS["main"])
    assert caller.root.find("./Gather").get("numDigits") == "1"
    walk_to(caller, PATHS["naloxone_where"])
    gather = caller.root.find("./Gather")
    assert gather.get("finishOnKey") == "#" and gather.get("numDigits") is None
    assert "places near Duluth" in caller.press("55811")
