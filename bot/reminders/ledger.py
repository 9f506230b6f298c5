"""Reminders in Redis: the ONLY module that knows reminder key names (hl:rm:...), and the host
side of bot/reminders/flow.py: Context facts, writes in each step's transaction, scheduling with
RQ's scheduler, cancelling, FORGET, and the text a reminder sends.

A person's reminders are one hash (record_key), one field per reminder: what to send (a content
key and its parameters, never prose), when (UTC), and the number, encrypted, because the person
need not be a check-in subscriber; the field goes when the reminder is sent or cancelled. Each
is one RQ job in the scheduled registry, written in the same MULTI as the record. Its id comes
from Vault.token over the person's keyed hash, the reminder and its time, so a repeated YES or a
retried webhook schedules one job; its payload is the keyed hash and the reminder id only
(bot/reminders/jobs.py sends it through bot/outbound/delivery.py's exactly-once send, with a Ledger).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime

import jinja2
import redis
from rq import Queue
from rq.job import Job, JobStatus

from bot.understanding import when
from bot.checkins.rules import Rules
from bot.conversation.content import Content, ContentError, segments
from bot.storage.facts import Facts
from bot.checkins.dispatch import FAILURE_TTL, RESULT_TTL, SEND_QUEUE, SEND_TIMEOUT
from bot.conversation.engine import Reply
from bot.reminders.checks import offer_problems
from bot.reminders.flow import CANCEL, CHECK_KEY, SET, reminder_event
from bot.storage.keys import reminder_record_key as record_key, reminder_open_key as open_key, reminder_marker_key as marker_key, REMINDER_PREFIX as PREFIX
from bot.outbound.markers import RELEASE
from bot.storage.keys import gone_key, optout_key
from bot.storage.tombstone import Tombstones, guarded

JOB = "bot.reminders.jobs.send_reminder"  # by name: the web process never imports worker code
RECORD_TTL = int(when.MAX_AHEAD.total_seconds()) + 2 * 86400  # outlives the furthest reminder
OPEN_TTL = 86400  # the first reply within a day answers the check ("Reply 1 all OK, 2 need help")
MAX_SEGMENTS = 3


@dataclass(frozen=True)
class Reminder:
    """One reminder as stored; `num` is the encrypted number and never leaves this module."""

    rid: str
    kind: str
    node: str
    key: str
    at: float
    job: str
    what: str = ""
    locale: str = "en"
    moved: bool = False
    params: dict = field(default_factory=dict)
    keep: dict = field(default_factory=dict)
    num: str = ""
    named: bool = False  # the person named the time: sent then, quiet hours or not
    epoch: str = ""  # the person's FORGET tombstone when it was booked (bot/storage/tombstone.py)

    @property
    def slot(self) -> str:
        """The send marker's name: a new time is a new send."""
        return f"{self.rid}-{int(self.at)}"

    def facts(self) -> dict:
        """What the engine may know (Context.reminders): never the number or the parameters."""
        return {"rid": self.rid, "kind": self.kind, "key": self.key, "at": self.at,
                "moved": self.moved, "what": self.what, "job": self.job}

    def dumps(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if k != "rid"})

    @classmethod
    def loads(cls, rid, raw) -> "Reminder | None":
        try:
            return cls(rid=_text(rid), **json.loads(raw))
        except (TypeError, ValueError):
            return None


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# Claim a send marker (compare-and-set) only while the reminder is still wanted from this job:
# not cancelled, rescheduled or forgotten, and the person has not opted out or been erased
# since it was booked (the tombstone, the last key; the record's epoch, the last argument).
# -1: not wanted.
_CLAIM = guarded("""
if redis.call('EXISTS', KEYS[3]) == 1 then return -1 end
local raw = redis.call('HGET', KEYS[2], ARGV[4])
if not raw or cjson.decode(raw)['job'] ~= ARGV[5] then return -1 end
local cur = redis.call('GET', KEYS[1])
if not ((cur == false and ARGV[1] == '') or cur == ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1""")
# Sent or refused for good: the record goes; a check opens replies, unless the person was
# erased since it was booked. KEYS: record, open key, tombstone. ARGV: rid, kind, ttl, epoch.
_DONE = """
redis.call('HDEL', KEYS[1], ARGV[1])
local gone = redis.call('GET', KEYS[3])
if (gone and gone ~= ARGV[4]) or ARGV[2] ~= 'check' then return 0 end
redis.call('SET', KEYS[2], 'check', 'EX', ARGV[3])
return 1"""


class Ledger:
    """bot/outbound/delivery.py's pending/sent markers for one reminder (the check-ins' approach), with
    the claim refused once the reminder is no longer wanted: a STOP during the rate wait wins."""

    def __init__(self, reminders: "Reminders", record: Reminder):
        self.reminders, self.record = reminders, record

    def marker(self, subject: str, slot: str) -> str | None:
        raw = self.reminders.redis.get(marker_key(subject, slot))
        return _text(raw) if raw is not None else None

    def claim(self, subject: str, slot: str, value: str, previous: str | None,
              owner: str | None = None, epoch: str = "") -> int:
        keys = [marker_key(subject, slot), record_key(subject), optout_key(subject),
                gone_key(subject)]
        args = [previous or "", value, RECORD_TTL, self.record.rid, self.record.job,
                self.record.epoch]
        return int(self.reminders.claim_script(keys=keys, args=args))

    def release(self, subject: str, slot: str, value: str) -> None:
        self.reminders.release_script(keys=[marker_key(subject, slot)], args=[value])

    def sent(self, subject: str, slot: str, sid: str, epoch: str = "") -> None:
        self.reminders.tombstones.set(subject, self.record.epoch, marker_key(subject, slot),
                                      f"sent:{sid}", RECORD_TTL)


class Reminders:
    """Reads and writes of reminders; methods taking `pipe` join the caller's transaction."""

    def __init__(self, client: redis.Redis, vault, content: Content, rules: Rules):
        self.redis, self.vault, self.content, self.rules = client, vault, content, rules
        self.queue = Queue(SEND_QUEUE, connection=client)
        self.claim_script = client.register_script(_CLAIM)
        self.release_script = client.register_script(RELEASE)
        self.done_script = client.register_script(_DONE)
        self.tombstones = Tombstones(client)

    # --- reading ---------------------------------------------------------------------------
    def all(self, subject: str) -> list[Reminder]:
        raw = self.redis.hgetall(record_key(subject))
        return [r for r in (Reminder.loads(k, v) for k, v in raw.items()) if r is not None]

    def load(self, subject: str, rid: str) -> Reminder | None:
        raw = self.redis.hget(record_key(subject), rid)
        return Reminder.loads(rid, raw) if raw is not None else None

    def context_reads(self, subject: str) -> tuple[tuple[str, str], ...]:
        """The reads behind Context.reminders, made in the step's own round trip."""
        return ("HGETALL", record_key(subject)), ("GET", open_key(subject))

    def context_from(self, subject: str, results: list) -> dict:
        """Context.reminders for one incoming message from what context_reads read."""
        raw, is_open = results
        found = [r for r in (Reminder.loads(k, v) for k, v in raw.items()) if r is not None]
        return {"reminders": {"list": [r.facts() for r in found],
                              "open": _text(is_open) if is_open else None}}

    # --- inside the step's transaction -----------------------------------------------------
    def write(self, pipe, subject: str, number: str, outcome, ctx) -> None:
        """Any message answers (or moves past) the check; events set or cancel reminders."""
        pipe.delete(open_key(subject))
        listed = {r["rid"]: r for r in (ctx.reminders or {}).get("list") or []}
        for event in outcome.events:
            if event.name == SET:
                self.set(pipe, subject, number, event.data, listed, ctx.epoch)
            elif event.name in (CANCEL, "opt_out"):  # CANCEL and STOP are opt-out words too
                self.cancel_all(pipe, subject, [r["job"] for r in listed.values()])

    def set(self, pipe, subject: str, number: str, data: dict, listed: dict,
            epoch: str = "") -> Reminder:
        """Record one reminder and schedule its job; the same reminder again replaces it.
        `epoch`: the person's FORGET tombstone now, so an erasure after this wins over it."""
        rid = self.vault.token(f"reminder:{subject}:{data['what']}")
        at = float(data["at"])
        old = listed.get(rid)
        record = Reminder(rid, data["kind"], data["node"], data["key"], at,
                          "reminder-" + self.vault.token(f"{rid}:{int(at)}"), data["what"],
                          data["locale"], bool(data["moved"]), dict(data["params"]),
                          dict(data["keep"]), self.vault.encrypt(number),
                          bool(data.get("named")), epoch)
        if old and old["job"] != record.job:
            self.unschedule(pipe, old["job"])
        pipe.hset(record_key(subject), rid, record.dumps())
        pipe.expire(record_key(subject), RECORD_TTL)
        self._schedule(pipe, subject, record)
        return record

    def _schedule(self, pipe, subject: str, record: Reminder) -> None:
        """The job and its registry entry in the caller's MULTI (RQ's own schedule_job writes
        the registry entry outside a pipeline, before the job exists)."""
        job = self.queue.create_job(JOB, args=(subject, record.rid), job_id=record.job,
                                    status=JobStatus.SCHEDULED, timeout=SEND_TIMEOUT,
                                    result_ttl=RESULT_TTL, failure_ttl=FAILURE_TTL,
                                    description="reminder")
        pipe.sadd(self.queue.redis_queues_keys, self.queue.key)
        pipe.delete(job.key)
        job.save(pipeline=pipe)
        pipe.zadd(self.queue.scheduled_job_registry.key, {job.id: int(record.at)})

    def unschedule(self, pipe, job_id: str) -> None:
        """Remove a job not yet running (a running one finds its reminder gone and stops)."""
        if _text(self.redis.hget(Job.key_for(job_id), "status") or b"") == JobStatus.STARTED:
            return
        pipe.zrem(self.queue.scheduled_job_registry.key, job_id)
        pipe.lrem(self.queue.key, 0, job_id)
        pipe.delete(Job.key_for(job_id))

    def cancel_all(self, pipe, subject: str, job_ids: list[str]) -> None:
        for job_id in job_ids:
            self.unschedule(pipe, job_id)
        pipe.delete(record_key(subject))

    # --- a phone call's "press 7" ----------------------------------------------------------
    def from_call(self, number: str, remind: dict, now: datetime) -> Reminder:
        """Tomorrow morning's text of the screen the caller heard; a retried webhook books one."""
        subject = self.vault.subject(number)
        event = reminder_event("screen", remind["node"], remind["key"], remind.get("params") or {},
                               {}, remind["locale"], when.default(now, self.rules.tz), self.rules)
        listed = {r.rid: r.facts() for r in self.all(subject)}
        pipe = self.redis.pipeline()
        record = self.set(pipe, subject, number, event.data, listed,
                          self.tombstones.epoch(subject))
        pipe.execute()
        return record

    # --- sending (bot/reminders/jobs.py) ----------------------------------------------------
    def compose(self, record: Reminder) -> str:
        """The check, or the screen the person asked for under a one-line header."""
        if record.kind == "check":
            return self.content.render(CHECK_KEY, record.locale)
        header = self.content.render("reminders.header", record.locale)
        return header + "\n" + self.content.render(record.key, record.locale, "sms", record.params)

    def reschedule(self, subject: str, record: Reminder, at: datetime) -> bool:
        """Quiet hours began while it waited: the same reminder, later (a new job and time).
        Under WATCH: not if it was cancelled, moved or erased meanwhile (False)."""
        moved = replace(record, at=at.timestamp(), job="reminder-" + self.vault.token(
            f"{record.rid}:{int(at.timestamp())}"))

        def move(pipe) -> bool:
            now = pipe.hget(record_key(subject), record.rid)
            gone = _text(pipe.get(gone_key(subject)) or b"")
            pipe.multi()
            if now is None or (gone and gone != record.epoch) or (
                    json.loads(now).get("job") != record.job):
                return False
            pipe.hset(record_key(subject), record.rid, moved.dumps())
            self._schedule(pipe, subject, moved)
            return True

        return self.redis.transaction(move, record_key(subject), gone_key(subject),
                                      value_from_callable=True)

    def done(self, subject: str, record: Reminder) -> None:
        """Sent (or refused for good): the record and its number go; a check opens replies."""
        self.done_script(keys=[record_key(subject), open_key(subject), gone_key(subject)],
                         args=[record.rid, record.kind, OPEN_TTL, record.epoch])

    # --- FORGET ----------------------------------------------------------------------------
    def forget(self, subject: str) -> int:
        """Erase every reminder of one person, with its scheduled job, markers and open reply."""
        records = self.all(subject)
        pipe = self.redis.pipeline()
        for record in records:
            self.unschedule(pipe, record.job)
        keys = [record_key(subject), open_key(subject)]
        keys += list(self.redis.scan_iter(match=marker_key(subject, "*"), count=500))
        pipe.delete(*keys)
        return int(pipe.execute()[-1]) + len(records)


def say(content: Content):
    """Jinja global say(key, **params): another entry in the template's own language and
    channel, so a time is worded once per language (reminders.when)."""
    @jinja2.pass_context
    def render(context, entry: str, /, **params) -> str:
        return content.render(entry, context.get("locale") or content.default,
                              context.get("channel") or "sms", params)
    return render


def fitter(content: Content):
    """fits(replies, locale): the replies joined as one text stay within MAX_SEGMENTS and within
    the smallest budget among them, so an offer never pushes an emergency update (2 segments)
    to 3: it waits for a reply with room (issue 24)."""
    def fits(replies: tuple[Reply, ...], locale: str) -> bool:
        try:
            text = "\n\n".join(content.render(r.key, locale, "sms", r.params) for r in replies)
        except ContentError:  # e.g. no short form of an offer in this content: it does not fit
            return False
        budget = min([MAX_SEGMENTS] + [content.entry(r.key, locale).max_segments for r in replies])
        return segments(text).count <= budget
    return fits


def install(helpline) -> Reminders:
    """Wire reminders into a built helpline (bot/helpline.py calls this once per process)."""
    reminders = Reminders(helpline.redis, helpline.vault, helpline.content,
                          Rules.from_settings(helpline.settings))
    helpline.conversations.context_facts.append(
        Facts(reminders.context_reads, reminders.context_from))
    helpline.conversations.tx_writes.append(reminders.write)
    helpline.content.env.globals["say"] = say(helpline.content)
    helpline.extras.setdefault("forgetters", []).append(reminders.forget)
    helpline.extras.setdefault("content_checks", []).append(offer_problems)
    helpline.extras["reminders"] = reminders
    return reminders
