"""A local Twilio-compatible Messages API, so the real `twilio` client is tested without an account."""
from __future__ import annotations

import base64
import json
import math
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator
from urllib.parse import parse_qs, urlsplit

ACCOUNT_SID = "AC" + "0" * 32  # the AccountSid every test webhook form carries
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/(AC[0-9a-fA-F]{32})/Messages\.json$")
GSM7 = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
           "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXTENDED = set("^{}\\[~]|€\f")


def num_segments(body: str) -> int:
    """Count SMS segments the way carriers bill them, so tests can check long or accented texts."""
    if all(c in GSM7 or c in GSM7_EXTENDED for c in body):
        units, single, split = sum(2 if c in GSM7_EXTENDED else 1 for c in body), 160, 153
    else:
        units, single, split = len(body.encode("utf-16-le")) // 2, 70, 67
    return 1 if units <= single else math.ceil(units / split)


def error_body(status: int, code: int | None, message: str) -> dict:
    """Twilio's legacy error shape, which the client turns into TwilioRestException(.status, .code)."""
    return {"code": code, "message": message, "status": status,
            "more_info": f"https://www.twilio.com/docs/errors/{code or status}"}


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it, for tests that check what the client actually sent."""

    method: str
    path: str
    form: dict[str, str]
    headers: dict[str, str]
    time: float
    status: int
    response: dict = field(default_factory=dict)

    @property
    def sid(self) -> str | None:
        return self.response.get("sid") if self.status == 201 else None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so a benchmark measures the sender, not TCP setup
    timeout = 5  # idle keep-alive connections close instead of pinning threads after stop()
    disable_nagle_algorithm = True  # else headers and body wait on delayed ACKs: 40 ms a message
    server: "_Server"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8")
        form = {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        gateway = self.server.fake.take_gateway_error()
        if gateway and not gateway[1]:  # the proxy in front failed before Twilio saw it
            return self._reply_html(gateway[0])
        status, body = self.server.fake.answer(self.path, form, self.headers.get("Authorization", ""))
        self.server.fake.record(RecordedRequest("POST", self.path, form, dict(self.headers),
                                                time.time(), status, body))
        if gateway:  # Twilio created the message; the proxy lost the answer
            return self._reply_html(gateway[0])
        self._reply(status, body)

    def _reply_html(self, status: int) -> None:
        data = (f"<html><head><title>{status} Bad Gateway</title></head><body>"
                f"<center><h1>{status}</h1></center></body></html>").encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        query = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}
        status, body = self.server.fake.list_messages(self.path, query,
                                                      self.headers.get("Authorization", ""))
        self.server.fake.record(RecordedRequest("GET", self.path, query, dict(self.headers),
                                                time.time(), status, body))
        self._reply(status, body)

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="Twilio API"')
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args) -> None:
        pass  # quiet: pytest output should show the test's failures, not an access log


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: "FakeTwilio"

    def handle_error(self, request, client_address) -> None:
        pass  # a client that timed out and hung up is expected here, not an error


class FakeTwilio:
    """Speaks enough of POST .../Messages.json for twilio.rest.Client, with scripted failures."""

    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN):
        self.account_sid, self.auth_token = account_sid, auth_token
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._failures: deque[tuple[int, int | None, str]] = deque()
        self._delays: deque[float] = deque()
        self._number_rules: dict[str, tuple[int, int | None, str]] = {}
        self._gateway: deque[tuple[int, bool]] = deque()
        self._holds: deque[threading.Event] = deque()
        self._holding = 0
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> "FakeTwilio":
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.fake = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,),
                                        daemon=True, name="fake-twilio")
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "FakeTwilio":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # --- scripting -------------------------------------------------------------------------
    def fail_next(self, status: int = 500, code: int | None = None, message: str = "",
                  times: int = 1) -> None:
        """Make the next `times` message requests fail, as Twilio does under load or on bad input."""
        text = message or {429: "Too Many Requests", 500: "Internal Server Error"}.get(status, "Error")
        code = code or {429: 20429, 500: 20500, 503: 20503}.get(status)
        with self._lock:
            self._failures.extend([(status, code, text)] * times)

    def delay_next(self, seconds: float, times: int = 1) -> None:
        """Hold the next responses so a client timeout fires; the message is still created, as on Twilio."""
        with self._lock:
            self._delays.extend([seconds] * times)

    def gateway_error_next(self, status: int = 502, created: bool = False, times: int = 1) -> None:
        """Answer the next message requests with a proxy's HTML error page (not Twilio's JSON);
        with `created`, after the message was created, as when the gateway timed out on Twilio."""
        with self._lock:
            self._gateway.extend([(status, created)] * times)

    def hold_next(self) -> threading.Event:
        """Keep the next message request waiting at the door (not yet created) until the
        returned event is set: a text "at Twilio" while a test does something else."""
        gate = threading.Event()
        with self._lock:
            self._holds.append(gate)
        return gate

    def holding(self) -> int:
        """Message requests waiting at a hold now."""
        with self._lock:
            return self._holding

    def take_gateway_error(self) -> tuple[int, bool] | None:
        with self._lock:
            return self._gateway.popleft() if self._gateway else None

    def fail_to(self, number: str, status: int = 400, code: int | None = 21610,
                message: str = "Attempt to send to unsubscribed recipient") -> None:
        """Make every send to one recipient fail, like a number that texted STOP."""
        with self._lock:
            self._number_rules[number] = (status, code, message)

    def delays_left(self) -> int:
        """Scripted delays not yet taken: 0 once the last delayed request has arrived."""
        with self._lock:
            return len(self._delays)

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._failures.clear()
            self._delays.clear()
            self._number_rules.clear()
            self._gateway.clear()
            for gate in self._holds:
                gate.set()
            self._holds.clear()

    # --- what happened ---------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def messages(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.status == 201]

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    # --- the API ---------------------------------------------------------------------------
    def answer(self, path: str, form: dict[str, str], authorization: str) -> tuple[int, dict]:
        """Decide one response: delay, then auth, then validation, scripted failures, success."""
        with self._lock:
            delay = self._delays.popleft() if self._delays else 0.0
            gate = self._holds.popleft() if self._holds and path.endswith("Messages.json") else None
            self._holding += gate is not None
        if gate is not None:
            gate.wait(60)  # a test that never releases it fails on its own, not here
            with self._lock:
                self._holding -= 1
        if delay:
            time.sleep(delay)
        match = MESSAGES_PATH.match(path.split("?")[0])
        if not match:
            return 404, error_body(404, 20404, f"The requested resource {path} was not found")
        if not self._authorized(authorization, match.group(1)):
            return 401, error_body(401, 20003, "Authenticate")
        problem = self._invalid(form)
        if problem:
            return 400, error_body(400, *problem)
        with self._lock:
            failure = self._failures.popleft() if self._failures else self._number_rules.get(form["To"])
        if failure:
            status, code, message = failure
            return status, error_body(status, code, message)
        return 201, self._message_resource(form)

    def list_messages(self, path: str, query: dict[str, str], authorization: str) -> tuple[int, dict]:
        """GET .../Messages.json filtered by To, From and DateSent (=, <, >), newest first."""
        match = MESSAGES_PATH.match(path.split("?")[0])
        if not match:
            return 404, error_body(404, 20404, f"The requested resource {path} was not found")
        if not self._authorized(authorization, match.group(1)):
            return 401, error_body(401, 20003, "Authenticate")
        found = [r.response for r in reversed(self.messages)
                 if all(r.response.get(f) == query[q] for q, f in (("To", "to"), ("From", "from"))
                        if q in query) and _sent_matches(r.time, query)]
        size = int(query.get("PageSize") or 50)
        uri = path.split("?")[0]
        return 200, {"messages": found[:size], "first_page_uri": uri, "next_page_uri": None,
                     "previous_page_uri": None, "page": 0, "page_size": size, "start": 0,
                     "end": min(size, len(found)) - 1, "uri": uri}

    def _authorized(self, authorization: str, path_sid: str) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return authorization == f"Basic {expected}" and path_sid == self.account_sid

    @staticmethod
    def _invalid(form: dict[str, str]) -> tuple[int, str] | None:
        if not form.get("To"):
            return 21604, "A 'To' phone number is required."
        if not (form.get("From") or form.get("MessagingServiceSid")):
            return 21603, "A 'From' phone number is required."
        if not (form.get("Body") or form.get("MediaUrl") or form.get("ContentSid")):
            return 21602, "Message body is required."
        return None

    def _message_resource(self, form: dict[str, str]) -> dict:
        sid, now = "SM" + uuid.uuid4().hex, formatdate(usegmt=False).replace("-0000", "+0000")
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json"
        service = form.get("MessagingServiceSid")
        return {
            "account_sid": self.account_sid, "api_version": "2010-04-01", "sid": sid,
            "body": form.get("Body", ""), "to": form["To"], "from": form.get("From"),
            "messaging_service_sid": service, "direction": "outbound-api",
            # Twilio answers "accepted" when a Messaging Service still has to pick the sender.
            "status": "accepted" if service and not form.get("From") else "queued",
            "num_segments": str(num_segments(form.get("Body", ""))), "num_media": "0",
            "date_created": now, "date_updated": now, "date_sent": now,  # "sent" at once
            "error_code": None, "error_message": None, "price": None, "price_unit": "USD",
            "uri": uri, "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
        }


def _sent_matches(created: float, query: dict[str, str]) -> bool:
    """Twilio's DateSent filters: a GMT date (or time), exact ("DateSent") or bounds (<, >)."""
    day = time.strftime("%Y-%m-%d", time.gmtime(created))
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created))
    for name, compare in (("DateSent", str.__eq__), ("DateSent>", str.__ge__),
                          ("DateSent<", str.__le__)):
        wanted = query.get(name)
        if wanted is None:
            continue
        exact = "T" in wanted and name != "DateSent"
        if not compare(stamp if exact else day, wanted if exact else wanted[:10]):
            return False
    return True


def running_server(account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN) -> Iterator[FakeTwilio]:
    """Generator for a pytest fixture: `yield from running_server()` starts and always stops it."""
    with FakeTwilio(account_sid, auth_token) as server:
        yield server
