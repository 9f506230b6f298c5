"""The simulator's fast-forward: a test number's check-in or reminder shown now, its reply read as
on a real phone, and nothing booked for anyone."""
from __future__ import annotations

import re

import pytest

from tests.test_console import Staff, token_of


@pytest.fixture()
def editor(app):
    staff = Staff(app, "erin", "editor")
    assert staff.sign_in().status_code == 302
    return staff


def post(staff, path: str, **form) -> str:
    page = staff.client.get("/console/simulator").get_data(as_text=True)
    staff.client.post(path, data={"csrf_token": token_of(page), **form})
    return staff.client.get("/console/simulator").get_data(as_text=True)


def last_line(page: str) -> tuple[str, str]:
    """The last bubble the line sent and the screen it came from."""
    bubbles = re.findall(r'<div class="bubble line"[^>]*>(.*?)</div>\s*<p class="facts">screen '
                         r'(?:<a[^>]*>)?([^<·]+)', page, re.S)
    text, screen = bubbles[-1]
    return text, screen.strip()


def test_a_check_in_sent_now_is_answered_as_on_a_phone(editor, redis_client):
    page = post(editor, "/console/simulator/text", body="checkin")
    assert 'id="forward-checkin"' not in page                 # nothing to fast-forward yet
    for body in ("1", "1", "yes"):
        page = post(editor, "/console/simulator/text", body=body)
    page = post(editor, "/console/simulator/forward", what="checkin")
    text, screen = last_line(page)
    assert "Reply 1 doing OK, 2 having a hard time, 3 need help now" in text
    assert screen == "checkin (sent now)"
    _, screen = last_line(post(editor, "/console/simulator/text", body="3"))
    assert screen == "checkin_help"                           # read as the check-in's answer
    _, screen = last_line(post(editor, "/console/simulator/text", body="3"))
    assert screen != "checkin_help"                           # only the first reply is
    names = {k.decode() for k in redis_client.scan_iter()}
    assert not any(n.startswith(("hl:ci:", "hl:rm:", "rq:")) for n in names), names


def test_a_reminder_sent_now_shows_the_screen_asked_for(editor, redis_client):
    post(editor, "/console/simulator/text", body="talk to someone")
    page = post(editor, "/console/simulator/text", body="yes")
    assert 'id="forward-reminder"' in page
    text, screen = last_line(post(editor, "/console/simulator/forward", what="reminder"))
    assert text.startswith("Your reminder from MN Overdose Help Line:")
    assert "988" in text and screen == "reminder (sent now)"
    assert not any(k.startswith(b"rq:") for k in redis_client.scan_iter())
