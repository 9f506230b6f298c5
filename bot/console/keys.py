"""The console's Redis key names, in one place (the storage conventions of bot/storage/store.py).

Staff accounts are keyed by their user name (never a phone number: user names that look like
one are refused in accounts.py). Simulator state lives under its own prefix and its own keyed
hash, so test conversations never mix with real people's and never reach the usage counts.
"""
from __future__ import annotations

from bot.storage.store import PREFIX

STAFF_INDEX = f"{PREFIX}:staff:index"  # set of user names
AUDIT = f"{PREFIX}:staff:audit"  # sorted set of JSON entries scored by time
AUDIT_DAYS = 400  # entries and failed sign-in counts are kept by time, never trimmed by count
SIM_PREFIX = "sim-"  # simulator subjects: hl:s:sim-<hash>, never a real person's hl:s:<hash>


def account(username: str) -> str:
    return f"{PREFIX}:staff:user:{username}"


def recovery(username: str) -> str:
    """Set of hashed one-time recovery codes."""
    return f"{PREFIX}:staff:recovery:{username}"


def totp_used(username: str) -> str:
    """The last TOTP time step accepted, so a code cannot be replayed within its window."""
    return f"{PREFIX}:staff:totp:{username}"


def failures_pair(username: str, ip_token: str) -> str:
    """Wrong tries for one account from one address (a hash: n, last); the address is a keyed hash."""
    return f"{PREFIX}:staff:fail:p:{username}:{ip_token}"


def failures_address(ip_token: str) -> str:
    """Wrong tries from one address, whatever the names (a hash: n, last)."""
    return f"{PREFIX}:staff:fail:a:{ip_token}"


def locks(username: str) -> str:
    """Sorted set: the address tokens this account is locked for, scored by when it ends."""
    return f"{PREFIX}:staff:locks:{username}"


def failed_sign_ins(hour: str) -> str:
    """One hour's failed sign-ins, counted (a hash; ':addr' a HyperLogLog of address tokens)."""
    return f"{PREFIX}:staff:failed:{hour}"


def session(sid: str) -> str:
    return f"{PREFIX}:staff:session:{sid}"


def sessions_of(username: str) -> str:
    return f"{PREFIX}:staff:sessions:{username}"


def usage(day: str) -> str:
    """Anonymous daily counts the dashboard reads (texts in/out, calls, emergencies, ...)."""
    return f"{PREFIX}:usage:{day}"


def sim_call(token: str) -> str:
    """One simulated phone call's place in the menu."""
    return f"{PREFIX}:sim:call:{token}"


def sim_log(subject: str) -> str:
    """A simulator conversation's bubbles (test text typed by staff), gone after an hour."""
    return f"{PREFIX}:s:{subject}:log"


def sim_ff(subject: str) -> str:
    """A test number's check-in plan and booked reminder, for the simulator's fast-forward."""
    return f"{PREFIX}:sim:ff:{subject}"
