"""POST /sms and /sms/status: Twilio form in, TwiML out, in milliseconds."""
from __future__ import annotations

import functools
import logging
from datetime import datetime, timezone

from flask import Blueprint, Response, abort, current_app, request
from twilio.twiml.messaging_response import MessagingResponse

from bot.channels.callers import caller_number, session_subject
from bot.channels.twilio_auth import twilio_signed
from bot.channels.twilio_form import MESSAGE, sid

log = logging.getLogger(__name__)
bp = Blueprint("sms", __name__)
MAX_BODY = 1600


@functools.lru_cache(maxsize=4096)
def _twiml_text(messages: tuple[str, ...]) -> str:
    """Replies repeat (menus, screens), so each distinct TwiML document is built once."""
    response = MessagingResponse()
    for text in messages:
        response.message(text)
    return str(response)


def twiml(messages: list[str]) -> Response:
    return Response(_twiml_text(tuple(messages)), mimetype="application/xml")


@bp.post("/sms")
@twilio_signed
def incoming() -> Response:
    raw = (request.form.get("From") or "").strip()
    body = request.form.get("Body")
    if not raw:
        abort(400, description="Missing 'From': expected a Twilio SMS webhook form.")
    if body is None:
        abort(400, description="Missing 'Body': expected a Twilio SMS webhook form.")
    # Every message's id, in its exact shape: the duplicate check a replay cannot slip past.
    token = sid("MessageSid", MESSAGE, "a Twilio SMS webhook form")
    number = caller_number(raw)
    helpline = current_app.config["HELPLINE"]
    answer = helpline.conversations.handle(number, body[:MAX_BODY], datetime.now(timezone.utc),
                                           token=token,
                                           subject=session_subject(helpline.vault, number, token))
    return twiml(answer.messages)


@bp.post("/sms/status")
@twilio_signed
def status() -> Response:
    """Delivery reports for messages we sent; new fields from Twilio are ignored, not errors."""
    message = sid("MessageSid", MESSAGE, "a Twilio status callback")
    state = (request.form.get("MessageStatus") or "").lower()
    if not state:
        abort(400, description="Missing 'MessageStatus'.")
    helpline = current_app.config["HELPLINE"]
    for handler in helpline.status_handlers:
        handler(message, state, request.form.get("ErrorCode") or None)
    return Response(status=204)
