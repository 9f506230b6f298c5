"""Check X-Twilio-Signature before a webhook reads or writes anything, and bound what a
request must cost before that check: its body (MAX_CONTENT_LENGTH) and its number of fields.

Why the field cap: a forged form of 7,000 tiny fields (within 64 KiB) took about 38 ms to
parse, sort and sign before it was refused, against half a millisecond for a small one, and a
flood of them slowed everyone's emergency replies. Twilio's webhooks carry about 20 to 45
fields (an MMS with ten pictures the most), so more than MAX_FORM_FIELDS is refused (413)
from a count of the raw body's separators, before it is parsed.
"""
from __future__ import annotations

import functools
import logging

from flask import abort, current_app, request
from twilio.request_validator import RequestValidator, compare

from bot.channels.refusals import refuse
from bot.channels.twilio_form import check_account

MAX_FORM_FIELDS = 100  # also MAX_FORM_PARTS for multipart bodies (bot/__init__.py)

log = logging.getLogger(__name__)


def public_url() -> str:
    """The URL Twilio signed: PUBLIC_BASE_URL + path + query, or the request URL behind ProxyFix."""
    base = current_app.config["HELPLINE"].settings.public_base_url
    if not base:
        return request.url
    query = request.query_string.decode("latin-1")
    return base + request.path + (f"?{query}" if query else "")


def signature_valid() -> bool:
    helpline = current_app.config["HELPLINE"]
    if not helpline.settings.signature_check:
        return True
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature or not helpline.settings.twilio_auth_token:
        return False
    validator = _validator(helpline.settings.twilio_auth_token)
    url, form = public_url(), _Signed(request.form)
    # The URL Twilio signed is this one, or the same with its port added or taken away; the
    # library tries both forms. Try this one alone first: one HMAC instead of two per request.
    if compare(validator.compute_signature(url, form), signature):  # the library's, timing-safe
        return True
    return validator.validate(url, form, signature)


class _Signed:
    """The form as RequestValidator reads it: its names, and every value of a name (getall).
    Handed werkzeug's MultiDict, the library first tries getall and falls back to getlist on
    the AttributeError, one raised exception per field of every webhook."""

    __slots__ = ("_form",)

    def __init__(self, form):
        self._form = form

    def __iter__(self):
        return iter(self._form)

    def __len__(self):
        return len(self._form)

    def getall(self, name: str) -> list:
        return self._form.getlist(name)


@functools.lru_cache(maxsize=4)
def _validator(token: str) -> RequestValidator:
    return RequestValidator(token)


def refuse_long_stream() -> None:
    """413 for a chunked body (no Content-Length) past MAX_CONTENT_LENGTH: werkzeug would
    silently cut it at the limit, and a cut form is not what was sent."""
    if request.content_length is None and request.environ.get("wsgi.input_terminated"):
        request.get_data(cache=True)  # kept for request.form; stops at the limit
        request.stream.read(1)  # at the limit, reading on raises RequestEntityTooLarge


def refuse_many_fields() -> None:
    """413 for a form with more than MAX_FORM_FIELDS fields, counted in the raw body (one C
    call over at most 64 KiB) before anything parses or signs it."""
    if request.mimetype != "application/x-www-form-urlencoded":
        return  # multipart: werkzeug stops at MAX_FORM_PARTS; anything else has no form
    body = request.get_data(cache=True)  # kept: request.form parses these same bytes
    if body and body.count(b"&") >= MAX_FORM_FIELDS:
        refuse("too many form fields")
        abort(413, description=f"More than {MAX_FORM_FIELDS} form fields: no Twilio webhook "
                               "has that many.")


def twilio_signed(view):
    """403 for a missing or forged signature: nothing is read, written or sent. Then the form's
    account (bot/channels/twilio_form.py): a well-formed AccountSid, ours when one is set."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        refuse_long_stream()
        refuse_many_fields()
        if not signature_valid():
            refuse("missing or invalid X-Twilio-Signature")  # one summary line a minute
            abort(403, description="Invalid or missing X-Twilio-Signature.")
        check_account()
        return view(*args, **kwargs)

    return wrapper
