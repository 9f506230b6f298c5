"""Phone numbers never appear in the clear: keyed hashes for lookups, encryption where we must keep one."""
from __future__ import annotations

import base64
import hmac
import re

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_DIGITS = re.compile(r"\D")


def normalize_number(number: str) -> str:
    """'+1 (612) 555-0123' and '+16125550123' are the same person."""
    number = (number or "").strip()
    if number.startswith(("client:", "sip:")):
        return number
    digits = _DIGITS.sub("", number)
    return f"+{digits}" if digits else ""


def mask_number(number: str) -> str:
    """'+16125550123' -> '+1******0123': enough for an operator to match a complaint, no more."""
    number = normalize_number(number)
    if len(number) < 6:
        return "***"
    return number[:2] + "*" * (len(number) - 6) + number[-4:]


def _derive(secret: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"helpline",
                info=purpose).derive(secret.encode("utf-8"))


class Vault:
    """Keyed hashing and encryption at rest, both derived from HELPLINE_SECRET."""

    def __init__(self, secret: str):
        self._hash_key = _derive(secret, b"subject-hash")
        self._fernet = Fernet(base64.urlsafe_b64encode(_derive(secret, b"number-encryption")))
        self._texts = Fernet(base64.urlsafe_b64encode(_derive(secret, b"message-encryption")))

    def subject(self, number: str) -> str:
        """The stable, keyed id of a phone number: the only form Redis keys ever hold."""
        return self.token(normalize_number(number))

    def token(self, value: str) -> str:
        """A keyed hash of any identifier (MessageSid, CallSid) for dedupe keys."""
        # hmac.digest: the same HMAC-SHA256 as hmac.new(...).hexdigest(), in one C call
        return hmac.digest(self._hash_key, value.encode(), "sha256").hex()[:32]

    def encrypt(self, number: str) -> str:
        return self._fernet.encrypt(normalize_number(number).encode()).decode()

    def decrypt(self, token: str) -> str | None:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except (InvalidToken, ValueError):
            return None

    def seal(self, text: str) -> str:
        """Encrypt a message text (the staffed inbox keeps them a few days), under its own key."""
        return self._texts.encrypt(text.encode("utf-8")).decode()

    def unseal(self, token: str) -> str | None:
        try:
            return self._texts.decrypt(token.encode()).decode("utf-8")
        except (InvalidToken, ValueError):
            return None
