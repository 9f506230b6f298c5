"""POST /voice, /voice/step and /voice/dial: Twilio's call webhooks in, TwiML out.

The call's record lives in Redis under Vault.token(CallSid); every action URL also carries the
step counter `n` and the caller's place (`at`, `lang`). A retried webhook (a step already done)
gets the stored answer; with Redis down the place in the URL keeps the menus working.
"""
from __future__ import annotations

import logging
import re
from dataclasses import replace
from datetime import datetime, timezone

import rq
from flask import Blueprint, Flask, Response, abort, current_app, request, url_for
from rq.exceptions import DuplicateJobError

from bot.channels.callers import caller_number, textable
from bot.channels.conversations import REDIS_ERRORS
from bot.outbound.markers import Markers
from bot.storage.tombstone import Tombstones
from bot.privacy.vault import mask_number
from bot.channels.twilio_auth import twilio_signed
from bot.channels.twilio_form import CALL, sid as twilio_sid
from bot.voice.phone_tree import LANGUAGE, NO_TEXT, OPTED_OUT, TEXTED, Call, Heard, PhoneTree
from bot.voice.checks import check_voice
from bot.voice.simulator import call
from bot.voice.twiml import fallback, render

log = logging.getLogger(__name__)
bp = Blueprint("voice", __name__)
QUEUE = "outbound"
TEXT_JOB = "bot.voice.jobs.send_screen_text"  # by name: the web process never imports worker code
TEXT_RETRY = rq.Retry(max=3, interval=[10, 60, 300])
MAX_SPEECH = 500
_VOICED = ("en", "es")  # locales with a voice setting (bot/config.py)


def init_app(app: Flask) -> None:
    """Register the call webhooks, the Redis-free fallback, the voice content check and `call`."""
    attach(app, app.config["HELPLINE"])
    app.register_blueprint(bp)
    app.cli.add_command(call)


def attach(app: Flask, helpline) -> None:
    """What calls need from a helpline: at start, and again at each content reload."""
    voiced = _VOICED + (helpline.settings.default_locale,)
    app.extensions["voice"] = PhoneTree.build(helpline.engine, helpline.content, voiced,
                                              texts=helpline.settings.sends_texts)
    helpline.extras["voice_fallback"] = lambda: _xml(
        fallback(helpline.content, helpline.settings, url_for("voice.step", n=0, at="main")))
    helpline.extras.setdefault("content_checks", []).append(check_voice)
    # FORGET erases the "text me this" send markers too (bot/outbound/markers.py).
    helpline.extras.setdefault("forgetters", []).append(Markers(helpline.redis).forget)


@bp.post("/voice")
@twilio_signed
def incoming() -> Response:
    return _step(Heard(start=True), 0, LANGUAGE, "")


@bp.post("/voice/step")
@twilio_signed
def step() -> Response:
    # One key, or up to a ZIP+4 where the screen asks for a ZIP code; Twilio drops the final #.
    digits = re.sub(r"[^0-9*#]", "", request.form.get("Digits") or "")[:10]
    digits = digits.rstrip("#") if len(digits) > 1 else digits
    speech = (request.form.get("SpeechResult") or "").strip()[:MAX_SPEECH]
    return _step(Heard(digits=digits, speech=speech), *_place())


@bp.post("/voice/dial")
@twilio_signed
def dialed() -> Response:
    status = (request.form.get("DialCallStatus") or "failed").strip().lower()
    return _step(Heard(dial=status), *_place())


def _place() -> tuple[int, str, str]:
    n = request.args.get("n", type=int)
    if n is None or n < 0:
        abort(400, description="Missing or bad step counter 'n' in the query string.")
    return n, request.args.get("at", "main")[:40], request.args.get("lang", "")[:8]


def _step(heard: Heard, n: int, at: str, lang: str) -> Response:
    """Answer step n of a call once: a retry of a finished step gets the stored answer."""
    sid = twilio_sid("CallSid", CALL, "a Twilio voice webhook form")
    helpline, tree = current_app.config["HELPLINE"], current_app.extensions["voice"]
    # A hidden caller ID ("anonymous") has no number: the call is keyed by its CallSid alone.
    number, now = caller_number(request.form.get("From")), datetime.now(timezone.utc)

    def change(raw):
        call = Call.from_dict(raw) if raw else tree.call_at(at, lang, n)
        if call.n != n:  # a retry of a step already answered, or a stale URL
            stored = call.reply if call.reply and call.reply.get("n") == n else None
            return None, (stored or {"xml": _twiml(*tree.show(call)), "text": None}, None)
        new, plan = tree.answer(call, heard, now, lambda: _text_status(helpline, number))
        reply = {"n": n, "xml": _twiml(new, plan), "text": plan.text, "remind": plan.remind}
        moved = (new.state.node, new.phase) != (call.state.node, call.phase)
        return replace(new, reply=reply).to_dict(), (reply, new.state.node if moved else None)

    try:
        caller = helpline.vault.subject(number) if number else None
        reply, visited = helpline.store.update_call(helpline.vault.token(sid), change, caller)
    except REDIS_ERRORS as exc:
        log.error("redis unavailable on a call, answering from the URL: %s", type(exc).__name__)
        new, plan = tree.answer(tree.call_at(at, lang, n), heard, now, lambda: NO_TEXT)
        return _xml(_twiml(new, plan))
    if reply.get("text"):
        _enqueue_text(helpline, sid, number, reply["text"])
    if reply.get("remind"):
        _book_reminder(helpline, number, reply["remind"], now)
    if visited:
        _count(helpline, visited, now)
    return _xml(reply["xml"])


def _twiml(call: Call, plan) -> str:
    helpline = current_app.config["HELPLINE"]
    at = LANGUAGE if call.phase == LANGUAGE else call.state.node
    place = {"n": call.n, "at": at, "lang": call.state.locale}
    urls = {"step": url_for("voice.step", **place), "dial": url_for("voice.dialed", **place)}
    return render(plan, helpline.content, helpline.settings, urls)


def _xml(text: str) -> Response:
    return Response(text, mimetype="application/xml")


def _text_status(helpline, number: str) -> str:
    """Can we text this caller? Not a hidden or non-phone number, and not one that sent STOP."""
    if not textable(number):
        return NO_TEXT
    try:
        opted_out = helpline.store.is_opted_out(helpline.vault.subject(number))
    except REDIS_ERRORS:
        return NO_TEXT
    return OPTED_OUT if opted_out else TEXTED


def _enqueue_text(helpline, sid: str, number: str, text: dict) -> None:
    """One job per call and screen (unique id), so a retried webhook never sends a second text.
    The job carries the person's FORGET tombstone as it is now (its epoch): an erasure after
    this point wins over the job (bot/storage/tombstone.py)."""
    job_id = "voice-text-" + helpline.vault.token(f"{sid}:{text['node']}")
    queue = rq.Queue(QUEUE, connection=helpline.redis)
    try:
        epoch = Tombstones(helpline.redis).epoch(helpline.vault.subject(number))
        queue.enqueue(TEXT_JOB, helpline.vault.encrypt(number), text["node"], text["locale"],
                      text["body"], epoch, job_id=job_id, unique=True, retry=TEXT_RETRY,
                      result_ttl=86400, failure_ttl=7 * 86400,
                      description="voice: text me this screen")
    except DuplicateJobError:
        log.info("text for this call and screen already queued (%s)", mask_number(number))
    except REDIS_ERRORS as exc:
        log.error("could not queue a text for %s: %s", mask_number(number), type(exc).__name__)


def _book_reminder(helpline, number: str, remind: dict, now: datetime) -> None:
    """Press 7: the job id is derived from the caller and the screen, so a retried webhook
    books the same one reminder (bot/reminders/ledger.py)."""
    try:
        helpline.extras["reminders"].from_call(number, remind, now)
    except REDIS_ERRORS as exc:
        log.error("could not book a reminder for %s: %s", mask_number(number), type(exc).__name__)


def _count(helpline, node: str, now: datetime) -> None:
    """Anonymous usage counts per screen, the same as for texts."""
    try:
        helpline.store.count_visit(node, now)
    except REDIS_ERRORS:
        pass
