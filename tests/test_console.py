"""The console's doors: sign-in with the second factor, roles, CSRF, forged and stale sessions,
brute force, headers, the `staff` commands and the RQ dashboard behind the admin role.

Each attack is refused with its own status: 302 to the sign-in page (a GET with no session),
401 (a POST with no session, a wrong password or code), 403 (a lower role, a cross-site admin
post), 400 (a form without the session's CSRF token), 405 (a state change by GET), 429 (locked).
"""
from __future__ import annotations

import base64
import re
import secrets
import time

import pyotp
import pytest
import rq
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer

from bot import create_app
from bot.config import ConfigError
from bot.console import keys
from tests.conftest import make_settings

PASSWORD = "correct horse battery staple"
SECRET = secrets.token_urlsafe(48)


def token_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


class Staff:
    """A staff member at the console through the Flask test client (a browser's requests)."""

    def __init__(self, app, username: str, role: str = "viewer", totp: bool = True):
        self.app, self.username = app, username
        with app.app_context():
            self.enrolment = app.extensions["console"].accounts.add(username, role, PASSWORD,
                                                                    totp=totp)
        self.client = app.test_client()

    def code(self, offset: int = 0) -> str:
        return pyotp.TOTP(self.enrolment.totp_secret).at(time.time() + offset * 30)

    def token(self, path: str = "/console/login") -> str:
        return token_of(self.client.get(path).get_data(as_text=True))

    def sign_in(self, password: str = PASSWORD, code: str | None = None, **extra):
        code = self.code() if code is None and self.enrolment.totp_secret else (code or "")
        return self.client.post("/console/login", data={
            "csrf_token": self.token(), "username": self.username, "password": password,
            "code": code, **extra})


@pytest.fixture()
def console_app(redis_url, redis_client):
    return create_app(make_settings(redis_url))


@pytest.fixture()
def admin(console_app):
    staff = Staff(console_app, "alice", "admin")
    assert staff.sign_in().status_code == 302
    return staff


def session_record_ids(redis_client) -> set[bytes]:
    return set(redis_client.scan_iter(match=keys.session("*")))


# --- signing in -------------------------------------------------------------------------------
def test_pages_need_a_session(console_app):
    client = console_app.test_client()
    for path in ("/console/", "/console/content", "/console/flows", "/console/places",
                 "/console/simulator", "/console/audit"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/console/login?next=")
    token = token_of(client.get("/console/login").get_data(as_text=True))
    posted = client.post("/console/simulator/text", data={"csrf_token": token, "body": "hi"})
    assert posted.status_code == 401


def test_sign_in_with_password_and_code_opens_the_dashboard(admin, redis_client):
    page = admin.client.get("/console/")
    html = page.get_data(as_text=True)

    assert page.status_code == 200 and "Dashboard" in html and "alice (admin)" in html
    cookie = admin.client.get_cookie("helpline_console")
    assert cookie.http_only and cookie.same_site == "Strict"
    assert len(session_record_ids(redis_client)) == 1


@pytest.mark.parametrize("password, code", [("wrong password here", None), (PASSWORD, "000000"),
                                            (PASSWORD, "")])
def test_a_wrong_password_or_code_is_refused(console_app, password, code):
    staff = Staff(console_app, "bob", "viewer")
    response = staff.sign_in(password, code)

    assert response.status_code == 401
    assert "not right" in response.get_data(as_text=True)
    assert staff.client.get("/console/").status_code == 302


def test_a_code_works_once(console_app):
    staff = Staff(console_app, "bob", "viewer")
    code = staff.code()
    assert staff.sign_in(code=code).status_code == 302
    staff.client = console_app.test_client()  # someone who watched the code being typed

    assert staff.sign_in(code=code).status_code == 401


def test_a_recovery_code_works_once_instead_of_the_app(console_app):
    staff = Staff(console_app, "bob", "viewer")
    recovery = staff.enrolment.recovery_codes[0]

    assert staff.sign_in(code=recovery).status_code == 302
    staff.client = console_app.test_client()
    assert staff.sign_in(code=recovery).status_code == 401
    assert staff.sign_in(code=staff.enrolment.recovery_codes[1].upper()).status_code == 302


def test_sign_in_rotates_the_session_and_sign_out_ends_it(admin, redis_client):
    first = admin.client.get_cookie("helpline_console").value
    admin.client.post("/console/logout", data={"csrf_token": admin.token("/console/")})
    assert session_record_ids(redis_client) == set()
    assert admin.client.get("/console/").status_code == 302

    assert admin.sign_in(code=admin.code(1)).status_code == 302
    assert admin.client.get_cookie("helpline_console").value != first
    thief = admin.app.test_client()  # the old cookie, replayed after sign-out
    thief.set_cookie("helpline_console", first)
    assert thief.get("/console/").status_code == 302


def test_forged_session_cookies_are_no_one(admin, console_app, redis_client):
    sid = redis_client.scan_iter(match=keys.session("*")).__next__().decode().rsplit(":", 1)[1]
    interface = SecureCookieSessionInterface()
    forged = URLSafeTimedSerializer("guessed-secret", salt=interface.salt,
                                    serializer=interface.serializer,
                                    signer_kwargs={"key_derivation": "hmac",
                                                   "digest_method": interface.digest_method})
    made_up = interface.get_signing_serializer(console_app).dumps({"sid": "x" * 43})
    for value in (forged.dumps({"sid": sid}), made_up, "garbage." + "A" * 40):
        attacker = console_app.test_client()
        attacker.set_cookie("helpline_console", value)
        assert attacker.get("/console/").status_code == 302
        assert attacker.get("/admin/rq/").status_code == 302


def test_idle_sessions_expire(redis_url, redis_client):
    app = create_app(make_settings(redis_url, CONSOLE_IDLE_MINUTES="1"))
    staff = Staff(app, "bob", "viewer")
    staff.sign_in()
    key = next(redis_client.scan_iter(match=keys.session("*")))
    assert 0 < redis_client.ttl(key) <= 60
    redis_client.expire(key, 5)
    assert staff.client.get("/console/").status_code == 200
    assert redis_client.ttl(key) > 5  # each request renews the idle time
    redis_client.pexpire(key, 1)
    time.sleep(0.05)
    assert staff.client.get("/console/").status_code == 302


# --- brute force ------------------------------------------------------------------------------
def test_an_account_locks_after_five_wrong_tries(console_app):
    staff = Staff(console_app, "bob", "viewer")
    for _ in range(5):
        assert staff.sign_in("not the password!").status_code == 401
    locked = staff.sign_in()  # the right password and code, too late

    assert locked.status_code == 429
    assert "Too many wrong tries" in locked.get_data(as_text=True)
    assert staff.client.get("/console/").status_code == 302


def test_an_address_slows_down_after_twenty_wrong_tries_whatever_the_names(console_app):
    staff = Staff(console_app, "carol", "viewer")
    client = console_app.test_client()
    token = token_of(client.get("/console/login").get_data(as_text=True))
    for n in range(20):
        response = client.post("/console/login", data={"csrf_token": token, "username": f"u{n}x",
                                                       "password": "guess guess guess"})
        assert response.status_code == 401
    staff.client = client
    assert staff.sign_in("guess guess guess").status_code == 429
    assert staff.sign_in(code="000000").status_code == 429  # no hint that the password was right
    assert staff.sign_in().status_code == 302  # a colleague behind the same address gets in


def test_reset_unlocks_and_ends_sessions(console_app):
    staff = Staff(console_app, "bob", "viewer")
    staff.sign_in()
    runner = console_app.test_cli_runner()
    result = runner.invoke(args=["staff", "reset", "bob", "--password", "a new long password"])

    assert result.exit_code == 0 and "TOTP secret:" in result.output
    assert staff.client.get("/console/").status_code == 302
    staff.enrolment = staff.enrolment.__class__(
        None, re.search(r"TOTP secret: (\w+)", result.output).group(1), None, [])
    assert staff.sign_in("a new long password").status_code == 302


# --- roles and CSRF -----------------------------------------------------------------------------
def test_a_viewer_cannot_reach_editor_or_admin_pages(console_app, redis_client):
    viewer = Staff(console_app, "vic", "viewer")
    viewer.sign_in()
    rq.Queue("probe", connection=redis_client).enqueue("os.getcwd")

    assert viewer.client.get("/console/").status_code == 200
    for path in ("/console/audit", "/console/simulator", "/admin/rq/",
                 "/admin/rq/0/data/queues.json"):
        assert viewer.client.get(path).status_code == 403, path
    token = viewer.token("/console/")
    assert viewer.client.post("/console/simulator/text",
                              data={"csrf_token": token, "body": "hi"}).status_code == 403
    assert viewer.client.post("/admin/rq/queue/probe/queued/empty",
                              headers={"Origin": "http://localhost"}).status_code == 403
    assert rq.Queue("probe", connection=redis_client).count == 1


def test_an_editor_can_use_the_simulator_but_not_admin_pages(console_app):
    editor = Staff(console_app, "eve", "editor")
    editor.sign_in()

    assert editor.client.get("/console/simulator").status_code == 200
    assert editor.client.get("/console/audit").status_code == 403
    assert editor.client.get("/admin/rq/").status_code == 403


def test_forms_without_the_csrf_token_are_refused(admin):
    for data, headers in (({"body": "hi"}, {}),
                          ({"body": "hi", "csrf_token": "forged"}, {}),
                          ({"body": "hi"}, {"Origin": "https://evil.example"})):
        response = admin.client.post("/console/simulator/text", data=data, headers=headers)
        assert response.status_code == 400
        assert "did not come from the console" in response.get_data(as_text=True)
    assert admin.client.post("/console/logout").status_code == 400
    assert admin.client.get("/console/").status_code == 200  # still signed in


def test_the_next_page_after_sign_in_stays_on_this_site(console_app):
    staff = Staff(console_app, "bob", "viewer")
    for n, (target, expected) in enumerate((("https://evil.example/", "/console/"),
                                            ("//evil.example", "/console/"),
                                            ("/console/places", "/console/places"))):
        staff.client = console_app.test_client()
        response = staff.sign_in(code=staff.enrolment.recovery_codes[n], next=target)
        assert response.headers["Location"] == expected


def test_console_and_admin_pages_forbid_framing_and_inline_script(admin):
    for path in ("/console/login", "/console/", "/console/nothing-here", "/admin/rq/"):
        response = admin.client.get(path)
        csp = response.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp, path
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Cache-Control"] == "no-store"
    console_csp = admin.client.get("/console/").headers["Content-Security-Policy"]
    assert "script-src 'self';" in console_csp and "unsafe-inline" not in console_csp
    html = admin.client.get("/console/").get_data(as_text=True)
    assert re.findall(r"<script(?![^>]*\bsrc=)", html) == [] and " on" + "click=" not in html


# --- audit and the staff commands -----------------------------------------------------------------
def test_the_audit_log_shows_who_did_what_to_admins(admin, console_app):
    Staff(console_app, "bob", "viewer").sign_in("wrong password here")
    html = admin.client.get("/console/audit").get_data(as_text=True)

    assert "signed in" in html and "alice" in html
    assert "Failed sign-ins" in html and "bob (1)" in html
    assert not re.search(r"\+?1?\d{10}", html)


def test_staff_add_prints_the_second_factor_once_and_list_shows_it(console_app):
    runner = console_app.test_cli_runner()
    added = runner.invoke(args=["staff", "add", "Dana", "--role", "admin"])

    assert added.exit_code == 0, added.output
    assert "otpauth://totp/Helpline%20console:dana" in added.output
    assert len(re.findall(r"^  [0-9a-f]{6}-[0-9a-f]{6}$", added.output, re.M)) == 8
    password = re.search(r"password: (\S+)", added.output).group(1)
    secret = re.search(r"TOTP secret: (\w+)", added.output).group(1)
    client = console_app.test_client()
    token = token_of(client.get("/console/login").get_data(as_text=True))
    signed = client.post("/console/login", data={"csrf_token": token, "username": "dana",
                                                 "password": password,
                                                 "code": pyotp.TOTP(secret).now()})
    assert signed.status_code == 302

    listed = runner.invoke(args=["staff", "list"])
    assert "dana" in listed.output and "admin" in listed.output and "8 recovery codes" in listed.output
    disabled = runner.invoke(args=["staff", "disable", "dana"])
    assert disabled.exit_code == 0
    assert client.get("/console/").status_code == 302
    assert "disabled" in runner.invoke(args=["staff", "list"]).output


@pytest.mark.parametrize("name", ["+16125550123", "6125550123", "a", "x" * 41, "bad name"])
def test_staff_names_that_are_not_names_are_refused(console_app, name):
    result = console_app.test_cli_runner().invoke(args=["staff", "add", name])

    assert result.exit_code != 0
    assert "user name" in result.output


# --- production ---------------------------------------------------------------------------------
def production(redis_url, **extra):
    return make_settings(redis_url, HELPLINE_ENV="production", HELPLINE_SECRET=SECRET,
                         OUTBOUND_TEXTS="off", **extra)


def test_production_requires_the_second_factor_and_secure_cookies(redis_url, redis_client):
    app = create_app(production(redis_url))
    refused = app.test_cli_runner().invoke(args=["staff", "add", "bob", "--no-totp"])
    assert refused.exit_code != 0 and "second factor is required" in refused.output
    with app.app_context():  # an account made without one (e.g. by hand) cannot sign in
        app.extensions["console"].accounts.add("nofactor", "viewer", PASSWORD, totp=False)
    bare = Staff.__new__(Staff)
    bare.__dict__.update(app=app, username="nofactor", client=app.test_client(),
                         enrolment=type("E", (), {"totp_secret": None})())
    assert bare.sign_in(code="").status_code == 401

    staff = Staff(app, "bob", "viewer")
    assert staff.sign_in().status_code == 302
    assert staff.client.get_cookie("helpline_console").secure


@pytest.mark.parametrize("name", ["ADMIN_PASSWORD", "METRICS_TOKEN"])
def test_production_refuses_weak_admin_and_metrics_secrets(redis_url, name):
    with pytest.raises(ConfigError, match=name):
        production(redis_url, **{name: "hunter2"})
    with pytest.raises(ConfigError, match=name):
        production(redis_url, **{name: "a" * 40})
    assert production(redis_url, **{name: secrets.token_urlsafe(24)})


# --- the RQ dashboard behind the admin role -------------------------------------------------------
def basic(password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()}


def test_admins_reach_the_queues_and_no_get_changes_state(admin, redis_client):
    queue = rq.Queue("probe", connection=redis_client)
    job = queue.enqueue("os.getcwd")
    job.set_status("failed")
    queue.failed_job_registry.add(job, -1)

    assert admin.client.get("/admin/rq/").status_code == 200
    requeue = "/admin/rq/requeue/probe"
    assert admin.client.get(requeue, headers={"Referer": "https://evil.example/"}).status_code == 405
    assert admin.client.get(requeue).status_code == 405
    assert queue.failed_job_registry.count == 1
    assert admin.client.post(requeue, headers={"Origin": "https://evil.example"}).status_code == 403
    assert queue.failed_job_registry.count == 1
    assert admin.client.post(requeue, headers={"Origin": "http://localhost"}).status_code == 200
    assert queue.failed_job_registry.count == 0


def test_the_deprecated_admin_password_still_works_and_is_throttled(redis_url, redis_client):
    app = create_app(make_settings(redis_url, ADMIN_PASSWORD=PASSWORD))
    client = app.test_client()
    assert client.get("/admin/rq/", headers=basic(PASSWORD)).status_code == 200
    for _ in range(10):
        assert client.get("/admin/rq/", headers=basic("wrong guess")).status_code == 401
    throttled = client.get("/admin/rq/", headers=basic(PASSWORD))
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) > 0


def test_console_keys_expire_unless_they_are_accounts_or_the_audit_log(admin, console_app,
                                                                       redis_client):
    Staff(console_app, "bob", "viewer").sign_in("wrong password here")
    persistent = re.compile(r"hl:staff:(index|audit|user:[a-z][\w.-]+|recovery:[a-z][\w.-]+)$")
    found = {k.decode(): redis_client.ttl(k) for k in redis_client.scan_iter(match="hl:staff:*")}

    assert {k for k in found if k.startswith("hl:staff:session:")}
    for key, ttl in found.items():
        assert (ttl == -1) == bool(persistent.match(key)), (key, ttl)
    assert {k.rsplit(":", 1)[1] for k in found if ":fail:" in k} == {
        console_app.config["HELPLINE"].vault.token("console-ip:127.0.0.1")}  # not the address
