"""Build webhook requests signed exactly as Twilio signs them (HMAC-SHA1 over URL + sorted params)."""
from __future__ import annotations

import itertools

from twilio.request_validator import RequestValidator

AUTH_TOKEN = "test-auth-token-0123456789abcdef"
BASE_URL = "https://help.example.org"
_sids = itertools.count(1)


def new_sid(prefix: str = "SM") -> str:
    return f"{prefix}{next(_sids):032x}"


def signature(url: str, form: dict, token: str = AUTH_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, form)


def post_signed(client, path: str, form: dict, token: str = AUTH_TOKEN, base: str = BASE_URL,
                **kwargs):
    """POST a form the way Twilio does, with a valid X-Twilio-Signature for base + path."""
    headers = {"X-Twilio-Signature": signature(base + path, form, token)}
    headers.update(kwargs.pop("headers", {}))
    return client.post(path, data=form, headers=headers, **kwargs)


def sms_form(number: str, body: str, sid: str | None = None, **extra) -> dict:
    form = {"From": number, "To": "+16125550100", "Body": body, "MessageSid": sid or new_sid(),
            "AccountSid": "AC" + "0" * 32, "NumMedia": "0"}
    form.update(extra)
    return form
