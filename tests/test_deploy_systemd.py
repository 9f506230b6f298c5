"""Issue 26, item 4: systemd units for one machine without Docker (deploy/systemd/).

`systemd-analyze verify` (Debian's systemd package) checks each unit as systemd would load it:
with the install prefix /opt/helpline pointed at a stand-in tree, because verify also checks
that the commands exist. Any warning (an unknown key, a typo) fails the test.
"""
from __future__ import annotations

import configparser
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UNITS = sorted((ROOT / "deploy" / "systemd").glob("*.service"))
PREFIX = "/opt/helpline"


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read_string(path.read_text())
    return parser


def test_there_is_a_unit_for_the_web_and_one_for_the_worker():
    assert [p.name for p in UNITS] == ["helpline-web.service", "helpline-worker.service"]
    web, worker = (unit(p)["Service"] for p in UNITS)
    assert web["ExecStart"] == f"{PREFIX}/.venv/bin/gunicorn -c gunicorn.conf.py wsgi:app"
    assert worker["ExecStart"] == f"{PREFIX}/.venv/bin/python worker.py"
    assert "127.0.0.1:8000" in web.get("Environment", "") or any(
        "GUNICORN_BIND=127.0.0.1:8000" in line for line in (ROOT / "deploy" / "systemd" /
                                                            "helpline-web.service").read_text().splitlines())


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_each_unit_restarts_always_as_a_private_user_with_the_env_file(path):
    service = unit(path)["Service"]
    assert service["Restart"] == "always"
    assert service["DynamicUser"] == "yes" and service["User"] == "helpline"
    assert service["EnvironmentFile"] == "/etc/helpline/helpline.env"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"  # content reload (worker.py)
    assert service["ProtectSystem"] == "strict" and service["NoNewPrivileges"] == "yes"
    assert service["WorkingDirectory"] == PREFIX
    assert unit(path)["Install"]["WantedBy"] == "multi-user.target"


def test_systemd_analyze_verify_accepts_both_units_without_a_warning(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        if os.environ.get("CI"):
            pytest.fail("systemd-analyze is missing: .ci/run installs Debian's systemd package")
        pytest.skip("systemd-analyze not installed (apt-get install systemd)")
    prefix = tmp_path / "opt" / "helpline"
    (prefix / ".venv" / "bin").mkdir(parents=True)
    for name in ("gunicorn", "python", "flask"):
        stub = prefix / ".venv" / "bin" / name
        stub.write_text("#!/bin/sh\n")
        stub.chmod(0o755)
    copies = []
    for path in UNITS:
        copy = tmp_path / path.name
        copy.write_text(path.read_text().replace(PREFIX, str(prefix)))
        copies.append(str(copy))
    done = subprocess.run([analyze, "verify", *copies], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "SYSTEMD_LOG_LEVEL": "notice"})
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr  # an unknown key is only a warning: none here
