"""Content edited while the service runs: the console's Reload checks the files first, then every
process (web and worker) takes the new words without a restart; a broken edit is refused with
its problems shown, and texters keep the words loaded before."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot import create_app
from bot.helpline import build
from bot.checkins import jobs
from bot.ops import reload
from tests.conftest import Texter, make_settings
from tests.test_console import Staff, token_of

ROOT = Path(__file__).resolve().parent.parent
HINT = "content/en/menu.yaml"


@pytest.fixture()
def files(tmp_path):
    """A copy of content/ and flows/ that the test edits, as an editor edits the real ones (with
    docs/sources.md, where content check finds every source described)."""
    shutil.copytree(ROOT / "content", tmp_path / "content")
    shutil.copytree(ROOT / "flows", tmp_path / "flows")
    (tmp_path / "docs").mkdir()
    shutil.copy(ROOT / "docs" / "sources.md", tmp_path / "docs" / "sources.md")
    return tmp_path


def settings_for(redis_url, files):
    return make_settings(redis_url, content_dir=files / "content", flows_dir=files / "flows")


def edit(files, old: str, new: str) -> None:
    path = files / HINT
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def press_reload(staff):
    page = staff.client.get("/console/reload").get_data(as_text=True)
    return staff.client.post("/console/reload", data={"csrf_token": token_of(page)})


def test_reload_puts_an_edit_live_in_every_process_after_the_checks(redis_url, redis_client,
                                                                     files):
    console, other = (create_app(settings_for(redis_url, files)) for _ in range(2))
    clock = [0.0]
    other.extensions["reload"].clock = lambda: clock[0]
    here, there = Texter(console.test_client()), Texter(other.test_client(), "+16125550199")
    assert "Reply with a number" in here.send("hi")
    assert "Reply with a number" in there.send("hi")        # its look at the versions: t=0
    edit(files, "Reply with a number", "Text a number")
    assert "Reply with a number" in here.send("menu")        # an edit alone changes nothing

    editor = Staff(console, "erin", "editor")
    assert editor.sign_in().status_code == 302
    answer = press_reload(editor)
    assert answer.status_code == 302
    assert "Text a number" in here.send("menu")              # this process: at once
    assert "Reply with a number" in there.send("menu")       # another: at its next look ...
    clock[0] += 1.0
    there.send("hi")                                         # (after the reply to a text)
    assert "Text a number" in there.send("menu")             # ... within a second
    assert reload.last(redis_client)["who"] == "erin"

    runtime = jobs.Runtime.of(other.config["HELPLINE"])      # a worker, before its next job
    jobs.use(runtime)
    try:
        reload.request(redis_client, "erin")
        jobs.follower(build).maybe(force=True)
        assert jobs.runtime().helpline is not runtime.helpline
    finally:
        jobs.use(None)


def test_a_broken_edit_is_refused_with_its_problem_and_texters_keep_the_old_words(
        redis_url, redis_client, files):
    app = create_app(settings_for(redis_url, files))
    person = Texter(app.test_client())
    editor = Staff(app, "erin", "editor")
    assert editor.sign_in().status_code == 302
    edit(files, "Reply with a number", "Reply with a {{ number")
    refused = press_reload(editor)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert "Not reloaded: 1 problem" in page and "menu.yaml" in page
    assert "Reply with a number" in person.send("hi")
    assert reload.last(redis_client) == {}


def test_a_viewer_cannot_reload(redis_url, redis_client, files):
    app = create_app(settings_for(redis_url, files))
    viewer = Staff(app, "val", "viewer")
    assert viewer.sign_in().status_code == 302
    assert viewer.client.get("/console/reload").status_code == 403
