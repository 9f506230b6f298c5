"""Every Redis key name the helpline writes, in one place, by family.

Keys hold keyed hashes (bot.privacy.vault.Vault.subject), never phone numbers. The families:
`hl:s/m/optout/lang/rate/mi/calls/call/stats` conversations and calls (bot/storage/store.py),
`hl:gone` FORGET's tombstones (bot/storage/tombstone.py),
`hl:ci:*` check-in subscriptions (bot/checkins/subscriptions.py), `hl:rm:*` one-time reminders
(bot/reminders/ledger.py), `hl:ib:*` the staffed text inbox (bot/inbox/); RQ's own keys (`rq:*`)
are RQ's. docs/architecture.md has the table.
"""
from __future__ import annotations

# --- conversations, calls, counts (bot/storage/store.py) ------------------------------------
PREFIX = "hl"


def session_key(subject: str) -> str:
    return f"{PREFIX}:s:{subject}"


def dedupe_key(token: str) -> str:
    return f"{PREFIX}:m:{token}"


def optout_key(subject: str) -> str:
    return f"{PREFIX}:optout:{subject}"


def language_key(subject: str) -> str:
    return f"{PREFIX}:lang:{subject}"


def stats_key(day: str) -> str:
    return f"{PREFIX}:stats:{day}"


def moves_key(day: str) -> str:
    """Anonymous daily counts of moves between screens ("from>to"), for the flow map's arrows."""
    return f"{PREFIX}:stats:{day}:moves"


def rate_key(subject: str, window: int) -> str:
    """Messages from one person in one clock minute (bot/channels/limits.py), gone two minutes later."""
    return f"{PREFIX}:rate:{subject}:{window}"


def replies_key(subject: str) -> str:
    """The person's dedupe tokens, so FORGET can find the replies kept under MessageSid hashes."""
    return f"{PREFIX}:mi:{subject}"


def calls_key(subject: str) -> str:
    """The person's call tokens, so FORGET can find call records kept under CallSid hashes."""
    return f"{PREFIX}:calls:{subject}"


def call_key(token: str) -> str:
    """One phone call's place in the menu, keyed by Vault.token(CallSid), never the number."""
    return f"{PREFIX}:call:{token}"


def gone_key(subject: str) -> str:
    """FORGET's tombstone (bot/storage/tombstone.py): the erasure's id, for a few days."""
    return f"{PREFIX}:gone:{subject}"


DISPATCH_KEY = f"{PREFIX}:dispatch:last"  # when the check-in dispatcher last ran (ISO time)
SENDS_KEY = f"{PREFIX}:metrics:sends"  # outbound texts by result, summed over every worker
OUTBOUND_RATE_KEY = f"{PREFIX}:outbound:bucket"  # bot/storage/ratelimit.py: the send rate all workers share
# After FORGET (bot/privacy/compaction.py): when the booked append-only-file rewrite runs, and
# when the last one ran (times only, never who).
AOF_NEXT_KEY = f"{PREFIX}:aof:next"
AOF_LAST_KEY = f"{PREFIX}:aof:last"


# --- check-in subscriptions (bot/checkins/subscriptions.py) ---------------------------------
CHECKIN_PREFIX = "hl:ci"
CHECKIN_DUE_KEY = f"{CHECKIN_PREFIX}:due"
CHECKIN_LEASE_KEY = f"{CHECKIN_PREFIX}:lease"


def checkin_sub_key(subject: str) -> str:
    return f"{CHECKIN_PREFIX}:sub:{subject}"


def checkin_marker_key(subject: str, slot: str) -> str:
    return f"{CHECKIN_PREFIX}:sent:{subject}:{slot}"


def checkin_sid_key(sid: str) -> str:
    return f"{CHECKIN_PREFIX}:sid:{sid}"


def checkin_sids_key(subject: str) -> str:
    return f"{CHECKIN_PREFIX}:sids:{subject}"


def checkin_jobs_key(subject: str) -> str:
    return f"{CHECKIN_PREFIX}:jobs:{subject}"


def checkin_open_key(subject: str) -> str:
    return f"{CHECKIN_PREFIX}:open:{subject}"


def checkin_outbox_key(subject: str) -> str:
    return f"{CHECKIN_PREFIX}:outbox:{subject}"


def checkin_stats_key(day: str) -> str:
    return f"{CHECKIN_PREFIX}:stats:{day}"


def checkin_batch_key(batch: str) -> str:
    """The subjects a batch send job still has to text (bot/checkins/dispatch.py); the job names nobody."""
    return f"{CHECKIN_PREFIX}:batch:{batch}"


# --- one-time reminders (bot/reminders/ledger.py) ---------------------------------------------
REMINDER_PREFIX = "hl:rm"


def reminder_record_key(subject: str) -> str:
    return f"{REMINDER_PREFIX}:{subject}"


def reminder_open_key(subject: str) -> str:
    return f"{REMINDER_PREFIX}:open:{subject}"


def reminder_marker_key(subject: str, slot: str) -> str:
    return f"{REMINDER_PREFIX}:sent:{subject}:{slot}"


# --- other outbound texts: "text me this" (bot/outbound/markers.py) ---------------------------
OUTBOUND_PREFIX = "hl:ob"


def outbound_marker_key(subject: str, slot: str) -> str:
    """Under the person's keyed hash, so FORGET finds and erases them."""
    return f"{OUTBOUND_PREFIX}:sent:{subject}:{slot}"


# --- naloxone sites, managed in the console (bot/places/registry.py, reports.py) --------------
PLACES_PREFIX = "hl:places"


def sites_key(region: str) -> str:
    """The region's live sites: a hash of site id -> JSON record (the system of record)."""
    return f"{PLACES_PREFIX}:{region}:sites"


def sites_version_key(region: str) -> str:
    """Bumped at every change of the live sites; each process reloads its copy when it moves."""
    return f"{PLACES_PREFIX}:{region}:version"


def site_proposals_key(region: str) -> str:
    """Staged changes waiting for review: proposal id -> JSON (who, what, the new record)."""
    return f"{PLACES_PREFIX}:{region}:proposals"


def site_history_key(region: str, site_id: str) -> str:
    """Every change of one site, newest first: who, when, which fields from what to what."""
    return f"{PLACES_PREFIX}:{region}:history:{site_id}"


def site_reports_key(region: str) -> str:
    """Texters' "WRONG B" reports waiting for review: report id -> JSON (site, day, language)."""
    return f"{PLACES_PREFIX}:{region}:reports"


def places_seq_key(region: str) -> str:
    """Numbers for proposals and reports."""
    return f"{PLACES_PREFIX}:{region}:seq"


# --- content and flows reloaded without a restart (bot/ops/reload.py) --------------------------
CONTENT_VERSION_KEY = "hl:content:version"  # bumped by the console's "Reload"; processes follow
CONTENT_RELOAD_KEY = "hl:content:reloaded"  # hash: version, who, when (shown in the console)


def site_import_key(region: str, staff: str) -> str:
    """An HSDS import read in the console, waiting for its author to stage it (an hour)."""
    return f"{PLACES_PREFIX}:{region}:import:{staff}"


# --- the staffed text inbox (bot/inbox/tickets.py, events.py, figures.py) ---------------------
# Tickets are numbered; a ticket's keys hold its number, never the person's keyed hash (the
# encrypted number inside says whom to text). Only the open pointer and the person's ticket list
# are keyed by the hash, so FORGET finds them. Message texts are encrypted (Vault.seal).
INBOX_PREFIX = "hl:ib"
INBOX_SEQ_KEY = f"{INBOX_PREFIX}:seq"          # the last ticket number given
INBOX_ALL_KEY = f"{INBOX_PREFIX}:all"          # sorted set: ticket number -> opened at
INBOX_TYPICAL_KEY = f"{INBOX_PREFIX}:typical"  # median first-reply seconds, last 7 days (5+)
INBOX_ALERTS_KEY = f"{INBOX_PREFIX}:alerts"    # tickets taken back from a silent claim (admins)
INBOX_CHANNEL_KEY = f"{INBOX_PREFIX}:channel"  # a random name for this database's events channel
INBOX_VERSION_KEY = f"{INBOX_PREFIX}:version"  # bumped at every change the console should show


def inbox_ticket_key(ticket: int | str) -> str:
    return f"{INBOX_PREFIX}:t:{ticket}"


def inbox_messages_key(ticket: int | str) -> str:
    """The ticket's thread: the person's texts, replies, notes and events, texts encrypted."""
    return f"{INBOX_PREFIX}:msgs:{ticket}"


def inbox_open_key(subject: str) -> str:
    """The person's open ticket ("number|language"), read with every message they send."""
    return f"{INBOX_PREFIX}:open:{subject}"


def inbox_person_key(subject: str) -> str:
    """Every ticket of the person still kept, so FORGET erases closed ones too."""
    return f"{INBOX_PREFIX}:p:{subject}"


def inbox_sid_key(sid: str) -> str:
    """A reply's MessageSid -> "ticket:message", for its delivery reports."""
    return f"{INBOX_PREFIX}:sid:{sid}"


def inbox_stats_key(day: str) -> str:
    """Anonymous counts of one local day: opened, handled, abandoned, urgent, opened by hour."""
    return f"{INBOX_PREFIX}:stats:{day}"


def inbox_samples_key(kind: str, day: str) -> str:
    """Seconds waited ("wait") or to a first reply ("first"): one entry a ticket, with its hour."""
    return f"{INBOX_PREFIX}:{kind}:{day}"


def inbox_channel(name: str) -> str:
    """Redis pub/sub channels are shared by every database of a server: the name is random per
    database (INBOX_CHANNEL_KEY), so two helplines on one server never hear each other."""
    return f"{INBOX_PREFIX}:events:{name}"
