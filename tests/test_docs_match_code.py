"""Issue 26, item 8: the mismatches a newcomer met between the docs and the code stay fixed.

(Every setting against docs/settings.md and .env.example: tests/test_settings_coverage.py.)
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

from bot import create_app
from tests.conftest import ROOT, make_settings


def readme_sections() -> set[str]:
    return {line.lstrip("#").strip() for line in (ROOT / "README.md").read_text().splitlines()
            if line.startswith("#")}


def test_every_readme_section_the_deployment_files_name_exists():
    for name in ("Dockerfile", "docker-compose.yml", "deploy/nginx.conf", "deploy/Caddyfile"):
        for section in re.findall(r'README:? "([^"]+)"', (ROOT / name).read_text()):
            assert section in readme_sections(), f"{name} names README section {section!r}"


def test_the_sms_throughput_headline_quotes_the_rounds_it_comes_from():
    """docs/benchmarks.md's table once said 2,228 req/s while its latest rounds said 976-1,538."""
    text = (ROOT / "docs" / "benchmarks.md").read_text()
    rounds = [int(n.replace(",", "")) for row in re.findall(r"^\| (?:before|after) \|.*$", text, re.M)
              for n in re.findall(r"\d{1,3},\d{3}|\b\d{3}\b", row.split("|")[-2])]
    low, high = f"{min(rounds):,}", f"{max(rounds):,}"
    headline = next(line for line in text.splitlines() if line.startswith("| `/sms` through"))
    assert f"{low} to {high} requests/s" in headline
    readme = next(line for line in (ROOT / "README.md").read_text().splitlines()
                  if line.startswith("| `/sms` through"))
    assert f"{low}-{high} requests/s" in readme


def test_port_8000_in_production_and_5000_for_make_run_are_both_explained():
    settings = (ROOT / "docs" / "settings.md").read_text()
    row = next(line for line in settings.splitlines() if line.startswith("| `PORT` |"))
    assert "8000" in row and "5000" in row and "make run" in row
    assert "get('PORT', '8000')" in (ROOT / "gunicorn.conf.py").read_text()
    assert 'get("PORT", "5000")' in (ROOT / "scripts" / "devstack.py").read_text()


def test_checkins_at_says_it_reads_local_time(app):
    result = app.test_cli_runner().invoke(args=["checkins", "due", "--help"])
    assert "helpline's local time (HELPLINE_TIMEZONE)" in " ".join(result.output.split())
    assert "without a zone" in (ROOT / "docs" / "checkins-and-reminders.md").read_text()


def test_flows_check_enforces_entry_for_a_screen_only_a_keyword_opens(redis_url, redis_client,
                                                                      tmp_path):
    """A keyword that opens a screen no menu option reaches: that screen must say entry: true."""
    flows, content = tmp_path / "flows", tmp_path / "content"
    shutil.copytree(ROOT / "flows", flows)
    shutil.copytree(ROOT / "content", content)
    main = flows / "main.yaml"
    text = main.read_text()
    text = text.replace("      - {key: 5, goto: fentanyl}\n",
                        "      - {key: 5, goto: fentanyl}\n      - {key: 6, goto: kit_card}\n", 1)
    main.write_text(text + "\n  kit_card:\n    say: naloxone.about\n"
                           "    options:\n      - {key: 1, goto: naloxone_where}\n")
    keywords = content / "en" / "keywords.yaml"
    keywords.write_text(keywords.read_text().replace("topics:\n", "topics:\n  kit_card: [kit card]\n", 1))
    app = create_app(make_settings(redis_url, flows_dir=flows, content_dir=content))
    result = app.test_cli_runner().invoke(args=["flows", "check"])
    assert result.exit_code != 0
    assert ("main.yaml: node 'kit_card' is opened by a keyword in en/keywords.yaml but no option "
            "leads to it: mark it 'entry: true'") in result.output

    main.write_text(main.read_text().replace("  kit_card:\n", "  kit_card:\n    entry: true\n"))
    app = create_app(make_settings(redis_url, flows_dir=flows, content_dir=content))
    assert app.test_cli_runner().invoke(args=["flows", "check"]).exit_code == 0


def test_the_readme_gives_the_production_path_in_about_ten_lines():
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Running it for real"):]
    section = section[:section.index("\n## ", 3)]
    lines = [line for line in section.splitlines()[1:] if line.strip()]
    assert len(lines) <= 14  # the commands and what to do at Twilio, no more
    for needed in ("cp .env.example .env", "docker compose up -d --build",
                   "docker compose logs doctor", "flask --app wsgi staff add",
                   "/sms", "/voice", "(docs/deploying-and-scaling.md)"):
        assert needed in section, needed
