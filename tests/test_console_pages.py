"""What the console shows: anonymous figures from real webhook traffic, every message in every
language, the flow map with its problems, places answered as the SMS reply answers, and the
simulator, which talks to the real engine but never mixes with or counts as real people."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from bot.console import flowmap
from bot.conversation.flows import Flow, Node, Option
from tests.conftest import Texter
from tests.signing import new_sid, post_signed
from tests.test_console import Staff

NUMBERS = [f"+1612555{n:04d}" for n in range(100, 110)]


@pytest.fixture()
def editor(app):
    staff = Staff(app, "erin", "editor")
    assert staff.sign_in().status_code == 302
    return staff


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def figure(html: str, name: str) -> tuple[str, str]:
    row = re.search(rf"<th>{re.escape(name)}</th><td>([^<]*)</td><td>([^<]*)</td>", html)
    return row.group(1), row.group(2)


def test_the_dashboard_counts_real_texts_and_hides_small_numbers(app, client, editor):
    for number in NUMBERS[:6]:
        Texter(client, number).send("hi")
    Texter(client, NUMBERS[0]).send("he is not breathing")
    Texter(client, NUMBERS[1]).send("naloxone near 55811")
    html = editor.client.get("/console/").get_data(as_text=True)

    assert figure(html, "texts in") == ("8", "8")
    assert figure(html, "conversations") == ("6", "6")
    assert figure(html, "emergencies (overdose steps shown)") == ("&lt;5", "&lt;5")
    assert "<svg" in html and "Duluth" in html
    for number in NUMBERS[:6]:  # no number, in any form, and no hash of one
        assert number[2:] not in html and number[-4:] + "<" not in html
    helpline = app.config["HELPLINE"]
    assert helpline.vault.subject(NUMBERS[0]) not in html


def test_the_dashboard_counts_calls(app, client, editor):
    for n in range(6):
        form = {"CallSid": new_sid("CA"), "AccountSid": "AC" + "0" * 32, "From": NUMBERS[n],
                "To": "+16125550100", "CallStatus": "in-progress", "Direction": "inbound"}
        assert post_signed(client, "/voice", form).status_code == 200
    html = editor.client.get("/console/").get_data(as_text=True)

    assert figure(html, "calls") == ("6", "6")
    assert figure(html, "texts in") == ("0", "0")


def test_the_dashboard_counts_delivery_failures_by_error_code(app, client, editor):
    for code in ("30007", "30007", "30003"):
        response = post_signed(client, "/sms/status", {"MessageSid": "SM" + "1" * 32,
                                                       "MessageStatus": "undelivered",
                                                       "ErrorCode": code,
                                                       "AccountSid": "AC" + "0" * 32})
        assert response.status_code == 204
    html = editor.client.get("/console/").get_data(as_text=True)

    assert "delivery failed, error 30007</th><td>&lt;5" in html
    assert "error 30003" in html


def test_every_message_is_shown_in_every_language_with_its_facts(app, editor):
    html = editor.client.get("/console/content").get_data(as_text=True)
    helpline = app.config["HELPLINE"]

    keys = set(re.findall(r'<article class="message card" id="m-([^"]+)"', html))
    assert keys == helpline.content.keys()
    emergency = helpline.content.render("emergency.steps", "es", "sms") \
        if "emergency.steps" in keys else None
    for locale in helpline.content.locales:
        assert f"<h3>{locale}</h3>" in html
    if emergency:
        assert emergency.split("\n")[0][:30] in text_of(html).replace("&#39;", "'")
    assert "segment" in html and "GSM-7" in html and "grade" in html


def test_search_and_one_message_page(app, editor):
    found = editor.client.get("/console/content?q=naloxone").get_data(as_text=True)
    keys = re.findall(r'id="m-([^"]+)"', found)
    assert keys and len(keys) < len(app.config["HELPLINE"].content.keys())

    page = editor.client.get(f"/console/content/{keys[0]}")
    assert page.status_code == 200
    assert "On the phone line" in page.get_data(as_text=True)
    assert editor.client.get("/console/content/no.such.key").status_code == 404


def test_the_flow_map_draws_every_screen_and_links_it_to_its_messages(app, editor):
    html = editor.client.get("/console/flows").get_data(as_text=True)
    helpline = app.config["HELPLINE"]

    assert "No dead ends, no unreachable screens." in html
    for node in helpline.flow.nodes.values():
        assert f'id="n-{node.id}"' in html
    assert 'href="/console/content/emergency' in html or "emergency" in html


def test_the_flow_map_flags_dead_ends_and_unreachable_screens():
    nodes = {"main": Node("main", "menu.main", (Option("1", "a"),)),
             "a": Node("a", "x.a"),  # no options, not terminal: a dead end
             "lost": Node("lost", "x.lost", (Option("0", "main"),))}
    boxes, edges, width, height = flowmap.layout(Flow(nodes))
    problems = {b.id: b.problem for b in boxes}

    assert problems == {"main": "", "a": "dead end", "lost": "unreachable"}
    by_id = {b.id: b for b in boxes}
    assert by_id["main"].x < by_id["a"].x < by_id["lost"].x  # BFS columns, unreachable last
    assert len(edges) == 2 and width > 0 and height > 0


def test_places_answers_as_the_sms_reply_does(app, client, editor):
    page = editor.client.get("/console/places?q=55811").get_data(as_text=True)
    reply = Texter(client, NUMBERS[2]).send("55811")

    assert "Minneapolis" in page and "no address in source" in page   # Ka Joog: no town
    first_site = reply.split("\n")[1].strip() if "\n" in reply else reply[:40]
    assert first_site[:20] in text_of(page).replace("&amp;", "&").replace("&#39;", "'")
    assert "screen nearby" in page


def test_the_simulator_reaches_the_emergency_screen_apart_from_real_people(app, editor,
                                                                         redis_client):
    token = editor.token("/console/simulator")
    for body in ("hi", "my friend is not breathing"):
        response = editor.client.post("/console/simulator/text",
                                      data={"csrf_token": token, "body": body})
        assert response.status_code == 302
    html = editor.client.get("/console/simulator").get_data(as_text=True)
    day = datetime.now(timezone.utc).strftime("%Y-%m-%d")

    assert "screen <a" in html and ">emergency</a>" in html and "911" in html
    assert re.search(r"\d segments? · GSM-7|\d segments? · UCS-2", html)
    names = {k.decode() for k in redis_client.scan_iter()}
    sessions = [k for k in names if k.startswith("hl:s:")]
    assert sessions and all(k.startswith("hl:s:sim-") for k in sessions)
    assert f"hl:stats:{day}" not in names and f"hl:usage:{day}" not in names
    for key in (k for k in names if k.startswith(("hl:s:sim-", "hl:sim:"))):
        assert 0 < redis_client.ttl(key) <= 3600, key

    editor.client.post("/console/simulator/reset", data={"csrf_token": token, "lang": "es"})
    after = editor.client.get("/console/simulator").get_data(as_text=True)
    assert "911" not in after
    editor.client.post("/console/simulator/text", data={"csrf_token": token, "body": "hola"})
    spanish = text_of(editor.client.get("/console/simulator").get_data(as_text=True))
    assert "screen main" in spanish and re.search(r"[áéíóúñ¿]", spanish)


def test_the_simulator_calls_the_phone_line(app, editor):
    token = editor.token("/console/simulator?channel=voice")
    editor.client.post("/console/simulator/call", data={"csrf_token": token, "start": "1"})
    editor.client.post("/console/simulator/call", data={"csrf_token": token, "digits": "1"})
    editor.client.post("/console/simulator/call", data={"csrf_token": token, "digits": "9"})
    html = text_of(editor.client.get("/console/simulator?channel=voice").get_data(as_text=True))

    assert "Para español" in html
    assert "listens for one key, or words" in html
    assert "screen emergency" in html and "911" in html
