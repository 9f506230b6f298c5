"""Who a webhook is from: the number a conversation is keyed by, or the message or call itself.

Why: Twilio's `From` is not always a phone number. A blocked caller ID arrives as "anonymous"
(or "Restricted", "Unknown") or as a placeholder number that spells the word on a keypad
(+266696687, +7378742833: WITHHELD), a browser call as "client:<name>". The words once mapped to
one empty number, and the placeholders were taken for real ones (a call pressed 8 and a text
went to +7378742833): one caller's screen appeared in another's call, and they shared one
rate-limit bucket, opt-out and send markers. A `From` that names nobody is keyed by its
MessageSid or CallSid instead (a keyed hash, Vault.token) and never texted. A number written
without "+" is not read as a foreign one: ten digits (or eleven starting with 1) are a North
American number, anything else without "+" is kept as it came and never texted.
"""
from __future__ import annotations

import re

from bot.privacy.vault import normalize_number

_NANP = re.compile(r"1?([2-9]\d{2}[2-9]\d{6})")
_E164 = re.compile(r"\+[1-9]\d{9,14}")
# What Twilio puts in `From` when the caller withheld their number: the word spelled on a phone
# keypad. Twilio's help article "Why am I getting calls from these strange numbers?"
# (help.twilio.com/articles/223179988) lists +266696687 ANONYMOUS, +7378742833 RESTRICTED,
# +2562533 BLOCKED, +8656696 UNKNOWN and +86282452253 UNAVAILABLE. Since Twilio's changelog of
# Nov. 16, 2022 ("Upcoming changes to withheld caller ID behavior for <Dial> calls") the words
# themselves may come instead ("Anonymous", "Restricted"): no digit, so no number already.
# Integrations have logged them with a leading 1 too (From "+17378742833"), so that form counts:
# of them all, only +1 737-874-2833 is a dialable number, and it is one to never text unasked.
WITHHELD = frozenset({"266696687", "7378742833", "2562533", "8656696", "86282452253"})


def withheld(raw: str | None) -> bool:
    """`From` is one of Twilio's placeholders for a withheld caller ID, in any spelling."""
    digits = re.sub(r"[^0-9]", "", raw or "")
    return digits in WITHHELD or (digits[:1] == "1" and digits[1:] in WITHHELD)


def caller_number(raw: str | None) -> str:
    """The caller's number as the helpline keys and texts it; "" when `From` names nobody."""
    raw = (raw or "").strip()
    if not any("0" <= ch <= "9" for ch in raw):
        return ""  # "anonymous", "Restricted", "client:alice": no number at all
    if raw.startswith(("client:", "sip:")):
        return raw
    if withheld(raw):
        return ""  # a placeholder is nobody in particular, like "anonymous"
    if raw.startswith("+"):
        return raw
    digits = re.sub(r"[^0-9]", "", raw)
    nanp = _NANP.fullmatch(digits)
    return f"+1{nanp.group(1)}" if nanp else raw


def textable(number: str) -> bool:
    """A full international number we may send an SMS to (never one that came without "+",
    never a withheld caller's placeholder)."""
    return (number.strip().startswith("+") and not withheld(number)
            and bool(_E164.fullmatch(normalize_number(number))))


def session_subject(vault, number: str, sid: str) -> str | None:
    """The conversation's key when the webhook names no number: its own message or call id."""
    return None if number else vault.token(f"anonymous:{sid}")
