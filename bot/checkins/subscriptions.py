"""Check-in subscriptions in Redis: every read and write of check-in state goes through here.

Their key names (`hl:ci:*`) sit with all the others in bot/storage/keys.py; the Lua beside them
in bot/checkins/scripts.py. A
subscription is a hash keyed by the person's keyed hash (Vault.subject); the number is kept
only encrypted (Vault.encrypt) and dropped as soon as check-ins stop. `hl:ci:due` is a sorted
set of subject -> next send time, so the dispatcher's work grows with the number due, not
with the number of subscribers; `hl:ci:lease` holds the check-ins handed to a worker and not
yet settled, so a worker killed mid-batch loses nothing (bot/checkins/jobs.py re-sends expired leases).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

import redis
from rq.exceptions import NoSuchJobError
from rq.job import Job

from bot.checkins.rules import FAILURES_TO_HOLD, HELD, Plan, Subscription, text as _text
from bot.storage.keys import (  # noqa: F401  (re-exported)
    checkin_sub_key as sub_key, checkin_marker_key as marker_key, checkin_sid_key as sid_key, checkin_sids_key as sids_key, checkin_jobs_key as jobs_key, checkin_open_key as open_key, checkin_outbox_key as outbox_key, checkin_stats_key as stats_key, checkin_batch_key as batch_key, CHECKIN_PREFIX as PREFIX, CHECKIN_DUE_KEY as DUE_KEY, CHECKIN_LEASE_KEY as LEASE_KEY)
from bot.storage.lane import lane_for
from bot.privacy.vault import Vault
from bot.storage.store import count_daily
from bot.checkins.scripts import CAS, CLAIM, DISPATCHED, FIELD_IF, LEAVE, OUTBOX, READ, SENT, SETTLE
from bot.storage.keys import gone_key

MARKER_TTL = 8 * 86400   # outlives every retry and lease of one slot
SID_TTL = 7 * 86400      # Twilio's status callbacks arrive within hours
OPEN_TTL = 86400         # "replies within a day route through the check-in flow"
STOPPED_TTL = 90 * 86400  # START may offer check-ins again for a while; then nothing is left
OUTBOX_TTL = 3600
PERSON_CODES = frozenset({21610, 21211, 21614})  # opted out at the carrier, not a (mobile) number


READ_FIELDS = ("status", "freq", "window", "slot", "paused_until", "inflight", "inflight_due",
               "job")  # what the dispatcher decides on; never the number
SEND_FIELDS = ("status", "inflight", "job", "kind", "locale", "count", "num",
               "epoch")  # a send job's
class Subscriptions:
    """Reads and writes of check-in state; methods taking `pipe` join the caller's transaction."""

    def __init__(self, client: redis.Redis, vault: Vault):
        self.redis = client
        self.vault = vault
        self._cas = client.register_script(CAS)
        self._claim = client.register_script(CLAIM)
        self._settle = client.register_script(SETTLE)
        self._sent = client.register_script(SENT)
        self._leave = client.register_script(LEAVE)
        self._dispatched = client.register_script(DISPATCHED)
        self._read = client.register_script(READ)
        self._field_if = client.register_script(FIELD_IF)
        self._outbox = client.register_script(OUTBOX)
        # Each check-in text makes these script calls (claim, sent, release) on a send thread:
        # held connections skip the pool's per-call checks (bot/storage/lane.py).
        self._lane = lane_for(client)

    # --- reading ---------------------------------------------------------------------------
    def load(self, subject: str) -> Subscription | None:
        return Subscription.from_hash(subject, self.redis.hgetall(sub_key(subject)))

    def load_many(self, subjects: list[str]) -> list[Subscription | None]:
        """What a batch send job needs (SEND_FIELDS) of many subscriptions, in one round trip."""
        return [sub for sub, _, _ in self.read_many(subjects, SEND_FIELDS)]

    def read_many(self, subjects: list[str], fields: tuple[str, ...] = READ_FIELDS
                  ) -> list[tuple[Subscription | None, Any, Any]]:
        """(subscription as far as `fields` go, due score, lease score) of each, at once."""
        if not subjects:
            return []
        raw = self._read(keys=[DUE_KEY, LEASE_KEY, *map(sub_key, subjects)],
                         args=[*fields, "", *subjects])
        rows = []
        for subject, row in zip(subjects, raw):
            *values, due, lease = _text(row).split("\x1f")
            rows.append((Subscription.from_hash(subject, dict(zip(fields, values))),
                         float(due) if due else None, float(lease) if lease else None))
        return rows

    def watch(self, pipe, subjects: list[str]) -> None:
        """WATCH these subscriptions: a change to any of them aborts the caller's MULTI."""
        pipe.watch(*[sub_key(s) for s in subjects])

    def context_reads(self, subject: str) -> tuple[tuple[str, str], ...]:
        """The reads behind Context's check-in fields, made in the step's own round trip."""
        return ("HGETALL", sub_key(subject)), ("EXISTS", open_key(subject))

    def context_from(self, subject: str, results: list) -> dict[str, Any]:
        """Context fields for one incoming message from what context_reads read."""
        raw, is_open = results
        sub = Subscription.from_hash(subject, raw)
        live = bool(sub and sub.live)
        return {"subscription": sub.facts() if sub else None, "subscribed": live,
                "checkin_open": bool(is_open) and live}

    def due_subjects(self, at: float, limit: int = 500) -> list[str]:
        return [_text(s) for s in self.redis.zrangebyscore(DUE_KEY, "-inf", at, 0, limit)]

    def count_due(self, at: float) -> int:
        return int(self.redis.zcount(DUE_KEY, "-inf", at))

    def live_count(self) -> int:
        return int(self.redis.zcard(DUE_KEY))

    def expired_leases(self, at: float, limit: int = 500) -> list[str]:
        return [_text(s) for s in self.redis.zrangebyscore(LEASE_KEY, "-inf", at, 0, limit)]

    def in_flight(self) -> int:
        return int(self.redis.zcard(LEASE_KEY))

    def transact(self, subject: str, fn: Callable) -> Any:
        """Run fn(pipe, subscription, due_score, lease_score) under WATCH; fn calls pipe.multi()."""
        key = sub_key(subject)

        def run(pipe):
            raw = pipe.hgetall(key)
            due, lease = pipe.zscore(DUE_KEY, subject), pipe.zscore(LEASE_KEY, subject)
            return fn(pipe, Subscription.from_hash(subject, raw), due, lease)

        return self.redis.transaction(run, key, value_from_callable=True)

    # --- the person's choices (inside the conversation's transaction) ----------------------
    def subscribe(self, pipe, subject: str, number: str, plan: Plan, locale: str, slot: str,
                  due: float, epoch: str = "") -> None:
        """`epoch`: the person's FORGET tombstone now (Context.epoch), so that check-ins they
        sign up for after an erasure are sent, and those from before it never are."""
        key = sub_key(subject)
        pipe.hset(key, mapping={"status": "active", "freq": plan.freq, "window": plan.window,
                                "locale": locale, "slot": slot, "due": due, "fails": 0,
                                "num": self.vault.encrypt(number), "epoch": epoch})
        pipe.hdel(key, "paused_until", "reason")
        pipe.persist(key)
        pipe.zadd(DUE_KEY, {subject: due})

    def pause(self, pipe, subject: str, until: float, slot: str, due: float) -> None:
        pipe.hset(sub_key(subject), mapping={"status": "paused", "paused_until": until,
                                             "slot": slot, "due": due, "reason": "pause"})
        pipe.zadd(DUE_KEY, {subject: due})

    def resume(self, pipe, subject: str, slot: str, due: float) -> None:
        key = sub_key(subject)
        pipe.hset(key, mapping={"status": "active", "slot": slot, "due": due, "fails": 0})
        pipe.hdel(key, "paused_until", "reason")
        pipe.zadd(DUE_KEY, {subject: due})

    def stop(self, pipe, subject: str, reason: str) -> None:
        """STOP or 'no more check-ins': nothing is due, the number is erased, the rest expires."""
        key = sub_key(subject)
        pipe.hset(key, mapping={"status": "stopped", "reason": reason})
        pipe.hdel(key, "num", "inflight", "inflight_due", "due")
        pipe.expire(key, STOPPED_TTL)
        pipe.zrem(DUE_KEY, subject)
        pipe.zrem(LEASE_KEY, subject)

    def set_locale(self, pipe, subject: str, locale: str) -> None:
        pipe.hset(sub_key(subject), "locale", locale)

    def close_open(self, pipe, subject: str) -> None:
        """The first message after a check-in answers it (or moves on): later digits are menus."""
        pipe.delete(open_key(subject))

    # --- the dispatcher (inside its transaction) ---------------------------------------------
    def dispatched(self, pipe, job_id: str, lease_until: float, entries: list[tuple]) -> None:
        """Entries (subject, slot, slot_due, kind, next_slot, next_due) go in flight to job_id,
        each listed in the job's batch (batch_add)."""
        keys, args = [DUE_KEY, LEASE_KEY, batch_key(job_id)], [job_id, lease_until, MARKER_TTL]
        for entry in entries:
            keys += [sub_key(entry[0]), jobs_key(entry[0])]
            args.append("\x1f".join(map(str, entry)))
        self._dispatched(keys=keys, args=args, client=pipe)

    def reschedule(self, pipe, subject: str, slot: str, due: float) -> None:
        pipe.hset(sub_key(subject), mapping={"slot": slot, "due": due})
        pipe.zadd(DUE_KEY, {subject: due})

    def relet(self, pipe, subject: str, job_id: str, lease_until: float) -> None:
        """Record the job now responsible for the check-in in flight, and until when."""
        pipe.hset(sub_key(subject), "job", job_id)
        pipe.zadd(LEASE_KEY, {subject: lease_until})
        pipe.sadd(jobs_key(subject), job_id)
        pipe.expire(jobs_key(subject), MARKER_TTL)

    def clear(self, pipe, subject: str) -> None:
        """Nothing is in flight any more (settled, or too late to send)."""
        pipe.hdel(sub_key(subject), "inflight", "inflight_due", "kind", "job")
        pipe.zrem(LEASE_KEY, subject)

    def drop(self, pipe, subject: str) -> None:
        pipe.zrem(DUE_KEY, subject)
        pipe.zrem(LEASE_KEY, subject)

    # --- one send, exactly once ------------------------------------------------------------
    def marker(self, subject: str, slot: str) -> str | None:
        raw = self.redis.get(marker_key(subject, slot))
        return _text(raw) if raw is not None else None

    def markers(self, pairs: list[tuple[str, str]]) -> list[str | None]:
        """The markers of many (subject, slot) pairs in one round trip."""
        if not pairs:
            return []
        raw = self.redis.mget([marker_key(subject, slot) for subject, slot in pairs])
        return [_text(r) if r is not None else None for r in raw]

    def claim(self, subject: str, slot: str, value: str, previous: str | None,
              owner: str | None = None, epoch: str = "") -> int:
        """Set the slot's marker only if it still holds `previous` (None: nobody claimed it):
        1 claimed, 0 another attempt changed it. With `owner` (the job holding the lease), -1
        when the subscription no longer wants this slot from that job (STOP, re-dispatch);
        -1 too when the person was erased since `epoch` (FORGET)."""
        check = [slot, owner] if owner is not None else ["", ""]
        keys = [marker_key(subject, slot), sub_key(subject), gone_key(subject)]
        return int(self._lane.script(self._claim, keys,
                                     [previous or "", value, MARKER_TTL, *check, epoch]))

    def sent(self, subject: str, slot: str, sid: str, epoch: str = "") -> None:
        """Twilio took the text: mark the slot, map the SID for status callbacks, open replies;
        nothing when the person was erased since `epoch`."""
        keys = [sub_key(subject), LEASE_KEY, marker_key(subject, slot), sid_key(sid),
                sids_key(subject), open_key(subject), gone_key(subject)]
        self._lane.script(self._sent, keys,
                          [subject, slot, sid, MARKER_TTL, SID_TTL, OPEN_TTL, epoch])

    # --- batch send jobs ------------------------------------------------------------------------
    def batch_add(self, pipe, batch: str, subjects: list[str]) -> None:
        pipe.sadd(batch_key(batch), *subjects)
        pipe.expire(batch_key(batch), MARKER_TTL)

    def batch_members(self, batch: str) -> list[str]:
        return sorted(_text(s) for s in self.redis.smembers(batch_key(batch)))

    def batch_done(self, batch: str, subjects: list[str]) -> None:
        """These need nothing more from the batch job (the set goes when the last one does)."""
        if subjects:
            self.redis.srem(batch_key(batch), *subjects)

    def settle(self, subject: str, slot: str, outcome: str, epoch: str = "") -> None:
        """Close a slot that will not be sent (skipped, or refused for good)."""
        self._settle(keys=[sub_key(subject), LEASE_KEY, marker_key(subject, slot),
                           gone_key(subject)], args=[subject, slot, outcome, MARKER_TTL, epoch])

    def release(self, subject: str, slot: str, value: str) -> None:
        """Twilio certainly refused the text (an error answer): a retry may claim the slot anew."""
        self._lane.script(self._cas, [marker_key(subject, slot)], [value, "", 0])

    def deactivate(self, subject: str, reason: str) -> None:
        """A number that cannot take texts (21610, 21211, 21614): stop for good, keep no number."""
        def fn(pipe, sub, due, lease):
            pipe.multi()
            if sub is not None:
                self.stop(pipe, subject, reason)
        self.transact(subject, fn)

    def hold(self, subject: str) -> None:
        """Texts keep failing: stop sending until the person texts RESUME."""
        def fn(pipe, sub, due, lease):
            pipe.multi()
            if sub is not None and sub.live:
                pipe.hset(sub_key(subject), mapping={"status": "held", "reason": "undelivered",
                                                     "due": HELD})
                pipe.zadd(DUE_KEY, {subject: HELD})
        self.transact(subject, fn)

    # --- Twilio's status callbacks -----------------------------------------------------------
    def delivery_report(self, sid: str, status: str, code: int | None) -> str | None:
        """Count failed deliveries in a row; hold after FAILURES_TO_HOLD, stop on a person code."""
        if status not in ("delivered", "undelivered", "failed"):
            return None
        subject = self.redis.getdel(sid_key(sid))  # a repeated callback is counted once
        if subject is None:
            return None
        subject = _text(subject)
        if status == "delivered":
            self._field_if(keys=[sub_key(subject)], args=["set", "fails", 0])
            return "delivered"
        if code in PERSON_CODES:
            self.deactivate(subject, f"error {code}")
            return "deactivated"
        fails = int(self._field_if(keys=[sub_key(subject)], args=["incr", "fails", 1]))
        if fails >= FAILURES_TO_HOLD:
            self.hold(subject)
            return "held"
        return "failed"

    # --- counts, development outbox, erasure -----------------------------------------------
    def count(self, name: str, now: datetime, n: int = 1) -> None:
        pipe = self.redis.pipeline(transaction=False)
        count_daily(pipe, stats_key(now.strftime("%Y-%m-%d")), name, n)
        pipe.execute()

    def stats(self, day: str) -> dict[str, int]:
        return {_text(k): int(v) for k, v in self.redis.hgetall(stats_key(day)).items()}

    def outbox_push(self, subject: str, body: str, epoch: str = "") -> None:
        """Development only (console sender): let `flask chat` show check-ins arriving."""
        self._outbox(keys=[outbox_key(subject), gone_key(subject)], args=[body, OUTBOX_TTL, epoch])

    def outbox_pop(self, subject: str) -> list[str]:
        pipe = self.redis.pipeline()
        pipe.lrange(outbox_key(subject), 0, -1)
        pipe.delete(outbox_key(subject))
        return [_text(b) for b in pipe.execute()[0]]

    def forget(self, subject: str) -> int:
        """Erase every check-in key and entry of one person and cancel their queued jobs."""
        job_ids = [_text(j) for j in self.redis.smembers(jobs_key(subject))]
        for job_id in job_ids:
            if self._leave(keys=[batch_key(job_id)], args=[subject]) > 0:
                continue  # the batch job still texts others: it runs, without this person
            try:
                Job.fetch(job_id, connection=self.redis).delete()
            except NoSuchJobError:
                pass
        keys = [sub_key(subject), open_key(subject), outbox_key(subject), jobs_key(subject),
                sids_key(subject)]
        keys += [sid_key(_text(s)) for s in self.redis.smembers(sids_key(subject))]
        keys += list(self.redis.scan_iter(match=f"{PREFIX}:sent:{subject}:*", count=500))
        pipe = self.redis.pipeline()
        pipe.delete(*keys)
        self.drop(pipe, subject)
        return int(pipe.execute()[0]) + len(job_ids)
