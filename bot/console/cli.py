"""`flask --app wsgi staff add/list/disable/reset/unlock`: console accounts from the command line.

The first admin is made here. `add` and `reset` print the password (when generated), the TOTP
secret and provisioning URI, and the recovery codes exactly once; only hashes are kept.
"""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from bot.console.accounts import ROLES, AccountError, check_name


def _console():
    return current_app.extensions["console"]


def _show(name: str, enrolment) -> None:
    if enrolment.password:
        click.echo(f"password: {enrolment.password}")
    if enrolment.totp_secret:
        click.echo(f"TOTP secret: {enrolment.totp_secret}")
        click.echo(f"TOTP URI (paste or make a QR code for an authenticator app):\n  "
                   f"{enrolment.totp_uri}")
        click.echo("recovery codes (each works once instead of a code; keep them offline):")
        for code in enrolment.recovery_codes:
            click.echo(f"  {code}")
    click.echo("These are shown only now.")


@click.group("staff")
def staff() -> None:
    """Console accounts: add, list, disable, reset, unlock."""


@staff.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), default="viewer", show_default=True)
@click.option("--password", envvar="STAFF_PASSWORD", default=None,
              help="Default: a random one, printed once. Or set STAFF_PASSWORD.")
@click.option("--no-totp", is_flag=True, help="No second factor (development only).")
@with_appcontext
def add(username: str, role: str, password: str | None, no_totp: bool) -> None:
    """Create an account (the first admin: --role admin)."""
    c = _console()
    if no_totp and not c.helpline.settings.is_development:
        raise click.ClickException("a second factor is required outside development")
    try:
        enrolment = c.accounts.add(username, role, password, totp=not no_totp)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    name = username.strip().lower()
    c.audit.record("cli", "account added", f"{name} ({role})")
    click.echo(f"added {name} ({role})")
    _show(name, enrolment)


@staff.command("list")
@with_appcontext
def list_() -> None:
    """Accounts with role, state (active, locked, disabled), second factor and recovery codes."""
    c = _console()
    for a in c.accounts.all():
        state = "active" if a.active else "disabled"
        locked = c.lockout.locked_from(a.username, c.clock())
        if locked and a.active:
            state = f"locked ({locked} address{'es' if locked > 1 else ''})"
        factor = f"TOTP, {c.accounts.recovery_left(a.username)} recovery codes" if a.has_totp \
            else "no second factor"
        click.echo(f"{a.username:24} {a.role:9} {state:20} {factor}")


@staff.command("disable")
@click.argument("username")
@with_appcontext
def disable(username: str) -> None:
    """Stop an account signing in and end its sessions now."""
    c = _console()
    try:
        c.accounts.disable(username)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    c.audit.record("cli", "account disabled", username.strip().lower())
    click.echo(f"disabled {username.strip().lower()}")


@staff.command("reset")
@click.argument("username")
@click.option("--password", envvar="STAFF_PASSWORD", default=None)
@click.option("--keep-totp", is_flag=True, help="Keep the second factor; only a new password.")
@with_appcontext
def reset(username: str, password: str | None, keep_totp: bool) -> None:
    """New password and second factor; re-enables the account, ends its sessions."""
    c = _console()
    try:
        enrolment = c.accounts.reset(username, password, totp=not keep_totp)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    c.lockout.unlock(username.strip().lower())
    c.audit.record("cli", "account reset", username.strip().lower())
    click.echo(f"reset {username.strip().lower()}")
    _show(username, enrolment)


@staff.command("unlock")
@click.argument("username")
@with_appcontext
def unlock(username: str) -> None:
    """Lift the sign-in locks on an account; its password and second factor stay."""
    c = _console()
    try:
        name = check_name(username)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    if c.accounts.get(name) is None:
        raise click.ClickException(f"no account {name}")
    lifted = c.lockout.unlock(name)
    c.audit.record("cli", "account unlocked", f"{name} ({lifted} locked addresses)")
    click.echo(f"unlocked {name} ({lifted} locked addresses)")
