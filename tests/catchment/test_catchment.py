"""Catchment: demand on cells, Huff shares (known case, sums, MLE), trade areas, rings, Gi*."""

from __future__ import annotations

import math
import warnings

import h3
import numpy as np
import pandas as pd
import pytest
import shapely

from geo_discovery.catchment import (
    calibrate_huff,
    captured_demand,
    competitor_overlap,
    demand_from_points,
    distance_rings,
    facilities_from_districts,
    gi_star,
    huff_probabilities,
    read_demand,
    share_surface,
    threshold_radius,
    trade_areas,
)
from geo_discovery.catchment.district import CatchmentParams
from geo_discovery.cells import cell_to_str, latlng_to_cell
from geo_discovery.cellsets import CellGrid, disk_cells
from geo_discovery.distance import haversine_m
from geo_discovery.errors import InvalidQueryError


@pytest.fixture(scope="module")
def city():
    rng = np.random.default_rng(7)
    demand = demand_from_points(
        40.75 + rng.normal(0, 0.02, 400),
        -73.98 + rng.normal(0, 0.03, 400),
        rng.uniform(100, 2000, 400),
        resolution=9,
        spread_k=1,
    )
    stores = pd.DataFrame(
        {
            "lat": 40.75 + rng.normal(0, 0.02, 10),
            "lng": -73.98 + rng.normal(0, 0.03, 10),
            "attractiveness": rng.uniform(5, 100, 10),
        },
        index=[f"s{i}" for i in range(10)],
    )
    return demand, stores


def test_huff_known_case():
    # one consumer, three stores 1, 2 and 3 km north, sizes 100, 200, 300, α = 1, β = 2:
    # utilities 100/1, 200/4, 300/9 -> 100 : 50 : 33.3 -> 6/11, 3/11, 2/11
    demand = pd.DataFrame({"lat": [0.0], "lng": [0.0]})
    km = 1000 / 111_194.93  # degrees of latitude per km on h3's sphere
    stores = pd.DataFrame(
        {"lat": [km, 2 * km, 3 * km], "lng": [0.0] * 3, "attractiveness": [100.0, 200.0, 300.0]}
    )
    p = huff_probabilities(demand, stores, alpha=1, beta=2, min_distance_m=1)
    assert p.iloc[0].to_numpy() == pytest.approx([6 / 11, 3 / 11, 2 / 11], rel=1e-6)
    # α = 0, β = 0: every store equally likely; a huge β: the nearest takes all
    flat = huff_probabilities(demand, stores, alpha=0, beta=0)
    assert flat.iloc[0].to_numpy() == pytest.approx([1 / 3] * 3)
    near = huff_probabilities(demand, stores, alpha=1, beta=60)
    assert near.iloc[0, 0] == pytest.approx(1.0)


def test_huff_rows_sum_to_one_and_align(city):
    demand, stores = city
    for alpha, beta in ((1.0, 2.0), (0.5, 0.5), (2.0, 4.0)):
        p = huff_probabilities(demand, stores, alpha=alpha, beta=beta)
        assert p.index.equals(demand.index) and list(p.columns) == list(stores.index)
        assert np.allclose(p.sum(axis=1), 1.0, atol=1e-12)
        assert ((p >= 0) & (p <= 1)).all().all()
    # the largest-pull store wins the cell it sits in
    cell = demand.index[np.argmin(haversine_m(demand.lat, demand.lng, *stores.iloc[3][:2]))]
    p = huff_probabilities(demand, stores)
    assert p.loc[cell].idxmax() == "s3" or p.loc[cell, "s3"] > 0.3


def test_huff_rejects_bad_input(city):
    demand, stores = city
    with pytest.raises(ValueError, match="beta=-1"):
        huff_probabilities(demand, stores, beta=-1)
    bad = stores.assign(attractiveness=0.0)
    with pytest.raises(ValueError, match="attractiveness"):
        huff_probabilities(demand, bad)
    with pytest.raises(ValueError, match="min_distance_m"):
        huff_probabilities(demand, stores, min_distance_m=0)
    with pytest.raises(ValueError, match="empty"):
        huff_probabilities(demand, stores.iloc[:0])


def test_catchment_parameters_from_a_mapping_or_refused():
    """engine.catchment(d, "merchants", {"alpha": 1}) failed with AttributeError."""
    assert CatchmentParams.of({"alpha": 1.5}) == CatchmentParams(alpha=1.5)
    assert CatchmentParams.of(None) == CatchmentParams()
    with pytest.raises(ValueError, match=r"catchment parameter\(s\) alfa unknown; allowed: alpha"):
        CatchmentParams.of({"alfa": 1})
    with pytest.raises(ValueError, match="params must be CatchmentParams or a mapping"):
        CatchmentParams.of(5)


def test_a_fit_without_observed_trips_is_refused(city):
    """With no trip (visits of another city) the fit reported its start values, alpha 1
    and beta 2, as converged, with NaN standard errors."""
    demand, stores = city
    none = huff_probabilities(demand, stores) * 0.0
    with pytest.raises(ValueError, match="no observed trip to fit alpha and beta"):
        calibrate_huff(demand, stores, none)


def test_mle_recovers_parameters(city):
    demand, stores = city
    true = huff_probabilities(demand, stores, alpha=1.3, beta=1.7)
    fit = calibrate_huff(demand, stores, true, weights=demand["population"])
    assert fit.converged
    assert (fit.alpha, fit.beta) == pytest.approx((1.3, 1.7), abs=1e-4)
    rng = np.random.default_rng(1)
    counts = np.vstack(
        [
            rng.multinomial(int(n), p)
            for n, p in zip(demand["population"], true.to_numpy(), strict=True)
        ]
    )
    observed = pd.DataFrame(counts, index=true.index, columns=true.columns)
    noisy = calibrate_huff(demand, stores, observed)
    assert abs(noisy.alpha - 1.3) < 4 * noisy.alpha_se + 1e-3
    assert abs(noisy.beta - 1.7) < 4 * noisy.beta_se + 1e-3
    assert 0 < noisy.alpha_se < 0.05


def test_demand_spreading_preserves_population(tmp_path):
    csv = tmp_path / "tracts.csv"
    pd.DataFrame(
        {
            "ct": [1, 2, 3, 4, 5],
            "pop": [1000, 0, 250, 40, None],
            "centroid_lat": [40.7, 91, 40.71, 40.7, None],
            "centroid_lon": [-74.0, 0, -74.01, -74.0, None],
        }
    ).to_csv(csv, index=False)
    pts = read_demand(csv)
    assert len(pts) == 3  # no one lives at the bad latitude (nor on the blank line)
    d = demand_from_points(pts.lat, pts.lng, pts.population, resolution=9, spread_k=2)
    assert d["population"].sum() == pytest.approx(1290)
    assert len(d) <= 2 * 19 and d.geometry.is_valid.all()
    assert d.index.name == "cell_id" and d["cell"].dtype == np.uint64
    with pytest.raises(ValueError, match="spread_k=-1"):
        demand_from_points([0.0], [0.0], [1.0], spread_k=-1)
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="latitude"):
        read_demand(tmp_path / "bad.csv")
    # people off the map are not dropped in silence: swapped columns, projected metres
    (tmp_path / "swapped.csv").write_text("lat,lng,pop\n40.7,-74.0,5\n-111.89,40.76,10\n")
    with pytest.raises(ValueError, match=r"1 of 2 rows .* line 3, lat=-111.89, lng=40.76"):
        read_demand(tmp_path / "swapped.csv")
    (tmp_path / "metres.csv").write_text("lat,lng,pop\n4970000.0,-8235000.0,5\n")
    with pytest.raises(ValueError, match="swapped, or projected"):
        read_demand(tmp_path / "metres.csv")


def test_trade_areas_are_valid_and_partition_by_share(city):
    demand, stores = city
    p = huff_probabilities(demand, stores)
    for sid in stores.index:
        ta = trade_areas(demand, p, sid)
        assert list(ta.index) == ["primary", "secondary"]
        assert ta.geometry.is_valid.all()
        prim, sec = ta.geometry["primary"], ta.geometry["secondary"]
        assert prim.intersection(sec).area < 1e-12
        surface = share_surface(demand, p, sid)
        assert ta.loc["primary", "cells"] == int((surface["share"] >= 0.5).sum())
        assert ta.loc["secondary", "cells"] == int(surface["share"].between(0.2, 0.5).sum()) - int(
            (surface["share"] == 0.5).sum()
        )
        for kind, lo, hi in (("primary", 0.5, 2.0), ("secondary", 0.2, 0.5)):
            band = surface[(surface["share"] >= lo) & (surface["share"] < hi)]
            want = float(np.sum([h3.cell_area(cell_to_str(int(c)), unit="km^2")
                                 for c in band["cell"]]))  # fmt: skip
            assert ta.loc[kind, "area_km2"] == pytest.approx(want, rel=1e-6)  # h3: another sum
    with pytest.raises(ValueError, match="secondary"):
        trade_areas(demand, p, "s0", primary=0.2, secondary=0.5)
    with pytest.raises(KeyError):
        share_surface(demand, p, "nope")


def test_captured_demand_adds_up(city):
    demand, stores = city
    p = huff_probabilities(demand, stores)
    cap = captured_demand(p, demand["population"])
    assert cap["captured"].sum() == pytest.approx(demand["population"].sum())
    assert cap["share"].sum() == pytest.approx(1.0)


def test_competitor_overlap_matches_removal(city):
    demand, stores = city
    p = huff_probabilities(demand, stores)
    ov = competitor_overlap(p, demand["population"], "s0", "s1")
    without = huff_probabilities(demand, stores.drop(index="s1"))
    gain = captured_demand(without, demand["population"]).loc["s0", "captured"]
    assert ov["b_takes_from_a"] == pytest.approx(gain - ov["captured_a"], rel=1e-9)
    assert 0 <= ov["cannibalisation_a"] < 1 and 0 <= ov["trade_area_jaccard"] <= 1
    assert ov["contested"] <= min(ov["captured_a"], ov["captured_b"])
    with pytest.raises(ValueError):
        competitor_overlap(p, demand["population"], "s0", "s0")


def test_rings_and_threshold_radius(city):
    demand, _ = city
    rings = distance_rings(40.75, -73.98, [2000, 500, 1000], demand)
    assert list(rings["radius_m"]) == [500, 1000, 2000]
    assert rings.geometry.is_valid.all()
    assert rings["population"].sum() == pytest.approx(rings["cumulative_population"].iloc[-1])
    # a 1 km circle has ~3.14 km² (geodesic polygon, 96 vertices)
    circle = rings.to_crs("+proj=laea +lat_0=40.75 +lon_0=-73.98").geometry.iloc[0]
    assert circle.area == pytest.approx(math.pi * 500**2, rel=2e-3)
    r, ring = threshold_radius(40.75, -73.98, demand, 50_000)
    d = haversine_m(40.75, -73.98, demand.lat.to_numpy(), demand.lng.to_numpy())
    assert demand["population"][d <= r].sum() >= 50_000
    assert demand["population"][d < r].sum() < 50_000
    assert ring.is_valid
    assert threshold_radius(40.75, -73.98, demand, 1e12)[0] == math.inf


def test_gi_star_matches_esda():
    esda = pytest.importorskip("esda")
    libpysal = pytest.importorskip("libpysal")
    cells = disk_cells([latlng_to_cell(40.75, -73.98, 9)], 5)
    rng = np.random.default_rng(3)
    values = rng.poisson(4, len(cells)).astype(float)
    values[:8] += 25
    ours = gi_star(cells, values)
    grid = CellGrid(cells)
    ids = list(ours.index)
    neigh = {ids[i]: [ids[j] for j in row if j >= 0] for i, row in enumerate(grid.neighbours)}
    w = libpysal.weights.W(neigh, id_order=ids)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = esda.G_Local(values, w, transform="B", star=True, permutations=0)
    assert np.allclose(ours["z"].to_numpy(), ref.Zs, atol=1e-9)
    assert (ours["hotspot"].iloc[:8] == "hot").mean() > 0.5
    with pytest.raises(ValueError, match="at least 3"):
        gi_star(cells[:2], values[:2])


def test_trade_area_polygon_is_union_of_cells(city):
    demand, stores = city
    p = huff_probabilities(demand, stores)
    ta = trade_areas(demand, p, "s0")
    surface = share_surface(demand, p, "s0")
    cells = surface[surface["share"] >= 0.5]
    expected = shapely.union_all(cells.geometry.to_numpy())
    assert ta.geometry["primary"].symmetric_difference(expected).area < 1e-12


def test_district_catchment_cells_as_hexagons(sample_engine):
    """``DistrictCatchment.to_geodataframe``: one hexagon per demand cell, holding the
    cell's centre, no two overlapping; ``min_share`` keeps exactly the cells at or above."""
    import geopandas as gpd

    did = sample_engine.districts()["n_merchants"].idxmax()
    out = sample_engine.catchment(did, "merchants", CatchmentParams(radius_m=1_500))
    cells = out.to_geodataframe()
    assert cells.crs.to_epsg() == 4326 and cells.index.equals(out.cells.index)
    centres = gpd.GeoSeries(
        gpd.points_from_xy(cells["lng"], cells["lat"]), index=cells.index, crs=4326
    )
    assert cells.geometry.contains(centres).all()
    metric = cells.to_crs(cells.estimate_utm_crs())
    assert metric.union_all().area == pytest.approx(metric.area.sum(), rel=1e-6)
    some = out.to_geodataframe(min_share=0.5)
    assert len(some) == int((out.cells["share"] >= 0.5).sum()) > 0
    assert (some["share"] >= 0.5).all()


def test_facilities_from_the_engines_district_frame(sample_engine):
    from_frame = facilities_from_districts(sample_engine.districts())
    from_districts = facilities_from_districts(sample_engine.snapshot.require_districts())
    pd.testing.assert_frame_equal(from_frame, from_districts)


@pytest.mark.parametrize(
    ("lat", "lng", "radius_m", "res"),
    [
        (60.17, 24.94, 5000.0, 10),  # Helsinki: cells ~12 % under h3's average edge
        (7.85, 57.09, 6400.0, 10),  # near a pentagon's distortion: 12 % were missed
        (40.75, -73.98, 3000.0, 9),
        (-17.5, 179.99, 4000.0, 9),  # over the antimeridian
        (89.99, 0.0, 8000.0, 8),  # at the pole
    ],
)
def test_uniform_demand_is_every_cell_whose_centre_is_within_the_radius(
    lat: float, lng: float, radius_m: float, res: int
) -> None:
    """Against brute force: every cell of a disk far wider than the radius, kept by the
    distance of its centre."""
    from geo_discovery.catchment.demand import uniform_demand, uniform_disk_k
    from geo_discovery.cells import grid_disk
    from geo_discovery.cellsets import cells_to_latlng

    got = uniform_demand(lat, lng, radius_m, res)
    wide = grid_disk(latlng_to_cell(lat, lng, res), 2 * uniform_disk_k(radius_m, res) + 4)
    clat, clng = cells_to_latlng(wide)
    want = np.sort(wide[haversine_m(lat, lng, clat, clng) <= radius_m])
    assert np.array_equal(np.sort(got["cell"].to_numpy()), want)
    assert (got["population"] == 1.0).all()


def test_catchment_params_take_numpy_numbers_and_name_what_is_wrong() -> None:
    """A notebook's ``np.int64(8)`` was refused as "out of range"."""
    from geo_discovery.errors import InvalidQueryError

    p = CatchmentParams(resolution=np.int64(8), radius_m=np.float32(2000), beta=np.float64(1.5))
    assert (p.resolution, p.radius_m, p.beta) == (8, 2000.0, 1.5)
    assert type(p.resolution) is int and type(p.radius_m) is float
    for kw, message in (
        ({"resolution": "8"}, "resolution='8' is not a number; allowed: 6 <= resolution <= 10"),
        ({"resolution": 8.5}, "resolution=8.5 is not an integer"),
        ({"beta": True}, "beta=True is not a number"),
        ({"alpha": math.nan}, "alpha=nan is out of range; allowed: 0 <= alpha <= 5"),
        ({"radius_m": np.int64(10**6)}, "radius_m=1000000.0 is out of range"),
    ):
        with pytest.raises(InvalidQueryError, match=message.replace("(", r"\(")):
            CatchmentParams(**kw)


@pytest.mark.parametrize(
    ("min_share", "match"),
    [
        ("0.2", r"min_share='0\.2' is not a number; allowed: 0 <= min_share <= 1"),
        (None, r"min_share=None is not a number; allowed: 0 <= min_share <= 1"),
        (True, r"min_share=True is not a number"),
        (1.5, r"min_share=1\.5 is out of range; allowed: 0 <= min_share <= 1"),
        (-0.1, r"min_share=-0\.1 is out of range"),
        (float("nan"), r"min_share=nan is out of range"),
    ],
)
def test_to_geodataframe_names_a_min_share_it_refuses(sample_engine, min_share, match):
    """``min_share`` was not checked: '0.2' was a NumPy UFuncTypeError, None a TypeError,
    1.5 an empty answer; it is 0 … 1, as the CLI's --min-share."""
    from geo_discovery.errors import InvalidQueryError

    did = sample_engine.districts()["n_merchants"].idxmax()
    out = sample_engine.catchment(did, "merchants", CatchmentParams(radius_m=1_000))
    with pytest.raises(InvalidQueryError, match=match):
        out.to_geodataframe(min_share=min_share)
    top = out.to_geodataframe(min_share=np.float64(1.0))
    assert len(top) == int((out.cells["share"] >= 1).sum())
    assert len(out.to_geodataframe(min_share=0)) == len(out.cells)


@pytest.mark.parametrize("kind", ["merchants", "frame", "uniform"])
def test_too_many_demand_cells_are_refused_before_any_huff_array(
    sample_engine, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """The ``api_max_catchment_cells`` refusal comes before the cells × districts arrays
    (it came after them: 1.25 GiB and a MemoryError, a 500 over HTTP, for 258k cells)."""
    from geo_discovery.catchment import district
    from geo_discovery.settings import Settings

    did = sample_engine.districts()["n_merchants"].idxmax()
    params = CatchmentParams(radius_m=3_000, resolution=10)
    row = sample_engine.districts().loc[did]
    rng = np.random.default_rng(3)
    demand = kind if kind != "frame" else pd.DataFrame({
        "lat": row["centroid_lat"] + rng.normal(0, 0.005, 400),
        "lng": row["centroid_lng"] + rng.normal(0, 0.01, 400),
        "population": rng.integers(1, 50, 400),
    })  # fmt: skip
    whole = sample_engine.catchment(did, demand, params)
    n = len(whole.cells)
    assert n > 20
    small = sample_engine.__class__(sample_engine.snapshot,
                                    settings=Settings(api_max_catchment_cells=n - 1))  # fmt: skip

    def no_arrays(*args: object, **kw: object) -> None:
        raise AssertionError("a Huff array was made for a refused catchment")

    monkeypatch.setattr(district, "huff_probabilities", no_arrays)
    with pytest.raises(InvalidQueryError, match=rf"resolution=10 holds {n} demand cells; "
                       rf"allowed: at most {n - 1} \(api_max_catchment_cells"):  # fmt: skip
        small.catchment(did, demand, params)
    # the cap is on the cells themselves: exactly as many are allowed (a uniform disk was
    # refused by an estimate 43 % above its count, an analyst's sweep)
    monkeypatch.undo()
    just = sample_engine.__class__(sample_engine.snapshot,
                                   settings=Settings(api_max_catchment_cells=n))  # fmt: skip
    assert len(just.catchment(did, demand, params).cells) == n


def test_trade_area_area_holds_at_the_pole() -> None:
    """``area_km2`` is the cells' spherical area, where a projection to UTM fails (notebook
    02 took the area in UTM and stopped at 84° N)."""
    rng = np.random.default_rng(11)
    demand = demand_from_points(89.99 + rng.normal(0, 0.003, 200), rng.uniform(-180, 180, 200),
                                rng.uniform(1, 50, 200), resolution=9, spread_k=1)  # fmt: skip
    stores = pd.DataFrame({"lat": [89.995, 89.985], "lng": [0.0, 120.0],
                           "attractiveness": [10.0, 5.0]}, index=["a", "b"])  # fmt: skip
    ta = trade_areas(demand, huff_probabilities(demand, stores), "a")
    surface = share_surface(demand, huff_probabilities(demand, stores), "a")
    prim = surface[surface["share"] >= 0.5]
    assert len(prim) > 0
    want = sum(h3.cell_area(cell_to_str(int(c)), unit="km^2") for c in prim["cell"])
    assert ta.loc["primary", "area_km2"] == pytest.approx(want, rel=1e-6)  # h3's own sum


def test_huff_reads_cells_as_integers_or_hex_text_alike(city):
    """``cell`` as hex text (what the API gives) crashed with ``invalid literal for
    int()``, and an export's ``cell_id`` column fell back to a 50 m floor instead of half
    a cell's edge, shares up to 0.12 apart (an analyst's sweep)."""
    demand, stores = city
    want = huff_probabilities(demand, stores)
    plain = pd.DataFrame(demand[["lat", "lng", "population"]])
    as_hex = plain.assign(cell=[cell_to_str(c) for c in demand["cell"]])
    exported = plain.assign(cell_id=[cell_to_str(c) for c in demand["cell"]])
    for frame in (as_hex, exported, exported.set_index("cell_id")):
        pd.testing.assert_frame_equal(huff_probabilities(frame, stores), want, check_names=False)
    points = plain.reset_index(drop=True)  # no cell: points, floored at 50 m
    assert not np.allclose(huff_probabilities(points, stores).to_numpy(), want.to_numpy())


def test_a_fit_names_trips_it_cannot_place_and_a_parameter_at_its_bound(city):
    demand, stores = city
    true = huff_probabilities(demand, stores, alpha=1.3, beta=1.7)
    extra = true.assign(nowhere=1e6)  # a district the facilities do not hold
    with pytest.raises(InvalidQueryError, match=r"observed has 1 column\(s\) that no facility"):
        calibrate_huff(demand, stores, extra, weights=demand["population"])
    more = pd.concat([true, true.iloc[:1].rename(index={true.index[0]: "zz"})])
    with pytest.raises(InvalidQueryError, match=r"1 row\(s\) that no demand cell has"):
        calibrate_huff(demand, stores, more)
    fit = calibrate_huff(demand, stores, true, weights=demand["population"])
    assert fit.at_bound == () and math.isfinite(fit.beta_se)
    # every trip to the nearest store: beta runs to its top, said so, with no error bar
    lat, lng = demand["lat"].to_numpy()[:, None], demand["lng"].to_numpy()[:, None]
    d = haversine_m(lat, lng, stores["lat"].to_numpy()[None, :], stores["lng"].to_numpy()[None, :])
    nearest = pd.DataFrame((d == d.min(axis=1, keepdims=True)) * 100.0, index=true.index,
                           columns=true.columns)  # fmt: skip
    stuck = calibrate_huff(demand, stores, nearest)
    assert stuck.at_bound == ("beta",) and stuck.beta == 5.0 and math.isnan(stuck.beta_se)
    CatchmentParams(alpha=stuck.alpha, beta=stuck.beta)  # a fit is a valid parameter set


def test_catchment_params_are_importable_beside_the_catchment_functions():
    from geo_discovery import catchment

    assert catchment.CatchmentParams is CatchmentParams


def test_a_uniform_radius_shorter_than_its_cells_says_so(sample_engine) -> None:
    """``uniform`` demand at resolution 6 within 1 km said "no demand … there is none;
    allowed: demand that covers the district": no cell centre lies that close."""
    did = sample_engine.districts()["n_merchants"].idxmax()
    says = r"resolution=6 holds no cell centre \(they are about [\d,]+ m apart there\); allowed"
    with pytest.raises(InvalidQueryError, match=says):
        sample_engine.catchment(did, "uniform", CatchmentParams(radius_m=1_000, resolution=6))
