"""`flask call` (a terminal phone call through the real app) and the voice part of `content check`."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot import create_app
from bot.voice.checks import check_voice
from tests.conftest import make_settings
from tests.test_voice import NUMBER

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def voice_app(redis_url):
    return create_app(make_settings(redis_url))


@pytest.fixture()
def runner(voice_app, redis_client):
    return voice_app.test_cli_runner()


def call(runner, keys: str) -> str:
    result = runner.invoke(args=["call", "--from", NUMBER], input=keys)
    assert result.exit_code == 0, result.output
    return result.output


def test_call_simulator_follows_a_whole_call_with_signatures_checked(runner, voice_app):
    assert voice_app.config["HELPLINE"].settings.signature_check

    out = call(runner, "\n2\n1\n*\nnot breathing\n\n0\n")

    assert out.index("line> Welcome to the MN Overdose Help Line.") < out.index("you> 2")
    assert "line> Naloxone, also called Narcan, reverses an opioid overdose." in out
    assert out.count("line> How to give naloxone nose spray.") == 2  # * repeated it
    assert out.count("line> Hang up and call 9 1 1 now.") == 2  # silence repeated the steps
    assert out.rstrip().endswith("(call ended)")
    assert "For overdose signs and what to do, press 1." in out.split("you> 0")[-1]


def test_call_simulator_takes_dial_results_and_hangs_up_when_the_line_does(runner):
    out = call(runner, "\n6\nbusy\n6\n\n")
    assert "(ringing +18006624357 ...)" in out
    assert "line> Sorry, we could not connect your call." in out
    assert "line> Thank you for calling." in out and "(the helpline hangs up)" in out


def test_call_simulator_ends_after_three_silences(runner):
    out = call(runner, "\n\n\n\n\n\n")
    assert "line> Sorry, I did not hear a choice." in out
    assert "line> We did not hear a choice, so we will end the call now." in out
    assert out.count("you> ") == 4


def test_call_simulator_works_on_a_fresh_machine_without_a_twilio_token(redis_url, redis_client):
    """No Twilio account yet: the simulator signs with a throwaway token, checks stay on."""
    app = create_app(make_settings(redis_url, TWILIO_AUTH_TOKEN=""))
    result = app.test_cli_runner().invoke(args=["call"], input="1\n2\n")
    assert result.exit_code == 0, result.output
    assert "reverses an opioid overdose" in result.output


def test_the_english_phone_content_passes_the_voice_check(voice_app):
    errors = check_voice(voice_app.config["HELPLINE"])
    assert [e for e in errors if not e.startswith("es/")] == []


BAD_LEGAL = """\
legal.good_samaritan:
  source: helpline
  sms: Good Samaritan. Reply 1 more, 0 menu
  voice: |
    Reply 1 for more. See findtreatment.gov, or call 1-800-662-4357.
    {{ "So much to say. " * 60 }}
legal.more:
  source: helpline
  sms: More. Reply 1, 0 menu
  voice: For more, press 4.
"""
SMALL_FLOW = """\
nodes:
  main:
    say: menu.main
    options: [{key: 1, goto: legal}, {key: 9, goto: legal_more}]
  emergency: {say: emergency.steps, entry: true, options: [{key: 1, goto: legal}]}
  crisis: {say: crisis.now, entry: true, options: [{key: 1, goto: legal}]}
  legal: {say: legal.good_samaritan, options: [{key: 1, goto: legal_more}]}
  legal_more: {say: legal.more, options: [{key: 1, goto: legal}]}
"""


def test_content_check_names_each_voice_problem_with_its_file_and_key(tmp_path, redis_url,
                                                                      redis_client):
    content, flows = tmp_path / "content", tmp_path / "flows"
    shutil.copytree(ROOT / "content" / "en", content / "en")
    shutil.copytree(ROOT / "content" / "mn", content / "mn")
    shutil.copy(ROOT / "content" / "SOURCES.yaml", content / "SOURCES.yaml")
    (content / "en" / "legal.yaml").write_text(BAD_LEGAL)
    flows.mkdir()
    (flows / "main.yaml").write_text(SMALL_FLOW)
    app = create_app(make_settings(redis_url, content_dir=content, flows_dir=flows))

    result = app.test_cli_runner().invoke(args=["content", "check"])

    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines()
             if line.startswith("ERROR en/legal.yaml: legal.good_samaritan (voice): ")]
    for problem in ("says 'reply', which suits a text, not a call",
                    "has a link; a caller cannot click it",
                    "reads a long number whole; use the | digits filter",
                    "characters; keep a spoken screen under 900"):
        assert any(problem in line for line in lines), problem
    assert ("ERROR en/legal.yaml: legal.more (voice): says press ['4'] but node 'legal_more' "
            "in flows/main.yaml has options ['1']") in result.output
    assert "ERROR main.yaml: node 'main': option '9' is a phone key for every screen" in result.output
