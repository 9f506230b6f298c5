"""The "naloxone near me" lookup, against the real Minnesota data file.

Each test is something a person texting the helpline would notice: the agency we name first,
how far it is, a ZIP or town we fail to read, or a menu reply we wrongly read as a place.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
import zipcodes

from bot.places.locator import (FOUND, INVALID_ZIP, NOT_A_PLACE, OUT_OF_REGION, REGIONS, Locator,
                         LocatorDataError)

DATA = Path(__file__).resolve().parents[1] / "content" / "mn" / "naloxone_sites.yaml"
SOURCE = "mn-dhs-opioid-treatment-and-overdose-prevention.txt"
# Every agency in the MN DHS page's "Obtaining naloxone" list, with the phone it gives.
SOURCE_PHONES = {
    "minneapolis-public-health": "612-673-2301",
    "indigenous-peoples-task-force": "612-870-1723",
    "ka-joog": "612-255-3524",
    "lss-street-works": "612-354-3345",
    "northwest-indian-cdc": "218-759-2022",
    "red-door-clinic": "612-543-5555",
    "raan-st-cloud": "800-966-9735",
    "raan-duluth": "218-481-7225",
    "raan-mankato": "507-345-1011",
    "st-louis-county-public-health": "218-725-5260",
    "steve-rummler-hope": "952-943-3937",
    "twin-cities-recovery-project": "612-886-2045",
}


@pytest.fixture(scope="module")
def locator() -> Locator:
    return Locator.from_file(DATA)


def first_ids(lookup, k=3) -> list[str]:
    return [site.id for site, _ in lookup.nearest[:k]]


# --- the nearest agency across the state -----------------------------------------------------

def test_minneapolis_zip_names_a_minneapolis_agency_first(locator):
    lookup = locator.classify("55404")
    assert lookup.status == FOUND
    assert lookup.place.label == "55404 (Minneapolis)"
    site, miles = lookup.nearest[0]
    assert site.town == "Minneapolis" and miles < 2


@pytest.mark.parametrize("text", ["55811", "duluth", "Duluth, MN", "in duluth", "DULUTH!"])
def test_duluth_gets_both_duluth_agencies_first(locator, text):
    lookup = locator.classify(text)
    assert lookup.status == FOUND
    assert set(first_ids(lookup, 2)) == {"st-louis-county-public-health", "raan-duluth"}
    assert all(miles < 10 for _, miles in lookup.nearest[:2])


@pytest.mark.parametrize("text", ["56301", "st cloud", "St. Cloud", "saint cloud", "Saint Cloud MN", "stcloud"])
def test_st_cloud_gets_raan_st_cloud_first(locator, text):
    assert first_ids(locator.classify(text))[0] == "raan-st-cloud"


@pytest.mark.parametrize("text", ["56001", "Mankato mn", "mankato"])
def test_mankato_gets_raan_mankato_first(locator, text):
    assert first_ids(locator.classify(text))[0] == "raan-mankato"


@pytest.mark.parametrize("text", ["56601", "bemidji", "Bemiji"])
def test_bemidji_gets_the_northwest_indian_cdc_first(locator, text):
    assert first_ids(locator.classify(text))[0] == "northwest-indian-cdc"


def test_rochester_is_sent_to_the_metro_about_75_miles_away(locator):
    # No listed agency is in Rochester; the nearest with a known place is in Minneapolis,
    # closer than RAAN Mankato.
    lookup = locator.classify("55901")
    site, miles = lookup.nearest[0]
    assert site.town == "Minneapolis"
    assert 60 <= miles <= 90


def test_a_site_with_part_of_a_location_is_refused(tmp_path):
    data = yaml.safe_load(DATA.read_text())
    data["sites"][0].pop("lat")
    path = tmp_path / "sites.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(LocatorDataError, match="give all four, or none"):
        Locator.from_file(path)


# The four agencies the source lists by name and phone only: no town, no distance, never ranked.
NO_PLACE = {"ka-joog", "lss-street-works", "steve-rummler-hope", "twin-cities-recovery-project"}


def test_a_site_the_source_places_nowhere_has_no_town_and_is_never_ranked(locator):
    unplaced = {s.id for s in locator.sites if not s.located}
    assert unplaced == NO_PLACE
    assert all(s.town is None and s.zip is None for s in locator.sites if s.id in NO_PLACE)
    ranked = {s.id for s, _ in locator.nearest(44.97, -93.26, n=50)}
    assert ranked.isdisjoint(NO_PLACE) and len(ranked) == 8
    for text in ("55901", "55435", "55401", "bloomington", "st paul"):   # issue 24: no guessed miles
        assert not NO_PLACE & set(first_ids(locator.classify(text)))
    # ... but its area's screen lists it
    assert NO_PLACE <= {s.id for s in locator.sites_by_region()["twin_cities"]}


@pytest.mark.parametrize("zip_code, nearest_id", [("56763", "northwest-indian-cdc"),   # Warroad
                                                  ("56258", "raan-mankato")])          # Marshall
def test_rural_zip_gets_three_distinct_agencies_in_distance_order(locator, zip_code, nearest_id):
    lookup = locator.classify(zip_code)
    miles = [m for _, m in lookup.nearest]
    assert len(lookup.nearest) == 3 and len(set(first_ids(lookup))) == 3
    assert miles == sorted(miles) and miles[0] > 50
    assert first_ids(lookup)[0] == nearest_id


# --- reading ZIPs and towns ------------------------------------------------------------------

@pytest.mark.parametrize("text", ["55811", "55811-1234", "558111234", "my zip is 55811",
                                  "zip 55811", "Zip code: 55811.", "55811 please"])
def test_zip_forms_all_read_as_the_same_zip(locator, text):
    place = locator.resolve_place(text)
    assert (place.kind, place.label, place.state, place.in_region) == ("zip", "55811 (Duluth)", "MN", True)


@pytest.mark.parametrize("text", ["mpls", "Minneapolis", "MINNEAPOLIS!", "minneapols", "i live in minneapolis"])
def test_minneapolis_names_and_typos(locator, text):
    place = locator.resolve_place(text)
    assert (place.kind, place.label) == ("town", "Minneapolis")
    assert locator.classify(text).nearest[0][0].town == "Minneapolis"


@pytest.mark.parametrize("text", ["saint paul", "st paul", "St. Paul", "st. paul, mn"])
def test_st_paul_spellings(locator, text):
    assert locator.resolve_place(text).label == "Saint Paul"


def test_north_st_paul_is_not_st_paul(locator):
    assert locator.resolve_place("north st paul").label == "North Saint Paul"


def test_rochester_town_name(locator):
    place = locator.resolve_place("Rochester")
    assert place.label == "Rochester" and 43.9 < place.lat < 44.1


def test_a_sentence_naming_a_town_counts_only_when_it_ends_in_mn(locator):
    assert locator.resolve_place("where can I get narcan for my brother in Duluth MN").label == "Duluth"
    assert locator.classify("where can I get narcan for my brother in Duluth").status == NOT_A_PLACE


def test_a_town_named_like_a_word_needs_the_state(locator):
    assert locator.classify("hope").status == NOT_A_PLACE
    assert locator.resolve_place("Hope, MN").label == "Hope"


@pytest.mark.parametrize("text, state", [("90210", "CA"), ("50309", "IA"), ("my zip is 54601", "WI")])
def test_out_of_state_zip_is_out_of_region_with_no_sites(locator, text, state):
    lookup = locator.classify(text)
    assert lookup.status == OUT_OF_REGION
    assert lookup.place.state == state and not lookup.place.in_region
    assert lookup.nearest == ()


@pytest.mark.parametrize("text, query", [("00000", "00000"), ("99999", "99999"), ("1234", "1234"),
                                         ("zip 1234", "1234"), ("123456", "123456")])
def test_not_a_real_zip_is_invalid_zip(locator, text, query):
    lookup = locator.classify(text)
    assert (lookup.status, lookup.place, lookup.query) == (INVALID_ZIP, None, query)


# Menu digits, 911, commands, greetings, topic words: never a place. The last group are everyday
# English and Spanish words one typo away from a Minnesota town (Winger, Herman, Medina...).
@pytest.mark.parametrize("text", [
    "1", "0", "9", "42", "911", "", "   ", "x" * 2000,
    "help", "menu", "more", "stop", "yes", "no", "hi", "ok", "back", "narcan", "naloxone",
    "lake", "center", "city", "park", "oh", "ayuda", "hola", "HELP!", "Menu.",
    "please help my friend is not breathing",
    "winter", "window", "spider", "hermano", "mi hermano", "medida", "grande", "mandato", "carter",
])
def test_not_a_place(locator, text):
    assert locator.classify(text).status == NOT_A_PLACE
    assert locator.resolve_place(text) is None


# --- paging, regions, statewide --------------------------------------------------------------

def test_more_pages_through_every_site_once(locator):
    place = locator.resolve_place("55404")
    everything = locator.nearest(place.lat, place.lon, n=50)
    pages = [locator.nearest(place.lat, place.lon, n=3, offset=k) for k in range(0, 9, 3)]
    assert [s.id for page in pages for s, _ in page] == [s.id for s, _ in everything]
    assert len(everything) == len(SOURCE_PHONES) - len(NO_PLACE) == 8
    assert locator.nearest(place.lat, place.lon, n=3, offset=9) == []


def test_raan_offices_are_three_separate_sites(locator):
    ids = [s.id for s, _ in locator.nearest(46.0, -94.0, n=50)]
    assert {"raan-st-cloud", "raan-duluth", "raan-mankato"} <= set(ids)


def test_sites_grouped_by_region(locator):
    groups = locator.sites_by_region()
    assert list(groups) == list(REGIONS)
    assert [s.id for s in groups["central"]] == ["raan-st-cloud"]
    assert [s.id for s in groups["south"]] == ["raan-mankato"]
    assert {s.id for s in groups["north"]} == {"northwest-indian-cdc", "raan-duluth",
                                                "st-louis-county-public-health"}
    assert sum(len(v) for v in groups.values()) == 12
    assert {s.id for s in locator.tribal_sites()} == {"indigenous-peoples-task-force",
                                                       "northwest-indian-cdc"}


def test_statewide_options(locator):
    by_id = {c.id: c for c in locator.statewide}
    assert by_id["mn-dhs-behavioral-health"].phone == "651-431-2460"
    assert by_id["primary-care"].phone is None
    assert all(c.source == SOURCE for c in locator.statewide)


# --- the data file ---------------------------------------------------------------------------

def test_every_source_agency_is_listed_with_the_source_phone(locator):
    assert {s.id: s.phone for s in locator.sites} == SOURCE_PHONES
    assert all(s.source == SOURCE and "naloxone" in s.services for s in locator.sites)
    assert all(len(s.short_name) <= 22 for s in locator.sites)


def test_site_coordinates_are_those_of_its_minnesota_zip(locator):
    for site in (s for s in locator.sites if s.located):
        row = zipcodes.matching(site.zip)[0]
        assert row["state"] == "MN", site.id
        assert (site.lat, site.lon) == (round(float(row["lat"]), 4), round(float(row["long"]), 4)), site.id


GOOD_SITE = {"id": "red-door-clinic", "name": "Red Door Clinic", "short_name": "Red Door Clinic",
             "phone": "612-543-5555", "town": "Minneapolis", "zip": "55415", "lat": 44.9742,
             "lon": -93.2585, "region": "twin_cities", "services": ["naloxone", "testing"],
             "source": SOURCE}


def write_data(tmp_path, sites, **top) -> Path:
    doc = {"region": "mn", "state": "MN", "name": "Minnesota", "source": SOURCE,
           "bounds": {"lat_min": 43.49, "lat_max": 49.39, "lon_min": -97.24, "lon_max": -89.48},
           "sites": sites, "statewide": [], **top}
    path = tmp_path / "naloxone_sites.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def test_a_minimal_valid_file_loads(tmp_path):
    lookup = Locator.from_file(write_data(tmp_path, [GOOD_SITE])).classify("55404")
    assert first_ids(lookup) == ["red-door-clinic"]


@pytest.mark.parametrize("sites, problem", [
    ([{**GOOD_SITE, "phone": "612 543 5555"}],
     "sites[0] 'red-door-clinic': phone '612 543 5555' is not NNN-NNN-NNNN"),
    ([{**GOOD_SITE, "lat": 41.6, "lon": -93.6}],
     "sites[0] 'red-door-clinic': coordinates (41.6, -93.6) are outside bounds"),
    ([GOOD_SITE, {**GOOD_SITE, "phone": "612-000-0000"}],
     "sites[1] 'red-door-clinic': same id as sites[0] 'red-door-clinic'"),
    ([GOOD_SITE, {**GOOD_SITE, "id": "red-door-2"}],
     "sites[1] 'red-door-2': same name and phone as sites[0] 'red-door-clinic'"),
    ([{k: v for k, v in GOOD_SITE.items() if k != "source"}],
     "sites[0] 'red-door-clinic': missing source"),
    ([{**GOOD_SITE, "short_name": "Red Door Clinic Minneapolis"}],
     "sites[0] 'red-door-clinic': short_name 'Red Door Clinic Minneapolis' is over 22 characters"),
    ([{**GOOD_SITE, "region": "west"}], "sites[0] 'red-door-clinic': unknown region 'west'"),
    ([{**GOOD_SITE, "lat": None}], "sites[0] 'red-door-clinic': town, zip, lat and lon go "
     "together: give all four, or none when the source gives no address (then no town or "
     "distance is shown)"),
    ([{**GOOD_SITE, "status": "closed"}], "sites[0] 'red-door-clinic': status 'closed' is not "
     "one of active, temporarily_closed, inactive, defunct"),
    ([{**GOOD_SITE, "verified": "2026-02-30"}],
     "sites[0] 'red-door-clinic': verified '2026-02-30' is not a date like 2026-03-14"),
])
def test_broken_data_names_the_file_and_the_entry(tmp_path, sites, problem):
    path = write_data(tmp_path, sites)
    with pytest.raises(LocatorDataError) as caught:
        Locator.from_file(path)
    assert str(caught.value) == f"{path}: {problem}"


def test_broken_statewide_entry_and_missing_file_source_are_named(tmp_path):
    path = write_data(tmp_path, [GOOD_SITE], statewide=[{"id": "dhs", "name": "DHS",
                                                         "short_name": "DHS", "phone": "6514312460",
                                                         "source": SOURCE}])
    with pytest.raises(LocatorDataError) as caught:
        Locator.from_file(path)
    assert str(caught.value) == f"{path}: statewide[0] 'dhs': phone '6514312460' is not NNN-NNN-NNNN"

    path = write_data(tmp_path, [GOOD_SITE], source=None)
    with pytest.raises(LocatorDataError) as caught:
        Locator.from_file(path)
    assert str(caught.value) == f"{path}: top level: missing source"
