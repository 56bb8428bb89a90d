"""District detection on real data: the NYC BID ground truth and two unseen cities.

The thresholds asserted here are the numbers the default reaches (README, notebook):
51/64 BIDs (79.7 %) covered ≥ 30 %, 93 % of in-BID merchants assigned, 37 km² in all.
That is one BID short of the issue's 80 % goal; merchants and area meet theirs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geo_discovery.districts.detect import DistrictParams, build_districts
from geo_discovery.districts.evaluate import (
    NYC_MERCHANT_FILES,
    NYC_TRUTH_FILE,
    compare_methods,
    evaluate_districts,
    load_truth,
    read_merchants,
    score_districts,
)
from geo_discovery.query import Filters

pytestmark = pytest.mark.real_data


@pytest.fixture(scope="module")
def nyc(real_data: Path) -> pd.DataFrame:
    return read_merchants([real_data / f for f in NYC_MERCHANT_FILES])


@pytest.fixture(scope="module")
def bids(real_data: Path):
    return load_truth(real_data / NYC_TRUTH_FILE)


@pytest.fixture(scope="module")
def default_districts(nyc: pd.DataFrame):
    return build_districts(nyc)


def test_bids_load_and_are_repaired(bids):
    assert len(bids) == 64 and bids.geometry.is_valid.all()


def test_default_meets_the_reached_scores(nyc: pd.DataFrame, bids, default_districts):
    d = default_districts
    score = evaluate_districts(d, bids, nyc["lat"], nyc["lng"])
    assert score.truth_total == 64 and score.merchants_in_truth == 2160
    assert score.truth_matched >= 51  # 79.7 %: the goal is 80 % (52)
    assert score.merchant_share >= 0.92  # goal 85 %
    assert score.area_km2 <= 40.0  # goal 40 km²
    assert d.resolution == 11
    assert set(d.frame["tier"]) == {"regional", "major", "neighbourhood", "local"}
    assert d.frame.geometry.is_valid.all()
    # Times Square (subway station Times Sq-42 St) lies in a regional district
    at = d.at(40.7559, -73.9871)
    assert at is not None and d.frame.loc[at, "tier"] == "regional"
    ids = d.merchant_district_ids()
    assert ids.index.equals(nyc.index) and ids.notna().mean() == pytest.approx(0.606, abs=0.02)


def test_ids_stable_when_rows_are_reordered(nyc: pd.DataFrame):
    a = build_districts(nyc, DistrictParams(split_quantile=None))
    b = build_districts(nyc.iloc[::-1], DistrictParams(split_quantile=None))
    assert a.ids == b.ids
    assert b.merchant_district_ids().reindex(nyc.index).equals(a.merchant_district_ids())


def test_default_beats_the_baselines_at_comparable_area(nyc: pd.DataFrame, bids):
    sweep = [
        ("tracts", DistrictParams()),
        ("density q=0.6", DistrictParams(method="density", density_quantile=0.6)),
        ("dbscan", DistrictParams(method="dbscan")),
    ]
    table = compare_methods(nyc, bids, sweep).set_index("label")
    tracts, density, dbscan = (table.loc[k] for k in ("tracts", "density q=0.6", "dbscan"))
    # the naive density threshold needs more area for much less recall
    assert density["area_km2"] > tracts["area_km2"] and density["recall"] < tracts["recall"] - 0.1
    # DBSCAN reaches the same recall with more area
    assert dbscan["recall"] <= tracts["recall"] + 1e-9 and dbscan["area_km2"] > tracts["area_km2"]


def test_city_agnostic_helsinki(real_data: Path):
    pois = read_merchants([real_data / "fixtures" / "helsinki_center_osm_pois.csv"])
    d = build_districts(pois)
    assert d.resolution == 12  # denser than NYC's food data: finer cells, no tuning
    assert 3 <= len(d) <= 30 and d.frame.geometry.is_valid.all()
    top = d.frame.iloc[0]
    assert "Mannerheimintie" in top["name"] or "Aleksanterinkatu" in top["name"]
    # Stockmann's corner (Aleksanterinkatu / Mannerheimintie) is in the main district
    assert d.at(60.1686, 24.9410) == d.ids[0]
    assert (d.merchant_district >= 0).mean() > 0.5


def test_city_agnostic_salt_lake_valley(real_data: Path):
    venues = read_merchants([real_data / "cities" / "utah_wof_simplegeo_venues.csv.gz"])
    valley = venues[
        venues["lat"].between(40.45, 40.85) & venues["lng"].between(-112.1, -111.7)
    ].reset_index(drop=True)
    d = build_districts(valley)
    assert d.resolution == 11 and d.frame.geometry.is_valid.all()
    # downtown Salt Lake City (Main St & 200 S) is in one of the largest districts
    at = d.at(40.7651, -111.8910)
    assert at is not None and d.frame.loc[at, "tier"] == "regional"
    # districts are compact: a small share of the valley, most venues inside them
    valley_km2 = 44.5 * 33.8
    assert d.frame["area_km2"].sum() < 0.05 * valley_km2
    assert 0.4 < (d.merchant_district >= 0).mean() < 0.9
    assert np.isin(d.frame["tier"], ["regional", "major", "neighbourhood", "local"]).all()


def test_the_snapshot_scores_the_same_through_the_engine(
    nyc: pd.DataFrame, bids, default_districts, nyc_engine
):
    """``score_districts`` on what the engine serves (the load's districts, shops from
    ``within_bbox``; lodging left out as detection does) equals ``evaluate_districts`` on
    districts built from the raw files: the notebooks' figures are the README's."""
    direct = evaluate_districts(default_districts, bids, nyc["lat"], nyc["lng"])
    shops = nyc_engine.within_bbox(bids.total_bounds, where=Filters(exclude_categories="lodging"))
    via = score_districts(nyc_engine.districts(), bids, shops.to_frame())
    assert (via.truth_matched, via.merchants_in_truth, via.districts) == (
        direct.truth_matched,
        direct.merchants_in_truth,
        direct.districts,
    )
    assert via.merchant_share == pytest.approx(direct.merchant_share)
    assert via.area_km2 == pytest.approx(direct.area_km2)
    pd.testing.assert_frame_equal(via.per_truth, direct.per_truth)
    with pytest.raises(ValueError, match="district_id"):
        score_districts(nyc_engine.districts(), bids, shops.to_frame().drop(columns="district_id"))
