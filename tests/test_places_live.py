"""Sites as managed data, from the texter's side: signed webhooks against a real Redis.

What a person notices: the month each place was last checked, no town for an agency the source
places nowhere, a place that was not checked for too long (or was retired) no longer named, an
edit named only once another editor approved it, and WRONG 2 thanked and queued for review.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from bot import create_app
from bot.places.registry import ReviewError
from tests.conftest import Texter, make_settings

TODAY = datetime.now(timezone.utc).date()


@pytest.fixture()
def strict_app(redis_url, redis_client):
    """The production rule: a site not verified within 180 days is no longer offered."""
    return create_app(make_settings(redis_url, SITES_VERIFY_MAX_DAYS="180"))


def registry(app):
    return app.config["HELPLINE"].sites.registry


def follow(app) -> None:
    """The next request looks at the version keys again (the once-a-second look, without waiting)."""
    app.extensions["reload"].maybe(force=True)


def test_each_place_says_when_it_was_checked_and_a_place_without_a_town_shows_none(client):
    person = Texter(client)
    reply = person.send("55404")
    assert reply.startswith("Naloxone near 55404 (Minneapolis)")
    assert "Checked Nov 2026, call ahead." in reply
    for agency in ("Ka Joog", "LSS Street Works", "Steve Rummler", "Twin Cities Recovery"):
        assert agency not in reply           # no address: never ranked by distance
    person.send("1")                         # pick an area instead ...
    area = person.send("1")                  # ... the Twin Cities
    assert "- Ka Joog: 612-255-3524\n" in area and "Ka Joog, " not in area
    assert "Checked Nov 2026. Call ahead." in area


def test_a_place_not_verified_for_180_days_is_not_offered_until_someone_verifies_it(strict_app):
    person, sites = Texter(strict_app.test_client()), registry(strict_app)
    assert "RAAN Duluth" in person.send("duluth")
    sites.verify("raan-duluth", "MN DHS page", TODAY - timedelta(days=181))
    follow(strict_app)
    stale = person.send("duluth")
    assert "RAAN Duluth" not in stale and "St. Louis Co. Health" in stale

    sites.verify("raan-duluth", "ada", TODAY)   # someone called them today
    follow(strict_app)
    again = person.send("duluth")
    assert "RAAN Duluth" in again
    assert "A. RAAN Duluth" in again or "B. RAAN Duluth" in again


def test_retiring_hides_a_place_at_once_and_an_edit_waits_for_another_editor(app, client):
    person, sites = Texter(client), registry(app)
    assert "Red Door Clinic" in person.send("55415")
    sites.set_status("red-door-clinic", "defunct", "ed", "closed for good")
    follow(app)
    assert "Red Door Clinic" not in person.send("55415")

    current = sites.get("minneapolis-public-health")
    proposal = sites.change(current.with_changes(phone="612-673-9999"), "ed", "new front desk")
    follow(app)
    assert "612-673-2301" in person.send("55415")            # not live before review
    with pytest.raises(ReviewError, match="another editor"):
        sites.approve(proposal.id, "ed")
    sites.approve(proposal.id, "val")
    follow(app)
    reply = person.send("55415")
    assert "612-673-9999" in reply and "612-673-2301" not in reply
    history = sites.history("minneapolis-public-health")
    assert [h["who"] for h in history[:2]] == ["val", "ed"]
    assert ["phone", "612-673-2301", "612-673-9999"] in history[0]["changes"]


def test_wrong_and_a_number_after_a_places_reply_is_thanked_and_queued_without_the_number(
        app, client, redis_client):
    person = Texter(client, "+16125550142")
    reply = person.send("55811")
    second = reply.splitlines()[2]            # "B. St. Louis Co. Health, Duluth, ..."
    thanks = person.send("WRONG 2")
    assert thanks.startswith("Thank you for telling us. We will check")
    assert second.split(",")[0][3:] in thanks
    assert person.send("wrong #2").startswith("Thank you")   # the same site again: one report
    assert person.send("wrong").startswith("Which place is wrong or closed?")

    queue = app.config["HELPLINE"].extras["site_reports"]
    [report] = queue.open()
    assert report["rank"] == 2 and report["locale"] == "en" and report["day"] == TODAY.isoformat()
    site = registry(app).get(report["site"])
    assert site.short_name == second.split(",")[0][3:]
    subject = app.config["HELPLINE"].vault.subject(person.number)
    stored = json.dumps(report)
    assert "5550142" not in stored and subject not in stored

    spanish = Texter(client, "+16125550143")
    spanish.send("hola")
    spanish.send("55811")
    assert spanish.send("equivocado 1").startswith("Gracias por avisarnos")
    assert {r["locale"] for r in queue.open()} == {"en", "es"}


def test_wrong_means_nothing_special_without_a_places_reply(app, client):
    person = Texter(client)
    person.send("hi")
    reply = person.send("wrong 2")
    assert "Thank you for telling us" not in reply
    assert app.config["HELPLINE"].extras["site_reports"].open() == []


def test_another_process_follows_a_change_and_texts_never_read_the_sites(redis_url, redis_client):
    editing, answering = (create_app(make_settings(redis_url)) for _ in range(2))
    follower, now = answering.extensions["reload"], [0.0]
    follower.clock = lambda: now[0]
    person = Texter(answering.test_client())
    person.send("hi")

    def reads_of_the_sites() -> int:
        stats = redis_client.info("commandstats")
        return stats.get("cmdstat_hvals", {}).get("calls", 0)

    before = reads_of_the_sites()
    for _ in range(5):
        assert "RAAN Mankato" in person.send("mankato")
    assert reads_of_the_sites() == before    # a text reads no site from Redis

    registry(editing).set_status("raan-mankato", "temporarily_closed", "ed")
    now[0] += 1.0            # a second later, the look at the version key after a reply ...
    person.send("hi")
    assert "RAAN Mankato" not in person.send("mankato")      # ... and the next text follows
    assert reads_of_the_sites() == before + 1


def test_the_file_seeds_redis_once_and_edits_survive_a_restart(redis_url, redis_client):
    first = create_app(make_settings(redis_url))
    sites = registry(first)
    assert len(sites.sites()) == 12 and sites.version() == 1
    sites.set_status("ka-joog", "inactive", "ed")
    restarted = create_app(make_settings(redis_url))
    assert registry(restarted).get("ka-joog").status == "inactive"
    area = Texter(restarted.test_client())
    area.send("2")
    area.send("2")
    assert "Ka Joog" not in area.send("1")


def test_the_dashboard_warns_before_a_place_stops_being_offered(strict_app):
    from tests.test_console import Staff

    sites = registry(strict_app)
    sites.verify("raan-duluth", "ada", TODAY - timedelta(days=170))   # 10 days left
    sites.verify("raan-mankato", "ada", TODAY - timedelta(days=200))  # too old already
    strict_app.config["HELPLINE"].sites.refresh(force=True)
    viewer = Staff(strict_app, "val", "viewer")
    assert viewer.sign_in().status_code == 302
    html = viewer.client.get("/console/").get_data(as_text=True)
    start = html.index('id="verify-soon"')
    warning = html[start:html.index("</section>", start)]
    assert "Rural AIDS Action Network (RAAN) Mankato</a>: no longer offered" in warning
    assert "Rural AIDS Action Network (RAAN) Duluth</a>: stops being offered in 10 days" in warning
    places = viewer.client.get("/console/places").get_data(as_text=True)
    assert "stops being offered in 10 days unless someone verifies it" in places


def test_the_phone_line_says_when_each_place_was_checked_and_names_no_retired_one(app, client):
    from tests.test_voice import PATHS, Caller, walk_to

    registry(app).set_status("st-louis-county-public-health", "defunct", "ed")
    follow(app)
    caller = Caller(client)
    caller.start()
    walk_to(caller, PATHS["naloxone_where"])
    said = caller.press("55811")
    assert "places near Duluth" in said
    assert "Last checked in November." in said and "Please call before you go." in said
    assert "St. Louis County" not in said
