"""Flask CLI commands for operators and content editors (flask --app wsgi ...): chat, the
flows and content checks, and doctor (bot/ops/doctor.py)."""
from __future__ import annotations

import sys
import time
from datetime import datetime, timezone

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from bot.conversation.checks import check_content, reading_problem
from bot.conversation.flows import FlowError, load_flow, validate
from bot.ops import doctor

flows_cli = AppGroup("flows", help="Check the menu graph in flows/.")
content_cli = AppGroup("content", help="Check the message templates in content/.")


@flows_cli.command("check")
def flows_check() -> None:
    """Load flows/*.yaml and report broken targets, dead ends, unreachable nodes, missing content."""
    helpline = current_app.config["HELPLINE"]
    try:
        flow = load_flow(helpline.settings.flows_dir)
        validate(flow, helpline.content.keys())
    except FlowError as exc:
        raise click.ClickException(str(exc))
    errors = doctor.topic_problems(flow, helpline.engine.lexicons)
    if errors:
        raise click.ClickException("\n".join(errors))
    click.echo(f"flows OK: {len(flow.nodes)} nodes in {', '.join(flow.files)}")


@content_cli.command("check")
@click.option("--verbose", "-v", is_flag=True, help="Print every message as a phone shows it.")
def content_check(verbose: bool) -> None:
    """Render every message; fail on template errors, missing keys or SMS over budget."""
    helpline = current_app.config["HELPLINE"]
    reports, errors = check_content(helpline.content, helpline.flow)
    for extra_check in helpline.extras.get("content_checks", []):
        errors += extra_check(helpline)
    for r in reports:
        # English: Flesch-Kincaid grade. Spanish: Fernández-Huerta ease (60 or more is about
        # grade 8 or below); the English grade of a Spanish text is shown but means little.
        # Both are measured as read, a line break ending a sentence (checks.as_read).
        hard = r.channel == "sms" and reading_problem(r.locale, r.key, r.text)
        flag = "  <- too hard to read" if hard else ""
        ease = "" if r.ease is None else f"  Fernandez-Huerta {r.ease:5.1f}"
        click.echo(f"{r.locale:3} {r.channel:5} {r.key:28} {r.segments} seg {r.encoding:5} "
                   f"grade {r.grade:4.1f}{ease}{flag}")
        if verbose:
            click.echo("    " + r.text.replace("\n", "\n    ") + "\n")
    for error in errors:
        click.echo(f"ERROR {error}", err=True)
    if errors:
        raise click.ClickException(f"{len(errors)} content problem(s)")
    click.echo(f"content OK: {len(reports)} renderings in {', '.join(helpline.content.locales)}")


@click.command("chat")
@click.option("--from", "number", default="+15555550123", show_default=True,
              help="The phone number to pretend to text from.")
def chat(number: str) -> None:
    """Text the helpline from the terminal: real engine, real Redis. Pipe lines to script it."""
    helpline = current_app.config["HELPLINE"]
    interactive = sys.stdin.isatty()
    if interactive:
        click.echo("Chatting with the helpline. Type a message; Ctrl-D to quit. "
                   "An empty line shows texts sent to you since (check-ins).\n")
    while True:
        try:
            line = input("you> " if interactive else "")
        except EOFError:
            break
        if not interactive:
            click.echo(f"you> {line}")
        if line.strip():  # an empty line only looks for texts that arrived meanwhile
            answer = helpline.conversations.handle(number, line, datetime.now(timezone.utc))
            for text in answer.messages:
                click.echo("bot> " + text.replace("\n", "\n     ") + "\n")
        for hook in helpline.extras.get("chat_hooks", []):
            hook(helpline, number)


@click.command("doctor")
@with_appcontext
@click.option("--wait", default=0, show_default=True, type=int,
              help="Seconds to keep trying until every check passes (a deployment starting up).")
def doctor_command(wait: int) -> None:
    """Check this deployment: settings, Redis, workers, scheduler, model, content, time."""
    helpline = current_app.config["HELPLINE"]
    deadline = time.monotonic() + wait
    content = doctor.content_findings(helpline)
    while True:
        findings = doctor.run(helpline, content=content)
        failed = doctor.problems(findings)
        if not failed or time.monotonic() >= deadline:
            break
        time.sleep(2)
    for finding in findings:
        click.echo(f"{finding.level:4} {finding.area:8} {finding.message}")
    if failed:
        raise click.ClickException(f"doctor: {len(failed)} problem(s) to fix (the FAIL lines)")
    click.echo("doctor: all checks passed")


def init_app(app: Flask) -> None:
    app.cli.add_command(flows_cli)
    app.cli.add_command(content_cli)
    app.cli.add_command(chat)
    app.cli.add_command(doctor_command)
