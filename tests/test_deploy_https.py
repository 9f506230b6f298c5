"""Issue 26, item 3: https at the proxy, with HSTS, for the compose set-up (Caddy) and for nginx.

Caddy's own parser checks deploy/Caddyfile when the caddy binary is installed (Debian's `caddy`
package; .ci/run installs it); the structure is checked either way. nginx's file is checked for
its TLS server, the certificate path the docs name, the http-to-https redirect and HSTS.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CADDYFILE = ROOT / "deploy" / "Caddyfile"
NGINX = ROOT / "deploy" / "nginx.conf"
TWO_YEARS = 63072000


def blocks(text: str) -> dict[str, str]:
    """Top-level Caddyfile blocks by their address line ("" for the global options block)."""
    found, depth, head, body = {}, 0, None, []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip() if not raw.strip().startswith("header") else raw.strip()
        if not line:
            continue
        if depth == 0 and line.endswith("{"):
            head, body = line[:-1].strip(), []
        elif depth > 0:
            body.append(line)
        depth += line.count("{") - line.count("}")
        if depth == 0 and head is not None:
            found[head] = "\n".join(body)
            head = None
    return found


def test_the_caddyfile_serves_public_base_url_over_https_with_hsts():
    sites = blocks(CADDYFILE.read_text())
    assert set(sites) == {"", "{$PUBLIC_BASE_URL}"}  # global options, and the one site
    site = sites["{$PUBLIC_BASE_URL}"]
    hsts = re.search(r'header Strict-Transport-Security "max-age=(\d+); includeSubDomains"', site)
    assert hsts and int(hsts.group(1)) >= 31536000  # a year at least
    assert "reverse_proxy {$UPSTREAM}" in site
    assert "email {$ACME_EMAIL}" in sites[""]  # Let's Encrypt's account


def test_caddy_itself_accepts_the_caddyfile(tmp_path):
    caddy = shutil.which("caddy")
    if caddy is None:
        if os.environ.get("CI"):
            pytest.fail("caddy is not installed: .ci/run installs Debian's caddy package")
        pytest.skip("caddy not installed (apt-get install caddy); the structure was checked")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path), "PUBLIC_BASE_URL": "https://help.example.org",
           "ACME_EMAIL": "ops@example.org", "UPSTREAM": "127.0.0.1:8000"}
    done = subprocess.run([caddy, "validate", "--config", str(CADDYFILE), "--adapter",
                           "caddyfile"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Valid configuration" in done.stdout + done.stderr


def test_nginx_redirects_http_to_https_and_sends_hsts_with_the_documented_certificate():
    conf = NGINX.read_text()
    servers = re.split(r"^\s*server\s*\{", conf, flags=re.M)[1:]
    plain = next(s for s in servers if re.search(r"listen 80;", s))
    tls = next(s for s in servers if re.search(r"listen 443 ssl", s))
    assert "return 308 https://$host$request_uri;" in plain
    assert "/.well-known/acme-challenge/" in plain  # certbot's http-01 still works
    assert "ssl_certificate /etc/nginx/certs/fullchain.pem;" in tls
    assert "ssl_certificate_key /etc/nginx/certs/privkey.pem;" in tls
    assert (f'add_header Strict-Transport-Security "max-age={TWO_YEARS}; includeSubDomains" '
            "always;") in tls
    assert "proxy_pass http://helpline;" in tls and "proxy_pass" not in plain
    docs = (ROOT / "docs" / "deploying-and-scaling.md").read_text()
    assert "/etc/nginx/certs/fullchain.pem" in docs
