"""Settings from the environment, checked once at start-up so a bad deploy fails loudly, not mid-call."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ROOT = Path(__file__).resolve().parent.parent
DEV_SECRET = "dev-only-insecure-secret-change-me"
SAMHSA_HELPLINE = "+18006624357"
# The 988 Lifeline's 10-digit number: it reaches 988 where a phone system cannot dial a 3-digit code
# (../shared/sources/overdose-response-guidance.md).
LIFELINE_988 = "+18002738255"
MIN_SECRET_LENGTH = 32
MIN_TOKEN_LENGTH = 16  # ADMIN_PASSWORD and METRICS_TOKEN in production

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
        log_format=(env.get("LOG_FORMAT") or ("json" if mode == "production" else "text")).lower(),
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
    if (len(settings.secret) < MIN_SECRET_LENGTH or settings.secret == DEV_SECRET
            or len(set(settings.secret)) < 10):
        problems.append(f"HELPLINE_SECRET must be a random string of at least {MIN_SECRET_LENGTH} "
                        "characters (python -c 'import secrets; print(secrets.token_urlsafe(48))')")
    for name, value in (("ADMIN_PASSWORD", settings.admin_password),
                        ("METRICS_TOKEN", settings.metrics_token)):
        if value and (len(value) < MIN_TOKEN_LENGTH or len(set(value)) < 8):
            problems.append(f"{name} is too weak: use at least {MIN_TOKEN_LENGTH} random "
                            "characters (python -c 'import secrets; print(secrets.token_urlsafe(24))')"
                            " or leave it unset")
    if problems:
        raise ConfigError("Refusing to start in production: " + "; ".join(problems))
