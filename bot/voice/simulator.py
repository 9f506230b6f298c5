"""`flask --app wsgi call --from NUMBER`: call the helpline from a terminal, through the real app.

The simulator plays Twilio's part: it posts signed webhooks (so it works with signature checks
on), prints every <Say>, reads a key or words at each <Gather>, and follows action URLs and
<Redirect>s until the helpline hangs up or input ends.
"""
from __future__ import annotations

import re
import dataclasses
import secrets
import sys
import uuid
import xml.etree.ElementTree as ET
from typing import Callable

import click
from flask import current_app
from flask.cli import with_appcontext
from twilio.request_validator import RequestValidator

DIAL_STATUSES = ("completed", "busy", "no-answer", "failed", "canceled")
MAX_UNHEARD = 50  # TwiML steps in a row without asking the caller: a loop in our TwiML, not a call
Ask = Callable[[str], "str | None"]


class PhoneSimulator:
    """One simulated call: what Twilio would post, signed as Twilio signs it."""

    def __init__(self, client, base_url: str, auth_token: str, number: str,
                 to: str = "+16125550100", account_sid: str = ""):
        self.client, self.base, self.token = client, base_url.rstrip("/"), auth_token
        self.form = {"CallSid": "CA" + uuid.uuid4().hex,
                     "AccountSid": account_sid or "AC" + "0" * 32,
                     "From": number, "To": to, "CallStatus": "in-progress",
                     "Direction": "inbound", "ApiVersion": "2010-04-01"}

    def post(self, url: str, extra: dict | None = None) -> ET.Element:
        form = dict(self.form, **(extra or {}))
        headers = {}
        if self.token:
            signature = RequestValidator(self.token).compute_signature(self.base + url, form)
            headers["X-Twilio-Signature"] = signature
        response = self.client.post(url, data=form, headers=headers)
        body = response.get_data(as_text=True)
        if response.status_code != 200:
            raise click.ClickException(f"{url} answered {response.status_code}: {body.strip()}")
        return ET.fromstring(body)

    def run(self, ask: Ask, say: Callable[[str], None]) -> None:
        """Ring the helpline, then play each answer until it hangs up or `ask` returns None."""
        url, extra, unheard = "/voice", {}, 0
        while url and unheard < MAX_UNHEARD:
            url, extra, asked = self.play(self.post(url, extra), ask, say)
            unheard = 0 if asked else unheard + 1

    def play(self, root: ET.Element, ask: Ask, say) -> tuple[str | None, dict, bool]:
        """Run one TwiML document: (next URL or None to hang up, form fields, whether we asked)."""
        asked = False
        for verb in root:
            if verb.tag == "Say":
                say(verb.text or "")
            elif verb.tag == "Gather":
                for inner in verb.findall("Say"):
                    say(inner.text or "")
                answer, asked = ask("you> "), True
                if answer is None:
                    return None, {}, asked
                if answer.strip():
                    return verb.get("action"), self._heard(answer.strip(), verb), asked
            elif verb.tag == "Redirect":
                return verb.text, {}, asked
            elif verb.tag == "Dial":
                say(f"(ringing {verb.text} ...)")
                answer = ask(f"dial result [{'/'.join(DIAL_STATUSES)}, Enter = completed]> ")
                status = (answer or "").strip().lower()
                return verb.get("action"), {"DialCallStatus": status if status in DIAL_STATUSES
                                            else "completed"}, True
            elif verb.tag == "Hangup":
                say("(the helpline hangs up)")
                return None, {}, asked
        return None, {}, asked

    @staticmethod
    def _heard(answer: str, gather: ET.Element) -> dict:
        if re.fullmatch(r"[0-9*#]+", answer):
            return {"Digits": answer[:int(gather.get("numDigits") or len(answer))]}
        return {"SpeechResult": answer, "Confidence": "0.9"}


@click.command("call")
@click.option("--from", "number", default="+15555550123", show_default=True,
              help="The phone number to pretend to call from.")
@with_appcontext
def call(number: str) -> None:
    """Call the helpline from the terminal. Type a key (1, *, 0) or words; Enter is silence."""
    app = current_app._get_current_object()
    settings = app.config["HELPLINE"].settings
    if settings.signature_check and not settings.twilio_auth_token:
        # Only development can lack the token (production refuses to start without it): sign
        # with a throwaway one, so a fresh machine can try a call with signature checks on.
        settings = dataclasses.replace(settings, twilio_auth_token=secrets.token_hex(16))
        app = app.extensions["helpline.factory"](settings)  # bot.create_app, from the factory
    base = settings.public_base_url or "http://localhost"
    simulator = PhoneSimulator(app.test_client(), base, settings.twilio_auth_token, number,
                               account_sid=settings.twilio_account_sid)
    interactive = sys.stdin.isatty()
    if interactive:
        click.echo("Calling the helpline. Type a key or words; Enter alone is silence; "
                   "Ctrl-D hangs up.\n")

    def ask(prompt: str) -> str | None:
        try:
            line = input(prompt if interactive else "")
        except EOFError:
            return None
        if not interactive:
            click.echo(f"{prompt}{line}")
        return line

    simulator.run(ask, lambda text: click.echo(f"line> {text}"))
    click.echo("(call ended)")
