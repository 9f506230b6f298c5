"""One message in, replies out: the engine, the store and the content wired together.

Channels (SMS webhook, voice, the terminal chat) call this; it never touches HTTP. When Redis is
unreachable it still answers from a fresh state, so emergency steps never depend on Redis.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

import redis

from bot.ops import metrics
from bot.conversation.content import Content, segments
from bot.conversation.engine import Context, Engine, Outcome, State
from bot.channels.limits import ANSWER, InboundLimit, window
from bot.privacy.vault import Vault, mask_number
from bot.storage.facts import Facts  # noqa: F401  (re-exported: the features' host facts)
from bot.storage.store import Reading, Store

log = logging.getLogger(__name__)
MAX_SEGMENTS = 3  # per text (DESIGN.md): a longer answer goes as two texts
REDIS_ERRORS = (redis.ConnectionError, redis.TimeoutError, redis.ResponseError,
                redis.exceptions.BusyLoadingError, redis.exceptions.ReadOnlyError)


@dataclass
class Answer:
    messages: list[str]
    outcome: Outcome | None
    duplicate: bool = False
    degraded: bool = False


@dataclass
class Conversations:
    engine: Engine
    content: Content
    store: Store
    vault: Vault
    event_handlers: dict[str, Callable] = field(default_factory=dict)
    # Host facts for the engine's Context, read with the conversation (no extra round trip).
    context_facts: list[Facts] = field(default_factory=list)
    # Writes that commit with the step, e.g. STOP cancels check-ins in the same transaction:
    # fn(pipe, subject, number, outcome, ctx); the number is for encrypting, never for storing.
    tx_writes: list[Callable] = field(default_factory=list)
    # RATE_LIMIT_PER_MINUTE (bot/channels/limits.py); counted in the step's own read, never a round trip.
    limit: InboundLimit | None = None
    # Before the engine's step: fn(engine, state, body, now, ctx) -> Outcome, or None to let the
    # engine step as usual (e.g. a person's open inbox ticket: bot/inbox/flow.py).
    gates: list[Callable] = field(default_factory=list)

    def render(self, outcome: Outcome, channel: str = "sms") -> list[str]:
        """All replies of one step as one text: one message arrives in order on every phone."""
        locale = outcome.state.locale
        texts = [self.content.render(r.key, locale, channel, r.params) for r in outcome.replies]
        texts = [t for t in texts if t]
        joined = "\n\n".join(texts)
        if len(texts) > 1 and segments(joined).count > MAX_SEGMENTS:
            # A line before a full screen (the unsure 911 line): two texts, each within budget.
            return [texts[0], "\n\n".join(texts[1:])]
        return [joined] if joined else []

    def handle(self, number: str, body: str, now: datetime, token: str | None = None,
               channel: str = "sms", subject: str | None = None) -> Answer:
        """Answer one incoming message; `token` (MessageSid) makes redelivery harmless.
        `subject` keys a conversation that has no number (bot/channels/callers.py)."""
        subject = subject or self.vault.subject(number)
        try:
            answer = self._handle(subject, body, now, token, channel, number)
        except REDIS_ERRORS as exc:
            log.error("redis unavailable, answering without state: %s", type(exc).__name__)
            metrics.mark_outcome("degraded")
            outcome = self.engine.step(None, body, now, Context(channel=channel))
            answer = Answer(self.render(outcome, channel), outcome, degraded=True)
        metrics.record_turn(answer.outcome, channel)
        return answer

    def facts(self, subject: str) -> dict:
        """The host facts of one person, outside a step (e.g. to replay a step in a test)."""
        found: dict = {}
        for facts in self.context_facts:
            found.update(facts.read(self.store.redis, subject))
        return found

    def _handle(self, subject, body, now, token, channel, number="") -> Answer:
        fresh = {}
        dtoken = token and self.vault.token(token)
        reads, sizes = [], []
        for facts in self.context_facts:
            named = facts.reads(subject)
            reads += named
            sizes.append(len(named))

        def compute(reading: Reading):
            state = State.from_dict(reading.state) if reading.state else None
            fresh["from"] = state.node if state else None
            found, at = {}, 0
            for facts, size in zip(self.context_facts, sizes):
                found.update(facts.parse(subject, reading.extra[at:at + size]))
                at += size
            # A new conversation starts in the language the person used last time (store.py).
            locale = None if state else reading.language
            fresh["new"] = state is None
            ctx = Context(channel=channel, opted_out=reading.opted_out, locale=locale, **found)
            fresh["ctx"] = ctx
            outcome = self._step(state, body, now, ctx)
            verdict = self.limit.verdict(reading.count, outcome) if self.limit else ANSWER
            fresh["held"] = verdict != ANSWER
            if fresh["held"]:  # over the rate limit: the message is not read
                outcome = self.limit.held(state or State(locale=outcome.state.locale), verdict)
            return outcome.state.to_dict(), self.render(outcome, channel), outcome

        def writes(pipe, outcome: Outcome):
            # The reply kept for redeliveries is indexed under the person, for FORGET; the
            # erasing step's own reply is not (it only says "erased", the same for everyone).
            if dtoken and not any(e.name == "forget" for e in outcome.events):
                self.store.index_reply(subject, dtoken, pipe)
            if fresh["held"]:
                return
            for event in outcome.events:
                if event.name in ("opt_out", "opt_in"):
                    self.store.set_opted_out(subject, event.name == "opt_out", pipe)
            locale = outcome.state.locale
            if (any(e.name == "language" for e in outcome.events)
                    or (fresh.get("new") and locale != self.engine.lexicons.default)):
                self.store.set_language(subject, locale, pipe)
            self.store.count_visit(outcome.node, now, pipe)
            if fresh["from"] and fresh["from"] != outcome.node:
                self.store.count_move(fresh["from"], outcome.node, now, pipe)
            for write in self.tx_writes:
                write(pipe, subject, number, outcome, fresh["ctx"])

        limited = self.limit is not None and self.limit.active
        turn = self.store.advance(subject, dtoken, compute, writes,
                                  window(now) if limited else None, reads)
        if turn.duplicate:
            log.info("duplicate delivery answered from the dedupe record")
            return Answer(turn.messages, None, duplicate=True)
        if fresh["held"]:
            metrics.mark_outcome("rate_limited")
            return Answer(turn.messages, None)
        outcome: Outcome = turn.result
        self._after(subject, outcome, now)
        return Answer(turn.messages, outcome)

    def _step(self, state: State | None, body: str, now: datetime, ctx: Context) -> Outcome:
        for gate in self.gates:
            outcome = gate(self.engine, state, body, now, ctx)
            if outcome is not None:
                return outcome
        return self.engine.step(state, body, now, ctx)

    def _after(self, subject: str, outcome: Outcome, now: datetime) -> None:
        """Side effects of a committed step: opt-out flags, counters, and whatever events ask."""
        for event in outcome.events:
            handler = self.event_handlers.get(event.name)
            if handler is not None:
                handler(subject, event, outcome, now)


def describe(number: str) -> str:
    """How a number may appear in a log line."""
    return mask_number(number)
