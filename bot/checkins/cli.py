"""`flask --app wsgi checkins ...`: operate check-ins without reading Redis by hand.

    checkins dispatch [--at ISO-TIME]   enqueue what is due at that time (safe to repeat)
    checkins due [--at ISO-TIME]        how many are due then (a count, never who)
    (an ISO time without a zone, 2026-12-01T09:30, is the helpline's local time)
    checkins stats [--days N]           subscribers, in flight, and daily counts
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from bot.checkins import jobs

checkins_cli = AppGroup("checkins", help="Check-in texts: dispatch, due, stats.")


def parse_at(value: str | None) -> datetime:
    """ISO time; without a zone it is the helpline's local time (HELPLINE_TIMEZONE)."""
    if not value:
        return datetime.now(timezone.utc)
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO time like 2025-03-04T09:30 "
                                 "or 2025-03-04T15:30+00:00", param_hint="--at") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=current_app.config["HELPLINE"].settings.tz)
    return when.astimezone(timezone.utc)


def _runtime() -> jobs.Runtime:
    return jobs.Runtime.of(current_app.config["HELPLINE"])


@checkins_cli.command("dispatch")
@click.option("--at", "at", help="Act as if it were this time (ISO); without a zone it is the "
              "helpline's local time (HELPLINE_TIMEZONE); default now.")
def dispatch(at: str | None) -> None:
    """Enqueue the check-ins due at --at; run it again and nothing is enqueued twice."""
    when = parse_at(at)
    counts = jobs.dispatch(_runtime(), when)
    summary = ", ".join(f"{name} {n}" for name, n in sorted(counts.items())) or "nothing due"
    click.echo(f"dispatch at {when.isoformat()}: {summary}")


@checkins_cli.command("due")
@click.option("--at", "at", help="Count what is due at this time (ISO); without a zone it is "
              "the helpline's local time (HELPLINE_TIMEZONE); default now.")
def due(at: str | None) -> None:
    """How many check-ins are due at --at (not yet dispatched)."""
    when = parse_at(at)
    click.echo(f"{_runtime().subs.count_due(when.timestamp())} due at {when.isoformat()}")


@checkins_cli.command("stats")
@click.option("--days", default=2, show_default=True, help="Days of daily counts to show.")
def stats(days: int) -> None:
    """Subscribers, check-ins in flight, and anonymous daily counts (UTC days)."""
    subs = _runtime().subs
    now = datetime.now(timezone.utc)
    click.echo(f"subscribers: {subs.live_count()} (active, paused or on hold)")
    click.echo(f"due now: {subs.count_due(now.timestamp())}   in flight: {subs.in_flight()}")
    for back in range(days):
        day = (now - timedelta(days=back)).strftime("%Y-%m-%d")
        counts = subs.stats(day)
        line = ", ".join(f"{name} {n}" for name, n in sorted(counts.items())) or "nothing"
        click.echo(f"{day}: {line}")


def init_app(app: Flask) -> None:
    app.cli.add_command(checkins_cli)
