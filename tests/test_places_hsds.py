"""Sites in and out as Open Referral HSDS CSV, and the YAML file, at the command line.

An operator exports the live sites, a partner edits them, the import shows what would change and
changes nothing until --yes; then texters get the new data. The YAML written back loads as the
region's file again.
"""
from __future__ import annotations

import csv
import io

import pytest

from bot.places import hsds
from bot.places.locator import Locator
from tests.conftest import Texter


def rows(path):
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def write_rows(path, records):
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(records[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    path.write_text(buffer.getvalue(), encoding="utf-8")


@pytest.fixture()
def exported(app, tmp_path):
    result = app.test_cli_runner().invoke(args=["places", "export", str(tmp_path)])
    assert result.exit_code == 0, result.output
    return tmp_path


def test_export_then_import_changes_nothing(app, exported):
    assert sorted(p.name for p in exported.iterdir()) == sorted(hsds.FILES)
    services = rows(exported / "services.csv")
    assert len(services) == 12 and {s["status"] for s in services} == {"active"}
    assert len(rows(exported / "locations.csv")) == 8     # four agencies have no place
    result = app.test_cli_runner().invoke(args=["places", "import", str(exported)])
    assert "0 new, 0 changed, 12 the same" in result.output


def test_an_import_shows_its_diff_and_changes_nothing_until_yes(app, client, exported):
    phones = rows(exported / "phones.csv")
    for row in phones:
        if row["organization_id"] == "raan-duluth":
            row["number"] = "(218) 481-0000"
    write_rows(exported / "phones.csv", phones)
    services = rows(exported / "services.csv")
    for row in services:
        if row["organization_id"] == "raan-mankato":
            row["status"] = "temporarily closed"
    write_rows(exported / "services.csv", services)
    organizations = rows(exported / "organizations.csv")
    organizations.append({"id": "rochester-harm-reduction", "name": "Rochester Harm Reduction",
                          "alternate_name": "Rochester HR", "description": "test"})
    organizations.append({"id": "bad-phone", "name": "Bad Phone", "alternate_name": "Bad",
                          "description": "test"})
    write_rows(exported / "organizations.csv", organizations)
    with (exported / "phones.csv").open("a", encoding="utf-8") as f:
        f.write("rhr-phone,rochester-harm-reduction,rhr-naloxone,507-555-0142,voice\n")
        f.write("bad-phone,bad-phone,,12345,voice\n")
    with (exported / "services.csv").open("a", encoding="utf-8") as f:
        f.write("rhr-naloxone,rochester-harm-reduction,Naloxone,active,2026-11-30,ada,south,"
                "naloxone;outreach,false,mn-dhs-opioid-treatment-and-overdose-prevention.txt\n")
        f.write("bad-naloxone,bad-phone,Naloxone,active,,,south,naloxone,false,x.txt\n")
    with (exported / "locations.csv").open("a", encoding="utf-8") as f:
        f.write("rhr-location,rochester-harm-reduction,physical,RHR,44.0219,-92.4699,,\n")
    (exported / "addresses.csv").write_text(
        "id,location_id,address_1,city,state_province,postal_code,country,address_type\n"
        "rhr-address,rhr-location,1 Main St,Rochester,MN,55901-1234,US,physical\n")

    runner = app.test_cli_runner()
    preview = runner.invoke(args=["places", "import", str(exported)])
    assert "SKIPPED organizations.csv row 15 (bad-phone): phone '12345' is not NNN-NNN-NNNN" \
        in preview.output
    assert "+ rochester-harm-reduction: new site 'Rochester Harm Reduction'" in preview.output
    assert "~ raan-duluth: phone '218-481-7225' -> '218-481-0000'" in preview.output
    assert "~ raan-mankato: status 'active' -> 'temporarily_closed'" in preview.output
    assert "1 new, 2 changed, 10 the same" in preview.output
    person = Texter(client)
    assert "RAAN Mankato" in person.send("mankato")        # nothing changed yet

    done = runner.invoke(args=["places", "import", str(exported), "--yes"])
    assert "3 change(s) made" in done.output
    reply = person.send("55901")                             # Rochester
    assert reply.splitlines()[1].startswith("A. Rochester HR, Rochester, 507-555-0142 (")
    assert "RAAN Mankato" not in person.send("mankato")
    sites = app.config["HELPLINE"].sites.registry
    assert sites.history("raan-duluth")[0]["who"] == "cli"


def test_a_missing_file_is_named(app, exported):
    (exported / "phones.csv").unlink()
    result = app.test_cli_runner().invoke(args=["places", "import", str(exported)])
    assert result.exit_code != 0
    assert "phones.csv is missing" in result.output


def test_the_yaml_written_back_is_a_valid_sites_file_with_the_live_data(app, tmp_path):
    sites = app.config["HELPLINE"].sites.registry
    sites.set_status("ka-joog", "inactive", "ed")
    result = app.test_cli_runner().invoke(args=["places", "yaml"])
    assert result.exit_code == 0, result.output
    path = tmp_path / "naloxone_sites.yaml"
    path.write_text(result.output, encoding="utf-8")
    locator = Locator.from_file(path)
    by_id = {s.id: s for s in locator.sites}
    assert len(by_id) == 12 and by_id["ka-joog"].status == "inactive"
    assert by_id["ka-joog"].town is None and by_id["raan-duluth"].town == "Duluth"
    assert {c.id for c in locator.statewide} == {"primary-care", "mn-dhs-behavioral-health",
                                                 "naloxone-portal-tribal"}
    assert result.output.startswith("# Where to get naloxone")
