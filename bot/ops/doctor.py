"""`flask --app wsgi doctor`: is this deployment ready for real people? Each check says what to fix.

It reads what a running deployment has (settings, Redis's own configuration, the workers and
scheduler RQ registered, the model cache, content and flows, the clocks) and changes nothing.
A check is "ok", a "warn" (works, but worth a look) or a "FAIL" (a person would notice, or data
would be lost): any FAIL makes the command exit non-zero. docker-compose.yml runs it once per
`up` (the `doctor` service); docs/operating.md lists the checks.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import redis

from bot.config import DEV_SECRET, MIN_SECRET_LENGTH, MIN_TOKEN_LENGTH
from bot.conversation.checks import check_content
from bot.conversation.flows import FlowError, load_flow, reachable, validate
from bot.ops.health import background
from bot.understanding.meaning import default_cache_dir

OK, WARN, FAIL = "ok", "warn", "FAIL"
HEADROOM = 0.8        # used memory above this share of maxmemory is a problem
CLOCK_SKEW = 5.0      # seconds between this machine and Redis; the scheduler trusts both


@dataclass(frozen=True)
class Finding:
    level: str
    area: str
    message: str


def _secret_weak(value: str) -> bool:
    return len(value) < MIN_SECRET_LENGTH or value == DEV_SECRET or len(set(value)) < 10


def settings_findings(settings) -> list[Finding]:
    found = []
    url = settings.public_base_url
    if not url.startswith("https://"):
        found.append(Finding(FAIL, "settings", "PUBLIC_BASE_URL must be the https origin Twilio "
                             f"calls (got {url or 'nothing'}): Twilio needs https and signs for it"))
    else:
        found.append(Finding(OK, "settings", f"PUBLIC_BASE_URL is {url}"))
    if settings.env != "production":
        found.append(Finding(FAIL, "settings", f"HELPLINE_ENV is {settings.env}: set production "
                             "(it enforces the rules below at start-up)"))
    if _secret_weak(settings.secret):
        found.append(Finding(FAIL, "settings", "HELPLINE_SECRET is weak or the development one: "
                             f"use {MIN_SECRET_LENGTH}+ random characters"))
    else:
        found.append(Finding(OK, "settings", "HELPLINE_SECRET is strong"))
    if not settings.signature_check:
        found.append(Finding(FAIL, "settings", "SIGNATURE_CHECK is off: anyone can post texts"))
    for name, value in (("METRICS_TOKEN", settings.metrics_token),
                        ("ADMIN_PASSWORD", settings.admin_password)):
        if value and (len(value) < MIN_TOKEN_LENGTH or len(set(value)) < 8):
            found.append(Finding(FAIL, "settings", f"{name} is weak: {MIN_TOKEN_LENGTH}+ random "
                                 "characters, or unset"))
    if not settings.metrics_token:
        found.append(Finding(WARN, "settings", "METRICS_TOKEN is unset: keep /metrics off the "
                             "public internet (the proxy serves it)"))
    if settings.admin_password:
        found.append(Finding(WARN, "settings", "ADMIN_PASSWORD is deprecated: use staff accounts"))
    if not settings.twilio_auth_token:
        found.append(Finding(FAIL, "settings", "TWILIO_AUTH_TOKEN is missing: no webhook can be "
                             "checked"))
    if settings.outbound_texts and not settings.twilio_configured:
        found.append(Finding(FAIL, "settings", "texts are on but Twilio's sending settings are "
                             "incomplete (TWILIO_ACCOUNT_SID, TWILIO_FROM_NUMBER or "
                             "TWILIO_MESSAGING_SERVICE_SID): set them, or OUTBOUND_TEXTS=off"))
    else:
        found.append(Finding(OK, "settings", settings.sending_line()))
    if settings.twilio_api_base_url and settings.env == "production":
        found.append(Finding(FAIL, "settings", "TWILIO_API_BASE_URL is set: texts go to "
                             f"{settings.twilio_api_base_url}, not Twilio; unset it"))
    return found


def redis_findings(client: redis.Redis) -> list[Finding]:
    try:
        started = time.perf_counter()
        client.ping()
        latency = (time.perf_counter() - started) * 1000
    except redis.RedisError as exc:
        return [Finding(FAIL, "redis", f"does not answer ({type(exc).__name__}): check REDIS_URL "
                        "and that Redis runs")]
    found = [Finding(OK, "redis", f"answers in {latency:.1f} ms")]
    try:
        config = {**client.config_get("appendonly"), **client.config_get("maxmemory-policy"),
                  **client.config_get("maxmemory")}
    except redis.ResponseError:  # managed Redis often refuses CONFIG
        return found + [Finding(WARN, "redis", "CONFIG GET is refused here: make sure your provider "
                                "keeps an append-only file and uses noeviction")]
    if config.get("appendonly") != "yes":
        found.append(Finding(FAIL, "redis", "appendonly is no: a restart would lose opt-outs and "
                             "subscriptions (redis-server --appendonly yes)"))
    else:
        found.append(Finding(OK, "redis", "appendonly yes"))
    if config.get("maxmemory-policy") != "noeviction":
        found.append(Finding(FAIL, "redis", f"maxmemory-policy is {config.get('maxmemory-policy')}: "
                             "a full Redis would silently drop queues and opt-outs; use noeviction"))
    limit = int(config.get("maxmemory") or 0)
    used = int(client.info("memory")["used_memory"])
    if not limit:
        found.append(Finding(FAIL, "redis", "no maxmemory: set one below the machine's memory "
                             "(docs/deploying-and-scaling.md#redis-memory sizes it)"))
    elif used > HEADROOM * limit:
        found.append(Finding(FAIL, "redis", f"memory {used / limit:.0%} of maxmemory used "
                             f"({used >> 20} of {limit >> 20} MB): raise REDIS_MAXMEMORY"))
    else:
        found.append(Finding(OK, "redis", f"memory {used >> 20} of {limit >> 20} MB "
                             f"({used / limit:.0%})"))
    return found


def background_findings(helpline, now: datetime) -> list[Finding]:
    try:
        report = background(helpline, now)
    except redis.RedisError:
        return []  # the Redis check has said it
    found = [Finding(FAIL, "workers", reason) for reason in report["reasons"]]
    if report["workers"]:
        found.append(Finding(OK, "workers", f"{report['workers']} RQ worker(s)"))
    if report["scheduler"]["alive"]:
        found.append(Finding(OK, "workers", "scheduler alive on " +
                             ", ".join(report["scheduler"]["queues"])))
    return found


def model_findings(helpline) -> list[Finding]:
    """The fitted classifier on disk, where the next process loads it instead of training."""
    understanding = getattr(helpline.engine.understand, "__self__", None)
    key = getattr(understanding, "data_hash", "")
    if not key:
        return [Finding(WARN, "model", "no intent classifier in this build")]
    path = default_cache_dir() / f"model-{key[:32]}.npz"  # bot/understanding/meaning.py's name
    if not path.is_file():
        return [Finding(WARN, "model", f"cache is cold ({path.parent}): each new process trains "
                        "it for a few seconds; set XDG_CACHE_HOME to a folder that persists")]
    return [Finding(OK, "model", f"cache warm ({path})")]


def topic_problems(flow, lexicons) -> list[str]:
    """`entry: true` marks a screen that a keyword or a hook opens from anywhere: a keyword
    (keywords.yaml `topics:`) must open a screen the menu reaches or one marked so."""
    menu = reachable(flow, [flow.start])
    errors = set()
    for locale, lexicon in lexicons.by_locale.items():
        for target, _ in lexicon.topics:
            node = flow.nodes.get(target)
            if node is None:
                errors.add(f"{locale}/keywords.yaml: a topic opens {target!r}, which no flow "
                           "defines")
            elif target not in menu and not node.entry:
                errors.add(f"{node.file}: node {target!r} is opened by a keyword in "
                           f"{locale}/keywords.yaml but no option leads to it: mark it "
                           "'entry: true'")
    return sorted(errors)


def content_findings(helpline) -> list[Finding]:
    settings = helpline.settings
    try:
        flow = load_flow(Path(settings.flows_dir))
        validate(flow, helpline.content.keys())
    except FlowError as exc:
        return [Finding(FAIL, "content", f"flows: {exc}")]
    _, errors = check_content(helpline.content, helpline.flow)
    errors += topic_problems(flow, helpline.engine.lexicons)
    for extra in helpline.extras.get("content_checks", []):
        errors += extra(helpline)
    found = [Finding(FAIL, "content", error) for error in errors[:20]]
    return found or [Finding(OK, "content", "flows and content check out")]


def time_findings(helpline) -> list[Finding]:
    settings = helpline.settings
    local = datetime.now(timezone.utc).astimezone(settings.tz)
    found = [Finding(OK, "time", f"{settings.timezone}: it is {local:%Y-%m-%d %H:%M} there; "
                     f"quiet hours {settings.quiet_start_hour}:00-{settings.quiet_end_hour}:00")]
    try:
        seconds, micros = helpline.redis.time()
    except redis.RedisError:
        return found
    skew = abs(seconds + micros / 1e6 - time.time())
    if skew > CLOCK_SKEW:
        found.append(Finding(FAIL, "time", f"this machine's clock and Redis's differ by {skew:.0f} s:"
                             " run NTP on both (the scheduler trusts both)"))
    return found


def run(helpline, now: datetime | None = None,
        content: list[Finding] | None = None) -> list[Finding]:
    """Every check; `content` passes the content findings of an earlier run (they take
    seconds, and a deployment waiting for its worker does not change its words)."""
    now = now or datetime.now(timezone.utc)
    content = content_findings(helpline) if content is None else content
    return (settings_findings(helpline.settings) + redis_findings(helpline.redis)
            + background_findings(helpline, now) + model_findings(helpline)
            + content + time_findings(helpline))


def problems(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.level == FAIL]
