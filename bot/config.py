"""Settings from the environment, checked once at start-up so a bad deploy fails loudly, not mid-call."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.privacy.strength import secret_problem

ROOT = Path(__file__).resolve().parent.parent
DEV_SECRET = "dev-only-insecure-secret-change-me"
SAMHSA_HELPLINE = "+18006624357"
# The 988 Lifeline's 10-digit number: it reaches 988 where a phone system cannot dial a 3-digit code
# (overdose-response-guidance.md, docs/sources.md).
LIFELINE_988 = "+18002738255"
MIN_SECRET_LENGTH = 32
MIN_TOKEN_LENGTH = 16  # ADMIN_PASSWORD and METRICS_TOKEN in production
# zxcvbn's estimate of the guesses needed (bot/privacy/strength.py): a random 32-character secret
# scores about 32, a 16-character token about 16; a repeated pattern a few.
SECRET_GUESSES_LOG10 = 24
TOKEN_GUESSES_LOG10 = 14

log = logging.getLogger(__name__)


class ConfigError(RuntimeError):
    """A setting is missing or wrong; the message names it and says what to do."""


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() not in ("0", "off", "false", "no")


def _int(env: dict, name: str, default: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None


def _float(env: dict, name: str, default: float) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None


@dataclass(frozen=True)
class Settings:
    """Every setting the service reads; the README lists each one."""

    env: str = "development"
    redis_url: str = "redis://127.0.0.1:6379/0"
    secret: str = DEV_SECRET
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_from_number: str = ""
    twilio_messaging_service_sid: str = ""
    twilio_api_base_url: str = ""
    public_base_url: str = ""
    signature_check: bool = True
    trust_proxy: int = 0
    live_line_number: str = SAMHSA_HELPLINE
    crisis_line_number: str = LIFELINE_988
    metrics_token: str = ""
    admin_password: str = ""
    console_idle_minutes: int = 30
    helpline_name: str = "MN Overdose Help Line"
    region: str = "mn"
    sites_verify_max_days: int = 180
    default_locale: str = "en"
    timezone: str = "America/Chicago"
    session_ttl: int = 3600
    dedupe_ttl: int = 86400
    redis_timeout: float = 0.5
    body_read_timeout: float = 5.0
    twilio_timeout: float = 10.0
    rate_limit_per_minute: int = 20
    send_rate_per_second: float = 1.0
    quiet_start_hour: int = 21
    quiet_end_hour: int = 8
    voice_name: str = "Polly.Joanna-Neural"
    voice_language: str = "en-US"
    voice_name_es: str = "Polly.Lupe-Neural"
    voice_language_es: str = "es-US"
    log_format: str = "text"
    # The staffed text inbox (bot/inbox/, docs/inbox.md): hours in the helpline's time zone,
    # its timers, how long ticket messages are kept, and the out-of-hours message.
    inbox_hours: str = ""
    inbox_holidays: str = ""
    inbox_unclaimed_minutes: int = 10
    inbox_silent_minutes: int = 15
    inbox_idle_hours: int = 24
    inbox_retention_days: int = 7
    inbox_leave_message: bool = False
    inbox_stream_seconds: int = 120
    # OUTBOUND_TEXTS=off: no check-ins, reminders or "text me this" are offered (or sent).
    outbound_texts: bool = True
    flows_dir: Path = ROOT / "flows"
    content_dir: Path = ROOT / "content"
    extra: dict = field(default_factory=dict)

    @property
    def is_development(self) -> bool:
        return self.env in ("development", "test")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def twilio_configured(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token
                    and (self.twilio_from_number or self.twilio_messaging_service_sid))

    @property
    def sends_texts(self) -> bool:
        """Whether features that text people later are offered: check-ins, reminders, "text
        me this". Production refuses to start with them on and Twilio's sending settings
        incomplete (check()), so "on" there always means a real sender."""
        return self.outbound_texts

    def sending_line(self) -> str:
        """The one start-up line that says whether texts go out, and how."""
        if not self.outbound_texts:
            return ("outbound texts: off (OUTBOUND_TEXTS=off): check-ins, reminders and "
                    "'text me this' are not offered")
        if self.twilio_configured:
            sender = ("messaging service" if self.twilio_messaging_service_sid
                      else "number ending " + self.twilio_from_number[-4:])
            return f"outbound texts: on, through Twilio ({sender})"
        return ("outbound texts: on, but only logged (development: no Twilio sending settings), "
                "never sent")


def load_settings(env: dict | None = None, **overrides) -> Settings:
    """Read settings from a mapping (the environment by default) and check them."""
    env = dict(os.environ if env is None else env)
    mode = env.get("HELPLINE_ENV", "development").strip().lower() or "development"
    values = dict(
        env=mode,
        redis_url=env.get("REDIS_URL") or Settings.redis_url,
        secret=env.get("HELPLINE_SECRET") or "",
        twilio_account_sid=env.get("TWILIO_ACCOUNT_SID", ""),
        twilio_auth_token=env.get("TWILIO_AUTH_TOKEN", ""),
        twilio_from_number=env.get("TWILIO_FROM_NUMBER", ""),
        twilio_messaging_service_sid=env.get("TWILIO_MESSAGING_SERVICE_SID", ""),
        twilio_api_base_url=env.get("TWILIO_API_BASE_URL", "").rstrip("/"),
        public_base_url=env.get("PUBLIC_BASE_URL", "").rstrip("/"),
        signature_check=_flag(env.get("SIGNATURE_CHECK"), True),
        trust_proxy=_int(env, "TRUST_PROXY", 0),
        live_line_number=env.get("LIVE_LINE_NUMBER") or SAMHSA_HELPLINE,
        crisis_line_number=env.get("CRISIS_LINE_NUMBER") or LIFELINE_988,
        metrics_token=env.get("METRICS_TOKEN", ""),
        admin_password=env.get("ADMIN_PASSWORD", ""),
        console_idle_minutes=_int(env, "CONSOLE_IDLE_MINUTES", Settings.console_idle_minutes),
        helpline_name=env.get("HELPLINE_NAME") or Settings.helpline_name,
        region=env.get("HELPLINE_REGION") or Settings.region,
        sites_verify_max_days=_int(env, "SITES_VERIFY_MAX_DAYS", Settings.sites_verify_max_days),
        default_locale=env.get("DEFAULT_LOCALE") or Settings.default_locale,
        timezone=env.get("HELPLINE_TIMEZONE") or Settings.timezone,
        session_ttl=_int(env, "SESSION_TTL_SECONDS", Settings.session_ttl),
        dedupe_ttl=_int(env, "DEDUPE_TTL_SECONDS", Settings.dedupe_ttl),
        redis_timeout=_float(env, "REDIS_TIMEOUT_SECONDS", Settings.redis_timeout),
        body_read_timeout=_float(env, "BODY_READ_TIMEOUT_SECONDS", Settings.body_read_timeout),
        twilio_timeout=_float(env, "TWILIO_TIMEOUT_SECONDS", Settings.twilio_timeout),
        rate_limit_per_minute=_int(env, "RATE_LIMIT_PER_MINUTE", Settings.rate_limit_per_minute),
        send_rate_per_second=_float(env, "SEND_RATE_PER_SECOND", Settings.send_rate_per_second),
        quiet_start_hour=_int(env, "QUIET_HOURS_START", Settings.quiet_start_hour),
        quiet_end_hour=_int(env, "QUIET_HOURS_END", Settings.quiet_end_hour),
        voice_name=env.get("VOICE_NAME") or Settings.voice_name,
        voice_language=env.get("VOICE_LANGUAGE") or Settings.voice_language,
        voice_name_es=env.get("VOICE_NAME_ES") or Settings.voice_name_es,
        voice_language_es=env.get("VOICE_LANGUAGE_ES") or Settings.voice_language_es,
        inbox_hours=env.get("INBOX_HOURS", "").strip(),
        inbox_holidays=env.get("INBOX_HOLIDAYS", "").strip(),
        inbox_unclaimed_minutes=_int(env, "INBOX_UNCLAIMED_MINUTES",
                                     Settings.inbox_unclaimed_minutes),
        inbox_silent_minutes=_int(env, "INBOX_SILENT_MINUTES", Settings.inbox_silent_minutes),
        inbox_idle_hours=_int(env, "INBOX_IDLE_HOURS", Settings.inbox_idle_hours),
        inbox_retention_days=_int(env, "INBOX_RETENTION_DAYS", Settings.inbox_retention_days),
        inbox_leave_message=_flag(env.get("INBOX_LEAVE_MESSAGE"), False),
        inbox_stream_seconds=_int(env, "INBOX_STREAM_SECONDS", Settings.inbox_stream_seconds),
        log_format=(env.get("LOG_FORMAT") or ("json" if mode == "production" else "text")).lower(),
        outbound_texts=_flag(env.get("OUTBOUND_TEXTS"), True),
    )
    values.update(overrides)
    if not values["secret"] and values["env"] in ("development", "test"):
        values["secret"] = DEV_SECRET
    settings = Settings(**values)
    check(settings)
    return settings


def check_worker(settings: Settings) -> None:
    """The worker sends texts; in production each must carry a StatusCallback, or delivery
    reports never arrive and "3 undelivered, then hold" never works. The callback is
    PUBLIC_BASE_URL + /sms/status: there is no request in a worker to derive it from."""
    if settings.env == "production" and settings.twilio_configured and not settings.public_base_url:
        raise ConfigError("Refusing to start the worker in production: PUBLIC_BASE_URL is "
                          "required, so every text asks Twilio for delivery reports at "
                          "PUBLIC_BASE_URL/sms/status (set it to the https origin Twilio calls)")


INBOX_LIMITS = (("INBOX_UNCLAIMED_MINUTES", "inbox_unclaimed_minutes", 1, 24 * 60),
                ("INBOX_SILENT_MINUTES", "inbox_silent_minutes", 1, 24 * 60),
                ("INBOX_IDLE_HOURS", "inbox_idle_hours", 1, 24 * 14),
                ("INBOX_RETENTION_DAYS", "inbox_retention_days", 1, 90),
                ("INBOX_STREAM_SECONDS", "inbox_stream_seconds", 10, 3600))


def check_inbox(settings: Settings) -> None:
    """The inbox's timers are in range. Its schedule is read, and refused with the reason, where
    the inbox is built (bot/inbox/host.py flow_for), so settings import no feature package."""
    for name, field_, low, high in INBOX_LIMITS:
        if not low <= getattr(settings, field_) <= high:
            raise ConfigError(f"{name} must be from {low} to {high}")
    if settings.inbox_retention_days * 24 < settings.inbox_idle_hours:
        raise ConfigError("INBOX_RETENTION_DAYS must outlast INBOX_IDLE_HOURS: an open ticket "
                          "must not lose its messages before it closes")


def check(settings: Settings) -> None:
    """Refuse unsafe or broken settings with a message that says how to fix them."""
    if settings.env not in ("development", "test", "production"):
        raise ConfigError("HELPLINE_ENV must be development, test or production, "
                          f"got {settings.env!r}")
    try:
        settings.tz
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"HELPLINE_TIMEZONE {settings.timezone!r} is not a known time zone "
                          "(use a name like America/Chicago)") from None
    for name in ("quiet_start_hour", "quiet_end_hour"):
        if not 0 <= getattr(settings, name) <= 23:
            raise ConfigError(f"{name.upper()} must be an hour from 0 to 23")
    if settings.send_rate_per_second <= 0:
        raise ConfigError("SEND_RATE_PER_SECOND must be above 0")
    if settings.public_base_url and not settings.public_base_url.startswith(("https://", "http://")):
        raise ConfigError("PUBLIC_BASE_URL must be an origin like https://help.example.org")
    if not 1 <= settings.console_idle_minutes <= 720:
        raise ConfigError("CONSOLE_IDLE_MINUTES must be from 1 to 720")
    if not 0 <= settings.sites_verify_max_days <= 3650:
        raise ConfigError("SITES_VERIFY_MAX_DAYS must be from 0 (never expire) to 3650 days")
    check_inbox(settings)
    if settings.is_development:
        if not settings.signature_check:
            log.warning("SIGNATURE_CHECK=off: anyone can post to the webhooks. "
                        "Development only; never do this on a public server.")
        return
    problems = []
    if not settings.signature_check:
        problems.append("SIGNATURE_CHECK=off is allowed only in development")
    if not settings.twilio_auth_token:
        problems.append("TWILIO_AUTH_TOKEN is required to check X-Twilio-Signature")
    weak = secret_problem(settings.secret, MIN_SECRET_LENGTH, SECRET_GUESSES_LOG10)
    if weak or settings.secret == DEV_SECRET:
        problems.append(f"HELPLINE_SECRET must be a random string of at least {MIN_SECRET_LENGTH} "
                        f"characters ({weak or 'it is the development secret'}; python -c "
                        "'import secrets; print(secrets.token_urlsafe(48))')")
    for name, value in (("ADMIN_PASSWORD", settings.admin_password),
                        ("METRICS_TOKEN", settings.metrics_token)):
        weak = value and secret_problem(value, MIN_TOKEN_LENGTH, TOKEN_GUESSES_LOG10)
        if weak:
            problems.append(f"{name} is too weak ({weak}): use at least {MIN_TOKEN_LENGTH} random "
                            "characters (python -c 'import secrets; print(secrets.token_urlsafe(24))')"
                            " or leave it unset")
    if settings.outbound_texts and not settings.twilio_configured:
        missing = [name for name, value in (
            ("TWILIO_ACCOUNT_SID", settings.twilio_account_sid),
            ("TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID",
             settings.twilio_from_number or settings.twilio_messaging_service_sid)) if not value]
        problems.append("check-ins, reminders and 'text me this' need Twilio's sending settings ("
                        + ", ".join(missing) + " missing): set them, or set OUTBOUND_TEXTS=off "
                        "to run without those features (they are then not offered)")
    if problems:
        raise ConfigError("Refusing to start in production: " + "; ".join(problems))
