"""`flask --app wsgi places ...`: the live sites at the command line.

    places list                 every site: status, last check, offered today or not
    places export DIR           write the HSDS CSV files (organizations, locations, phones, services)
    places import DIR [--yes]   show what the files would change; --yes makes the changes, audited
    places yaml [--write]       the region's YAML file from the live sites (print, or write it)
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from bot.places import hsds, yamlfile

places = AppGroup("places", help="Naloxone sites: list, HSDS CSV import and export, the YAML file.")


def _helpline():
    helpline = current_app.config["HELPLINE"]
    helpline.sites.refresh(force=True)
    return helpline


@places.command("list")
def list_sites() -> None:
    """Every site with its status, last check and whether it is offered today."""
    helpline = _helpline()
    today, max_days = datetime.now(timezone.utc).date(), helpline.settings.sites_verify_max_days
    for s in helpline.sites.registry.sites():
        offered = "offered" if s.offered(today, max_days) else "NOT offered"
        click.echo(f"{s.id:32} {s.status:18} checked {s.verified or 'never':10} {offered}")


@places.command("export")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
def export(folder: Path) -> None:
    """Write the live sites as HSDS CSV files into FOLDER."""
    sites = _helpline().sites.registry.sites()
    for path in hsds.write_dir(folder, sites):
        click.echo(f"wrote {path}")
    click.echo(f"{len(sites)} sites")


@places.command("import")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Make the changes (without it, only show them).")
def import_(folder: Path, yes: bool) -> None:
    """Show what the HSDS files in FOLDER would change; with --yes, make the changes."""
    helpline = _helpline()
    registry = helpline.sites.registry
    try:
        reading = hsds.read(hsds.read_dir(folder), registry.bounds)
    except hsds.HSDSError as exc:
        raise click.ClickException(str(exc))
    for problem in reading.problems:
        click.echo(f"SKIPPED {problem}", err=True)
    delta = hsds.diff(reading.records, registry.sites(), registry.bounds)
    for record in delta.added:
        click.echo(f"+ {record['id']}: new site {record['name']!r}")
    for record, fields in delta.changed:
        click.echo(f"~ {record['id']}: " + "; ".join(f"{f} {old!r} -> {new!r}"
                                                    for f, old, new in fields))
    for site in delta.missing:
        click.echo(f"  {site.id}: live, not in the files (kept; retire it in the console if "
                   "it closed)")
    click.echo(f"{len(delta.added)} new, {len(delta.changed)} changed, {len(delta.same)} the same")
    if not yes:
        click.echo("Nothing changed: run again with --yes to make these changes.")
        return
    for record in delta.added + [r for r, _ in delta.changed]:
        registry.put(registry.check(record), "cli", f"imported from {folder.name}")
    helpline.sites.refresh(force=True)
    click.echo(f"{delta.count} change(s) made")


@places.command("yaml")
@click.option("--write", is_flag=True, help="Write the region's file instead of printing it.")
def to_yaml(write: bool) -> None:
    """The region's naloxone_sites.yaml from the live sites (comments and statewide kept)."""
    helpline = _helpline()
    path = helpline.settings.content_dir / helpline.settings.region / "naloxone_sites.yaml"
    text = yamlfile.render(path.read_text(encoding="utf-8"), helpline.sites.registry.sites())
    if write:
        path.write_text(text, encoding="utf-8")
        click.echo(f"wrote {path}")
    else:
        click.echo(text, nl=False)


def init_app(app) -> None:
    app.cli.add_command(places)
