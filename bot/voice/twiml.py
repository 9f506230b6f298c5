"""Plans to TwiML with twilio's VoiceResponse (never strings), in each language's own voice."""
from __future__ import annotations

import re
from typing import Mapping

from twilio.twiml.voice_response import VoiceResponse

from bot.config import Settings
from bot.conversation.content import Content
from bot.voice.phone_tree import DIAL, GATHER, Line, Plan

DIAL_TIMEOUT = 30  # seconds the live line may ring before the caller hears the fallback
_END = re.compile(r"[.!?:;,]$")


def voice_for(settings: Settings, locale: str) -> tuple[str, str]:
    """(voice, language) for a locale: the VOICE_*_ES settings for Spanish, else the default."""
    if locale == "es":
        return settings.voice_name_es, settings.voice_language_es
    return settings.voice_name, settings.voice_language


def spoken(text: str) -> str:
    """One paragraph with a stop after every line, so a list is read as a list, not run together."""
    lines = [line.strip(" -") for line in text.splitlines()]
    return " ".join(line if _END.search(line) else f"{line}." for line in lines if line)


def _say_all(verb, lines: tuple[Line, ...], content: Content, settings: Settings) -> None:
    for line in lines:
        text = spoken(content.render(line.key, line.locale, "voice", line.params))
        if text:
            voice, language = voice_for(settings, line.locale)
            verb.say(text, voice=voice, language=language)


def render(plan: Plan, content: Content, settings: Settings, urls: Mapping[str, str]) -> str:
    """Say the plan's lines in a Gather (then a Redirect for silence), before a Dial, or a Hangup."""
    response = VoiceResponse()
    if plan.then == GATHER:
        language = voice_for(settings, plan.locale)[1]
        keys = {"finish_on_key": "#"} if plan.zip_entry else {"num_digits": 1}
        gather = response.gather(input="dtmf speech", timeout=plan.timeout, **keys,
                                 speech_timeout="auto", action=urls["step"], method="POST",
                                 language=language, hints=plan.hints or None)
        _say_all(gather, plan.lines, content, settings)
        response.redirect(urls["step"], method="POST")
    elif plan.then == DIAL:
        _say_all(response, plan.lines, content, settings)
        number = settings.crisis_line_number if plan.dial_to == "crisis" else settings.live_line_number
        response.dial(number, action=urls["dial"], method="POST",
                      timeout=DIAL_TIMEOUT)
    else:
        _say_all(response, plan.lines, content, settings)
        response.hangup()
    return str(response)


def fallback(content: Content, settings: Settings, restart_url: str) -> str:
    """What a caller hears when our code fails: the emergency steps and the helpline, twice."""
    locale = settings.default_locale
    voice, language = voice_for(settings, locale)
    text = spoken(content.render("fallback.safe", locale, "voice"))
    response = VoiceResponse()
    response.say(text, voice=voice, language=language)
    response.pause(length=1)
    response.say(text, voice=voice, language=language)
    response.redirect(restart_url, method="POST")
    return str(response)
