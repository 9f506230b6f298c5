"""The dashboard's new figures from real signed texts: languages, the share of messages not
understood, a date range, the daily CSV with the "<5" rule, and the flow map's counts."""
from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import Texter
from tests.test_console import Staff

TODAY = datetime.now(timezone.utc).date()


@pytest.fixture()
def viewer(app):
    staff = Staff(app, "val", "viewer")
    assert staff.sign_in().status_code == 302
    return staff


@pytest.fixture()
def traffic(client):
    """Six English texters who send one message the helpline cannot read; two Spanish ones."""
    for n in range(6):
        person = Texter(client, f"+1612555{n:04d}")
        person.send("hi")
        person.send("zzqx flarp")
    for n in range(2):
        person = Texter(client, f"+1612556{n:04d}")
        person.send("hola")
        person.send("blorp")


def cells(html: str, table_id: str) -> list[list[str]]:
    table = re.search(rf'<table[^>]*id="{table_id}".*?</table>', html, re.S).group(0)
    rows = re.findall(r"<tr>(.*?)</tr>", table, re.S)
    return [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", r, re.S)]
            for r in rows]


def test_languages_and_the_share_not_understood_with_small_counts_hidden(viewer, traffic):
    html = viewer.client.get("/console/").get_data(as_text=True)
    rows = {r[0]: r[1:] for r in cells(html, "languages")[1:]}
    assert rows["en"] == ["12", "6", "0", "50%"]
    assert rows["es"] == ["&lt;5", "&lt;5", "0", "—"]
    assert 'aria-label="Texts not understood per day:' in html    # the chart has a name ...
    assert 'id="daily-table"' in html                             # ... and a table


def test_the_daily_figures_download_as_csv_with_the_same_rule(viewer, traffic):
    answer = viewer.client.get(f"/console/dashboard.csv?from={TODAY - timedelta(days=6)}"
                               f"&to={TODAY}")
    assert answer.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    assert [r["day"] for r in rows] == [(TODAY - timedelta(days=k)).isoformat()
                                       for k in range(6, -1, -1)]
    today = rows[-1]
    assert (today["texts_in"], today["texts_in_en"], today["not_understood_en"]) == ("16", "12", "6")
    assert (today["texts_in_es"], today["not_understood_es"]) == ("<5", "<5")
    assert rows[0]["texts_in"] == "0"


def test_a_date_range_is_kept_within_what_is_stored(viewer):
    html = viewer.client.get(f"/console/?from={TODAY}&to={TODAY - timedelta(days=3)}") \
        .get_data(as_text=True)
    assert "The first day came after the last" in html
    html = viewer.client.get(f"/console/?from={TODAY - timedelta(days=900)}").get_data(as_text=True)
    assert "At most 400 days are kept." in html
    assert viewer.client.get("/console/?from=yesterday").status_code == 200


def test_the_flow_map_counts_screens_and_moves(viewer, client):
    for n in range(5):
        person = Texter(client, f"+1612557{n:04d}")
        for body in ("hi", "2", "2"):
            person.send(body)
    Texter(client, "+16125579999").send("hi")
    html = viewer.client.get("/console/flows").get_data(as_text=True)
    moves = {(a, b): n for a, b, n in cells(html, "moves-table")[1:]}
    assert moves[("main", "naloxone")] == "5"
    assert moves[("naloxone", "naloxone_where")] == "5"
    visits = {row[0]: row[1] for row in cells(html, "visits-table")[1:]}
    assert visits["main"] == "6" and visits["naloxone"] == "5" and visits["emergency"] == "0"
    assert '<title>key 2: 5 moves</title>' in html
