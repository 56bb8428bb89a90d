"""Districts of a snapshot holding several cities: each city ("region") gets the
resolution and thresholds of its own merchants, so a city's districts do not depend on
what else is loaded with it (New York State's food stores put New York City's districts
at resolution 10, 212 km², where the city alone has 295 districts, 22 km², at 11)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geo_discovery.cells import cells_to_children, latlngs_to_cells
from geo_discovery.districts.detect import DistrictParams, Districts, build_districts
from geo_discovery.districts.evaluate import read_merchants
from geo_discovery.districts.regions import merchant_regions

CATEGORIES = ["food/cafe", "shop/clothes", "food/restaurant", "shop/books", "shop/bakery"]


def _city(lat0: float, lng0: float, step_m: float, n_scatter: int, seed: int, tag: str):
    """Five shopping streets (shops ``step_m`` apart) and a scatter of lone shops."""
    rng = np.random.default_rng(seed)
    dlat = step_m / 111_320.0
    dlng = dlat / np.cos(np.radians(lat0))
    rows = []
    for s in range(5):
        la, ln = lat0 + rng.uniform(-40, 40) * dlat, lng0 + rng.uniform(-40, 40) * dlng
        for i in range(40 + 10 * s):
            rows.append({"lat": la + rng.normal(0, 0.3) * dlat,
                         "lng": ln + i * dlng + rng.normal(0, 0.3) * dlng,
                         "category": CATEGORIES[(i + s) % 5], "name": f"{tag} {s}-{i}",
                         "address": f"{i} {tag} Street {s}", "status": "open"})  # fmt: skip
    for i in range(n_scatter):
        rows.append({"lat": lat0 + rng.uniform(-60, 60) * dlat,
                     "lng": lng0 + rng.uniform(-60, 60) * dlng, "category": "shop/misc",
                     "name": f"{tag} lone {i}", "address": f"{i} Lonely Lane",
                     "status": "open"})  # fmt: skip
    rows.append({"lat": lat0, "lng": lng0, "category": "lodging/hotel", "name": f"{tag} inn",
                 "address": "1 Inn Road", "status": "open"})  # fmt: skip
    frame = pd.DataFrame(rows)
    frame.index = pd.Index([f"{tag}{i:04d}" for i in range(len(frame))], name="merchant_id")
    return frame


@pytest.fixture(scope="module")
def cities() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A dense city (shops 9 m apart: resolution 12) and a sparse town 150 km away
    (90 m apart: resolution 10) holding more shops, so that together their median
    spacing is the town's."""
    return _city(60.17, 24.94, 9.0, 40, 1, "d"), _city(61.50, 23.76, 90.0, 60, 2, "s")


def _table(d: Districts) -> pd.DataFrame:
    return pd.DataFrame(d.frame.drop(columns="geometry"))


def _cells_by_id(d: Districts) -> dict[str, set[int]]:
    return {i: set(d.cells_of(i).tolist()) for i in d.ids}


def test_each_city_gets_the_districts_it_has_alone(cities):
    dense, sparse = cities
    alone_dense, alone_sparse = build_districts(dense), build_districts(sparse)
    assert (alone_dense.resolution, alone_sparse.resolution) == (12, 10)  # the premise
    both = build_districts(pd.concat([dense, sparse]))
    assert both.resolution == 12  # the finest any city used
    assert both.info["regions"] == {"detected": 2, "resolutions": {"10": 1, "12": 1}}
    assert len(both) == len(alone_dense) + len(alone_sparse)
    ids = both.merchant_district_ids()
    for alone, city in ((alone_dense, dense), (alone_sparse, sparse)):
        # ids, names, statistics, tiers, polygons: as the city alone
        table = _table(both).loc[alone.ids]
        pd.testing.assert_frame_equal(table, _table(alone), check_like=True)
        assert both.frame.geometry.loc[alone.ids].geom_equals(alone.frame.geometry).all()
        # every row (the hotel, the lone shops too) in the district it has alone
        assert ids.loc[city.index].equals(alone.merchant_district_ids())
        points = city[["lat", "lng"]].to_numpy().tolist()
        assert [both.at(a, b) for a, b in points] == ids.loc[city.index].tolist()
    # the dense city's cells as alone; the town's are the children of its cells at 12,
    # but for the cells of its own shops, which take their shop's district
    assert {i: _cells_by_id(both)[i] for i in alone_dense.ids} == _cells_by_id(alone_dense)
    own = set(latlngs_to_cells(sparse["lat"].to_numpy(), sparse["lng"].to_numpy(), 12).tolist())
    for i in alone_sparse.ids:
        kids = set(cells_to_children(alone_sparse.cells_of(i), 12)[0].tolist())
        got = _cells_by_id(both)[i]
        assert got ^ kids <= own and len(got ^ kids) < 0.05 * len(kids)


def test_shuffled_rows_give_the_same_districts(cities):
    both = pd.concat(cities)
    a = build_districts(both)
    b = build_districts(both.sample(frac=1.0, random_state=7))
    assert a.ids == b.ids and b.resolution == a.resolution
    pd.testing.assert_frame_equal(_table(a), _table(b))
    assert np.array_equal(a.cells, b.cells) and np.array_equal(a.cell_district, b.cell_district)
    assert b.merchant_district_ids().reindex(both.index).equals(a.merchant_district_ids())


def test_an_explicit_resolution_is_one_scale_for_every_city(cities):
    """The caller who fixes the resolution fixes it for all: one detection, as before."""
    d = build_districts(pd.concat(cities), DistrictParams(resolution=11))
    assert d.resolution == 11 and set(d.frame["resolution"]) == {11}
    assert d.info["regions"] == {"detected": 1, "resolutions": {"11": 1}}


def test_regions_are_cities_not_the_rows_around_them():
    lat = np.array([40.70, 40.701, 40.702, 42.65, 42.651, 40.7005, 45.0])
    lng = np.array([-74.0, -74.0, -74.0, -73.75, -73.75, -74.0, -70.0])
    eligible = np.array([1, 1, 1, 1, 1, 0, 0], dtype=bool)
    # the hotel (not detected) joins the city it is in; a row far from every shop, none
    assert merchant_regions(lat, lng, eligible).tolist() == [0, 0, 0, 1, 1, 0, -1]
    order = np.arange(len(lat))[::-1]
    back = merchant_regions(lat[order], lng[order], eligible[order])
    assert back[np.argsort(order)].tolist() == [0, 0, 0, 1, 1, 0, -1]


@pytest.mark.real_data
def test_new_york_city_in_the_state_file_has_its_own_districts(real_data: Path):
    """NYS statewide food stores: NYC's districts as with NYC alone (the bbox of
    ``geo-discovery load --bbox -74.26,40.48,-73.70,40.92``). NYC shares its region with
    Long Island and Westchester (one continuous spread of shops), whose shops move a
    quantile a little: a few districts and about 0.5 % of memberships differ."""
    state = read_merchants([real_data / "cities" / "nys_retail_food_stores_statewide.csv.gz"])
    in_nyc = (state["lat"].between(40.48, 40.92) & state["lng"].between(-74.26, -73.70)).to_numpy()
    nyc = state[in_nyc]
    alone, whole = build_districts(nyc), build_districts(state)
    assert alone.resolution == 11 and whole.resolution == 11  # (it was 10 for the state)
    ids = whole.merchant_district_ids()[in_nyc]
    same = (ids.fillna("-") == alone.merchant_district_ids().fillna("-")).mean()
    assert same > 0.99
    mine = whole.frame.loc[sorted(set(ids.dropna()))]
    assert set(mine["resolution"]) == {11}
    assert len(set(mine.index) & set(alone.ids)) >= 0.97 * len(alone)
    assert mine["area_km2"].sum() == pytest.approx(alone.frame["area_km2"].sum(), rel=0.03)
    assert mine["area_km2"].max() < 1.5  # (the state's largest NYC district was 28.6 km²)
