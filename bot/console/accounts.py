"""Staff accounts in Redis: Argon2id password hashes, roles, TOTP secrets (encrypted at rest),
and hashed one-time recovery codes (the audit log of what staff did is audit.py).

An account is a Redis hash under keys.account(name). Nothing here ever holds a phone number:
user names that look like one are refused, and audit entries name staff, never texters.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot.console import keys
from bot.console.audit import Audit  # noqa: F401 (its old home; bot.console.audit is the module)
from bot.privacy.strength import password_problem

ROLES = ("viewer", "editor", "responder", "admin")  # each can do all the ones before it can
MIN_PASSWORD_LENGTH = 12
RECOVERY_CODES = 8
ISSUER = "Helpline console"
_NAME = re.compile(r"[a-z][a-z0-9._-]{1,39}")
_HASHER = PasswordHasher()  # Argon2id, the library's RFC 9106 low-memory profile
_DUMMY = _HASHER.hash(secrets.token_hex(16))  # verified for unknown names: same time, no oracle
# Accept a TOTP time step only if it is newer than the last one accepted, in one step: two
# sign-ins racing with the same code cannot both read "unused" before either writes "used".
_USE_STEP = """
local used = redis.call('GET', KEYS[1])
if used and tonumber(used) >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""


class AccountError(ValueError):
    """A user name, password or role that cannot be used; the message says why."""


def derive(secret: str, purpose: bytes) -> bytes:
    """A 32-byte key for one purpose from HELPLINE_SECRET (HKDF-SHA256)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"helpline-console",
                info=purpose).derive(secret.encode("utf-8"))


def role_at_least(role: str, needed: str) -> bool:
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def check_name(username: str) -> str:
    name = (username or "").strip().lower()
    if not _NAME.fullmatch(name):
        raise AccountError("user names are 2-40 characters: a-z first, then a-z 0-9 . _ -")
    if sum(c.isdigit() for c in name) >= 7:
        raise AccountError("a user name must not be a phone number")
    return name


def check_password(password: str, username: str = "") -> None:
    problem = password_problem(password, MIN_PASSWORD_LENGTH, (username, "helpline", "console"))
    if problem:
        raise AccountError(problem)


@dataclass(frozen=True)
class Account:
    username: str
    role: str
    active: bool
    has_totp: bool
    created: float
    last_sign_in: float | None


@dataclass(frozen=True)
class Enrolment:
    """What `staff add` / `staff reset` prints once: it is never shown again."""

    password: str | None
    totp_secret: str | None
    totp_uri: str | None
    recovery_codes: list[str]


class Accounts:
    def __init__(self, client, secret: str):
        self.redis = client
        self._fernet = Fernet(base64.urlsafe_b64encode(derive(secret, b"staff-totp")))
        self._code_key = derive(secret, b"staff-recovery")
        self._use_step = client.register_script(_USE_STEP)

    # --- reading -------------------------------------------------------------------------
    def get(self, username: str) -> Account | None:
        raw = {k.decode(): v.decode() for k, v in self.redis.hgetall(keys.account(username)).items()}
        if not raw:
            return None
        return Account(username, raw.get("role", "viewer"), raw.get("active") == "1",
                       bool(raw.get("totp")), float(raw.get("created", 0)),
                       float(raw["last"]) if raw.get("last") else None)

    def all(self) -> list[Account]:
        names = sorted(n.decode() for n in self.redis.smembers(keys.STAFF_INDEX))
        return [a for a in (self.get(n) for n in names) if a is not None]

    # --- managing ------------------------------------------------------------------------
    def add(self, username: str, role: str, password: str | None = None,
            totp: bool = True) -> Enrolment:
        name = check_name(username)
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}")
        if self.redis.exists(keys.account(name)):
            raise AccountError(f"{name} exists already (use `staff reset`)")
        generated = password is None
        password = password or secrets.token_urlsafe(15)
        check_password(password, name)
        self.redis.hset(keys.account(name), mapping={
            "role": role, "active": "1", "created": str(time.time()),
            "password": _HASHER.hash(password)})
        self.redis.sadd(keys.STAFF_INDEX, name)
        enrolment = self._second_factor(name) if totp else Enrolment(None, None, None, [])
        return Enrolment(password if generated else None, enrolment.totp_secret,
                         enrolment.totp_uri, enrolment.recovery_codes)

    def reset(self, username: str, password: str | None = None, totp: bool = True) -> Enrolment:
        """New password and (by default) a new second factor; ends every session of the account."""
        name = check_name(username)
        if not self.redis.exists(keys.account(name)):
            raise AccountError(f"no account {name}")
        generated = password is None
        password = password or secrets.token_urlsafe(15)
        check_password(password, name)
        self.redis.hset(keys.account(name), mapping={"password": _HASHER.hash(password),
                                                     "active": "1"})
        enrolment = self._second_factor(name) if totp else Enrolment(None, None, None, [])
        self.end_sessions(name)
        return Enrolment(password if generated else None, enrolment.totp_secret,
                         enrolment.totp_uri, enrolment.recovery_codes)

    def set_role(self, username: str, role: str) -> None:
        """A new role; the account's sessions end so that its pages and menus are re-checked."""
        name = check_name(username)
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}")
        if not self.redis.exists(keys.account(name)):
            raise AccountError(f"no account {name}")
        self.redis.hset(keys.account(name), "role", role)
        self.end_sessions(name)

    def disable(self, username: str) -> None:
        name = check_name(username)
        if not self.redis.exists(keys.account(name)):
            raise AccountError(f"no account {name}")
        self.redis.hset(keys.account(name), "active", "0")
        self.end_sessions(name)

    def end_sessions(self, username: str) -> None:
        sids = [s.decode() for s in self.redis.smembers(keys.sessions_of(username))]
        if sids:
            self.redis.delete(*[keys.session(s) for s in sids])
        self.redis.delete(keys.sessions_of(username))

    def _second_factor(self, name: str) -> Enrolment:
        secret = pyotp.random_base32()
        codes = [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(RECOVERY_CODES)]
        pipe = self.redis.pipeline()
        pipe.hset(keys.account(name), "totp", self._fernet.encrypt(secret.encode()).decode())
        pipe.delete(keys.recovery(name), keys.totp_used(name))
        pipe.sadd(keys.recovery(name), *[self._code_hash(c) for c in codes])
        pipe.execute()
        uri = pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=ISSUER)
        return Enrolment(None, secret, uri, codes)

    # --- checking ------------------------------------------------------------------------
    def verify_password(self, username: str, password: str) -> Account | None:
        """The account when the password is right and the account active; the same work either way."""
        try:
            name = check_name(username)
        except AccountError:
            name = ""
        stored = self.redis.hget(keys.account(name), "password") if name else None
        try:
            ok = _HASHER.verify(stored.decode() if stored else _DUMMY, password or "")
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok or stored is None:
            return None
        if _HASHER.check_needs_rehash(stored.decode()):
            self.redis.hset(keys.account(name), "password", _HASHER.hash(password))
        account = self.get(name)
        return account if account and account.active else None

    def verify_second_factor(self, username: str, code: str, at: float | None = None) -> bool:
        """A current TOTP code (not used before) or an unused recovery code (used up now)."""
        code = (code or "").strip().replace(" ", "").lower()
        if not code:
            return False
        if re.fullmatch(r"\d{6}", code):
            return self._totp(username, code, at or time.time())
        return bool(self.redis.srem(keys.recovery(username), self._code_hash(code)))

    def _totp(self, username: str, code: str, at: float) -> bool:
        token = self.redis.hget(keys.account(username), "totp")
        if token is None:
            return False
        try:
            secret = self._fernet.decrypt(token).decode()
        except InvalidToken:
            return False
        totp = pyotp.TOTP(secret)
        step = int(at // totp.interval)
        for offset in (0, -1, 1):  # one step of clock drift either way
            if hmac.compare_digest(totp.at(at + offset * totp.interval), code):
                # False when replayed, or older than a code already used
                return bool(self._use_step(keys=[keys.totp_used(username)],
                                           args=[step + offset, 300]))
        return False

    def recovery_left(self, username: str) -> int:
        return self.redis.scard(keys.recovery(username))

    def _code_hash(self, code: str) -> str:
        return hmac.new(self._code_key, code.strip().lower().encode(), hashlib.sha256).hexdigest()

    def signed_in(self, username: str) -> None:
        self.redis.hset(keys.account(username), "last", str(time.time()))
