"""No phone number in the clear anywhere, every key expires unless it must persist, and the only
statistics are anonymous counts: checked over a whole life with the helpline (texts in two
languages, a check-in sent by a real `python worker.py --burst` after a 429 that quotes the
number, its delivery report, a call that asks for a text, STOP, and a few other people).

One such life is lived once for the module (it takes seconds); each test reads its traces.
"""
from __future__ import annotations

import io
import logging
import re

import pytest
import redis

from bot import create_app

from bot.ops import logs as web_logging
from bot.config import Settings
from bot.storage.store import LANGUAGE_TTL, RATE_TTL, STATS_TTL
from bot.checkins.subscriptions import MARKER_TTL, OPEN_TTL, SID_TTL
from bot.storage.tombstone import GONE_TTL
from bot.storage.keys import inbox_open_key
from tests.conftest import Texter, make_settings, run_worker
from tests.test_privacy import FERNET, NUMBER, in_clear, life, post_status, snapshot, ties
from tests.twilio_server import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio

DAY = 86400
OTHERS = ["+16125557350", "+16125557351", "+16125557352"]


class Records(logging.Handler):
    """Every log record as the code wrote it, before any handler masks it."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        self.lines.append(text)


@pytest.fixture(scope="module")
def lived(redis_url):
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    root = logging.getLogger()
    raw, shown = Records(), io.StringIO()
    handler = web_logging.build_handler("json", shown)
    level = root.level
    root.handlers.insert(0, raw)  # sees each record before the masking filter rewrites it
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        with FakeTwilio() as fake:
            env = {"REDIS_URL": redis_url, "HELPLINE_ENV": "test", "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                   "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_FROM_NUMBER": "+16125550100",
                   "TWILIO_API_BASE_URL": fake.base_url, "PUBLIC_BASE_URL": "https://help.example.org",
                   "QUIET_HOURS_START": "0", "QUIET_HOURS_END": "0", "SEND_RATE_PER_SECOND": "50",
                   "INBOX_HOURS": "daily 00:00-24:00"}
            app = create_app(make_settings(redis_url, **env))
            traces = life(app, env, fake, NUMBER)
            for n, number in enumerate(OTHERS):
                texter = Texter(app.test_client(), number)
                for body in ("hola", "1", "naloxone", "0", "4")[: 2 + n]:
                    texter.send(body)
            traces["logs"].append(inbox_life(app, env, fake))
            Texter(app.test_client(), OTHERS[0]).send("STOP")
            forgotten = Texter(app.test_client(), OTHERS[2])
            forgotten.send("BORRAR")
            assert "borramos" in forgotten.send("SI")
            yield {"app": app, "snap": snapshot(client), "worker_logs": traces["logs"],
                   "raw_logs": raw.lines, "shown_logs": shown.getvalue()}
    finally:
        root.removeHandler(raw)
        root.removeHandler(handler)
        root.setLevel(level)
        client.flushdb()
        client.close()


def inbox_life(app, env: dict, fake) -> str:
    """A ticket whose texts quote the person's own number, a staff reply sent by the worker and
    its delivery report; and a ticket of the person who then sends BORRAR."""
    person = Texter(app.test_client(), OTHERS[1])
    person.send("talk to a person")
    person.send("YES")
    d = OTHERS[1][-10:]
    assert person.send(f"my number is {OTHERS[1]}, or ({d[:3]}) {d[3:6]}-{d[6:]}") == ""
    inbox, helpline = app.config["HELPLINE"].extras["inbox"], app.config["HELPLINE"]
    n = int(helpline.redis.get(inbox_open_key(helpline.vault.subject(OTHERS[1]))).split(b"|")[0])
    assert inbox.desk.claim("ada", n).ok and inbox.desk.reply("ada", n, "Hi, I am here.").ok
    logs = run_worker(env).stderr
    [sent] = [m for m in fake.messages if m.form["To"] == OTHERS[1]]
    post_status(app, sent.sid, "delivered")
    erased = Texter(app.test_client(), OTHERS[2])
    erased.send("hablar con una persona")
    erased.send("SI")
    assert erased.send("mi numero es " + OTHERS[2]) == ""
    return logs


# --- retention: every key the service writes, how long it lives, and why -------------------------
# (pattern, longest TTL in seconds or PERSISTS, what it holds). A key that matches no row fails
# the test: a new kind of key needs a row here and in the README's privacy section.
PERSISTS = None
SESSION, DEDUPE = Settings.session_ttl, Settings.dedupe_ttl
INBOX_DAYS = Settings.inbox_retention_days * DAY
REMINDER_TTL = 9 * DAY  # bot/reminders/ledger.py RECORD_TTL: the furthest reminder (7 days) + 2 days
RETENTION = [
    (r"hl:s:{S}", SESSION, "where the person is in the menu (refreshed by each message)"),
    (r"hl:m:{T}", DEDUPE, "the reply to one message, for Twilio's retries of it"),
    (r"hl:mi:{S}", DEDUPE, "which of those replies are this person's (for FORGET)"),
    (r"hl:rate:{S}:\d+", RATE_TTL, "messages this minute (inbound rate limit)"),
    (r"hl:lang:{S}", LANGUAGE_TTL, "the language last used"),
    (r"hl:optout:{S}", PERSISTS, "STOP: kept until START or FORGET, so no text goes out"),
    (r"hl:call:{T}", SESSION, "where a caller is in the phone menu"),
    (r"hl:calls:{S}", SESSION, "which call records are this person's (for FORGET)"),
    (r"hl:ci:sub:{S}", PERSISTS, "a check-in subscription and its encrypted number (90 days "
                                 "after it stops, without the number)"),
    (r"hl:ci:(due|lease)", PERSISTS, "the check-in schedule: keyed hash -> next send time"),
    (r"hl:ci:sent:{S}:[\w-]+", MARKER_TTL, "one check-in slot was sent (exactly once)"),
    (r"hl:ci:sids?:{S}|hl:ci:sid:SM\w+", SID_TTL, "the last check-ins' message ids, for status "
                                                   "callbacks"),
    (r"hl:ci:open:{S}", OPEN_TTL, "a check-in went out: the first reply answers it"),
    (r"hl:ci:(jobs:{S}|batch:[\w-]+)", MARKER_TTL, "the send jobs of a person's check-ins"),
    (r"hl:rm:({S}|open:{S}|sent:{S}:.+)", REMINDER_TTL, "reminders the person asked for"),
    (r"hl:ob:sent:{S}:voice-text-{T}", 7 * DAY, "a call's 'text me this' was sent (exactly once)"),
    (r"hl:gone:{S}", GONE_TTL, "FORGET's tombstone: work planned before it writes nothing"),
    (r"hl:ob:sent:{S}:inbox-\d+-\d+", 7 * DAY, "an inbox reply or notice was sent (exactly once)"),
    (r"hl:ib:(t|msgs):\d+", INBOX_DAYS, "an inbox ticket and its thread (texts encrypted)"),
    (r"hl:ib:(open|p):{S}", INBOX_DAYS, "the person's open ticket and their tickets (for FORGET)"),
    (r"hl:ib:sid:SM\w+", INBOX_DAYS, "an inbox reply's message id, for its delivery report"),
    (r"hl:ib:all", INBOX_DAYS, "the ticket numbers still kept, by when they opened"),
    (r"hl:ib:alerts", 7 * DAY, "tickets taken back from a silent claim (admins)"),
    (r"hl:ib:typical", 8 * DAY, "the median first-reply time of the last week"),
    (r"hl:ib:(stats|wait|first):\d{4}-\d\d-\d\d", STATS_TTL, "the inbox's anonymous figures per day"),
    (r"hl:staff:audit", PERSISTS, "the console's audit log (staff names and actions, never a "
                                  "texter; entries kept 400 days)"),
    (r"hl:ib:(seq|channel|version)", PERSISTS, "the last ticket number; the events channel's "
                                               "random name; the change counter"),
    (r"hl:(ci:)?stats:\d{4}-\d\d-\d\d", STATS_TTL, "anonymous counts per screen/event per day"),
    (r"hl:stats:\d{4}-\d\d-\d\d:moves", STATS_TTL, "anonymous counts of moves between screens"),
    (r"hl:usage:\d{4}-\d\d-\d\d", STATS_TTL, "the console's anonymous daily counts"),
    (r"hl:metrics:sends|hl:dispatch:last", PERSISTS, "anonymous send totals; last dispatch time"),
    (r"hl:outbound:bucket", 3600, "the shared send rate (seconds of debt)"),
    (r"rq:job:inbox-(unclaimed|silent|idle|wake)-[\d-]+", 30 * DAY, "an inbox timer waiting for "
     "its time (at most staffed hours' next start + INBOX_IDLE_HOURS + a day)"),
    (r"hl:aof:(next|last)", 3 * 3600, "when the append-only file is rewritten after FORGET "
                                      "(times only)"),
    (r"rq:(job|results):[\w-]+", 7 * DAY, "finished (1 h / 24 h) and failed (7 days) jobs; "
                                          "waiting ones keep no TTL until they run"),
    (r"rq:worker:\w+", 600, "a worker's heartbeat"),
    (r"rq:(queues|workers(:.+)?|queue:[\w:]+|(finished|failed|scheduled|deferred|canceled|wip)"
     r":[\w-]+)", PERSISTS, "RQ's own lists of queues, workers and job ids"),
]
_RULES = [(re.compile(p.replace("{S}", "[0-9a-f]{32}").replace("{T}", "[0-9a-f]{32}") + "$"),
           ttl, why) for p, ttl, why in RETENTION]


def rule_for(key: str):
    return next(((ttl, why) for pattern, ttl, why in _RULES if pattern.match(key)), None)


def test_every_key_expires_unless_its_kind_must_persist(lived):
    unlisted = [k for k in lived["snap"] if rule_for(k) is None]
    assert unlisted == [], "keys the retention table (and the README) does not describe"
    for key, entry in lived["snap"].items():
        longest, why = rule_for(key)
        if longest is PERSISTS:
            continue
        assert 0 <= entry.ttl <= longest, (key, entry.ttl, why)
    persistent = {k for k, e in lived["snap"].items() if e.ttl == -1}
    assert {k.split(":")[1] for k in persistent if k.startswith("hl:")} <= {
        "optout", "ci", "metrics", "dispatch", "ib", "staff"}
    assert any(k.startswith("hl:optout:") for k in persistent)  # OTHERS[0] sent STOP


# --- no number in the clear: Redis (every type, RQ payloads decoded), logs, job results ------------
def test_no_number_in_the_clear_in_any_key_value_or_job_payload(lived):
    snap = lived["snap"]
    for number in [NUMBER] + OTHERS:
        assert [k for k, e in snap.items() if any(in_clear(t, number) for t in e.texts)] == []
    jobs = [e for k, e in snap.items() if k.startswith("rq:job:voice-text-")]
    assert jobs and any(FERNET.search(t) for t in jobs[0].texts)  # decoded: the number sealed
    subs = [e for k, e in snap.items() if k.startswith("hl:ci:sub:")]
    assert subs and any(FERNET.search(t) for t in subs[0].texts)


def test_no_number_in_the_clear_in_any_log_line(lived):
    worker = "\n".join(lived["worker_logs"])
    for text in (worker, lived["shown_logs"], "\n".join(lived["raw_logs"])):
        assert text.strip()
        for number in [NUMBER] + OTHERS:
            assert not in_clear(text, number), [line for line in text.splitlines()
                                                if in_clear(line, number)]
    assert "+1******7341" in worker  # the 429 from Twilio was logged, the number masked


# --- statistics: anonymous counts only ------------------------------------------------------
def test_the_only_statistics_are_anonymous_counts_per_screen_and_day(lived):
    snap, helpline = lived["snap"], lived["app"].config["HELPLINE"]
    words = set(helpline.flow.nodes) | {"sent", "already_sent", "retried", "skipped", "failed"}
    counters = [k for k in snap if re.match(r"hl:(ci:)?stats:[\d-]+$|hl:metrics:sends", k)]
    assert len(counters) == 3
    [moves] = [k for k in snap if k.endswith(":moves")]   # screen to screen, for the flow map
    assert all(re.fullmatch(rb"[a-z_0-9]+>[a-z_0-9]+", f) and set(f.decode().split(">")) <= words
               for f in helpline.redis.hkeys(moves))
    for key in counters:
        counts = helpline.redis.hgetall(key)  # name -> count: screens, events, send results
        assert all(re.fullmatch(rb"[a-z][a-z_0-9]*", f) and v.isdigit() for f, v in counts.items())
    inbox = [k for k in snap if re.match(r"hl:ib:(stats|wait|first):", k)]
    assert len(inbox) == 3  # tickets opened, closed...; waits; first replies: numbers only
    for key in inbox:
        entry = snap[key]
        if entry.kind == "hash":
            assert all(re.fullmatch(rb"[a-z][a-z_0-9]*", f) and v.isdigit()
                       for f, v in helpline.redis.hgetall(key).items())
        else:
            assert all(re.fullmatch(rb"\d{1,2}:\d+", v) for v in helpline.redis.lrange(key, 0, -1))
    stats = helpline.store.visits(next(k for k in counters if k.startswith("hl:stats:"))[9:])
    assert set(stats) <= words and sum(stats.values()) >= 20
    metrics = lived["app"].test_client().get("/metrics").get_data(as_text=True)
    for number in [NUMBER] + OTHERS:
        assert not in_clear(metrics, number) and helpline.vault.subject(number) not in metrics


def test_the_person_who_sent_borrar_left_nothing(lived):
    vault = lived["app"].config["HELPLINE"].vault
    # Only FORGET's tombstone: the keyed hash and the erasure's id, for GONE_TTL.
    assert ties(lived["snap"], vault, OTHERS[2]) == [f"hl:gone:{vault.subject(OTHERS[2])}"]
    assert any("erased a person on their request" in line for line in lived["raw_logs"])


def test_nothing_else_accumulates_per_person(lived):
    """What names a person is their own keys (bounded, expiring) and the check-in schedule."""
    snap, vault = lived["snap"], lived["app"].config["HELPLINE"].vault
    subjects = {vault.subject(n) for n in [NUMBER] + OTHERS}
    for key, entry in snap.items():
        named_in_values = [s for s in subjects if any(s in t for t in entry.texts[1:])]
        if named_in_values and not any(s in key for s in subjects):
            assert re.match(r"hl:ci:(due|lease|sid:|batch:)", key), key
