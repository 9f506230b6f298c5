"""FORGET / BORRAR: a YES-confirmed erasure of everything held about one number, proved by
listing every Redis key and value (RQ job payloads and registries decoded) before and after.

The helpers here (snapshot, ties, life) are shared by tests/test_privacy_leaks.py.
"""
from __future__ import annotations

import base64
import json
import pickle
import re
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import redis as redis_lib
from rq import Queue
from rq.registry import ScheduledJobRegistry

from bot.privacy.forget import PENDING_SECONDS
from bot.checkins.jobs import SEND_QUEUE
from bot.storage.keys import gone_key, replies_key
from bot.storage.tombstone import GONE_TTL
from tests.conftest import Texter, run_worker
from tests.signing import new_sid, post_signed
from tests.test_jobs import dispatch, texts_to
from tests.test_voice import Caller

NUMBER = "+16125557341"
OTHER = "+16125557342"
FERNET = re.compile(r"gAAAAA[A-Za-z0-9_\-]{40,}=*")
ERASED = "We erased what we kept about this number"
# Keys that name nobody: daily usage counts, send totals, the shared send rate, the dispatcher's
# last run, and RQ's own bookkeeping (whose job ids and payloads `ties` reads one by one).
ANONYMOUS = re.compile(r"^(hl:stats:\d{4}-\d\d-\d\d|hl:ci:stats:\d{4}-\d\d-\d\d|hl:metrics:sends"
                       r"|hl:outbound:bucket|hl:dispatch:last|hl:aof:(next|last)|rq:.*)$")


# --- reading all of Redis ----------------------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    key: str
    kind: str
    ttl: int
    texts: tuple[str, ...]  # the key's name and every readable form of every value in it


def views(raw: bytes) -> list[str]:
    """Raw bytes, and what RQ stores inside: zlib-compressed pickles, base64 of either."""
    found = [raw.decode("utf-8", "replace")]
    layers = [raw]
    try:
        layers.append(base64.b64decode(raw, validate=True))
    except (ValueError, TypeError):
        pass
    for layer in list(layers):
        try:
            layers.append(zlib.decompress(layer))
        except zlib.error:
            pass
    for layer in layers[1:]:
        found.append(layer.decode("utf-8", "replace"))
    for layer in layers:
        try:
            found.append(repr(pickle.loads(layer)))
        except Exception:  # most values are not pickles; only RQ's are
            pass
    return found


def _values(client: redis_lib.Redis, key: bytes, kind: str) -> list[bytes]:
    if kind == "string":
        return [client.get(key) or b""]
    if kind == "hash":
        return [part for pair in client.hgetall(key).items() for part in pair]
    if kind == "set":
        return list(client.smembers(key))
    if kind == "zset":
        return list(client.zrange(key, 0, -1))
    if kind == "list":
        return client.lrange(key, 0, -1)
    if kind == "stream":
        return [part for _, fields in client.xrange(key) for pair in fields.items()
                for part in pair]
    raise AssertionError(f"a key of an unexpected type: {key!r} ({kind})")


def snapshot(client: redis_lib.Redis) -> dict[str, Entry]:
    """Every key with its type, TTL and values, every kind of Redis value included."""
    found = {}
    for key in client.scan_iter(count=1000):
        kind = client.type(key).decode()
        if kind == "none":  # expired while we looked
            continue
        texts = [key.decode()] + [t for raw in _values(client, key, kind) for t in views(raw)]
        found[key.decode()] = Entry(key.decode(), kind, client.ttl(key), tuple(texts))
    return found


def spellings(number: str) -> list[str]:
    """E.164, the last ten digits, the usual US groupings and the URL-encoded form."""
    d = number[-10:]
    return [number, d, f"{d[:3]}-{d[3:6]}-{d[6:]}", f"({d[:3]}) {d[3:6]}-{d[6:]}",
            f"{d[:3]}.{d[3:6]}.{d[6:]}", "%2B" + number[1:]]


def in_clear(text: str, number: str) -> bool:
    return any(s in text for s in spellings(number))


def ties(snap: dict[str, Entry], vault, number: str, tokens: tuple[str, ...] = ()) -> list[str]:
    """Everything that leads to this number: it in the clear, its keyed hash, its encrypted
    form (every Fernet token is decrypted), or one of its message and call tokens."""
    subject, found = vault.subject(number), []
    for entry in snap.values():
        for text in entry.texts:
            decrypted = [vault.decrypt(t) for t in FERNET.findall(text)]
            if (in_clear(text, number) or subject in text or number in decrypted
                    or any(t in text for t in tokens)):
                found.append(entry.key)
                break
    return found


# --- one person's whole life with the helpline -------------------------------------------------
def post_status(app, sid: str, status: str) -> None:
    form = {"MessageSid": sid, "MessageStatus": status, "AccountSid": "AC" + "0" * 32}
    assert post_signed(app.test_client(), "/sms/status", form).status_code == 204


def release_scheduled(connection) -> None:
    """Let every backoff pass now (RQ's scheduler then enqueues them), not in a real minute."""
    for name in (SEND_QUEUE, "default"):
        scheduled = ScheduledJobRegistry(name, connection=connection)
        for job_id in scheduled.get_job_ids():
            job = Queue(name, connection=connection).fetch_job(job_id)
            if job is not None and not job_id.startswith("checkins-tick-"):
                scheduled.schedule(job, datetime.now(timezone.utc) - timedelta(seconds=1))


def subscription(app, number: str):
    helpline = app.config["HELPLINE"]
    return helpline.extras["checkins"].subs.load(helpline.vault.subject(number))


def life(app, env: dict, fake, number: str) -> dict:
    """Texts in both languages, check-in sign-up, a check-in sent by `python worker.py --burst`
    after a 429 that quotes the number, its delivery report and answer, a call that asks for a
    text, and that text. Returns the worker's log output and the call."""
    texter, logs = Texter(app.test_client(), number), []
    for body in ("hi", "2", "2", "55811", "more", "0", "espanol", "1", "english", "HELP",
                 "CHECKIN", "1", "1", "YES"):
        texter.send(body)
    sub = subscription(app, number)
    dispatch(app, datetime.fromtimestamp(sub.due, timezone.utc) + timedelta(minutes=1))
    fake.fail_next(status=429, message=f"Too many requests to {number} ({number[2:]})")
    logs.append(run_worker(env).stderr)
    release_scheduled(app.config["HELPLINE"].redis)
    logs.append(run_worker(env).stderr)
    [sent] = [m for m in fake.messages if m.form["To"] == number]
    post_status(app, sent.sid, "delivered")
    assert "Sorry today is hard" in texter.send("2")
    caller = Caller(app.test_client(), number)
    caller.start()
    caller.press("2")
    assert "text" in caller.press("8")
    logs.append(run_worker(env).stderr)
    assert len(texts_to(fake, number)) == 2  # the check-in and the screen the caller asked for
    return {"logs": logs, "call": caller, "texter": texter}


# --- the conversation --------------------------------------------------------------------------
def test_forget_asks_first_and_yes_erases(texter, helpline):
    texter.send("hi")
    asked = texter.send("FORGET")
    assert "erase" in asked and "YES" in asked and "cannot be undone" in asked
    assert helpline.store.load_session(helpline.vault.subject(texter.number)) is not None

    done = texter.send("YES")

    assert ERASED in done and "911" in done
    assert helpline.store.load_session(helpline.vault.subject(texter.number)) is None


def test_borrar_asks_and_answers_in_spanish(client, helpline):
    texter = Texter(client, "+16125557343")
    texter.send("hola")
    asked = texter.send("BORRAR")
    assert "borra" in asked and "SI" in asked
    done = texter.send("si")
    assert "Ya borramos lo que guardamos" in done


def test_no_keeps_everything_and_shows_the_menu(texter, helpline):
    texter.send("hi")
    texter.send("2")
    texter.send("forget me")
    kept = texter.send("NO")
    assert kept.startswith("OK, nothing was erased.") and "Reply with a number" in kept
    assert helpline.store.load_session(helpline.vault.subject(texter.number))["turns"] == 4


def test_yes_erases_only_as_the_very_next_message(texter, helpline):
    subject = helpline.vault.subject(texter.number)
    texter.send("hi")
    texter.send("FORGET")
    texter.send("4")  # something else first: the question is dropped
    texter.send("YES")
    state = helpline.store.load_session(subject)
    assert state is not None and state["turns"] == 4


def test_yes_after_the_pending_time_does_not_erase(helpline):
    conversations, number = helpline.conversations, "+16125557344"
    asked_at = datetime.now(timezone.utc)
    conversations.handle(number, "hi", asked_at, token=new_sid())
    conversations.handle(number, "FORGET", asked_at, token=new_sid())
    late = conversations.handle(number, "YES", asked_at + timedelta(seconds=PENDING_SECONDS + 1),
                                token=new_sid())
    assert not any(ERASED in m for m in late.messages)
    assert helpline.store.load_session(helpline.vault.subject(number))["turns"] == 3


def test_yes_keeps_its_other_meanings(checkin_app):
    texter = Texter(checkin_app.test_client(), "+16125557345")
    for body in ("CHECKIN", "1", "1"):
        texter.send(body)
    assert "You are signed up" in texter.send("YES")  # the check-in double opt-in
    assert subscription(checkin_app, texter.number).status == "active"
    texter.send("STOP")
    back = texter.send("YES")  # YES after STOP opts back in
    assert "Welcome back" in back and ERASED not in back


def test_forget_erases_everything_tied_to_the_number(checkin_app, worker_env, fake_twilio):
    helpline = checkin_app.config["HELPLINE"]
    client, vault = helpline.redis, helpline.vault
    other = Texter(checkin_app.test_client(), OTHER)
    for body in ("hi", "CHECKIN", "1", "1", "YES"):
        other.send(body)
    before_person = snapshot(client)
    person = life(checkin_app, worker_env, fake_twilio, NUMBER)
    # The next check-in is due and queued, not yet sent, when the person asks.
    nxt = datetime.fromtimestamp(subscription(checkin_app, NUMBER).due, timezone.utc)
    assert "enqueued" in dispatch(checkin_app, nxt + timedelta(minutes=1))
    texter, subject = person["texter"], vault.subject(NUMBER)
    tokens = tuple(t.decode() for t in client.smembers(replies_key(subject)))
    tokens += (vault.token(person["call"].sid),)
    before = snapshot(client)
    found = ties(before, vault, NUMBER, tokens)
    assert len(found) >= 15, found

    texter.send("FORGET")
    sid = new_sid()
    done = texter.send("YES", sid=sid)

    after = snapshot(client)
    print("\nkeys tied to the number before FORGET:", *sorted(found),
          "\nkeys after FORGET:", *sorted(after), sep="\n  ")
    assert ERASED in done
    tombstone = gone_key(subject)  # the keyed hash and the erasure's id, for a few days
    assert ties(after, vault, NUMBER, tokens) == [tombstone]
    assert 0 < after[tombstone].ttl <= GONE_TTL and not FERNET.search(after[tombstone].texts[1])
    others = ties(after, vault, OTHER)
    assert others == ties(before, vault, OTHER)  # the other person's keys are all still there
    new = {k: e for k, e in after.items()
           if k not in before_person and k not in others and k != tombstone}
    [kept] = [k for k in new if k.startswith("hl:m:")]  # the erasing message's own reply, kept
    assert new[kept].texts[1:] == (json.dumps([done]),)  # for Twilio's retry: the same for all
    assert all(ANONYMOUS.match(k) for k in new if k != kept), sorted(new)
    assert texter.send("YES", sid=sid) == done  # Twilio's retry: the same answer, nothing new
    assert ties(snapshot(client), vault, NUMBER, tokens) == [tombstone]

    run_worker(worker_env)
    assert len(texts_to(fake_twilio, NUMBER)) == 2  # the queued check-in never went out
    assert subscription(checkin_app, NUMBER) is None
    assert subscription(checkin_app, OTHER).status == "active"
