"""Procfile, Dockerfile, docker-compose.yml and .dockerignore agree with each other and the code.

There is no Docker engine on the test machine: the files are parsed and cross-checked, and the
image's HEALTHCHECK command is run against a live app.
"""
from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml
from werkzeug.serving import make_server

from bot import create_app
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parent.parent
WEB = ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
WORKER = ["python", "worker.py"]
NEEDED_IN_IMAGE = ["bot/__init__.py", "bot/channels/sms.py", "flows/main.yaml",
                   "content/en/menu.yaml", "wsgi.py", "worker.py", "gunicorn.conf.py",
                   "requirements.txt"]


def procfile() -> dict[str, list[str]]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return {name.strip(): shlex.split(command) for name, command in
            (line.split(":", 1) for line in lines if line.strip() and not line.startswith("#"))}


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def dockerignored(path: str) -> bool:
    """Docker's rule for our simple patterns: a path is out if it or a parent folder matches."""
    patterns = [p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines()
                if p.strip() and not p.startswith("#")]
    parts = path.split("/")
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    return any(fnmatch.fnmatch(c, p) or fnmatch.fnmatch(c, p.replace("**/", "*/"))
               or (p.startswith("**/") and fnmatch.fnmatch(c.rsplit("/", 1)[-1], p[3:]))
               for c in candidates for p in patterns)


def test_procfile_runs_the_contract_commands():
    assert procfile() == {"web": WEB, "worker": WORKER}


@pytest.mark.parametrize("script", ["gunicorn.conf.py", "wsgi.py", "worker.py"])
def test_the_files_the_procfile_names_exist(script):
    assert (ROOT / script).is_file(), f"Procfile and docker-compose.yml run {script}"


def test_dockerfile_builds_a_slim_non_root_gunicorn_image():
    steps = dockerfile()
    instructions = [word for word, _ in steps]
    assert steps[0] == ("FROM", "python:3.11-slim")
    assert ("RUN", "pip install -r requirements.txt") in steps
    assert not any("requirements-dev" in args for _, args in steps)  # no test tools inside
    users = [args for word, args in steps if word == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert instructions.index("USER") < instructions.index("CMD")
    assert json.loads(dict(steps)["CMD"]) == WEB
    assert dict(steps)["EXPOSE"] == "8000"
    assert "/healthz" in dict(steps)["HEALTHCHECK"]


def test_dockerignore_keeps_secrets_and_clutter_out_but_the_app_in():
    for path in (".git/config", ".venv/bin/python", ".env", "var/valkey/dump.rdb",
                 "bot/__pycache__/store.cpython-311.pyc", "tests/conftest.py"):
        assert dockerignored(path), path
    for path in NEEDED_IN_IMAGE:
        assert not dockerignored(path), path
    for word, args in dockerfile():
        if word == "COPY":
            *sources, _ = args.split()
            for source in sources:
                assert source == "." or (ROOT / source).exists() and not dockerignored(source)


def test_compose_runs_web_worker_and_a_durable_redis():
    spec = compose()
    assert "version" not in spec  # obsolete in the Compose Specification
    web, worker, redis = (spec["services"][name] for name in ("web", "worker", "redis"))
    assert web["command"] == WEB and worker["command"] == WORKER
    assert "ports" not in web  # only the reverse proxy (deploy/Caddyfile) faces clients
    assert spec["services"]["proxy"]["ports"] == ["80:80", "443:443", "443:443/udp"]
    assert worker["healthcheck"] == {"disable": True}  # it serves no /healthz
    assert redis["image"].startswith("redis:7")
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command and "--maxmemory-policy noeviction" in command
    assert "--maxmemory ${REDIS_MAXMEMORY:-256mb}" in command
    volume, _, mount = redis["volumes"][0].partition(":")
    assert mount == "/data" and volume in spec["volumes"]
    assert "ports" not in redis  # Redis is never published outside the compose network
    for service in (web, worker):
        env = service["environment"]
        assert env["REDIS_URL"] == "redis://redis:6379/0" and env["HELPLINE_ENV"] == "production"
        assert env["HELPLINE_SECRET"].startswith("${HELPLINE_SECRET:?")
        assert env["TWILIO_AUTH_TOKEN"].startswith("${TWILIO_AUTH_TOKEN:?")
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
        assert service["env_file"] == ".env"  # every other setting arrives from .env
        assert "/var/cache/helpline" in " ".join(service["volumes"])


def test_every_setting_compose_passes_is_one_the_app_reads():
    from tests.test_settings_coverage import settings_read_by_code

    known = settings_read_by_code()
    for name in compose()["services"]["web"]["environment"]:
        assert name in known, name


def test_compose_runs_the_doctor_once_after_web_and_worker():
    doctor = compose()["services"]["doctor"]
    assert doctor["command"][:4] == ["flask", "--app", "wsgi", "doctor"]
    assert doctor["restart"] == "no"
    assert set(doctor["depends_on"]) == {"redis", "web", "worker"}
    assert doctor["env_file"] == ".env"


def test_compose_serves_https_with_caddy_and_keeps_its_certificates():
    spec = compose()
    proxy = spec["services"]["proxy"]
    assert proxy["image"].startswith("caddy:")
    mounts = dict(v.split(":")[:2] for v in proxy["volumes"])
    assert mounts["caddy-data"] == "/data" and "caddy-data" in spec["volumes"]
    assert proxy["environment"]["PUBLIC_BASE_URL"].startswith("${PUBLIC_BASE_URL:?")


@pytest.fixture()
def serve():
    """Run an app on a free port the way the container's HEALTHCHECK will reach it."""
    servers = []

    def start(app) -> int:
        server = make_server("127.0.0.1", 0, app)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server.server_port

    yield start
    for server in servers:
        server.shutdown()


def healthcheck(port: int) -> int:
    command = dict(dockerfile())["HEALTHCHECK"].split(" CMD ", 1)[1]
    env = {**os.environ, "PORT": str(port),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(["sh", "-c", command], env=env, capture_output=True,
                          timeout=30).returncode


def test_the_image_healthcheck_passes_with_redis_and_fails_without(app, serve):
    down = create_app(make_settings("redis://127.0.0.1:1/0"))

    assert healthcheck(serve(app)) == 0
    assert healthcheck(serve(down)) != 0


def test_the_image_holds_what_the_service_reads_and_nothing_for_tests_or_secrets():
    """The image's file set: the repository's files less .dockerignore's patterns."""
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    image = {f for f in files if not dockerignored(f)}
    for folder in ("bot/", "content/", "flows/"):
        wanted = {f for f in files if f.startswith(folder)}
        assert wanted <= image, sorted(wanted - image)[:5]
    for name in ("wsgi.py", "worker.py", "gunicorn.conf.py", "requirements.txt"):
        assert name in image, name
    for f in image:
        assert not f.startswith(("tests/", "bench/", "deploy/", "docs/", ".ci/", ".env")), f
