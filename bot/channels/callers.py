"""Who a webhook is from: the number a conversation is keyed by, or the message or call itself.

Why: Twilio's `From` is not always a phone number. A blocked caller ID arrives as "anonymous"
(or "Restricted", "Unknown"), a browser call as "client:<name>", and all of them once mapped to
the same empty number: one caller's screen appeared in another's call, and they shared one
rate-limit bucket. A `From` without a digit is nobody in particular, so its session is keyed by
the MessageSid or CallSid instead (a keyed hash, Vault.token). A number written without "+" is
not read as a foreign one: ten digits (or eleven starting with 1) are a North American number,
anything else without "+" is kept as it came and never texted.
"""
from __future__ import annotations

import re

from bot.privacy.vault import normalize_number

_NANP = re.compile(r"1?([2-9]\d{2}[2-9]\d{6})")
_E164 = re.compile(r"\+[1-9]\d{9,14}")  # Twilio's "anonymous" numbers (+266696687...) are shorter


def caller_number(raw: str | None) -> str:
    """The caller's number as the helpline keys and texts it; "" when `From` names nobody."""
    raw = (raw or "").strip()
    if not any("0" <= ch <= "9" for ch in raw):
        return ""  # "anonymous", "Restricted", "client:alice": no number at all
    if raw.startswith(("+", "client:", "sip:")):
        return raw
    digits = re.sub(r"[^0-9]", "", raw)
    nanp = _NANP.fullmatch(digits)
    return f"+1{nanp.group(1)}" if nanp else raw


def textable(number: str) -> bool:
    """A full international number we may send an SMS to (never one that came without "+")."""
    return number.strip().startswith("+") and bool(_E164.fullmatch(normalize_number(number)))


def session_subject(vault, number: str, sid: str) -> str | None:
    """The conversation's key when the webhook names no number: its own message or call id."""
    return None if number else vault.token(f"anonymous:{sid}")
