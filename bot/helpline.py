"""The composition root: build every long-lived object once per process from Settings."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import redis
import redis_sentinel_url
import yaml

from bot.config import Settings
from bot.conversation.content import Content
from bot.channels.conversations import Conversations
from bot.conversation.engine import Engine
from bot.conversation.flows import Flow, load_flow, validate
from bot.understanding.meaning import Understanding
from bot.understanding.signals import SignalDetector
from bot.understanding.keywords import Lexicons
from bot.channels.limits import InboundLimit
from bot.places.live import LiveSites
from bot.places.locator import Locator
from bot.places.registry import Registry
from bot.checkins import flow as checkin_flow
from bot.checkins import host as checkin_host
from bot.privacy import forget
from bot.places import nearby
from bot.places import reports as site_reports
from bot.reminders import flow as reminder_flow
from bot.reminders import ledger as reminders
from bot.checkins.rules import Rules
from bot.privacy.vault import Vault
from bot.storage.keys import CONTENT_VERSION_KEY
from bot.storage.store import Store

log = logging.getLogger(__name__)


def understanding(settings: Settings, locator: Locator,
                  detector: SignalDetector | None = None) -> Understanding:
    """What messages mean (bot/understanding/meaning.py), with the region's towns for places."""
    return Understanding.from_dir(settings.content_dir, locator.town_names(), detector=detector)


def connect(settings: Settings) -> redis.Redis:
    """Short timeouts: a webhook must answer from its fallback rather than hang on Redis.

    REDIS_URL may name Sentinels instead of one server,
    redis+sentinel://[:password@]host:26379,host2:26379/<master name>/<db>, the format
    rq-dashboard reads too; the client then follows the master through a failover.
    """
    options = dict(socket_timeout=settings.redis_timeout,
                   socket_connect_timeout=settings.redis_timeout, health_check_interval=30)
    if settings.redis_url.startswith("redis+sentinel://"):
        timeouts = {k: v for k, v in options.items() if k != "health_check_interval"}
        _, client = redis_sentinel_url.connect(settings.redis_url, sentinel_options=timeouts,
                                               client_options=options, client_class=redis.Redis)
        return client
    return redis.Redis.from_url(settings.redis_url, **options)


def load_region(content_dir: Path, region: str) -> dict:
    path = Path(content_dir) / region / "region.yaml"
    if not path.exists():
        raise FileNotFoundError(f"{path}: region data missing (HELPLINE_REGION={region!r})")
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def read_content_version(client: redis.Redis) -> int | None:
    try:
        return int(client.get(CONTENT_VERSION_KEY) or 0)
    except (redis.RedisError, OSError):
        return None


def live_sites(settings: Settings, client: redis.Redis, locator: Locator) -> LiveSites:
    """The sites from Redis (read now, so a restart answers with the edits made before it), else
    the region's file: before any site was edited (the registry seeds itself from the file on
    first use), and while Redis does not answer. Nothing is written here."""
    registry = Registry(client, settings.region, locator.bounds, seed=locator.sites)
    sites = LiveSites(locator, registry, settings.sites_verify_max_days)
    sites.refresh(force=True)
    return sites


@dataclass
class Helpline:
    settings: Settings
    redis: redis.Redis
    store: Store
    vault: Vault
    flow: Flow
    content: Content
    engine: Engine
    conversations: Conversations
    region: dict
    locator: Locator          # the region's file: towns, ZIPs, statewide lines, the seed sites
    sites: LiveSites | None = None   # the live sites (Redis), what places replies offer
    content_version: int | None = None   # CONTENT_VERSION_KEY when the files were read (ops/reload.py)
    status_handlers: list[Callable] = field(default_factory=list)
    extras: dict = field(default_factory=dict)

    def safe_sms(self, locale: str | None = None) -> str:
        """The reply that needs nothing but content: emergency steps and how to reach the menu."""
        return self.content.render("fallback.safe", locale or self.settings.default_locale)


def build(settings: Settings, client: redis.Redis | None = None) -> Helpline:
    client = client or connect(settings)
    content_version = read_content_version(client)   # before the files: they are at least this new
    region = load_region(settings.content_dir, settings.region)
    locator = Locator.from_file(settings.content_dir / settings.region / "naloxone_sites.yaml")
    sites = live_sites(settings, client, locator)
    phones = {name: entry["number"] for name, entry in region.get("phones", {}).items()}
    content = Content(settings.content_dir, settings.default_locale, {
        "program": settings.helpline_name, "phones": phones, "region": region,
        "links": {name: e["url"] for name, e in region.get("links", {}).items()},
        **sites.content_globals(),
    })
    flow = load_flow(settings.flows_dir)
    validate(flow, content.keys())
    lexicons = Lexicons.from_dir(settings.content_dir, settings.default_locale)
    detector = SignalDetector.from_dir(settings.content_dir)
    rules = Rules.from_settings(settings)
    hooks = checkin_flow.merge(nearby.handlers(sites), checkin_flow.handlers(rules),
                               forget.handlers(),  # before reminders: a pending FORGET's YES wins
                               reminder_flow.handlers(rules, reminders.fitter(content)))
    drawn = frozenset(n.id for n in flow.nodes.values() if content.needs_params(n.say))
    meaning = understanding(settings, locator, detector)
    engine = Engine(flow, lexicons, detect=detector.detect, understand=meaning.read,
                    handlers=hooks, drawn_by_hooks=drawn)
    store = Store(client, settings.session_ttl, settings.dedupe_ttl)
    vault = Vault(settings.secret)
    conversations = Conversations(engine, content, store, vault,
                                  limit=InboundLimit(settings.rate_limit_per_minute))
    helpline = Helpline(settings, client, store, vault, flow, content, engine, conversations,
                        region, locator, sites, content_version)
    checkin_host.install(helpline)
    forget.install(helpline)
    reminders.install(helpline)
    site_reports.install(helpline)
    return helpline
