"""District detection on synthetic merchants: determinism, stable ids, polygons, alignment."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import shapely

from geo_discovery.cells import latlngs_to_cells
from geo_discovery.cellsets import (
    CellGrid,
    add_connectors,
    cell_areas_m2,
    cells_to_parent,
    cells_to_polygon,
    disk_cells,
)
from geo_discovery.districts.detect import (
    METHODS,
    DistrictParams,
    Districts,
    build_districts,
    choose_district_resolution,
    derive_districts,
)
from geo_discovery.districts.profile import TIERS, street_of
from geo_discovery.errors import DistrictNotFoundError
from geo_discovery.settings import Settings


def _town(seed: int = 0) -> pd.DataFrame:
    """Three shopping streets of different size, a scatter of isolated shops, a hotel."""
    rng = np.random.default_rng(seed)
    rows = []

    def street(lat0, lng0, n, name, cat_pool, dlat=0.0, dlng=0.00032):
        for i in range(n):
            rows.append(
                {
                    "lat": lat0 + i * dlat + rng.normal(0, 4e-5),
                    "lng": lng0 + i * dlng + rng.normal(0, 4e-5),
                    "category": cat_pool[i % len(cat_pool)],
                    "address": f"{10 + 2 * i} {name}, Town",
                    "name": f"{name} shop {i}",
                    "status": "open",
                }
            )

    street(
        40.700,
        -74.000,
        80,
        "Main Street",
        ["food/restaurant/pizza", "shop/clothes", "food/cafe", "shop/books"],
    )
    street(40.710, -73.990, 30, "Oak Avenue", ["food/grocery", "food/restaurant/thai"])
    street(40.690, -73.985, 14, "Elm Road", ["food/grocery"])
    for i in range(60):  # isolated shops far apart
        rows.append(
            {
                "lat": 40.66 + rng.uniform(0, 0.02),
                "lng": -74.04 + rng.uniform(0, 0.02),
                "category": "food/grocery/bodega",
                "address": f"{i} Lonely Lane",
                "name": f"bodega {i}",
                "status": "unknown",
            }
        )
    rows.append(
        {
            "lat": 40.7001,
            "lng": -73.9995,
            "category": "lodging/hotel",
            "address": "1 Main Street",
            "name": "hotel",
            "status": "open",
        }
    )
    frame = pd.DataFrame(rows)
    frame.index = pd.Index([f"m{i:04d}" for i in range(len(frame))], name="merchant_id")
    return frame


@pytest.fixture(scope="module")
def town() -> pd.DataFrame:
    return _town()


@pytest.fixture(scope="module")
def town_districts(town: pd.DataFrame) -> Districts:
    return build_districts(town, DistrictParams(resolution=11))


def test_finds_the_streets_and_not_the_scatter(town: pd.DataFrame, town_districts: Districts):
    d = town_districts
    assert len(d) == 3
    assert list(d.frame["n_merchants"]) == [80, 30, 14]
    assert list(d.frame["name"]) == ["Main St", "Oak Ave", "Elm Rd"]
    ids = d.merchant_district_ids()
    assert ids.index.equals(town.index)
    assert ids[town["address"].str.contains("Lonely")].isna().all()


def test_polygons_are_valid_unions_of_cells(town_districts: Districts):
    d = town_districts
    for district_id, row in d.frame.iterrows():
        cells = d.cells_of(str(district_id))
        assert row.geometry.is_valid and not row.geometry.is_empty
        assert row.geometry.geom_type in ("Polygon", "MultiPolygon")
        assert len(cells) == row["n_cells"]
        union = shapely.union_all([cells_to_polygon([c]) for c in cells])
        assert row.geometry.symmetric_difference(union).area < 1e-12
        assert row["area_km2"] == pytest.approx(cell_areas_m2(cells).sum() / 1e6)
    # districts are disjoint
    assert len(np.unique(d.cells)) == len(d.cells)


def test_merchant_alignment_matches_cells(town: pd.DataFrame, town_districts: Districts):
    d = town_districts
    cells = latlngs_to_cells(town["lat"].to_numpy(), town["lng"].to_numpy(), d.resolution)
    ids = d.merchant_district_ids()
    for cell, got, (lat, lng) in zip(cells, ids, town[["lat", "lng"]].to_numpy(), strict=True):
        expected = None
        pos = np.searchsorted(d.cells, cell)
        if pos < len(d.cells) and d.cells[pos] == cell:
            expected = d.ids[int(d.cell_district[pos])]
        assert got == expected
        assert d.at(lat, lng) == expected
    # the hotel is excluded from detection but still gets the district it lies in
    assert ids.iloc[-1] == d.ids[0]
    assert d.frame.iloc[0]["n_rows"] == d.frame.iloc[0]["n_merchants"] + 1


def test_deterministic_and_ids_stable(town: pd.DataFrame, town_districts: Districts):
    shuffled = town.sample(frac=1.0, random_state=3)
    again = build_districts(shuffled, DistrictParams(resolution=11))
    assert sorted(again.ids) == sorted(town_districts.ids)
    assert (
        again.merchant_district_ids()
        .reindex(town.index)
        .equals(town_districts.merchant_district_ids())
    )
    # a few more shops at the edge of town leave the ids unchanged
    extra = pd.DataFrame(
        {
            "lat": [40.7005, 40.7101],
            "lng": [-73.9700, -73.9895],
            "category": "shop/x",
            "address": ["1 New St", "3 Oak Avenue"],
            "name": ["a", "b"],
            "status": "open",
        },
        index=["x1", "x2"],
    )
    grown = build_districts(pd.concat([town, extra]), DistrictParams(resolution=11))
    assert set(town_districts.ids) <= set(grown.ids)


def test_tiers_stats_and_vitality(town_districts: Districts):
    f = town_districts.frame
    assert set(f["tier"]) <= set(TIERS) and f["tier"].iloc[0] == "regional"
    assert (f["vitality"].between(0, 1)).all()
    assert f["mean_wom"].isna().all() and (f["wom_coverage"] == 0).all()
    main = f.iloc[0]
    assert main["n_categories"] == 4 and main["evenness"] == pytest.approx(1.0)
    mix = {"food/restaurant": 0.25, "food/cafe": 0.25, "shop/clothes": 0.25, "shop/books": 0.25}
    assert json.loads(main["category_mix"]) == mix
    assert main["density_per_km2"] == pytest.approx(main["n_merchants"] / main["area_km2"])


def test_word_of_mouth_feeds_stats(town: pd.DataFrame):
    wom = np.where(town["address"].str.contains("Main"), 0.9, 0.2)
    wom[::7] = np.nan
    d = build_districts(town, DistrictParams(resolution=11), wom=wom)
    main = d.frame.iloc[0]
    assert main["mean_wom"] == pytest.approx(0.9)
    assert 0 < main["wom_coverage"] < 1
    with pytest.raises(ValueError, match="wom has"):
        build_districts(town, wom=np.zeros(3))


@pytest.mark.parametrize("method", METHODS)
def test_every_method_finds_the_main_street(town: pd.DataFrame, method: str):
    d = build_districts(town, DistrictParams(method=method, resolution=11))
    assert len(d) >= 1 and d.frame.geometry.is_valid.all()
    ids = d.merchant_district_ids()
    main = ids[town["address"].str.contains("Main Street")]
    assert main.notna().mean() > 0.9 and main.nunique() == 1


def test_split_divides_two_cores_joined_by_a_thin_street():
    rng = np.random.default_rng(1)
    blobs = []
    for lng0 in (-74.0, -73.985):  # two dense squares ~1.3 km apart
        blobs.append(
            np.column_stack([40.70 + rng.normal(0, 6e-4, 150), lng0 + rng.normal(0, 8e-4, 150)])
        )
    thin = np.column_stack([np.full(90, 40.70), np.linspace(-74.0, -73.985, 90)])
    pts = np.vstack([*blobs, thin])
    frame = pd.DataFrame({"lat": pts[:, 0], "lng": pts[:, 1], "category": "shop/x"})
    base = DistrictParams(resolution=11, seed_quantile=0.0)
    whole = build_districts(frame, replace(base, split_quantile=None))
    split = build_districts(frame, replace(base, split_quantile=0.5))
    assert len(whole) == 1 and len(split) == 2
    assert np.array_equal(np.sort(whole.cells), np.sort(split.cells))
    assert split.frame.geometry.is_valid.all()


def test_empty_and_tiny_inputs():
    empty = pd.DataFrame({"lat": [], "lng": [], "category": []})
    d = build_districts(empty)
    assert len(d) == 0 and d.summary()["districts"] == 0
    assert d.at(40.0, -74.0) is None
    few = pd.DataFrame({"lat": [40.0, 40.0001], "lng": [-74.0, -74.0], "category": "a"})
    assert len(build_districts(few)) == 0
    # no district: the numbers keep their types (they were objects: nlargest, plots and
    # arithmetic on an empty table failed in the analysts' notebooks)
    frame = build_districts(empty).frame
    assert frame["vitality"].dtype == np.float64 and frame["n_merchants"].dtype == np.int64
    assert frame["vitality"].nlargest(3).empty and frame.crs.to_epsg() == 4326


def test_bad_parameters_and_inputs_are_named():
    with pytest.raises(ValueError, match="method='kmeans'"):
        DistrictParams(method="kmeans")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"seed_quantile=1\.5"):
        DistrictParams(seed_quantile=1.5)
    with pytest.raises(ValueError, match="min_merchants=0"):
        DistrictParams(min_merchants=0)
    with pytest.raises(ValueError, match="NaN"):
        build_districts(pd.DataFrame({"lat": [np.nan], "lng": [0.0], "category": ["a"]}))
    with pytest.raises(DistrictNotFoundError):
        build_districts(_town()).get("nope")


def test_params_from_settings_overrides():
    class Fake:
        districts_min_merchants = 25
        districts_connector_passes = (2,)

    p = DistrictParams.from_settings(Fake(), seed_quantile=0.3)  # type: ignore[arg-type]
    assert (p.min_merchants, p.connector_passes, p.seed_quantile) == (25, (2,), 0.3)
    assert DistrictParams.from_settings(Settings()) == DistrictParams()


def test_resolution_from_spacing():
    lat = 40.75 + np.arange(200) * 0.00027  # 30 m
    assert choose_district_resolution(lat, np.full(200, -73.98)) == 11
    lat = 60.17 + np.arange(200) * 0.00009  # 10 m
    assert choose_district_resolution(lat, np.full(200, 24.94)) == 12


@pytest.mark.parametrize("sparse", [100, 1000, 5000])
def test_a_worldwide_file_beside_a_city_leaves_its_resolution(sparse: int) -> None:
    """A city loaded with a world-wide sample (points hundreds of km apart, more of them
    than the city's) took the resolution of the sparse points: Helsinki's districts went
    from 0.25 km² to 613 km². Only locations with 5 others within 1 km choose it now,
    however many sparse ones come along, and the min_merchants setting does not move it."""
    rng = np.random.default_rng(sparse)
    lat = 60.17 + rng.uniform(0, 0.009, 400)  # a 1 km square of 400 shops: ~25 m apart
    lng = 24.94 + rng.uniform(0, 0.018, 400)
    alone = choose_district_resolution(lat, lng)
    world_lat = np.degrees(np.arcsin(rng.uniform(-0.9, 0.9, sparse)))
    world_lng = rng.uniform(-180, 180, sparse)
    both = choose_district_resolution(np.r_[lat, world_lat], np.r_[lng, world_lng])
    assert both == alone >= 11
    assert choose_district_resolution(world_lat, world_lng) <= 8  # alone: still theirs


def test_deriver_writes_snapshot_folder(tmp_path, town: pd.DataFrame):
    rep = tmp_path / "reputation"
    rep.mkdir()
    np.save(rep / "wom_score.npy", np.full(len(town), 0.5))
    out = tmp_path / "districts"
    out.mkdir()
    table = pa.Table.from_pandas(town.reset_index(drop=True), preserve_index=False)
    info = derive_districts(table, out, Settings(), {"reputation": rep})
    assert info["districts"] == 3 and info["method"] == "tracts"
    json.dumps(info)
    d = Districts.from_directory(out)
    assert len(d) == 3 and d.frame["mean_wom"].iloc[0] == pytest.approx(0.5)
    assert d.merchant_district.shape == (len(town),)
    with pytest.raises(DistrictNotFoundError):
        d.feature("nope")
    gj = d.to_geojson()
    assert gj["type"] == "FeatureCollection" and len(gj["features"]) == 3
    assert gj["features"][0]["properties"]["district_id"] == d.ids[0]


def test_grid_helpers():
    from geo_discovery.cells import latlng_to_cell

    c = latlng_to_cell(40.75, -73.98, 10)
    disk = disk_cells([c], 2)
    assert len(disk) == 19
    grid = CellGrid(disk)
    assert (grid.components() == 0).all()
    ring = np.setdiff1d(disk, disk_cells([c], 1))
    assert grid.components(np.isin(grid.cells, ring)).max() == 0
    # a ring with its centre missing: a 4-neighbour connector pass fills the centre back
    assert c in add_connectors(np.setdiff1d(disk, [c]), [4]).tolist()
    parents = cells_to_parent(disk, 8)
    assert len(np.unique(parents)) <= 3
    with pytest.raises(ValueError, match="res=11"):
        cells_to_parent(disk, 11)
    with pytest.raises(ValueError, match="min_neighbours=7"):
        add_connectors(disk, [7])


def test_street_names():
    assert street_of("1007 MORRIS PARK AVE, BRONX") == "Morris Park Ave"
    assert street_of("158 E. 188 Th St, Bronx") == "E 188th St"
    assert street_of("Mannerheimintie 14-20, 00100") == "Mannerheimintie"
    assert street_of("42") is None


def test_real_data_dir_defaults_beside_the_project(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    """No argument and no setting: ``../shared/data`` beside the project root (README)."""
    from pathlib import Path

    from geo_discovery.districts.evaluate import real_data_dir
    from geo_discovery.settings import get_settings

    root = Path(__file__).resolve().parents[2]
    monkeypatch.delenv("GEO_DISCOVERY_REAL_DATA", raising=False)
    get_settings.cache_clear()
    try:
        assert real_data_dir() == root.parent / "shared" / "data"
        monkeypatch.setenv("GEO_DISCOVERY_REAL_DATA", str(tmp_path))
        get_settings.cache_clear()
        assert real_data_dir() == tmp_path
    finally:
        get_settings.cache_clear()
    assert real_data_dir("elsewhere") == Path("elsewhere")


def test_a_town_over_the_antimeridian_or_at_a_pole_is_found_as_anywhere():
    """The town moved so Main Street straddles ±180 (Taveuni, Fiji), and a cluster round
    the North Pole: the union of a district's cells refused cells drawn across the world,
    and the centroid was the mean of -180 and 180 (the other side of the Earth)."""
    town = _town()
    moved = town.copy()
    moved["lng"] = (town["lng"] + 254.0 - 0.0128 + 180.0) % 360.0 - 180.0
    assert (moved["lng"] > 179.99).any() and (moved["lng"] < -179.99).any()
    rng = np.random.default_rng(1)
    pole = pd.DataFrame({"lat": np.minimum(89.9985 + rng.normal(0, 0.0007, 200), 89.99999),
                         "lng": rng.uniform(-180.0, 180.0, 200), "category": "food/cafe",
                         "status": "open"}, index=[f"p{i}" for i in range(200)])  # fmt: skip
    for frame in (moved, pole):
        d = build_districts(frame, DistrictParams(resolution=11))
        assert len(d) >= 1
        for district_id, row in d.frame.iterrows():
            geom = row.geometry
            assert geom.is_valid and geom.bounds[0] >= -180.0 and geom.bounds[2] <= 180.0
            mine = frame[d.merchant_district_ids() == district_id]
            assert all(geom.covers(shapely.Point(x, y)) for y, x in mine[["lat", "lng"]].to_numpy())
            assert all(d.at(y, x) == district_id for y, x in mine[["lat", "lng"]].to_numpy())
    d = build_districts(moved, DistrictParams(resolution=11))
    assert list(d.frame["n_merchants"]) == [80, 30, 14]  # as where it was
    main = d.frame.iloc[0]
    assert abs((main["centroid_lng"] - 180.0 + 180.0) % 360.0 - 180.0) < 0.01


def test_a_load_without_word_of_mouth_gives_districts_none(tmp_path: Any) -> None:
    """OSM points carry no rating, review or visit: every merchant's word of mouth is only
    the prior (confidence 0). Districts reported mean_wom 0.5 and a coverage of 1 for all
    of them, so vitality was never weighed over density and diversity alone, as documented
    for data without word of mouth: a constant was added and the scale lost its ends."""
    from pathlib import Path

    from geo_discovery.engine import DiscoveryEngine
    from geo_discovery.snapshot.pipeline import load

    sample = Path(__file__).resolve().parents[2] / "data" / "sample" / "helsinki_osm_pois.csv"
    load([sample], data_dir=tmp_path, profile="osm_poi", settings=Settings(data_dir=tmp_path))
    engine = DiscoveryEngine.from_snapshot(tmp_path)
    confidence = engine.snapshot.wom[1]
    assert not (confidence > 0).any()  # (the premise: no evidence at all in this file)
    d = engine.districts()
    assert d["mean_wom"].isna().all() and (d["wom_coverage"] == 0).all()
    assert d["vitality"].max() == pytest.approx(1.0)  # renormalised: the best has it all
