"""The places pages' doors, with the Flask test client: who may change sites, a form without its
token, a bad ZIP named in the form, and an HSDS upload bigger than the console's other forms."""
from __future__ import annotations

import io

import pytest

from tests.test_console import Staff, token_of


@pytest.fixture()
def viewer(app):
    staff = Staff(app, "val", "viewer")
    assert staff.sign_in().status_code == 302
    return staff


@pytest.fixture()
def editor(app):
    staff = Staff(app, "erin", "editor")
    assert staff.sign_in().status_code == 302
    return staff


def test_a_viewer_reads_the_places_but_changes_nothing(app, viewer):
    page = viewer.client.get("/console/places").get_data(as_text=True)
    assert "Ka Joog" in page and "Verified today" not in page
    assert viewer.client.get("/console/places/review").status_code == 200
    token = token_of(page)
    for path in ("/console/places/site/ka-joog/verify", "/console/places/save",
                 "/console/places/import", "/console/reload"):
        assert viewer.client.post(path, data={"csrf_token": token}).status_code == 403, path
    assert viewer.client.get("/console/places/new").status_code == 403
    history = app.config["HELPLINE"].sites.registry.history("ka-joog")
    assert history == []


def test_a_change_without_the_form_token_is_refused(editor):
    answer = editor.client.post("/console/places/site/ka-joog/status", data={"status": "defunct"})
    assert answer.status_code == 400
    assert editor.client.get("/console/places/site/ka-joog").status_code == 200


def test_a_zip_outside_the_state_is_named_and_nothing_is_proposed(app, editor):
    page = editor.client.get("/console/places/new").get_data(as_text=True)
    answer = editor.client.post("/console/places/save", data={
        "csrf_token": token_of(page), "name": "Somewhere Else", "short_name": "Somewhere",
        "phone": "612-555-0100", "zip": "90210", "region": "south", "status": "active",
        "source": "mn-dhs-opioid-treatment-and-overdose-prevention.txt"})
    assert answer.status_code == 422
    assert "ZIP &#39;90210&#39; is not a ZIP code of MN" in answer.get_data(as_text=True)
    assert app.config["HELPLINE"].sites.registry.proposals() == []


def test_an_hsds_upload_may_be_bigger_than_other_forms(app, editor, tmp_path):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["places", "export", str(tmp_path)]).exit_code == 0
    organizations = (tmp_path / "organizations.csv").read_text()
    padding = "".join(f"pad-{n},Padding {n},Pad {n},{'x' * 200}\n" for n in range(500))
    files = {name: (tmp_path / name).read_bytes() for name in
             ("locations.csv", "phones.csv", "services.csv")}
    files["organizations.csv"] = (organizations + padding).encode()
    assert len(files["organizations.csv"]) > 100_000
    page = editor.client.get("/console/places/import").get_data(as_text=True)
    data = {"csrf_token": token_of(page)}
    for name, raw in files.items():
        data[name.replace(".", "_")] = (io.BytesIO(raw), name)
    answer = editor.client.post("/console/places/import", data=data,
                                content_type="multipart/form-data")
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200, html[:500]
    assert "0 new, 0 changed" in html and "Left out" in html   # the padding has no phone
