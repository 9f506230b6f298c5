"""The composition root: build every long-lived object once per process from Settings."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Callable

import redis
import yaml

from bot.config import SAMHSA_HELPLINE, Settings
from bot.storage.connection import connect  # noqa: F401  (worker.py and tests import it from here)
from bot.conversation.content import Content
from bot.channels.conversations import Conversations
from bot.conversation.engine import Engine
from bot.conversation.flows import Flow, Node, load_flow, validate
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
from bot.inbox import flow as inbox_flow
from bot.inbox import host as inbox_host
from bot.places import nearby
from bot.places import reports as site_reports
from bot.places.checks import site_problems
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


def blind_runner(helpline: "Helpline") -> Callable[[Path], str]:
    """`understanding eval --blind FILE`: a blind set through this helpline's engines, SMS and
    phone (bot/conversation/blind.py), rendered with its content."""
    def run(path: Path) -> str:
        from bot.conversation import blind
        from bot.voice.phone_tree import voice_engine

        def render(outcome, channel):
            return "\n\n".join(helpline.content.render(r.key, outcome.state.locale, channel, r.params)
                               for r in outcome.replies)
        readings = blind.run(blind.load_cases(path), helpline.engine, render,
                             voice_engine(helpline.engine))
        return blind.format_report(readings, str(path))
    return run


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


def without_texts(flow: Flow) -> Flow:
    """The menu graph when OUTBOUND_TEXTS=off: no option leads to check-in sign-up, no screen
    offers a reminder, and the words that open check-ins say this line sends none."""
    hub = checkin_flow.HUB
    nodes = {}
    for node in flow.nodes.values():
        options = tuple(o for o in node.options if o.goto != hub)
        nodes[node.id] = replace(node, options=options, offer=None)
    nodes[hub] = Node(id=hub, say="checkin.unavailable", entry=True, terminal=True,
                      file=flow.nodes[hub].file)
    return replace(flow, nodes=MappingProxyType(nodes))


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
    inbox = inbox_host.flow_for(settings)
    content = Content(settings.content_dir, settings.default_locale, {
        "program": settings.helpline_name, "phones": phones, "region": region,
        "inbox_on": inbox.hours.on,  # the talk menu offers the team only with staffed hours
        # what "talk to someone" dials on a call, so its words say who answers (content/*/talk.yaml)
        "live_line": "samhsa" if settings.live_line_number == SAMHSA_HELPLINE else "own",
        "links": {name: e["url"] for name, e in region.get("links", {}).items()},
        **sites.content_globals(),
        "sending": settings.sends_texts,
    })
    flow = load_flow(settings.flows_dir)
    validate(flow, content.keys())
    if not settings.sends_texts:
        flow = without_texts(flow)
    lexicons = Lexicons.from_dir(settings.content_dir, settings.default_locale)
    detector = SignalDetector.from_dir(settings.content_dir)
    rules = Rules.from_settings(settings)
    texting = ((checkin_flow.handlers(rules), reminder_flow.handlers(rules, reminders.fitter(content)))
               if settings.sends_texts else (checkin_flow.unavailable(rules), {}))
    hooks = checkin_flow.merge(nearby.handlers(sites), texting[0],
                               forget.handlers(),  # before reminders: a pending FORGET's YES wins
                               inbox_flow.handlers(inbox),
                               texting[1])
    hooks["after"] = inbox_flow.then(hooks.get("after"), inbox.after)
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
    inbox_host.install(helpline, inbox)
    helpline.extras.setdefault("content_checks", []).append(site_problems)
    return helpline
