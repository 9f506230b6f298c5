"""The ids in a signed Twilio form, checked before anything reads it.

Why: Twilio's signature is an HMAC over the URL and each parameter's name and value joined with
no separator, so a captured request can be reshaped and still validate: fold `MessageSid` into
the value of the field before it, and the form has no MessageSid at all (no duplicate check:
each replay advanced the conversation); fold the next field into it, and it names a message
nobody sent. Twilio's ids have one exact shape, two letters and 32 hex digits, so a reshaped id
cannot keep its shape: a form without its id, or with one that has another shape, is refused
(400), and a reshaped form that keeps its id intact meets that id's duplicate check (a no-op).
`AccountSid` must be well formed and, when TWILIO_ACCOUNT_SID is set, be that account (403).
"""
from __future__ import annotations

import re

from flask import abort, current_app, request

from bot.channels.refusals import refuse

_SID = re.compile(r"[A-Z]{2}[0-9a-fA-F]{32}")
MESSAGE = ("SM", "MM")  # an SMS, an MMS
CALL = ("CA",)
ACCOUNT = ("AC",)


def sid(name: str, kinds: tuple[str, ...], what: str) -> str:
    """The form's `name` when it is a Twilio id of one of these `kinds`; else 400, saying why."""
    value = request.form.get(name) or ""
    if not value:
        abort(400, description=f"Missing '{name}': expected {what}.")
    if not (_SID.fullmatch(value) and value[:2] in kinds):
        abort(400, description=f"Malformed '{name}': expected {'/'.join(kinds)} and 32 hex "
                               f"digits, as {what} carries.")
    return value


def check_account() -> None:
    """Every Twilio webhook names the account it is for; ours, when TWILIO_ACCOUNT_SID is set."""
    account = sid("AccountSid", ACCOUNT, "a Twilio webhook form")
    expected = current_app.config["HELPLINE"].settings.twilio_account_sid
    if expected and account != expected:
        refuse("another account's AccountSid")
        abort(403, description="'AccountSid' is not this helpline's Twilio account "
                               "(TWILIO_ACCOUNT_SID).")
