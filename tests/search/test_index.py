"""CellIndex against the brute-force haversine oracle (tests/oracle.py).

Three layers:

* the oracle's comparison helper itself: it accepts every legitimate answer (ties within
  1e-6 m at the k-th place or on the radius) and rejects real mismatches;
* hypothesis property tests on random points: clusters at both poles, across the
  antimeridian, sparse global data queried far from everything, duplicate coordinates,
  masks, k above the number of points, explicit resolutions 0..12 and the automatic one;
* every real dataset in ../shared/data (coordinates read with pandas, not through ingest):
  thousands of kNN / radius / box / polygon queries.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import h3
import numpy as np
import oracle
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from geo_discovery.distance import EARTH_RADIUS_M, haversine_m
from geo_discovery.models import BBox
from geo_discovery.search.index import CellIndex, build_cell_index

M_PER_DEG = math.pi * EARTH_RADIUS_M / 180.0
PROPERTY = settings(
    max_examples=75,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# ----------------------------------------------------------------- the oracle helper


def _line_points() -> oracle.Points:
    """Points on the equator at 0, 10, 20, … m east of (0, 0), plus exact duplicates."""
    lng = np.array([0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 20.0, 20.0]) / M_PER_DEG
    lat = np.zeros(len(lng))
    ids = ["h", "g", "f", "e", "d", "c", "b", "a"]
    return oracle.Points.build(lat, lng, ids)


def _answer(pts: oracle.Points, exp: oracle.Expected) -> tuple[NDArray, NDArray]:
    pos, dist = exp.answer()
    return pos.copy(), dist.copy()


def test_oracle_orders_by_distance_then_id() -> None:
    pts = _line_points()
    exp = oracle.knn(pts, 0.0, 0.0, 5)
    # 0 m: h; 10 m: g; 20 m: f, b, a (same spot) -> by id a, b, f.
    assert exp.ids() == ["h", "g", "a", "b", "f"]
    np.testing.assert_allclose(exp.answer()[1], [0, 10, 20, 20, 20], atol=1e-6)


def test_oracle_accepts_the_correct_answer_and_the_index_agrees() -> None:
    pts = _line_points()
    index = build_cell_index(pts.lat, pts.lng, pts.ids, resolution=12)
    for k in range(1, 10):
        exp = oracle.knn(pts, 0.0, 0.0, k)
        oracle.assert_matches(*_answer(pts, exp), exp)
        oracle.assert_matches(*index.knn(0.0, 0.0, k), exp)


@pytest.mark.parametrize(
    "corrupt",
    [
        "drop_last",
        "drop_first",
        "farther_instead",
        "swap_clear_order",
        "distance_off",
        "duplicate",
        "tie_in_wrong_id_order",
        "too_many",
        "wrong_dtype",
        "nan_distance",
    ],
)
def test_oracle_rejects_a_wrong_knn_answer(corrupt: str) -> None:
    pts = _line_points()
    exp = oracle.knn(pts, 0.0, 0.0, 4)  # h, g, a, b  (f is also at 20 m but id-later)
    pos, dist = _answer(pts, exp)
    ids = list(pts.ids)
    where = {i: ids.index(i) for i in ids}
    if corrupt == "drop_last":
        pos, dist = pos[:-1], dist[:-1]
    elif corrupt == "drop_first":
        pos, dist = pos[1:], dist[1:]
    elif corrupt == "farther_instead":  # 30 m point in place of the 20 m one
        pos[-1], dist[-1] = where["e"], 30.0
    elif corrupt == "swap_clear_order":  # 10 m before 0 m (distances swapped too)
        pos[[0, 1]], dist[[0, 1]] = pos[[1, 0]], dist[[1, 0]]
    elif corrupt == "distance_off":
        dist[1] += 1e-4
    elif corrupt == "duplicate":
        pos[-1], dist[-1] = pos[-2], dist[-2]
    elif corrupt == "tie_in_wrong_id_order":  # same spot, b before a
        pos[[2, 3]] = pos[[3, 2]]
    elif corrupt == "too_many":
        pos = np.append(pos, where["f"])
        dist = np.append(dist, 20.0)
    elif corrupt == "wrong_dtype":
        pos = pos.astype(np.float64)
    elif corrupt == "nan_distance":
        dist[0] = np.nan
    with pytest.raises(AssertionError):
        oracle.assert_matches(pos, dist, exp)


def test_oracle_rejects_a_missing_point_when_fewer_than_k() -> None:
    pts = _line_points()
    exp = oracle.knn(pts, 0.0, 0.0, 50)  # more than there are points: all 8 expected
    pos, dist = _answer(pts, exp)
    oracle.assert_matches(pos, dist, exp)
    with pytest.raises(AssertionError, match="missing"):
        oracle.assert_matches(pos[:-1], dist[:-1], exp)


def test_oracle_allows_tie_substitution_at_the_kth_place_only() -> None:
    # Distances 0, 10, 20 + 1e-7 (x) and 20 (y): x and y tie within 1e-6 m for the 3rd place.
    lng = np.array([0.0, 10.0, 20.0 + 1e-7, 20.0, 20.5]) / M_PER_DEG
    pts = oracle.Points.build(np.zeros(5), lng, ["p", "q", "x", "y", "z"])
    exp = oracle.knn(pts, 0.0, 0.0, 3)
    d = exp.dist
    assert exp.ids() == ["p", "q", "y"]
    oracle.assert_matches([0, 1, 3], d[[0, 1, 3]], exp)
    oracle.assert_matches([0, 1, 2], d[[0, 1, 2]], exp)  # x stands in for y: allowed
    with pytest.raises(AssertionError):
        oracle.assert_matches([0, 1, 4], d[[0, 1, 4]], exp)  # z is 0.5 m farther: not a tie
    with pytest.raises(AssertionError):
        oracle.assert_matches([0, 3, 2], d[[0, 3, 2]], exp)  # q (10 m) left out


def test_oracle_near_ties_may_follow_reported_distance_but_exact_ties_follow_id() -> None:
    lng = np.array([5.0, 5.0 + 2e-7]) / M_PER_DEG
    pts = oracle.Points.build(np.zeros(2), lng, ["b", "a"])
    exp = oracle.knn(pts, 0.0, 0.0, 2)
    d = exp.dist
    # b is (2e-7 m) nearer: reported in distance order, b first, is fine …
    oracle.assert_matches([0, 1], d[[0, 1]], exp)
    # … and so is id order if the library's own distances tie exactly.
    oracle.assert_matches([1, 0], [d[0], d[0]], exp)
    # But with exactly equal reported distances, b before a breaks the id rule.
    with pytest.raises(AssertionError, match="merchant_id"):
        oracle.assert_matches([0, 1], [d[0], d[0]], exp)
    # And reported distances must be ascending.
    with pytest.raises(AssertionError, match="order"):
        oracle.assert_matches([1, 0], d[[1, 0]], exp)


def test_oracle_radius_boundary_is_tolerant_within_1e6_m_only() -> None:
    lng = np.array([0.0, 100.0 - 5e-7, 100.0 + 5e-7, 100.0 + 1e-3, 100.0 - 1e-3]) / M_PER_DEG
    pts = oracle.Points.build(np.zeros(5), lng, ["a", "b", "c", "d", "e"])
    exp = oracle.within_radius(pts, 0.0, 0.0, 100.0)
    d = exp.dist
    for sel in ([0, 4], [0, 4, 1], [0, 4, 1, 2], [0, 4, 2]):
        sel_sorted = sorted(sel, key=lambda i: (d[i], pts.ids[i]))
        oracle.assert_matches(sel_sorted, d[sel_sorted], exp)
    with pytest.raises(AssertionError, match="do not qualify"):
        oracle.assert_matches([0, 4, 3], d[[0, 4, 3]], exp)  # 1 mm outside
    with pytest.raises(AssertionError, match="missing"):
        oracle.assert_matches([0], d[[0]], exp)  # 1 mm inside left out


def test_oracle_region_answers_are_exact_sets() -> None:
    pts = oracle.Points.build([0.0, 0.0, 1.0, 2.0], [0.0, 1.0, 1.0, 1.0], ["a", "b", "c", "d"])
    exp = oracle.within_bbox(pts, 0.0, 0.0, 1.0, 1.0, origin=(0.0, 0.0))  # edges inclusive
    assert exp.ids() == ["a", "b", "c"]
    pos, dist = exp.answer()
    oracle.assert_matches(pos, dist, exp)
    with pytest.raises(AssertionError):
        oracle.assert_matches(pos[:-1], dist[:-1], exp)
    with pytest.raises(AssertionError):
        oracle.assert_matches(np.append(pos, 3), np.append(dist, exp.dist[3]), exp)


def test_oracle_bbox_across_the_antimeridian() -> None:
    pts = oracle.Points.build([0, 0, 0, 0, 0], [179.5, -179.5, 180.0, -180.0, 0.0])
    inside = oracle.bbox_contains(pts.lat, pts.lng, -1, 179.0, 1, -179.0)
    assert inside.tolist() == [True, True, True, True, False]
    assert oracle.bbox_centre(-1, 179.0, 1, -179.0) == (0.0, 180.0)
    assert oracle.bbox_centre(-1, 170.0, 1, -150.0) == (0.0, -170.0)


def test_oracle_category_mask_uses_prefixes_at_slash_boundaries() -> None:
    cats = ["food", "food/grocery", "foodie", "food_truck", "retail/food"]
    assert oracle.category_mask(cats, ["food"]).tolist() == [True, True, False, False, False]
    assert oracle.category_mask(cats, [], ["food"]).tolist() == [False, False, True, True, True]
    assert oracle.category_mask(cats, ["food"], ["food/grocery"]).tolist() == [
        True,
        False,
        False,
        False,
        False,
    ]


def test_oracle_tolerance_widens_only_near_the_antipode() -> None:
    far = oracle.HALF_CIRCUMFERENCE_M
    s = oracle.slack_m(np.array([0.0, 1e6, far - 1e6, far - 1e3, far]))
    assert s[0] == s[1] == pytest.approx(1e-6, rel=1e-9)
    assert s[2] < 2e-6
    assert 1e-5 < s[3] < 1e-3
    assert s[4] <= 1.0 + 1e-6


# ------------------------------------------------------------ random property tests


@dataclass(frozen=True)
class Scenario:
    kind: str
    points: oracle.Points
    resolution: int | None
    seed: int
    centre: tuple[float, float]
    spread_deg: float

    def rng(self, salt: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, salt])


EDGE_LATS = (90.0, -90.0, 0.0, 89.999999, -89.999999)
EDGE_LNGS = (180.0, -180.0, 0.0, 179.999999, -179.999999)


@st.composite
def scenarios(draw: st.DrawFn, min_n: int = 0, max_n: int = 120) -> Scenario:
    kind = draw(st.sampled_from(oracle.SCENARIOS))
    n = draw(st.integers(min_n, max_n))
    seed = draw(st.integers(0, 2**32 - 1))
    resolution = draw(st.one_of(st.none(), st.integers(0, 12)))
    spread = draw(st.sampled_from([1e-5, 1e-3, 0.05, 0.5, 3.0]))
    rng = np.random.default_rng(seed)
    centre = (float(np.degrees(np.arcsin(rng.uniform(-1, 1)))), float(rng.uniform(-180, 180)))
    if kind == "antimeridian":
        centre = (float(rng.uniform(-85, 85)), 180.0)
    lat, lng = oracle.random_points(kind, n, rng, centre=centre, spread_deg=spread)
    if n and draw(st.booleans()):  # snap a few coordinates onto exact edge values
        for i in rng.integers(0, n, size=max(1, n // 10)):
            if rng.random() < 0.5:
                lat[i] = EDGE_LATS[rng.integers(len(EDGE_LATS))]
            else:
                lng[i] = EDGE_LNGS[rng.integers(len(EDGE_LNGS))]
    pts = oracle.Points(lat, lng, oracle.shuffled_ids(n, rng))
    return Scenario(kind, pts, resolution, seed, centre, spread)


def queries_for(sc: Scenario, count: int = 6) -> list[tuple[float, float]]:
    """Near the data, exactly at data points, far away (anywhere), edges and antipodes."""
    rng = sc.rng(1)
    pts = sc.points
    kind = "city" if sc.kind == "duplicates" else sc.kind
    near_lat, near_lng = oracle.random_points(
        kind, count, rng, centre=sc.centre, spread_deg=sc.spread_deg
    )
    half = count // 2
    out = [(float(a), float(b)) for a, b in zip(near_lat[:half], near_lng[:half], strict=True)]
    g_lat, g_lng = oracle.random_points("global", 2, rng)
    out.append((float(g_lat[0]), float(g_lng[0])))
    if len(pts):
        i = int(rng.integers(len(pts)))
        out.append((float(pts.lat[i]), float(pts.lng[i])))
        j = int(rng.integers(len(pts)))  # the antipode of a data point
        out.append((-float(pts.lat[j]), float(oracle._wrap_lng(np.array([pts.lng[j] + 180.0]))[0])))
    out.append((float(rng.choice(EDGE_LATS)), float(rng.choice(EDGE_LNGS))))
    out.append((float(g_lat[1]), float(g_lng[1])))
    return out


def index_of(sc: Scenario) -> CellIndex:
    index = build_cell_index(sc.points.lat, sc.points.lng, sc.points.ids, resolution=sc.resolution)
    if sc.resolution is not None:
        assert index.resolution == sc.resolution
    assert len(index) == len(sc.points)
    return index


def _mask(sc: Scenario, p: float | None) -> NDArray[np.bool_] | None:
    if p is None:
        return None
    return sc.rng(2).random(len(sc.points)) < p


MASK_P = st.sampled_from([None, None, 0.5, 0.1, 0.0])
K = st.one_of(st.integers(1, 8), st.integers(1, 200))
RADIUS = st.one_of(
    st.floats(0.0, 500.0),
    st.floats(1.0, 3e6).map(lambda r: float(10 ** (math.log10(r) * 6.5 / math.log10(3e6)))),
)


@PROPERTY
@given(sc=scenarios(), k=K, mask_p=MASK_P)
def test_knn_matches_brute_force(sc: Scenario, k: int, mask_p: float | None) -> None:
    index = index_of(sc)
    mask = _mask(sc, mask_p)
    for lat, lng in queries_for(sc):
        pos, dist = index.knn(lat, lng, k, mask=mask)
        assert pos.dtype == np.int64 and dist.dtype == np.float64
        oracle.assert_matches(pos, dist, oracle.knn(sc.points, lat, lng, k, mask=mask))


@PROPERTY
@given(sc=scenarios(), k=K, radius=RADIUS, mask_p=MASK_P)
def test_knn_within_radius_matches_brute_force(
    sc: Scenario, k: int, radius: float, mask_p: float | None
) -> None:
    index = index_of(sc)
    mask = _mask(sc, mask_p)
    for lat, lng in queries_for(sc):
        pos, dist = index.knn(lat, lng, k, radius_m=radius, mask=mask)
        exp = oracle.knn(sc.points, lat, lng, k, radius_m=radius, mask=mask)
        oracle.assert_matches(pos, dist, exp)


@PROPERTY
@given(sc=scenarios(), radius=RADIUS, mask_p=MASK_P)
def test_within_radius_matches_brute_force(
    sc: Scenario, radius: float, mask_p: float | None
) -> None:
    index = index_of(sc)
    mask = _mask(sc, mask_p)
    for lat, lng in queries_for(sc):
        pos, dist = index.within_radius(lat, lng, radius, mask=mask)
        exp = oracle.within_radius(sc.points, lat, lng, radius, mask=mask)
        oracle.assert_matches(pos, dist, exp)


def _random_box(
    rng: np.random.Generator, centre: tuple[float, float], half_deg: float
) -> tuple[float, float, float, float]:
    """(south, west, north, east) around ``centre``; may cross the antimeridian."""
    h_lat = half_deg * rng.uniform(0.2, 1.0)
    h_lng = min(
        half_deg * rng.uniform(0.2, 1.0) / max(math.cos(math.radians(centre[0])), 0.05), 179.0
    )
    south = max(-90.0, centre[0] - h_lat)
    north = min(90.0, centre[0] + h_lat)
    west = float(oracle._wrap_lng(np.array([centre[1] - h_lng]))[0])
    east = float(oracle._wrap_lng(np.array([centre[1] + h_lng]))[0])
    return south, west, north, east


@PROPERTY
@given(
    sc=scenarios(),
    half_deg=st.sampled_from([1e-4, 1e-2, 0.3, 2.0, 40.0]),
    use_origin=st.booleans(),
    mask_p=MASK_P,
)
def test_within_bbox_matches_brute_force(
    sc: Scenario, half_deg: float, use_origin: bool, mask_p: float | None
) -> None:
    index = index_of(sc)
    mask = _mask(sc, mask_p)
    rng = sc.rng(3)
    boxes = [_random_box(rng, q, half_deg) for q in queries_for(sc)]
    boxes.append((-90.0, -180.0, 90.0, 180.0))  # the whole world
    boxes.append((sc.centre[0] - 1, 170.0, sc.centre[0] + 1, -170.0))  # across the antimeridian
    if len(sc.points):  # a box whose edges pass exactly through data points
        a, b = rng.integers(len(sc.points), size=2)
        lat_a, lat_b = sorted([sc.points.lat[a], sc.points.lat[b]])
        boxes.append((lat_a, sc.points.lng[a], lat_b, sc.points.lng[b]))
    for south, west, north, east in boxes:
        box = BBox(south=south, west=west, north=north, east=east)
        origin = None
        if use_origin:
            origin = (float(rng.uniform(-90, 90)), float(rng.uniform(-180, 180)))
        pos, dist = index.within_bbox(box, origin=origin, mask=mask)
        exp = oracle.within_bbox(sc.points, south, west, north, east, origin=origin, mask=mask)
        oracle.assert_matches(pos, dist, exp)


def _star_polygon(
    rng: np.random.Generator, centre: tuple[float, float], radius_deg: float, n: int
) -> shapely.Polygon:
    """A valid (star-shaped) polygon around ``centre`` in lng/lat, clipped to the globe."""
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = radius_deg * rng.uniform(0.2, 1.0, n)
    xs = np.clip(centre[1] + radii * np.cos(angles), -180, 180)
    ys = np.clip(centre[0] + radii * np.sin(angles), -90, 90)
    poly = shapely.Polygon(np.column_stack([xs, ys]))
    if not poly.is_valid or poly.area == 0:
        poly = shapely.box(centre[1] - 1e-6, centre[0] - 1e-6, centre[1] + 1e-6, centre[0] + 1e-6)
        poly = shapely.clip_by_rect(poly, -180, -90, 180, 90)
    return poly


@PROPERTY
@given(
    sc=scenarios(),
    radius_deg=st.sampled_from([1e-4, 1e-2, 0.5, 5.0]),
    vertices=st.integers(3, 12),
    mask_p=MASK_P,
)
def test_within_polygon_matches_brute_force(
    sc: Scenario, radius_deg: float, vertices: int, mask_p: float | None
) -> None:
    index = index_of(sc)
    mask = _mask(sc, mask_p)
    rng = sc.rng(4)
    polys = [_star_polygon(rng, q, radius_deg, vertices) for q in queries_for(sc, 4)]
    if len(sc.points) >= 3:  # the convex hull of data points: some lie on its boundary
        hull = shapely.MultiPoint(np.column_stack([sc.points.lng, sc.points.lat])).convex_hull
        if isinstance(hull, shapely.Polygon) and hull.area > 0:
            polys.append(hull)
            polys.append(hull.difference(hull.centroid.buffer(math.sqrt(hull.area) / 4)))
    for poly in polys:
        if poly.is_empty:
            continue
        shapely.prepare(poly)
        west, south, east, north = poly.bounds
        origin = (float(poly.centroid.y), float(poly.centroid.x))

        def inside(lat: NDArray, lng: NDArray, poly: shapely.Geometry = poly) -> NDArray:
            return shapely.intersects_xy(poly, lng, lat)

        box = BBox(south=south, west=west, north=north, east=east)
        pos, dist = index.within_bounds_and(box, inside, origin=origin, mask=mask)
        exp = oracle.within_polygon(sc.points, poly, origin=origin, mask=mask)
        oracle.assert_matches(pos, dist, exp)


@settings(max_examples=25, deadline=None)
@given(
    n_same=st.integers(2, 40),
    k=st.integers(1, 50),
    resolution=st.one_of(st.none(), st.integers(0, 12)),
    seed=st.integers(0, 2**32 - 1),
    where=st.sampled_from(
        [(40.7, -74.0), (90.0, 0.0), (-90.0, 45.0), (0.0, 180.0), (10.0, -180.0)]
    ),
)
def test_exact_ties_come_in_merchant_id_order(
    n_same: int, k: int, resolution: int | None, seed: int, where: tuple[float, float]
) -> None:
    """Many merchants at one spot plus a few elsewhere: ties break by merchant_id."""
    rng = np.random.default_rng(seed)
    others = np.clip(where[0] + rng.normal(0, 1, 5), -90, 90)
    lat = np.concatenate([np.full(n_same, where[0]), others])
    lng = np.concatenate([np.full(n_same, where[1]), rng.uniform(-180, 180, 5)])
    pts = oracle.Points(lat, lng, oracle.shuffled_ids(len(lat), rng))
    index = build_cell_index(pts.lat, pts.lng, pts.ids, resolution=resolution)
    q = (where[0], where[1]) if rng.random() < 0.5 else (0.0, 0.0)
    pos, dist = index.knn(q[0], q[1], k)
    oracle.assert_matches(pos, dist, oracle.knn(pts, q[0], q[1], k))
    same = [p for p in pos.tolist() if p < n_same]
    assert [pts.ids[p] for p in same] == sorted(pts.ids[p] for p in same)
    if same:
        assert len(set(dist[np.isin(pos, same)].tolist())) == 1  # one spot, one distance
    if q == where:  # the tied group comes first and is the id-smallest of the group
        want = sorted(pts.ids[:n_same].tolist())[: min(k, n_same)]
        assert [str(pts.ids[p]) for p in pos[: len(want)]] == want


# ------------------------------------------------- coarse searches: the H3 fringe


def _hav(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(haversine_m(a[0], a[1], b[0], b[1]))


def _fringe_points(
    rng: np.random.Generator, fine: int, coarse: int, want: int
) -> list[tuple[float, float]]:
    """Points outside the cap (centre to farthest vertex) of their ``coarse`` ancestor.

    H3 descendants are not contained in their ancestor: a search that coarsens and
    bounds unvisited cells by the coarse cells' own caps misses exactly these points.
    From a random coarse cell, walk down to the child farthest from its centre, then
    take the fine cell's farthest vertex pulled 2% toward the fine cell's centre.
    """
    out: list[tuple[float, float]] = []
    while len(out) < want:
        g_lat, g_lng = oracle.random_points("global", 1, rng)
        anc = h3.latlng_to_cell(float(g_lat[0]), float(g_lng[0]), coarse)
        centre = h3.cell_to_latlng(anc)
        cap = max(_hav(centre, v) for v in h3.cell_to_boundary(anc))
        cell = anc
        for res in range(coarse + 1, fine + 1):
            cell = max(
                h3.cell_to_children(cell, res), key=lambda c: _hav(centre, h3.cell_to_latlng(c))
            )
        v = max(h3.cell_to_boundary(cell), key=lambda v: _hav(centre, v))
        c_lat, c_lng = h3.cell_to_latlng(cell)
        if abs(c_lng - v[1]) > 90:  # straddles the antimeridian: skip
            continue
        p = (v[0] + 0.02 * (c_lat - v[0]), v[1] + 0.02 * (c_lng - v[1]))
        if h3.latlng_to_cell(p[0], p[1], fine) == cell and _hav(centre, p) > cap * 1.000001 + 0.1:
            out.append(p)
    return out


@pytest.mark.parametrize(
    ("fine", "levels"),
    [(f, lv) for f in (2, 4, 7, 9, 12, 13) for lv in (1, 2, 3) if f - lv >= 0],
)
def test_coarse_search_finds_points_outside_their_ancestors_cap(fine: int, levels: int) -> None:
    """k large enough to start ``levels`` resolutions coarser, radius 1 m, query on the point."""
    rng = np.random.default_rng(fine * 10 + levels)
    k = 3 * 7 ** (levels - 1) + 1  # per-cell density ~1: coarsen by `levels`
    for a, b in _fringe_points(rng, fine, fine - levels, 6):
        lat, lng = oracle.random_points("global", 20, rng)
        pts = oracle.Points(np.append(lat, a), np.append(lng, b), oracle.shuffled_ids(21, rng))
        index = build_cell_index(pts.lat, pts.lng, pts.ids, resolution=fine)
        oracle.assert_matches(
            *index.knn(a, b, k, radius_m=1.0), oracle.knn(pts, a, b, k, radius_m=1.0)
        )
        oracle.assert_matches(*index.knn(a, b, k), oracle.knn(pts, a, b, k))


def test_regression_coarse_search_near_a_base_cell_edge() -> None:
    """Was empty: the point's res-2 cell descends from a neighbouring base cell."""
    index = build_cell_index(
        np.array([70.2578868867322]), np.array([-75.13366616681735]), ["a"], resolution=2
    )
    pos, dist = index.knn(70.22350926752569, -75.1544746317388, 30, radius_m=7831.7715546642185)
    assert pos.tolist() == [0]
    assert dist[0] == pytest.approx(3901.8339, abs=1e-3)


# --------------------------------------------------------------- index contract


def test_empty_index_answers_nothing() -> None:
    index = build_cell_index(np.empty(0), np.empty(0), [])
    assert len(index) == 0
    for pos, dist in (
        index.knn(0.0, 0.0, 5),
        index.within_radius(0.0, 0.0, 1e6),
        index.within_bbox(BBox(south=-90, west=-180, north=90, east=180)),
    ):
        assert len(pos) == len(dist) == 0


def test_knn_returns_every_point_when_k_exceeds_them() -> None:
    rng = np.random.default_rng(7)
    lat, lng = oracle.random_points("global", 30, rng)
    pts = oracle.Points(lat, lng, oracle.shuffled_ids(30, rng))
    for res in (0, 6, 12, None):
        index = build_cell_index(lat, lng, pts.ids, resolution=res)
        pos, dist = index.knn(-33.0, 151.0, 1000)
        assert sorted(pos.tolist()) == list(range(30))
        oracle.assert_matches(pos, dist, oracle.knn(pts, -33.0, 151.0, 1000))


def test_directory_round_trip_is_memory_mapped_and_answers_the_same(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    lat, lng = oracle.random_points("city", 500, rng, centre=(48.85, 2.35), spread_deg=0.05)
    pts = oracle.Points(lat, lng, oracle.shuffled_ids(500, rng))
    index = build_cell_index(lat, lng, pts.ids)
    index.to_directory(tmp_path / "index")
    loaded = CellIndex.from_directory(tmp_path / "index")
    # Plain ndarray views over the file mapping: zero-copy, no memmap indexing overhead.
    for arr in (loaded.xyz, loaded.positions, loaded.cells):
        assert type(arr) is np.ndarray and not arr.flags.owndata
        assert isinstance(arr.base, np.memmap)
    assert loaded.resolution == index.resolution and len(loaded) == len(index)
    for q in range(20):
        a = index.knn(float(lat[q]), float(lng[q]), 10)
        b = loaded.knn(float(lat[q]), float(lng[q]), 10)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])


def test_from_directory_rejects_broken_indexes(tmp_path: Path) -> None:
    from geo_discovery.errors import SnapshotError

    index = build_cell_index(np.array([1.0, 2.0]), np.array([3.0, 4.0]), ["a", "b"])
    index.to_directory(tmp_path)
    meta = json.loads((tmp_path / "index.json").read_text())
    (tmp_path / "index.json").write_text(json.dumps({**meta, "n_points": 3}))
    with pytest.raises(SnapshotError, match="inconsistent"):
        CellIndex.from_directory(tmp_path)
    (tmp_path / "xyz.npy").unlink()
    with pytest.raises(SnapshotError, match="unreadable"):
        CellIndex.from_directory(tmp_path)


def test_index_written_before_the_trie_still_loads_and_answers_the_same(tmp_path: Path) -> None:
    """Snapshots from before the search trie: points in (cell, rank) order, no tree files."""
    rng = np.random.default_rng(11)
    lat, lng = oracle.random_points("city", 400, rng, centre=(40.7, -74.0), spread_deg=0.05)
    pts = oracle.Points(lat, lng, oracle.shuffled_ids(400, rng))
    index = build_cell_index(lat, lng, pts.ids, resolution=9)
    # Rewrite the arrays in the old order: by index cell, then rank.
    cell_of = np.repeat(np.arange(len(index.cells)), np.diff(index.offsets))
    old = np.lexsort((np.asarray(index.rank), cell_of))
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    for name in ("positions", "xyz", "lat", "lng", "rank"):
        np.save(
            legacy / f"{name}.npy",
            np.asarray(getattr(index, name))[old].astype(
                np.int64 if name in ("positions", "rank") else np.float64
            ),
        )
    for name in ("cells", "offsets", "cell_bbox"):
        np.save(legacy / f"{name}.npy", np.asarray(getattr(index, name)))
    meta = {"resolution": 9, "n_points": 400, "n_cells": len(index.cells)}
    (legacy / "index.json").write_text(json.dumps(meta))
    loaded = CellIndex.from_directory(legacy)
    assert len(loaded.tree_nodes) > 0
    for q in range(30):
        qlat, qlng = float(lat[q]) + 0.001, float(lng[q])
        oracle.assert_matches(*loaded.knn(qlat, qlng, 15), oracle.knn(pts, qlat, qlng, 15))
        got = loaded.within_radius(qlat, qlng, 800.0)
        oracle.assert_matches(*got, oracle.within_radius(pts, qlat, qlng, 800.0))


def test_knn_many_equals_knn_row_by_row() -> None:
    rng = np.random.default_rng(12)
    lat, lng = oracle.random_points("city", 3000, rng, centre=(35.68, 139.7), spread_deg=0.1)
    pts = oracle.Points(lat, lng, oracle.shuffled_ids(3000, rng))
    index = build_cell_index(lat, lng, pts.ids)
    q_lat = np.r_[lat[:40] + 1e-4, [90.0, -90.0, 0.0]]
    q_lng = np.r_[lng[:40], [0.0, 180.0, -180.0]]
    mask = rng.random(3000) < 0.3
    for kw in ({}, {"radius_m": 700.0}, {"mask": mask}):
        pos, dist = index.knn_many(q_lat, q_lng, 25, **kw)
        assert pos.shape == dist.shape == (len(q_lat), 25)
        for i in range(len(q_lat)):
            p1, d1 = index.knn(float(q_lat[i]), float(q_lng[i]), 25, **kw)
            n = len(p1)
            np.testing.assert_array_equal(pos[i, :n], p1)
            np.testing.assert_array_equal(dist[i, :n], d1)
            assert (pos[i, n:] == -1).all() and np.isinf(dist[i, n:]).all()
    with pytest.raises(ValueError, match="length"):
        index.knn_many(q_lat, q_lng[:-1], 5)


def test_search_trie_covers_every_point_once_and_its_caps_hold_them() -> None:
    rng = np.random.default_rng(13)
    lat, lng = oracle.random_points("city", 5000, rng, centre=(-33.9, 151.2), spread_deg=0.2)
    lat[:300] = lat[0]  # 300 duplicates: one res-15 cell, a leaf bigger than _LEAF_MAX
    lng[:300] = lng[0]
    index = build_cell_index(lat, lng, oracle.shuffled_ids(5000, rng))
    nodes, caps = np.asarray(index.tree_nodes), np.asarray(index.tree_caps, dtype=np.float64)
    leaves = nodes[:, 0] < 0
    covered = np.zeros(len(index), dtype=np.int64)
    for lo, hi in zip(-nodes[leaves, 0] - 1, nodes[leaves, 1], strict=True):
        covered[lo:hi] += 1
        assert hi - lo <= 32 or len(np.unique(np.asarray(index.xyz[lo:hi]), axis=0)) == 1
    assert (covered == 1).all()  # a partition of the points
    xyz = np.asarray(index.xyz)
    for j in np.flatnonzero(leaves):
        lo, hi = -nodes[j, 0] - 1, nodes[j, 1]
        d = np.sqrt(((xyz[lo:hi] - caps[j, :3]) ** 2).sum(axis=1))
        assert (d <= caps[j, 3]).all()
    children = [(j, c) for j in np.flatnonzero(~leaves) for c in range(*nodes[j])]
    assert all(c > j for j, c in children)  # children after their parent; node 0 the root
    assert len({c for _, c in children}) == len(nodes) - 1
    # Compact layout: 32-bit rows and ranks, float32 caps.
    assert index.positions.dtype == np.int32 and index.rank.dtype == np.int32
    assert index.tree_caps.dtype == np.float32


@pytest.mark.parametrize(
    ("lat", "lng", "ids", "kw", "match"),
    [
        ([1.0], [1.0, 2.0], ["a"], {}, "length"),
        ([1.0], [1.0], ["a", "b"], {}, "length"),
        ([np.nan], [1.0], ["a"], {}, "finite"),
        ([1.0], [np.inf], ["a"], {}, "finite"),
        ([1.0], [1.0], ["a"], {"resolution": 16}, "16"),
        ([1.0], [1.0], ["a"], {"resolution": -1}, "-1"),
    ],
)
def test_build_rejects_bad_input(lat: list, lng: list, ids: list, kw: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build_cell_index(np.array(lat), np.array(lng), ids, **kw)


def test_auto_resolution_follows_density() -> None:
    rng = np.random.default_rng(11)
    dense = oracle.random_points("city", 20_000, rng, centre=(40.7, -74.0), spread_deg=0.02)
    sparse = oracle.random_points("global", 2_000, rng)
    r_dense = build_cell_index(*dense, oracle.shuffled_ids(20_000, rng)).resolution
    r_sparse = build_cell_index(*sparse, oracle.shuffled_ids(2_000, rng)).resolution
    assert r_dense > r_sparse
    assert 3 <= r_sparse <= r_dense <= 13


# -------------------------------------------------------------------- real data

REAL_NAMES = sorted(oracle.REAL_POINT_SETS)
REAL_K = (1, 5, 20, 100)
# Query points per dataset: 60 at merchants, 30 uniform in the core box, 10 in the full box.
REAL_QUERY_POINTS = 100
REAL_BOXES = 40
REAL_POLYGONS = 25


@cache
def _real(root: Path, name: str) -> tuple[oracle.Points, CellIndex]:
    pts = oracle.read_real_points(root, name)
    return pts, build_cell_index(pts.lat, pts.lng, pts.ids)


def _real_query_points(pts: oracle.Points, rng: np.random.Generator) -> list[tuple[float, float]]:
    at = rng.choice(len(pts), size=min(60, len(pts)), replace=False)
    out = [(float(pts.lat[i]), float(pts.lng[i])) for i in at]
    lo_lat, hi_lat = np.quantile(pts.lat, [0.005, 0.995])
    lo_lng, hi_lng = np.quantile(pts.lng, [0.005, 0.995])
    out += [
        (float(rng.uniform(lo_lat, hi_lat)), float(rng.uniform(lo_lng, hi_lng))) for _ in range(30)
    ]
    out += [
        (
            float(rng.uniform(pts.lat.min(), pts.lat.max())),
            float(rng.uniform(pts.lng.min(), pts.lng.max())),
        )
        for _ in range(REAL_QUERY_POINTS - len(out))
    ]
    return out


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(10 ** rng.uniform(math.log10(lo), math.log10(hi)))


@pytest.mark.real_data
@pytest.mark.parametrize("name", REAL_NAMES)
def test_real_data_knn_and_radius_match_brute_force(real_data: Path, name: str) -> None:
    pts, index = _real(real_data, name)
    assert len(pts) > 50, f"{name}: too few valid coordinates read"
    rng = np.random.default_rng(len(name))
    mask = rng.random(len(pts)) < 0.25
    checks = 0
    for lat, lng in _real_query_points(pts, rng):
        d = pts.distances_from(lat, lng)  # one brute-force pass serves every query here
        for k in REAL_K:
            oracle.assert_matches(*index.knn(lat, lng, k), oracle.knn(pts, lat, lng, k, dist=d))
        r = _log_uniform(rng, 50, 5000)
        exp = oracle.knn(pts, lat, lng, 20, radius_m=r, dist=d)
        oracle.assert_matches(*index.knn(lat, lng, 20, radius_m=r), exp)
        exp = oracle.knn(pts, lat, lng, 20, mask=mask, dist=d)
        oracle.assert_matches(*index.knn(lat, lng, 20, mask=mask), exp)
        r = _log_uniform(rng, 50, 5000)
        exp = oracle.within_radius(pts, lat, lng, r, dist=d)
        oracle.assert_matches(*index.within_radius(lat, lng, r), exp)
        checks += len(REAL_K) + 3
    assert checks == 7 * REAL_QUERY_POINTS


@pytest.mark.real_data
@pytest.mark.parametrize("name", REAL_NAMES)
def test_real_data_boxes_and_polygons_match_brute_force(real_data: Path, name: str) -> None:
    pts, index = _real(real_data, name)
    rng = np.random.default_rng(len(name) + 1000)
    centres = _real_query_points(pts, rng)
    checks = 0
    for b in range(REAL_BOXES):
        centre = centres[int(rng.integers(len(centres)))]
        half = _log_uniform(rng, 10, 5000) / M_PER_DEG
        south, west, north, east = _random_box(rng, centre, half)
        origin = centre if b % 2 else None
        got = index.within_bbox(BBox(south=south, west=west, north=north, east=east), origin=origin)
        exp = oracle.within_bbox(pts, south, west, north, east, origin=origin)
        oracle.assert_matches(*got, exp)
        checks += 1
    for _ in range(REAL_POLYGONS):
        centre = centres[int(rng.integers(len(centres)))]
        poly = _star_polygon(
            rng, centre, _log_uniform(rng, 50, 5000) / M_PER_DEG, int(rng.integers(3, 13))
        )
        if rng.random() < 0.5:  # put data points on the boundary: vertices at merchants
            near = np.argsort(pts.distances_from(*centre))[:8]
            ring = shapely.MultiPoint(np.column_stack([pts.lng[near], pts.lat[near]])).convex_hull
            if isinstance(ring, shapely.Polygon) and ring.area > 0:
                poly = ring
        checks += _check_polygon(index, pts, poly, centre)
    assert checks == REAL_BOXES + REAL_POLYGONS


def _check_polygon(
    index: CellIndex, pts: oracle.Points, poly: shapely.Geometry, origin: tuple[float, float]
) -> int:
    shapely.prepare(poly)
    west, south, east, north = poly.bounds

    def inside(lat: NDArray, lng: NDArray) -> NDArray:
        return shapely.intersects_xy(poly, lng, lat)

    box = BBox(south=south, west=west, north=north, east=east)
    got = index.within_bounds_and(box, inside, origin=origin)
    oracle.assert_matches(*got, oracle.within_polygon(pts, poly, origin=origin))
    return 1


@pytest.mark.real_data
@pytest.mark.parametrize("name", ["nyc_food_stores", "nyc_airbnb", "nyc_dohmh_restaurants"])
def test_real_data_business_districts_as_polygons(real_data: Path, name: str) -> None:
    """The 64 NYC Business Improvement Districts (one needs buffer(0)) as query polygons."""
    pts, index = _real(real_data, name)
    bids = json.loads((real_data / "nyc" / "nyc_bids_2015.geojson").read_text())["features"]
    checks = 0
    nonempty = 0
    for feat in bids:
        geom = shapely.geometry.shape(feat["geometry"])
        if not geom.is_valid:
            geom = geom.buffer(0)
        origin = (geom.representative_point().y, geom.representative_point().x)
        checks += _check_polygon(index, pts, geom, origin)
        nonempty += int(shapely.intersects_xy(geom, pts.lng, pts.lat).any())
    assert checks == len(bids) == 64
    assert nonempty > 30  # the BIDs are where the merchants are


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=6),
                unique=True, max_size=40))
def test_merchant_ranks_of_an_arrow_column_equal_python_code_point_order(ids) -> None:
    import pyarrow as pa

    from geo_discovery.search.index import merchant_ranks

    expected = merchant_ranks(np.asarray(ids, dtype=object))
    assert expected.tolist() == [sorted(ids).index(i) for i in ids]
    assert merchant_ranks(pa.array(ids, pa.string())).tolist() == expected.tolist()
    chunked = pa.chunked_array([pa.array(ids[:3], pa.string()), pa.array(ids[3:], pa.string())])
    assert merchant_ranks(chunked).tolist() == expected.tolist()
