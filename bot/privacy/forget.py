"""FORGET (BORRAR): after a YES, erase everything the helpline holds about one number.

The engine hooks are pure: FORGET asks for a YES and notes the question in the session's vars;
a YES as the very next message, within PENDING_SECONDS, emits the "forget" event. YES keeps its
other meanings (check-in sign-up, START after STOP) whenever no erase is pending.

After the step commits, Forgetter.erase first lays the tombstone (bot/storage/tombstone.py), so
work already under way (a job asleep on the send rate, a text at Twilio) writes nothing back and
sends nothing more, then removes, for the person's keyed hash (Vault.subject):
the conversation, language, opt-out flag, the replies kept for redeliveries and the call
records (bot/storage/store.py), check-in subscriptions, schedule entries, send markers and queued jobs
(bot/checkins/subscriptions.py), whatever other modules registered in helpline.extras["forgetters"], every
RQ job that names the person (by keyed hash, or by an encrypted number that decrypts to theirs),
and, as a last net, any key whose name holds the hash.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import Any, Callable, Iterable

import redis
from rq import Queue
from rq.exceptions import DeserializationError
from rq.executions import ExecutionRegistry
from rq.job import Job
from rq.results import Result

from bot.storage.facts import Facts
from bot.conversation.engine import Engine, Event, Outcome, Reply, State
from bot.privacy import compaction
from bot.privacy.vault import Vault
from bot.storage.keys import gone_key
from bot.storage.tombstone import Tombstones

log = logging.getLogger(__name__)
PENDING_SECONDS = 300  # "Reply YES in the next 5 minutes" (content/*/privacy.yaml)
ASKED_AT, ASKED_TURN = "forget_at", "forget_turn"
FORGET_EVENT = "forget"
KNOWN_QUEUES = ("default", "outbound")  # bot/checkins/jobs.py; others are found through rq:queues
FETCH_CHUNK = 500
_FERNET_PREFIX = "gAAAAA"  # every Fernet token starts with its version byte 0x80


# --- the conversation (pure engine hooks) ---------------------------------------------------
def pending(state: State, now: datetime) -> bool:
    """FORGET was the message just before this one, and it was asked recently."""
    asked, turn = state.vars.get(ASKED_AT), state.vars.get(ASKED_TURN)
    if not isinstance(asked, (int, float)) or turn != state.turns - 1:
        return False
    return 0 <= now.timestamp() - asked <= PENDING_SECONDS


def _clear(state: State) -> State:
    return replace(state, vars={k: v for k, v in state.vars.items()
                                if k not in (ASKED_AT, ASKED_TURN)})


def ask(engine: Engine, state: State, ctx, now: datetime, folded: str) -> Outcome:
    """FORGET: say what will be erased and wait for YES; the screen stays where it was."""
    vars_ = dict(state.vars, **{ASKED_AT: now.timestamp(), ASKED_TURN: state.turns})
    return Outcome(replace(state, vars=vars_), (Reply("privacy.confirm"),))


def confirm(engine: Engine, state: State, ctx, now: datetime, folded: str) -> Outcome | None:
    """YES right after FORGET erases; any other YES is not ours (None: the next hook decides)."""
    if not pending(state, now):
        return None
    fresh = State(locale=state.locale, turns=state.turns)
    return Outcome(fresh, (Reply("privacy.erased"),), (Event(FORGET_EVENT),))


def decline(engine: Engine, state: State, ctx, now: datetime, folded: str) -> Outcome | None:
    """NO right after FORGET: nothing is erased, and the menu says what to do next."""
    if not pending(state, now):
        return None
    return engine.main_menu(_clear(state), extra=(Reply("privacy.kept"),))


def handlers() -> dict[str, Callable]:
    """Engine hooks; bot/helpline.py merges them with the others (first answer wins)."""
    return {"command:forget": ask, "command:yes": confirm, "command:no": decline}


# --- the erasure (after the step commits) ----------------------------------------------------
class Forgetter:
    """Erases one person from Redis: every module's keys, their RQ jobs, then a last sweep."""

    def __init__(self, helpline):
        self.helpline = helpline

    @property
    def redis(self) -> redis.Redis:
        return self.helpline.redis

    def erase(self, subject: str) -> dict[str, int]:
        """Returns how much went, by kind; never who. The tombstone goes down first, so work
        already under way (a job asleep on the send rate, a text at Twilio) writes nothing back."""
        Tombstones(self.redis).lay(subject)
        done = {"conversation": self.helpline.store.forget(subject)}
        checkins = self.helpline.extras.get("checkins")
        if checkins is not None:
            done["checkins"] = checkins.subs.forget(subject)
        for forget in self.helpline.extras.get("forgetters", []):
            done[getattr(forget, "__qualname__", "other")] = int(forget(subject) or 0)
        done["jobs"] = purge_jobs(self.redis, self.helpline.vault, subject)
        done["swept"] = self._sweep(subject)
        if done["swept"]:
            log.warning("forget: %d keys named the person after every module's forget; "
                        "a module does not erase its own keys", done["swept"])
        return done

    def _sweep(self, subject: str) -> int:
        """The net: any key whose name still holds the keyed hash goes too (not the tombstone)."""
        keys = [k for k in self.redis.scan_iter(match=f"*{subject}*", count=1000)
                if k.decode() != gone_key(subject)]
        return int(self.redis.delete(*keys)) if keys else 0

    def after(self, subject: str, event: Event, outcome: Outcome, now: datetime) -> None:
        done = self.erase(subject)
        log.info("erased a person on their request (FORGET): %s",
                 ", ".join(f"{k} {v}" for k, v in sorted(done.items())))
        try:  # and from the disk: an append-only-file rewrite, at most one an hour
            compaction.book(self.redis)
        except redis.RedisError as exc:
            log.error("could not book the append-only file rewrite: %s", type(exc).__name__)


def install(helpline) -> Forgetter:
    """Run the erasure after a step that emitted "forget" (bot/helpline.py calls this once)."""
    forgetter = Forgetter(helpline)
    handlers_ = helpline.conversations.event_handlers
    earlier = handlers_.get(FORGET_EVENT)
    handlers_[FORGET_EVENT] = forgetter.after if earlier is None else _both(earlier, forgetter.after)
    helpline.extras.setdefault("forgetters", [])
    helpline.extras["forget"] = forgetter
    # Context.epoch: the tombstone, read in each step's own round trip, for the work it plans.
    helpline.conversations.context_facts.append(Facts(
        lambda subject: (("GET", gone_key(subject)),),
        lambda subject, found: {"epoch": found[0].decode() if found[0] else ""}))
    return forgetter


def _both(first: Callable, second: Callable) -> Callable:
    def both(*args):
        first(*args)
        second(*args)
    return both


# --- RQ jobs that name the person -------------------------------------------------------------
def purge_jobs(connection: redis.Redis, vault: Vault, subject: str) -> int:
    """Delete every job (queued, scheduled, running, finished, failed) that names the person.

    RQ's Job.delete leaves the failed and canceled registries and the results stream; here
    every trace of the job id goes: queue and registry entries, hash, results, executions.
    """
    places = job_places(connection)
    ids = sorted(places)
    doomed = [job_id for job_id in ids if subject in job_id]
    rest = [job_id for job_id in ids if subject not in job_id]
    for start in range(0, len(rest), FETCH_CHUNK):
        chunk = rest[start:start + FETCH_CHUNK]
        for job_id, job in zip(chunk, Job.fetch_many(chunk, connection=connection)):
            if job is not None and names(job, vault, subject):
                doomed.append(job_id)
    if not doomed:
        return 0
    pipe = connection.pipeline()
    for job_id in doomed:
        for container, member, is_list in places[job_id]:
            (pipe.lrem(container, 0, member) if is_list else pipe.zrem(container, member))
        shell = Job(id=job_id, connection=connection)
        pipe.delete(shell.key, shell.dependents_key, shell.dependencies_key,
                    Result.get_key(job_id), ExecutionRegistry(job_id, connection).key)
    pipe.execute()
    return len(doomed)


def job_places(connection: redis.Redis) -> dict[str, list[tuple[str, bytes, bool]]]:
    """job id -> where it is listed: (key, raw member, is a list), for every queue and registry."""
    names_ = {q.name for q in Queue.all(connection=connection)} | set(KNOWN_QUEUES)
    queues = [Queue(name, connection=connection) for name in sorted(names_)]
    containers: list[tuple[str, bool, Any]] = []
    for queue in queues:
        containers += [(queue.key, True, None), (queue.intermediate_queue_key, True, None)]
        containers += [(r.key, False, r) for r in (
            queue.started_job_registry, queue.finished_job_registry, queue.failed_job_registry,
            queue.deferred_job_registry, queue.scheduled_job_registry,
            queue.canceled_job_registry)]
    reads = connection.pipeline(transaction=False)
    for key, is_list, _ in containers:
        reads.lrange(key, 0, -1) if is_list else reads.zrange(key, 0, -1)
    places: dict[str, list[tuple[str, bytes, bool]]] = {}
    for (key, is_list, registry), members in zip(containers, reads.execute()):
        for member in members:
            text = member.decode()
            job_id = text if registry is None else registry.parse_job_id(text)
            places.setdefault(job_id, []).append((key, member, is_list))
    return places


def names(job: Job, vault: Vault, subject: str) -> bool:
    """The job's description or arguments hold the keyed hash or the person's encrypted number."""
    try:
        found = [job.description or "", job.args, job.kwargs, job.meta]
    except (DeserializationError, ValueError, TypeError, AttributeError):
        return False
    return any(_mentions(value, vault, subject) for value in _strings(found))


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, bytes):
        yield value.decode("utf-8", "replace")
    elif isinstance(value, dict):
        for item in value.items():
            yield from _strings(list(item))
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from _strings(item)


def _mentions(text: str, vault: Vault, subject: str) -> bool:
    if subject in text:
        return True
    if text.startswith(_FERNET_PREFIX):
        number = vault.decrypt(text)
        return bool(number) and vault.subject(number) == subject
    return False
