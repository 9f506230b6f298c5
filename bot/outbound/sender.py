"""The one place that sends SMS outward: the Twilio REST client in production, the log in development."""
from __future__ import annotations

import json
import logging
import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

__all__ = ["SendResult", "Sender", "TwilioSender", "ConsoleSender", "OutboundSms",
           "BaseUrlHttpClient", "build_sender", "mask_number", "classify"]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0
# Opted out (21610), not a valid or reachable mobile number (21211, 21614, 21612), region not
# enabled (21408), bad credentials (20003): the same request fails again however often it is tried.
PERMANENT_CODES = frozenset({21610, 21211, 21614, 21612, 21408, 20003})
# Rate limited (20429), the From number's queue is full (21611): both clear up on their own.
RETRYABLE_CODES = frozenset({20429, 21611})
# Twilio's own error codes are 5 digits (https://www.twilio.com/docs/api/errors). When an answer
# is not Twilio's JSON (an HTML 502 from a proxy in between), the client puts the HTTP status
# in the code field instead: that is no code at all.
TWILIO_CODE_MIN = 10000
PHONE_LIKE = re.compile(r"\+?\d[\d\s().-]{5,}\d")


def mask_number(number: str | None) -> str:
    """Keep '+', one digit and the last four, enough to tell numbers apart in a log, never the number."""
    if not number:
        return ""
    channel, colon, address = str(number).rpartition(":")
    head = 2 if address.startswith("+") else 0
    tail = 4 if len(address) >= 10 else 2
    if len(address) <= head + tail:
        head, tail = 0, 0
    masked = address[:head] + "*" * (len(address) - head - tail) + address[len(address) - tail:]
    return f"{channel}{colon}{masked}"


def _scrub(text: str, to: str = "") -> str:
    """Twilio's own error messages quote the recipient ("The 'To' number +1555... is not valid")."""
    if to:
        text = text.replace(to, mask_number(to))
    return PHONE_LIKE.sub(lambda m: mask_number(m.group(0)), text)


@dataclass(frozen=True)
class SendResult:
    """What happened to one send, so a job can decide: done, retry later, or give up for good."""

    ok: bool
    sid: str | None = None
    error_code: int | None = None  # Twilio's error code (e.g. 21610), None for network errors
    permanent: bool = False  # retrying cannot help: opted out, bad number, bad credentials
    retryable: bool = False  # rate limit, Twilio 5xx, network error or timeout
    # Twilio certainly did not create the message: a 4xx carrying one of Twilio's error codes.
    # A 5xx (Twilio's or a gateway's), a timeout or a network error may have come after the
    # message was created: not definite, so the next attempt looks before it sends again.
    definite: bool = False
    detail: str = ""  # for operators; never holds a phone number


class Sender(Protocol):
    """The small seam jobs depend on, so tests and development need no Twilio account."""

    def send(self, to: str, body: str) -> SendResult: ...


def classify(status: int | None, code: int | None) -> tuple[bool, bool]:
    """Return (permanent, retryable); every failure is exactly one, so callers never guess."""
    if code in PERMANENT_CODES:
        return True, False
    if code in RETRYABLE_CODES or status in (408, 429) or (status is not None and status >= 500):
        return False, True
    return True, False


class BaseUrlHttpClient(TwilioHttpClient):
    """Sends every Twilio REST call to one base URL, so a local Twilio-compatible server can stand in."""

    def __init__(self, base_url: str, **kwargs: Any):
        super().__init__(**kwargs)
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"TWILIO_API_BASE_URL must look like http://host:port, got {base_url!r}")
        self.base = (parts.scheme, parts.netloc, parts.path.rstrip("/"))
        if self.session is not None:  # the parent pools only https://; a test server is plain http
            self.session.mount("http://", HTTPAdapter(pool_maxsize=min(32, (os.cpu_count() or 1) + 4)))

    def rewrite(self, url: str) -> str:
        scheme, netloc, prefix = self.base
        parts = urlsplit(url)
        return urlunsplit((scheme, netloc, prefix + parts.path, parts.query, parts.fragment))

    def request(self, method: str, url: str, *args: Any, **kwargs: Any):
        return super().request(method, self.rewrite(url), *args, **kwargs)


def _read_environment_once(http: TwilioHttpClient, url: str) -> None:
    """requests scans all of os.environ for proxy and CA settings on every request (a sixth of a
    send's CPU); read them once, for the API host this client calls, and keep them."""
    found = http.session.merge_environment_settings(url, dict(http.proxy), None, None, None)
    http.proxy = found["proxies"]
    http.session.verify = found["verify"]
    http.session.trust_env = False


class TwilioSender:
    """Sends through the official client, built once so its HTTP session and connections are reused."""

    def __init__(self, account_sid: str, auth_token: str, *, from_number: str = "",
                 messaging_service_sid: str = "", api_base_url: str = "",
                 status_callback_url: str = "", timeout: float = DEFAULT_TIMEOUT,
                 pool_size: int = 0):
        if not (account_sid and auth_token):
            raise ValueError("TwilioSender needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
        if not (from_number or messaging_service_sid):
            raise ValueError("TwilioSender needs TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID")
        self.timeout = timeout
        http = (BaseUrlHttpClient(api_base_url, timeout=timeout) if api_base_url
                else TwilioHttpClient(timeout=timeout))
        if pool_size and http.session is not None:  # one kept-alive connection per send thread
            adapter = HTTPAdapter(pool_maxsize=pool_size)
            http.session.mount("https://", adapter)
            http.session.mount("http://", adapter)
        if http.session is not None:
            _read_environment_once(http, api_base_url or "https://api.twilio.com")
        self.client = Client(account_sid, auth_token, http_client=http)
        self._messages = self.client.messages
        # A Messaging Service picks the sender from its pool; a From as well would override it.
        self._fixed: dict[str, str] = ({"messaging_service_sid": messaging_service_sid}
                                       if messaging_service_sid else {"from_": from_number})
        if status_callback_url:
            self._fixed["status_callback"] = status_callback_url

    def send(self, to: str, body: str) -> SendResult:
        try:
            message = self._messages.create(to=to, body=body, **self._fixed)
        except TwilioException as exc:
            result = self._from_twilio_error(exc, to)
        except requests.RequestException as exc:
            result = self._from_network_error(exc)
        except json.JSONDecodeError:
            result = SendResult(False, detail="Twilio answered with a body that is not JSON; "
                                              "the message may have been sent, so it is not retried")
        else:
            log.debug("SMS to %s accepted: %s", mask_number(to), message.sid)
            return SendResult(True, sid=message.sid, detail=f"accepted by Twilio ({message.status})")
        log.warning("SMS to %s failed: %s", mask_number(to), result.detail)
        return result

    @staticmethod
    def _from_twilio_error(exc: TwilioException, to: str) -> SendResult:
        status, code = getattr(exc, "status", None), getattr(exc, "code", None)
        code = code if isinstance(code, int) and code >= TWILIO_CODE_MIN else None
        permanent, retryable = classify(status, code)
        definite = code is not None and isinstance(status, int) and 400 <= status < 500
        # str(exc) is ANSI-coloured on a terminal; build the text from the fields instead.
        text = getattr(exc, "msg", "") or " - ".join(
            t for t in (getattr(exc, "title", ""), getattr(exc, "detail", "")) if t)
        label = f"HTTP {status} Twilio error {code}" if code else f"HTTP {status} from Twilio"
        detail = _scrub(f"{label}: {text}", to)
        return SendResult(False, error_code=code, permanent=permanent, retryable=retryable,
                          definite=definite, detail=detail)

    def _from_network_error(self, exc: requests.RequestException) -> SendResult:
        if isinstance(exc, requests.ConnectTimeout):
            detail = f"could not connect to Twilio within {self.timeout}s"
        elif isinstance(exc, requests.Timeout):
            # Twilio may have queued the text before the answer was lost; a retry can double it.
            detail = f"no answer from Twilio within {self.timeout}s; the message may have been accepted"
        else:
            detail = f"network error talking to Twilio: {type(exc).__name__}"
        return SendResult(False, retryable=True, detail=detail)

    def close(self) -> None:
        session = getattr(self.client.http_client, "session", None)
        if session is not None:
            session.close()


@dataclass(frozen=True)
class OutboundSms:
    """One text the console sender kept, so development and tests can see what would have gone out."""

    to: str
    body: str
    sid: str


class ConsoleSender:
    """Development transport: logs each text (number masked) instead of sending it."""

    def __init__(self) -> None:
        self.sent: list[OutboundSms] = []

    def send(self, to: str, body: str) -> SendResult:
        sid = "SM" + uuid.uuid4().hex
        self.sent.append(OutboundSms(to, body, sid))
        log.info("SMS to %s: %s", mask_number(to), body)
        return SendResult(True, sid=sid, detail="logged by the console sender, not sent")


def _setting(settings: Mapping[str, str] | Any, env_name: str) -> str:
    """Read an env-style mapping or a bot.config.Settings (whose fields are the lower-cased names)."""
    if isinstance(settings, Mapping):
        value = settings.get(env_name)
    else:
        value = getattr(settings, env_name.lower(), "")
    return (value or "").strip()


def build_sender(settings: Mapping[str, str] | Any, timeout: float | None = None,
                 pool_size: int = 0) -> Sender:
    """Pick Twilio when it is fully configured, else the console, so development needs no account.
    The timeout: the argument, else TWILIO_TIMEOUT_SECONDS (Settings.twilio_timeout), else 10 s."""
    get = lambda name: _setting(settings, name)  # noqa: E731
    if timeout is None:
        timeout = (float(get("TWILIO_TIMEOUT_SECONDS") or DEFAULT_TIMEOUT)
                   if isinstance(settings, Mapping)
                   else getattr(settings, "twilio_timeout", DEFAULT_TIMEOUT))
    sid, token = get("TWILIO_ACCOUNT_SID"), get("TWILIO_AUTH_TOKEN")
    from_number, service = get("TWILIO_FROM_NUMBER"), get("TWILIO_MESSAGING_SERVICE_SID")
    if not (sid and token and (from_number or service)):
        env = get("HELPLINE_ENV") if isinstance(settings, Mapping) else getattr(settings, "env", "")
        if env == "production":  # never "sent" in production by a sender that only logs
            raise RuntimeError("Twilio's sending settings are incomplete (TWILIO_ACCOUNT_SID, "
                               "TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER or "
                               "TWILIO_MESSAGING_SERVICE_SID): nothing can be sent")
        log.warning("Twilio is not configured; outbound SMS are only logged (ConsoleSender)")
        return ConsoleSender()
    public = get("PUBLIC_BASE_URL").rstrip("/")
    return TwilioSender(sid, token, from_number=from_number, messaging_service_sid=service,
                        api_base_url=get("TWILIO_API_BASE_URL"),
                        status_callback_url=f"{public}/sms/status" if public else "",
                        timeout=timeout, pool_size=pool_size)
