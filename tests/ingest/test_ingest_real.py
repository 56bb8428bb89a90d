"""Every built-in profile on its real file in ../shared/data.

Expected counts are computed independently with pandas from the raw files, never
copied from the implementation's output.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geo_discovery.ingest import IngestResult, read_sources
from geo_discovery.schema import CANONICAL_COLUMNS, empty_frame

pytestmark = pytest.mark.real_data

FILES = {
    "nyc/nyc_retail_food_stores.csv": "nys_retail_food",
    "cities/nys_retail_food_stores_statewide.csv.gz": "nys_retail_food",
    "nyc/nyc_restaurants_dohmh_mongodb_primer_subset.csv": "nyc_dohmh",
    "nyc/nyc_airbnb_listings_2019.csv.gz": "airbnb",
    "cities/airbnb_amsterdam_2023-12_listings_ratings.csv.gz": "airbnb",
    "cities/airbnb_montreal_2023-12_listings_ratings.csv.gz": "airbnb",
    "cities/airbnb_boston_2021-12_listings_ratings.csv.gz": "airbnb",
    "cities/airbnb_washington_dc_2015-10_listings_ratings.csv.gz": "airbnb",
    "cities/utah_wof_simplegeo_venues.csv.gz": "wof_simplegeo",
    "fixtures/helsinki_center_osm_pois.csv": "osm_poi",
    "fixtures/fsq_os_places_global_sample.csv.gz": "foursquare_os",
}
AIRBNB_RATED = {
    "cities/airbnb_amsterdam_2023-12_listings_ratings.csv.gz": (7825, 5.0),
    "cities/airbnb_montreal_2023-12_listings_ratings.csv.gz": (6936, 5.0),
    "cities/airbnb_boston_2021-12_listings_ratings.csv.gz": (2350, 5.0),
    "cities/airbnb_washington_dc_2015-10_listings_ratings.csv.gz": (2855, 100.0),
}


@cache
def _ingest(root: Path, rel: str) -> IngestResult:
    return read_sources([root / rel])


@cache
def _pandas(root: Path, rel: str) -> pd.DataFrame:
    return pd.read_csv(root / rel, dtype=str, keep_default_na=False)


@pytest.fixture
def load(real_data: Path):  # type: ignore[no-untyped-def]
    def run(rel: str) -> tuple[IngestResult, pd.DataFrame]:
        return _ingest(real_data, rel), _pandas(real_data, rel)

    return run


@pytest.mark.parametrize(("rel", "profile"), sorted(FILES.items()))
def test_counts_add_up_on_every_real_file(load, rel: str, profile: str) -> None:  # type: ignore[no-untyped-def]
    result, source = load(rel)
    assert result.sources[0].profile == profile
    assert result.rows_read == len(source)
    assert result.rows_read == result.rows_loaded + result.rows_rejected
    report = result.sources[0]
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (
        result.rows_read, result.rows_loaded, result.rows_rejected)
    m = result.merchants
    assert tuple(m.columns) == CANONICAL_COLUMNS
    assert (m.dtypes == empty_frame().dtypes).all()
    assert m["merchant_id"].is_unique
    assert m["name"].str.strip().ne("").all()
    assert m["lat"].between(-90, 90).all() and m["lng"].between(-180, 180).all()
    assert m["category"].str.fullmatch(r"[a-z0-9_]+(/[a-z0-9_]+)*").all()
    assert m["status"].isin(["open", "closed", "unknown"]).all()
    assert (m["source"] == profile).all() and (m["source_file"] == Path(rel).name).all()
    # Every rejected row is reported with its line and its original text.
    rejects = result.rejects
    assert rejects["reason"].str.len().gt(0).all()
    assert rejects["source_line"].between(2, len(source) + 1).all()
    lines = set(m["source_line"]) | set(rejects["source_line"])
    assert len(lines) == result.rows_read
    summary = result.reject_summary()
    assert "other" not in set(summary["reason_kind"])


@pytest.mark.parametrize("rel", sorted(FILES))
def test_attributes_are_the_untouched_source_rows(load, rel: str) -> None:  # type: ignore[no-untyped-def]
    result, source = load(rel)
    rows = set(source.itertuples(index=False, name=None))
    sample = result.merchants["attributes"].sample(n=200, random_state=1)
    for attrs in sample:
        record = json.loads(attrs)
        assert list(record) == list(source.columns)
        assert tuple(record.values()) in rows


@pytest.mark.parametrize(
    "rel", ["nyc/nyc_retail_food_stores.csv", "cities/nys_retail_food_stores_statewide.csv.gz"]
)
def test_food_stores(load, rel: str) -> None:  # type: ignore[no-untyped-def]
    result, source = load(rel)
    no_coords = (source["latitude"] == "") | (source["longitude"] == "")
    assert result.rows_rejected == int(no_coords.sum())
    assert (result.rejects["reason"] == "lat is missing; lng is missing").all()
    m = result.merchants
    assert m["category"].str.startswith("food/grocery/").all()
    sqft = pd.to_numeric(
        source.set_index("license_number").loc[m["merchant_id"].str.removeprefix("nysfood:"),
                                               "square_footage"]
    ).to_numpy()
    assert (m["category"][sqft >= 10_000] == "food/grocery/supermarket").all()
    assert (m["category"][(sqft > 0) & (sqft < 2_500)] == "food/grocery/bodega").all()
    assert (m["category"][sqft == 0] == "food/grocery/store").all()
    assert m["attractiveness"].isna().sum() == int((sqft == 0).sum())
    assert np.array_equal(m["attractiveness"].dropna(), sqft[sqft > 0])
    assert m["merchant_id"].str.fullmatch(r"nysfood:\d{6}").all()
    assert m["address"].notna().all()


def test_dohmh_junk_coordinates_are_all_rejected(load) -> None:  # type: ignore[no-untyped-def]
    result, source = load("nyc/nyc_restaurants_dohmh_mongodb_primer_subset.csv")
    junk = source[source["in_nyc_bbox"] == "False"]
    assert len(junk) == 66
    rejected = set(result.rejects["merchant_id"].str.removeprefix("dohmh:"))
    assert rejected == set(junk["restaurant_id"])
    kinds = result.reject_summary().set_index("reason_kind")["rows"].to_dict()
    assert kinds == {"outside bbox": 65, "missing coordinates": 1}
    m = result.merchants
    assert m["category"].str.startswith("food/restaurant").all()
    assert "food/restaurant/italian" in set(m["category"])
    assert m["review_count"].isna().all()
    by_id = source.set_index("restaurant_id")
    ids = m["merchant_id"].str.removeprefix("dohmh:")
    assert np.allclose(m["inspection_score"], pd.to_numeric(by_id.loc[ids, "mean_score"]))
    letters = by_id.loc[ids, "latest_grade"].where(lambda g: g.str.len() == 1)
    assert m["quality_grade"].fillna("-").tolist() == letters.fillna("-").tolist()


def test_airbnb_nyc_prices_and_reviews(load) -> None:  # type: ignore[no-untyped-def]
    result, source = load("nyc/nyc_airbnb_listings_2019.csv.gz")
    empty_names = source["name"].str.strip() == ""
    assert result.rows_rejected == int(empty_names.sum()) > 0
    assert (result.rejects["reason"] == "empty name").all()
    m = result.merchants
    assert m["category"].isin(
        ["lodging/entire_home_apt", "lodging/private_room", "lodging/shared_room"]).all()
    price = pd.to_numeric(source.set_index("id").loc[m["merchant_id"].str[7:], "price"])
    level = m["price_level"]
    assert level.isna().sum() == int((price == 0).sum())
    # Quartiles: every level holds about a quarter of the priced listings, in price order.
    shares = level.value_counts(normalize=True)
    assert sorted(shares.index) == [1, 2, 3, 4] and shares.between(0.2, 0.3).all()
    by_level = pd.Series(price.to_numpy()).groupby(level.to_numpy()).agg(["min", "max"])
    assert (by_level["max"].iloc[:-1].to_numpy() < by_level["min"].iloc[1:].to_numpy()).all()
    assert m["rating"].isna().all() and m["rating_scale"].isna().all()
    assert m["review_count"].sum() == pd.to_numeric(
        source.loc[~empty_names, "number_of_reviews"]).sum()
    assert m["last_review"].notna().sum() == int((source.loc[~empty_names, "last_review"] != "")
                                                 .sum())


@pytest.mark.parametrize(("rel", "expected"), sorted(AIRBNB_RATED.items()))
def test_airbnb_rating_scales(load, rel: str, expected: tuple[int, float]) -> None:  # type: ignore[no-untyped-def]
    result, source = load(rel)
    rated, scale = expected
    assert int((source["review_scores_rating"] != "").sum()) == rated  # the README's figure
    m = result.merchants
    src = source.set_index("id").loc[m["merchant_id"].str.removeprefix("airbnb:")]
    assert m["rating"].notna().sum() == int((src["review_scores_rating"] != "").sum())
    assert set(m["rating_scale"].dropna()) == {scale}
    assert m["rating_scale"].isna().tolist() == m["rating"].isna().tolist()
    assert (m["rating"].dropna() <= scale).all()
    assert np.allclose(m["rating"].dropna(),
                       pd.to_numeric(src["review_scores_rating"]).dropna())
    assert src["price"].str.fullmatch(r"\$[\d,]+\.\d\d|").all()
    price = pd.to_numeric(src["price"].str.replace(r"[$,]", "", regex=True), errors="coerce")
    assert (m["price_level"].notna().to_numpy() == (price > 0).to_numpy()).all()
    assert m["first_review"].notna().sum() == int((src["first_review"] != "").sum()) > 0


def test_wof_venues(load) -> None:  # type: ignore[no-untyped-def]
    result, source = load("cities/utah_wof_simplegeo_venues.csv.gz")
    assert result.rows_rejected == int((source["name"].str.strip() == "").sum())
    m = result.merchants.set_index(result.merchants["merchant_id"].str.removeprefix("wof:"))
    src = source.set_index("wof_id").loc[m.index]
    restaurants = (src["sg_type"] == "Food & Drink") & (src["sg_category"] == "Restaurant")
    assert (m.loc[restaurants, "category"] == "food/restaurant").all()
    dentists = src["sg_subcategory"] == "Dentist"
    assert m.loc[dentists, "category"].str.endswith("/dentist").all() and dentists.any()
    closed = (src["deprecated"] != "") | (pd.to_numeric(src["is_current"]) == 0)
    assert (m.loc[closed, "status"] == "closed").all()
    assert (m.loc[pd.to_numeric(src["is_current"]) == 1, "status"] == "open").all()
    assert (m.loc[~closed & (pd.to_numeric(src["is_current"]) != 1), "status"] == "unknown").all()
    assert m["phone"].notna().sum() == int((src["phone"] != "").sum())


def test_osm_pois(load) -> None:  # type: ignore[no-untyped-def]
    result, source = load("fixtures/helsinki_center_osm_pois.csv")
    assert result.rows_rejected == int((source["name"].str.strip() == "").sum())
    assert (result.rejects["reason"] == "empty name").all()
    m = result.merchants.set_index("merchant_id")
    assert m.loc["osm:node/59622323", "category"] == "food/restaurant"
    named = source[source["name"].str.strip() != ""]
    ids = "osm:" + named["osm_type"] + "/" + named["osm_id"]
    pizza = ids[(named["value"] == "restaurant") & (named["cuisine"] == "pizza")]
    assert (m.loc[pizza, "category"] == "food/restaurant/pizza").all() and len(pizza)
    pubs = ids[(named["key"] == "amenity") & (named["value"] == "pub")]
    assert (m.loc[pubs, "category"] == "nightlife/pub").all() and len(pubs)
    supermarkets = ids[named["value"] == "supermarket"]
    assert (m.loc[supermarkets, "category"] == "food/grocery/supermarket").all()
    jewelry = ids[named["value"] == "jewelry"]
    assert (m.loc[jewelry, "category"] == "shop/jewelry").all() and len(jewelry)
    assert m["opening_hours"].notna().sum() == int((named["opening_hours"] != "").sum())
    assert m["brand"].notna().sum() == int((named["brand"] != "").sum())
    assert m.loc["osm:node/59622323", "opening_hours"] == named.set_index(ids).loc[
        "osm:node/59622323", "opening_hours"]


def test_foursquare_places(load) -> None:  # type: ignore[no-untyped-def]
    result, source = load("fixtures/fsq_os_places_global_sample.csv.gz")
    no_coords = (source["latitude"] == "") | (source["longitude"] == "")
    assert result.rows_rejected == int(no_coords.sum())
    m = result.merchants.set_index(result.merchants["merchant_id"].str.removeprefix("fsq:"))
    src = source.set_index("fsq_place_id").loc[m.index]
    assert ((m["status"] == "closed") == (src["date_closed"] != "")).all()
    assert (m.loc[src["fsq_category_labels"] == "", "category"] == "unknown").all()
    labelled = src["fsq_category_labels"] != ""
    # Top-level names never contain ", " or " > ", so the first one is easy to cut out.
    top = src.loc[labelled, "fsq_category_labels"].str.strip("[]").str.split(r" > |, ").str[0]
    top_slug = top.str.lower().str.replace(r"[^a-z0-9]+", "_", regex=True)
    # dining and drinking, food retail and lodging are under the shared roots (a filter
    # on food/ missed every FSQ restaurant); the other roots keep Foursquare's words
    path = src.loc[labelled, "fsq_category_labels"].str.strip("[]")
    shared = {"dining_and_drinking": ("food", "nightlife")}
    root = m.loc[labelled, "category"].str.split("/").str[0]
    dining = top_slug == "dining_and_drinking"
    assert root[dining].isin(shared["dining_and_drinking"]).all() and dining.sum() > 1000
    assert (root[path.str.startswith("Dining and Drinking > Bar")] == "nightlife").all()
    food_retail = path.str.startswith("Retail > Food and Beverage Retail")
    lodging = path.str.startswith("Travel and Transportation > Lodging")
    assert (root[food_retail] == "food").all() and (root[lodging] == "lodging").all()
    assert food_retail.sum() > 50 and lodging.sum() > 100
    rest = ~dining & ~food_retail & ~lodging & ~path.str.startswith("Retail > Convenience Store")
    assert (root[rest] == top_slug[rest]).all()
    cafe = "[Dining and Drinking > Cafe, Coffee, and Tea House]"
    assert (m.loc[src["fsq_category_labels"] == cafe, "category"] == "food/cafe").all()
    pizza = path == "Dining and Drinking > Restaurant > Pizzeria"
    assert pizza.sum() > 10
    assert (m.loc[labelled, "category"][pizza] == "food/restaurant/pizza").all()


def test_nyc_and_statewide_food_files_together(real_data: Path) -> None:
    nyc = "nyc/nyc_retail_food_stores.csv"
    state = "cities/nys_retail_food_stores_statewide.csv.gz"
    result = read_sources([real_data / nyc, real_data / state])
    a, b = _pandas(real_data, nyc), _pandas(real_data, state)
    assert result.rows_read == len(a) + len(b)
    assert result.rows_read == result.rows_loaded + result.rows_rejected
    assert result.merchants["merchant_id"].is_unique
    a_ok = set(a.loc[(a["latitude"] != "") & (a["longitude"] != ""), "license_number"])
    b_ok = set(b.loc[(b["latitude"] != "") & (b["longitude"] != ""), "license_number"])
    overlap = set(a["license_number"]) & set(b["license_number"])
    assert overlap  # the NYC file is a subset of the statewide one
    # The first valid row of an id is kept: a statewide row would stand in for an NYC row
    # without coordinates (none in these files; see test_ingest.py for that case); every
    # other repeat is a duplicate of the first occurrence.
    rescued = (set(a["license_number"]) - a_ok) & b_ok
    duplicates = result.rejects[result.rejects["reason"].str.contains("duplicate merchant_id")]
    assert set(duplicates["merchant_id"].str.removeprefix("nysfood:")) == overlap - rescued
    assert duplicates["reason"].str.contains("first at nyc_retail_food_stores.csv:").all()
    assert result.rows_loaded == len(a_ok | b_ok)
