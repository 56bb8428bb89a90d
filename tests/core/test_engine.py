"""DiscoveryEngine: exact answers through the public API, the bad-input contract, results.

Answers are checked against the brute-force oracle (tests/oracle.py) with category
filters applied by the oracle's own prefix rule; engines are built straight from a
synthetic canonical table (geo_discovery.schema), so nothing here depends on ingest.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import oracle
import pandas as pd
import pyarrow as pa
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo_discovery.distance import EARTH_RADIUS_M
from geo_discovery.engine import DiscoveryEngine
from geo_discovery.errors import (
    DataWarning,
    GeoDiscoveryError,
    IngestError,
    InvalidQueryError,
    InvalidTypeError,
    MerchantNotFoundError,
    SnapshotNotFoundError,
)
from geo_discovery.models import BBox, LatLng
from geo_discovery.query import Filters, Member, Ranking
from geo_discovery.results import Results
from geo_discovery.search.index import build_cell_index
from geo_discovery.settings import Settings
from geo_discovery.snapshot.snapshot import Snapshot

M_PER_DEG = math.pi * EARTH_RADIUS_M / 180.0
PROPERTY = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
VOCAB = (
    "food",
    "food/grocery",
    "food/grocery/bodega",
    "foodie",
    "foodie/market",
    "food_truck",
    "retail/clothing",
    "retail/food",
    "services/laundry",
)
PREFIXES = ("food", "food/grocery", "foodie", "food_truck", "retail", "retail/food", "services")


def make_engine(
    pts: oracle.Points, categories: Sequence[str], *, resolution: int | None = None, **kw: Any
) -> DiscoveryEngine:
    table = oracle.canonical_table(pts.lat, pts.lng, pts.ids, categories)
    return DiscoveryEngine.from_table(table, settings=Settings(**kw), resolution=resolution)


def cats_where(include: Any = None, exclude: Any = None) -> Filters:
    return Filters(categories=include or (), exclude_categories=exclude or ())


def check(results: Results, expected: oracle.Expected) -> None:
    assert isinstance(results, Results)
    oracle.assert_matches(results.positions, results.distances_m, expected)


@st.composite
def worlds(draw: st.DrawFn, max_n: int = 100) -> tuple[oracle.Points, list[str], int | None, int]:
    kind = draw(st.sampled_from(oracle.SCENARIOS))
    n = draw(st.integers(0, max_n))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    centre = (float(rng.uniform(-80, 80)), float(rng.uniform(-180, 180)))
    spread = float(draw(st.sampled_from([1e-4, 1e-2, 0.3])))
    lat, lng = oracle.random_points(kind, n, rng, centre=centre, spread_deg=spread)
    pts = oracle.Points(lat, lng, oracle.shuffled_ids(n, rng))
    cats = [VOCAB[i] for i in rng.integers(0, len(VOCAB), n)]
    resolution = draw(st.one_of(st.none(), st.integers(0, 12)))
    return pts, cats, resolution, seed


def _queries(pts: oracle.Points, rng: np.random.Generator) -> list[tuple[float, float]]:
    out = []
    if len(pts):
        for i in rng.integers(0, len(pts), 3):
            out.append((float(pts.lat[i]), float(pts.lng[i])))
        i = int(rng.integers(len(pts)))
        out.append((float(np.clip(pts.lat[i] + rng.normal(0, 0.01), -90, 90)), float(pts.lng[i])))
    g_lat, g_lng = oracle.random_points("global", 1, rng)
    out.append((float(g_lat[0]), float(g_lng[0])))
    out.append((float(rng.choice([90.0, -90.0])), float(rng.choice([180.0, -180.0, 0.0]))))
    return out


CATS = st.lists(st.sampled_from(PREFIXES), max_size=3)


# --------------------------------------------------------------- exactness


@PROPERTY
@given(
    world=worlds(),
    k=st.one_of(st.integers(1, 10), st.integers(1, 150)),
    radius=st.one_of(st.none(), st.floats(0.0, 100_000.0)),
    include=CATS,
    exclude=CATS,
)
def test_nearby_matches_brute_force(
    world: tuple, k: int, radius: float | None, include: list[str], exclude: list[str]
) -> None:
    pts, cats, resolution, seed = world
    engine = make_engine(pts, cats, resolution=resolution)
    mask = oracle.category_mask(cats, include, exclude) if include or exclude else None
    rng = np.random.default_rng(seed)
    for lat, lng in _queries(pts, rng):
        got = engine.nearby(lat, lng, k, radius_m=radius, where=cats_where(include, exclude))
        check(got, oracle.knn(pts, lat, lng, k, radius_m=radius, mask=mask))
        if include or exclude:
            assert all(mask[p] for p in got.positions.tolist())


@PROPERTY
@given(world=worlds(), k=st.integers(1, 60), radius=st.floats(0.0, 100_000.0))
def test_plain_fast_paths_match_brute_force_and_the_validated_path(
    world: tuple, k: int, radius: float
) -> None:
    """``nearby(lat, lng, k)`` (also with ``sort="best_match"``) and ``within_radius(lat,
    lng, r)`` with Python floats and no filter skip the query objects: the answer must be
    the oracle's, and bit for bit the one the validated path (an empty ``Filters()``)
    gives, with the same cursor, poles and antimeridian included."""
    pts, cats, resolution, seed = world
    engine = make_engine(pts, cats, resolution=resolution)
    for lat, lng in _queries(pts, np.random.default_rng(seed)):
        fast = engine.nearby(lat, lng, k)
        check(fast, oracle.knn(pts, lat, lng, k))
        slow = engine.nearby(lat, lng, k, where=Filters())
        assert fast.positions.tolist() == slow.positions.tolist()
        assert fast.distances_m.tolist() == slow.distances_m.tolist()
        assert fast.next_cursor == slow.next_cursor
        fast = engine.nearby(lat, lng, k, sort="best_match")
        slow = engine.nearby(lat, lng, k, sort="best_match", where=Filters())
        assert fast.positions.tolist() == slow.positions.tolist()
        assert fast.distances_m.tolist() == slow.distances_m.tolist()
        assert fast.scores is not None and slow.scores is not None
        assert fast.scores.tolist() == slow.scores.tolist()
        assert fast.next_cursor == slow.next_cursor
        fast = engine.within_radius(lat, lng, radius)
        check(fast, oracle.within_radius(pts, lat, lng, radius))
        slow = engine.within_radius(lat, lng, radius, where=Filters())
        assert fast.positions.tolist() == slow.positions.tolist()
        assert fast.distances_m.tolist() == slow.distances_m.tolist()
        assert fast.total == slow.total == len(fast)


@PROPERTY
@given(
    world=worlds(),
    radius=st.floats(0.0, 100_000.0),
    include=CATS,
    limit=st.none() | st.integers(1, 30),
)
def test_within_radius_matches_brute_force(
    world: tuple, radius: float, include: list[str], limit: int | None
) -> None:
    pts, cats, resolution, seed = world
    engine = make_engine(pts, cats, resolution=resolution)
    mask = oracle.category_mask(cats, include) if include else None
    for lat, lng in _queries(pts, np.random.default_rng(seed)):
        got = engine.within_radius(lat, lng, radius, where=cats_where(include), limit=limit)
        check(got, oracle.within_radius(pts, lat, lng, radius, mask=mask, limit=limit))


@PROPERTY
@given(
    world=worlds(),
    half_deg=st.sampled_from([1e-3, 0.05, 1.0, 30.0]),
    form=st.sampled_from(["bbox", "string", "sequence"]),
    include=CATS,
    limit=st.none() | st.integers(1, 30),
    use_origin=st.booleans(),
)
def test_within_bbox_matches_brute_force(
    world: tuple, half_deg: float, form: str, include: list[str], limit: int | None,
    use_origin: bool,
) -> None:
    pts, cats, resolution, seed = world
    engine = make_engine(pts, cats, resolution=resolution)
    mask = oracle.category_mask(cats, include) if include else None
    rng = np.random.default_rng(seed)
    for lat, lng in _queries(pts, rng):
        south, north = max(-90.0, lat - half_deg), min(90.0, lat + half_deg)
        west = float(oracle._wrap_lng(np.array([lng - 2 * half_deg]))[0])
        east = float(oracle._wrap_lng(np.array([lng + 2 * half_deg]))[0])
        box: Any
        if form == "bbox":
            box = BBox(south=south, west=west, north=north, east=east)
        elif form == "string":
            box = f"{west!r},{south!r},{east!r},{north!r}"
        else:
            box = (west, south, east, north)
        origin = (lat, lng) if use_origin else None
        exp = oracle.within_bbox(
            pts, south, west, north, east, origin=origin, mask=mask, limit=limit
        )
        try:
            got = engine.within_bbox(box, origin=origin, where=cats_where(include), limit=limit)
        except InvalidQueryError as exc:  # documented: numbers that hold nothing in the
            # data but do read as (lat, lng) (south,west,north,east) are refused, with why
            assert form != "bbox" and "look like (lat, lng)" in str(exc), exc
            assert not oracle.within_bbox(pts, south, west, north, east).required.any()
            swapped = oracle.within_bbox(pts, west, south, east, north)  # read the other way
            assert -90 <= west <= east <= 90 and swapped.allowed.any(), exc
            continue
        check(got, exp)


def _polygon_forms(poly: shapely.Polygon) -> list[Any]:
    gj = shapely.geometry.mapping(poly)
    return [poly, gj, {"type": "Feature", "properties": {}, "geometry": gj}, json.dumps(gj)]


@PROPERTY
@given(
    world=worlds(),
    radius_deg=st.sampled_from([1e-3, 0.05, 1.0]),
    vertices=st.integers(3, 10),
    include=CATS,
    form=st.integers(0, 3),
    use_origin=st.booleans(),
)
def test_within_polygon_matches_brute_force(
    world: tuple, radius_deg: float, vertices: int, include: list[str], form: int,
    use_origin: bool,
) -> None:
    pts, cats, resolution, seed = world
    engine = make_engine(pts, cats, resolution=resolution)
    mask = oracle.category_mask(cats, include) if include else None
    rng = np.random.default_rng(seed)
    for lat, lng in _queries(pts, rng)[:4]:
        angles = np.sort(rng.uniform(0, 2 * np.pi, vertices))
        radii = radius_deg * rng.uniform(0.2, 1.0, vertices)
        xs = np.clip(lng + radii * np.cos(angles), -180, 180)
        ys = np.clip(lat + radii * np.sin(angles), -90, 90)
        poly = shapely.Polygon(np.column_stack([xs, ys]))
        if not poly.is_valid or poly.area == 0:
            continue
        origin = (lat, lng) if use_origin else None
        got = engine.within_polygon(
            _polygon_forms(poly)[form], origin=origin, where=cats_where(include)
        )
        if origin is None:  # documented default: the representative point
            rp = poly.representative_point()
            origin = (rp.y, rp.x)
        check(got, oracle.within_polygon(pts, poly, origin=origin, mask=mask))


def test_polygon_boundary_and_holes() -> None:
    """Vertices and edges count as inside; a hole's interior does not (its edge does)."""
    lat = [0.0, 0.0, 0.5, 1.0, 0.25, 0.5, 2.0, 0.5]
    lng = [0.0, 1.0, 0.0, 1.0, 0.25, 0.5, 2.0, 0.75]
    pts = oracle.Points.build(lat, lng, ["a", "b", "c", "d", "e", "f", "g", "h"])
    engine = make_engine(pts, ["food"] * 8)
    hole = [(0.4, 0.4), (0.6, 0.4), (0.6, 0.6), (0.4, 0.6), (0.4, 0.4)]
    square = shapely.Polygon([(0, 0), (1, 0), (1, 1), (0, 1), (0, 0)], [hole])
    got = engine.within_polygon(square, origin=(0.0, 0.0))
    assert sorted(got.merchant_ids) == ["a", "b", "c", "d", "e", "h"]  # f in the hole, g out
    check(got, oracle.within_polygon(pts, square, origin=(0.0, 0.0)))
    multi = shapely.MultiPolygon([square, shapely.box(1.5, 1.5, 2.5, 2.5)])
    got = engine.within_polygon(multi, origin=(0.0, 0.0))
    assert "g" in got.merchant_ids
    check(got, oracle.within_polygon(pts, multi, origin=(0.0, 0.0)))


@settings(max_examples=15, deadline=None)
@given(world=worlds(max_n=60), k=st.integers(1, 7), pages=st.integers(2, 4))
def test_nearby_pages_continue_the_exact_order(world: tuple, k: int, pages: int) -> None:
    """Pages fetched with next_cursor, concatenated, are the brute-force k*pages nearest."""
    pts, cats, resolution, seed = world
    engine = make_engine(pts, cats, resolution=resolution)
    rng = np.random.default_rng(seed)
    lat, lng = _queries(pts, rng)[0]
    pos: list[int] = []
    dist: list[float] = []
    cursor = None
    for _ in range(pages):
        page = engine.nearby(lat, lng, k, sort="distance", cursor=cursor)
        pos += page.positions.tolist()
        dist += page.distances_m.tolist()
        cursor = page.next_cursor
        if cursor is None:
            assert len(page) < k or len(pos) == len(pts)
            break
    exp = oracle.knn(pts, lat, lng, len(pos)) if pos else None
    if exp is not None:
        oracle.assert_matches(pos, dist, exp)
        if cursor is None:  # the pages ran out: every point was listed
            assert len(pos) == len(pts)
    else:
        assert len(pts) == 0


def test_category_prefixes_match_at_slash_boundaries_only() -> None:
    cats = list(VOCAB)
    pts = oracle.Points.build(np.zeros(len(cats)), np.arange(len(cats)) * 1e-4)
    engine = make_engine(pts, cats)

    def names(**kw: Any) -> set[str]:
        got = engine.nearby(0.0, 0.0, 50, where=Filters(**kw))
        return {cats[p] for p in got.positions.tolist()}

    assert names(categories="food") == {"food", "food/grocery", "food/grocery/bodega"}
    assert names(categories=["foodie"]) == {"foodie", "foodie/market"}
    assert names(categories="food/grocery") == {"food/grocery", "food/grocery/bodega"}
    assert names(categories="food,retail") == {
        "food", "food/grocery", "food/grocery/bodega", "retail/clothing", "retail/food",
    }
    assert names(categories="food", exclude_categories="food/grocery") == {"food"}
    assert names(exclude_categories=["food", "foodie", "retail"]) == {
        "food_truck", "services/laundry",
    }
    assert names(categories="grocery") == set()  # prefixes anchor at the root
    # The same rule in within_radius, within_bbox and within_polygon.
    for res in (
        engine.within_radius(0.0, 0.0, 5_000, where=Filters(categories="food")),
        engine.within_bbox((-1, -1, 1, 1), where=Filters(categories="food")),
        engine.within_polygon(shapely.box(-1, -1, 1, 1), where=Filters(categories="food")),
    ):
        assert {cats[p] for p in res.positions.tolist()} == {
            "food", "food/grocery", "food/grocery/bodega",
        }


# ------------------------------------------------------------ results API


@pytest.fixture(scope="module")
def small_engine() -> tuple[DiscoveryEngine, oracle.Points, list[str]]:
    rng = np.random.default_rng(42)
    lat, lng = oracle.random_points("city", 300, rng, centre=(40.75, -73.98), spread_deg=0.01)
    pts = oracle.Points(lat, lng, oracle.shuffled_ids(300, rng))
    cats = [VOCAB[i] for i in rng.integers(0, len(VOCAB), 300)]
    return make_engine(pts, cats, max_k=50), pts, cats


def test_hits_carry_distance_and_the_merchant(small_engine: tuple) -> None:
    engine, pts, cats = small_engine
    res = engine.nearby(40.75, -73.98, 10)
    hits = list(res)
    assert len(hits) == len(res) == 10
    for hit, pos, dist in zip(hits, res.positions.tolist(), res.distances_m.tolist(), strict=True):
        assert hit.distance_m == dist
        assert hit.merchant_id == pts.ids[pos]
        assert (hit.lat, hit.lng) == (pts.lat[pos], pts.lng[pos])
        assert hit.category == cats[pos]
        assert hit.position == pos
        assert hit.distance_m == pytest.approx(
            float(oracle.Points.build([hit.lat], [hit.lng]).distances_from(40.75, -73.98)[0]),
            abs=1e-6,
        )
    assert res.merchant_ids == [h.merchant_id for h in hits]
    records = res.to_records()
    assert [r["distance_m"] for r in records] == res.distances_m.tolist()
    assert [r["merchant_id"] for r in records] == res.merchant_ids


def test_wrong_argument_types_name_the_value(small_engine: tuple) -> None:
    """A string to search() (read as a text search) and a number as fields are refused by
    name, not an AttributeError or a TypeError from inside."""
    engine, _, _ = small_engine
    with pytest.raises(InvalidQueryError, match=r"NearbyQuery, got str 'pizza'; for text"):
        engine.search("pizza")  # type: ignore[arg-type]
    res = engine.nearby(40.75, -73.98, 3)
    with pytest.raises(InvalidQueryError, match=r"fields=5 names unknown field\(s\) 5; allowed"):
        res.to_records(5)  # type: ignore[arg-type]
    with pytest.raises(InvalidQueryError, match=r"fields=name,nme names unknown field\(s\) nme"):
        res.to_records(["name", "nme"])
    assert [r["merchant_id"] for r in res.to_records(["name"])] == res.merchant_ids
    with pytest.raises(TypeError, match=r"result indices must be integers or slices, not list"):
        res[[0, 1]]  # type: ignore[call-overload]
    with pytest.raises(TypeError, match=r"not ndarray"):
        res[np.array([0, 1])]  # type: ignore[call-overload]
    assert res[np.int64(1)].merchant_id == res.merchant_ids[1] == res[-2].merchant_id
    # an origin as the library's own LatLng or an array, as a bbox may be an array
    box = (-73.99, 40.74, -73.97, 40.76)
    expect = engine.within_bbox(box, origin=(40.751, -73.981)).merchant_ids
    assert engine.within_bbox(box, origin=LatLng(40.751, -73.981)).merchant_ids == expect
    assert engine.within_bbox(box, origin=np.array([40.751, -73.981])).merchant_ids == expect
    with pytest.raises(InvalidQueryError, match=r"origin='ab' is not a point; allowed"):
        engine.within_bbox(box, origin="ab")  # type: ignore[arg-type]


def test_to_geojson_is_valid_geojson_in_lng_lat_order(small_engine: tuple) -> None:
    engine, pts, _ = small_engine
    res = engine.nearby(40.75, -73.98, 7)
    gj = json.loads(json.dumps(res.to_geojson(), allow_nan=False))  # strict JSON
    assert gj["type"] == "FeatureCollection"
    assert len(gj["features"]) == 7
    for feat, pos, dist in zip(gj["features"], res.positions.tolist(),
                               res.distances_m.tolist(), strict=True):
        assert feat["type"] == "Feature"
        assert feat["geometry"]["type"] == "Point"
        lng, lat = feat["geometry"]["coordinates"]
        assert (lat, lng) == (pts.lat[pos], pts.lng[pos])  # (lng, lat) on the wire
        assert shapely.geometry.shape(feat["geometry"]).equals(shapely.Point(lng, lat))
        assert feat["properties"]["distance_m"] == dist
        assert feat["properties"]["merchant_id"] == pts.ids[pos]
        assert "lat" not in feat["properties"] and "lng" not in feat["properties"]
        assert feat["id"] == pts.ids[pos]
    empty = engine.within_radius(0.0, 0.0, 10).to_geojson()
    assert empty == {"type": "FeatureCollection", "features": []}


def test_to_frame_is_aligned_to_the_hits(small_engine: tuple) -> None:
    engine, pts, cats = small_engine
    res = engine.within_radius(40.75, -73.98, 800, where=Filters(categories="food"))
    assert len(res) > 3
    frame = res.to_frame()
    assert len(frame) == len(res)
    assert frame["merchant_id"].tolist() == res.merchant_ids
    np.testing.assert_array_equal(frame["distance_m"].to_numpy(), res.distances_m)
    np.testing.assert_array_equal(frame["lat"].to_numpy(), pts.lat[res.positions])
    np.testing.assert_array_equal(frame["lng"].to_numpy(), pts.lng[res.positions])
    assert frame["category"].tolist() == [cats[p] for p in res.positions.tolist()]
    assert frame["distance_m"].is_monotonic_increasing
    assert "attributes" not in frame.columns


def test_limit_keeps_the_nearest(small_engine: tuple) -> None:
    engine, _, _ = small_engine
    full = engine.within_radius(40.75, -73.98, 2_000)
    some = engine.within_radius(40.75, -73.98, 2_000, limit=5)
    assert len(full) > 5
    assert some.merchant_ids == full.merchant_ids[:5]
    box = engine.within_bbox((-74.0, 40.74, -73.96, 40.76), limit=3)
    assert box.merchant_ids == engine.within_bbox((-74.0, 40.74, -73.96, 40.76)).merchant_ids[:3]
    with pytest.raises(InvalidQueryError, match=r"limit=0 is out of range; allowed: 1 <= limit"):
        engine.within_radius(40.75, -73.98, 2_000, limit=0)


def test_get_and_unknown_ids(small_engine: tuple) -> None:
    engine, pts, cats = small_engine
    rec = engine.get(str(pts.ids[17]))
    assert rec["merchant_id"] == pts.ids[17] and rec["category"] == cats[17]
    assert rec["lat"] == pts.lat[17] and rec["attributes"] == {"row": 17}
    with pytest.raises(MerchantNotFoundError, match="nope") as info:
        engine.get("nope")
    assert isinstance(info.value, LookupError)


def test_engine_refuses_a_table_and_index_that_disagree() -> None:
    pts = oracle.Points.build([1.0, 2.0], [1.0, 2.0])
    table = oracle.canonical_table(pts.lat, pts.lng, pts.ids, ["food", "food"])
    index = build_cell_index(pts.lat[:1], pts.lng[:1], pts.ids[:1])
    with pytest.raises(GeoDiscoveryError, match="1 points"):
        Snapshot(table, index)


def test_empty_engine_answers_nothing() -> None:
    engine = make_engine(oracle.Points.build([], []), [])
    assert len(engine.nearby(0.0, 0.0, 5)) == 0
    assert len(engine.within_radius(0.0, 0.0, 1000)) == 0
    assert len(engine.within_bbox("-180,-90,180,90")) == 0
    assert len(engine.within_polygon(shapely.box(-1, -1, 1, 1))) == 0


# ---------------------------------------------------------- bad input contract

BOWTIE = shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1), (0, 0)])
MANY = shapely.Point(0, 0).buffer(1, quad_segs=16)  # 64 vertices (65 positions: the ring closes)


def _bad_calls() -> list[tuple[str, Callable[[DiscoveryEngine], Any], type, tuple[str, ...]]]:
    e = DiscoveryEngine
    return [
        ("lat 91", lambda g: e.nearby(g, 91, 0), InvalidQueryError, ("91", "-90 <= lat <= 90")),
        ("lat -90.5", lambda g: e.within_radius(g, -90.5, 0, 10), InvalidQueryError,
         ("-90.5", "-90 <= lat <= 90")),
        ("lat NaN", lambda g: e.nearby(g, float("nan"), 0), InvalidQueryError,
         ("nan", "-90 <= lat <= 90")),
        ("lat inf", lambda g: e.nearby(g, float("inf"), 0), InvalidQueryError,
         ("inf", "-90 <= lat <= 90")),
        ("lng 181", lambda g: e.nearby(g, 0, 181), InvalidQueryError,
         ("181", "-180 <= lng <= 180")),
        ("lng NaN", lambda g: e.within_radius(g, 0, float("nan"), 5), InvalidQueryError,
         ("nan", "-180 <= lng <= 180")),
        ("lat word", lambda g: e.nearby(g, "north", 0), InvalidQueryError,
         ("lat='north'", "not a number")),
        ("lat bool", lambda g: e.nearby(g, True, 0), TypeError, ("lat", "bool")),
        ("k 0", lambda g: e.nearby(g, 0, 0, 0), InvalidQueryError, ("k=0", "k >= 1")),
        ("k -3", lambda g: e.nearby(g, 0, 0, -3), InvalidQueryError, ("k=-3", "k >= 1")),
        ("k > max_k", lambda g: e.nearby(g, 0, 0, 51), InvalidQueryError,
         ("k=51", "1 <= k <= 50", "max_k")),
        ("k True", lambda g: e.nearby(g, 0, 0, True), TypeError, ("k", "bool")),
        ("k 1.5", lambda g: e.nearby(g, 0, 0, 1.5), InvalidQueryError, ("k=1.5", "integer")),
        ("k 'five'", lambda g: e.nearby(g, 0, 0, "five"), InvalidQueryError,
         ("k='five'", "integer")),
        ("radius -1", lambda g: e.nearby(g, 0, 0, 5, radius_m=-1), InvalidQueryError,
         ("-1", "radius_m >= 0")),
        ("radius NaN", lambda g: e.within_radius(g, 0, 0, float("nan")), InvalidQueryError,
         ("nan", "radius_m >= 0")),
        ("radius over max", lambda g: e.within_radius(g, 0, 0, 2000.5), InvalidQueryError,
         ("2000.5", "0 <= radius_m <= 2000", "max_radius_m")),
        ("radius inf", lambda g: e.nearby(g, 0, 0, 5, radius_m=math.inf), InvalidQueryError,
         ("inf", "radius_m <= 2000")),
        ("radius list", lambda g: e.within_radius(g, 0, 0, [10]), TypeError, ("radius_m", "list")),
        # a number as a category was read as the path "5" and matched nothing, silently
        ("category 5", lambda g: e.nearby(g, 0, 0, 5, where=Filters(categories=5)),
         InvalidQueryError, ("categories values must be text", "int 5")),
        # each of these failed deep inside (TypeError, AttributeError, AssertionError)
        ("ranking wom None", lambda g: Ranking(wom=None), InvalidQueryError,
         ("wom is required",)),
        ("radius None", lambda g: e.within_radius(g, 0, 0, None), InvalidQueryError,
         ("radius_m is required",)),
        ("where text, bbox", lambda g: e.within_bbox(g, (0, 0, 1, 1), where="food"),
         InvalidQueryError, ("where must be a Filters", "str 'food'")),
        ("where text, tile", lambda g: e.tile(g, 3, 4, 3, where="food"), InvalidQueryError,
         ("where must be a Filters",)),
        ("open_at NaT", lambda g: Filters(open_at=pd.NaT), InvalidQueryError,
         ("open_at=NaT is not an ISO 8601 date-time",)),
        ("at NaT", lambda g: e.nearby(g, 0, 0, 5, sort="best_match", at=pd.NaT),
         InvalidQueryError, ("at=NaT",)),
        ("autocomplete limit None", lambda g: e.autocomplete(g, "a", 0, 0, limit=None),
         InvalidQueryError, ("limit is required",)),
        ("batch index True", lambda g: e.nearby_many(g, [0, 1], [0, 1], 2).results(True),
         TypeError, ("query index must be an integer", "bool")),
        ("bbox number", lambda g: e.within_bbox(g, 5), InvalidQueryError, ("bbox=5 is not a box",)),
        ("bbox set", lambda g: e.within_bbox(g, {0, 1, 2, 3}), InvalidQueryError,
         ("is not a box", "4 numbers in that order")),  # a set has no order
        ("bbox bytes", lambda g: e.within_bbox(g, b"1234"), InvalidQueryError, ("not a box",)),
        ("category float", lambda g: Filters(categories=1.5), InvalidQueryError,
         ("categories values must be text", "float 1.5")),  # was: 'float' is not iterable
        ("category dict", lambda g: Filters(categories={"food": 1}), InvalidQueryError,
         ("must be text", "dict")),  # its keys were taken silently
        ("one visit as a dict", lambda g: Member(visits={"merchant_id": "x"}), InvalidQueryError,
         ("visits must be merchant ids", "dict")),  # read as a visit to "merchant_id"
        # from_table: AttributeError for a frame, KeyError for a missing column; twice an id
        ("table as a frame", lambda g: e.from_table(g.merchants.to_pandas()), IngestError,
         ("merchants must be a pyarrow Table", "DataFrame")),
        ("table without lat", lambda g: e.from_table(g.merchants.drop(["lat"])), IngestError,
         ("no column lat",)),
        ("table with an id twice",
         lambda g: e.from_table(pa.concat_tables([g.merchants, g.merchants.slice(0, 1)])),
         IngestError, ("merchant_id more than once",)),
        # from_table: ValueError/TypeError from numpy or the index, or a pyarrow KeyError on
        # the first query of a table without category (the docstring's minimal table)
        ("table lat NaN", lambda g: e.from_table(_tiny(lat=[float("nan"), 1.0])), IngestError,
         ("lat nan of merchant 'a'", "-90 <= lat <= 90")),
        ("table lng 200", lambda g: e.from_table(_tiny(lng=[1.0, 200.0])), IngestError,
         ("lng 200.0 of merchant 'b'", "-180 <= lng <= 180")),
        ("table lat text", lambda g: e.from_table(_tiny(lat=["north", "1"])), IngestError,
         ("column lat", "'north'", "allowed: double")),
        ("table id empty", lambda g: e.from_table(_tiny(merchant_id=["a", None])), IngestError,
         ("merchant_id is empty", "row 2")),
        ("table status", lambda g: e.from_table(_tiny(status=["open", "gone"])), IngestError,
         ("status 'gone' of merchant 'b'", "open, closed, unknown")),
        # a category filter matches lower-case segments: "Food/Restaurant" was never found
        ("table category case", lambda g: e.from_table(_tiny(category=["food", "Food/Bar"])),
         IngestError, ("category 'Food/Bar' of merchant 'b' is not a category path",
                       "lower-case segments")),
        ("table category blank segment",
         lambda g: e.from_table(_tiny(category=["food//bar", "food"])), IngestError,
         ("category 'food//bar' of merchant 'a'",)),
        ("table rating text", lambda g: e.from_table(_tiny(rating=["x", "4"])), IngestError,
         ("column rating", "allowed: double")),
        # a library user's sweep: builtins TypeErrors, a CSV opened as a store
        ("bbox None inside", lambda g: e.within_bbox(g, (None, 1, 2, 3)), InvalidTypeError,
         ("west must be a number, got NoneType",)),
        ("bbox text inside", lambda g: e.within_bbox(g, ("x", "1", "2", "3")),
         InvalidQueryError, ("west='x' is not a number", "-180 <= west <= 180")),
        ("snapshot path 5", lambda g: DiscoveryEngine.from_snapshot(5), InvalidTypeError,
         ("path=5 is no path", "a str or a pathlib.Path")),
        ("wom misaligned", lambda g: e.from_table(_tiny(), wom=([1.0], [1.0])), IngestError,
         ("shape (1,)", "expected (2,)")),
        ("wom NaN", lambda g: e.from_table(_tiny(), wom=([1.0, float("nan")], [1.0, 1.0])),
         IngestError, ("wom holds nan at row 1", "finite")),
        ("wom text", lambda g: e.from_table(_tiny(), wom=("ab", "cd")), IngestError,
         ("'ab'", "not numbers")),
        ("wom three arrays", lambda g: e.from_table(_tiny(), wom=([1], [1], [1])), IngestError,
         ("pair of arrays", "(wom_score, wom_confidence)")),
        ("resolution 16", lambda g: e.from_table(_tiny(), resolution=16), IngestError,
         ("resolution=16", "0 <= resolution <= 15")),
        ("resolution text", lambda g: e.from_table(_tiny(), resolution="7"), IngestError,
         ("resolution '7'", "0 … 15")),
        ("districts misaligned",
         lambda g: e.from_table(_tiny(), districts=(["d1"], [1.0])), IngestError,
         ("district_id has shape (1,)", "expected (2,)")),
        ("self-intersecting polygon", lambda g: e.within_polygon(g, BOWTIE), InvalidQueryError,
         ("invalid", "Self-intersection", "allowed")),
        ("too many vertices", lambda g: e.within_polygon(g, MANY), InvalidQueryError,
         ("64 vertices", "at most 20", "max_polygon_vertices")),
        ("GeoJSON Point", lambda g: e.within_polygon(g, {"type": "Point", "coordinates": [0, 0]}),
         InvalidQueryError, ("'Point'", "allowed: Polygon, MultiPolygon")),
        ("GeoJSON LineString", lambda g: e.within_polygon(
            g, {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}),
         InvalidQueryError, ("'LineString'", "allowed: Polygon, MultiPolygon")),
        ("Feature of a Point", lambda g: e.within_polygon(
            g, {"type": "Feature", "geometry": {"type": "Point", "coordinates": [0, 0]}}),
         InvalidQueryError, ("'Point'", "allowed")),
        ("shapely LineString", lambda g: e.within_polygon(g, shapely.LineString([(0, 0), (1, 1)])),
         InvalidQueryError, ("LineString", "allowed")),
        ("polygon JSON text", lambda g: e.within_polygon(g, "{not json"), InvalidQueryError,
         ("JSON",)),
        ("polygon lng 200", lambda g: e.within_polygon(g, shapely.box(190, 0, 200, 1)),
         InvalidQueryError, ("200", "-180 <= lng <= 180")),
        ("polygon lat 95", lambda g: e.within_polygon(g, shapely.box(0, 80, 1, 95)),
         InvalidQueryError, ("95", "-90 <= lat <= 90")),
        ("bbox south > north", lambda g: e.within_bbox(g, "0,10,1,5"), InvalidQueryError,
         ("south=10", "north=5", "south <= north")),
        ("bbox sequence south > north", lambda g: e.within_bbox(g, (0, 10, 1, 5)),
         InvalidQueryError, ("south=10", "north=5", "south <= north")),
        ("bbox lat 95", lambda g: e.within_bbox(g, "0,0,1,95"), InvalidQueryError,
         ("95", "-90 <= north <= 90")),
        ("bbox lng 181", lambda g: e.within_bbox(g, (-181, 0, 1, 1)), InvalidQueryError,
         ("-181", "-180 <= west <= 180")),
        ("bbox 3 numbers", lambda g: e.within_bbox(g, "1,2,3"), InvalidQueryError,
         ("'1,2,3'", "west,south,east,north")),
        ("bbox words", lambda g: e.within_bbox(g, "a,b,c,d"), InvalidQueryError,
         ("'a,b,c,d'", "west,south,east,north")),
        ("category with a space", lambda g: Filters(categories="food grocery"),
         InvalidQueryError, ("'food grocery'", "allowed", "[a-z0-9_]")),
        ("category with an accent", lambda g: Filters(categories=("café",)),
         InvalidQueryError, ("'café'", "allowed")),
        ("category with a dash", lambda g: Filters(categories="food-truck"),
         InvalidQueryError, ("'food-truck'", "allowed")),
        ("category with dots", lambda g: Filters(exclude_categories="food/../x"),
         InvalidQueryError, ("'food/../x'", "exclude_categories", "allowed")),
        ("category not text", lambda g: Filters(categories=(3.5,)), InvalidQueryError,
         ("categories", "float")),
        ("two problems at once", lambda g: Filters(min_price=9, min_rating=-1),
         InvalidQueryError, ("min_price=9", "min_rating=-1 ")),
        ("where not Filters", lambda g: e.nearby(g, 0, 0, where={"categories": "food"}),
         InvalidQueryError, ("where must be a Filters",)),
        ("origin lat 91", lambda g: e.within_bbox(g, "0,0,1,1", origin=(91, 0)),
         InvalidQueryError, ("91", "-90 <= origin lat <= 90")),
        ("limit 0", lambda g: e.within_radius(g, 0, 0, 10, limit=0), InvalidQueryError,
         ("limit=0", "1 <= limit <= 50")),
    ]


def _tiny(**columns: list) -> pa.Table:
    """A two-merchant table with only the columns from_table needs, and ``columns``."""
    base = {"merchant_id": ["a", "b"], "lat": [60.1, 60.2], "lng": [24.9, 24.8]}
    return pa.table({**base, **columns})


BAD = _bad_calls()


def test_a_table_of_ids_and_points_answers_every_query() -> None:
    """from_table's documented minimum (merchant_id, lat, lng): the other canonical
    columns are added as a load writes them for a source that says nothing. Every query
    below raised a pyarrow KeyError (no column category) before."""
    engine = DiscoveryEngine.from_table(_tiny(merchant_id=[1, 2], lat=[60, 60.001]))
    table = engine.merchants
    assert table.column("merchant_id").to_pylist() == ["1", "2"]  # ints became text ids
    assert table.column("category").to_pylist() == ["unknown", "unknown"]
    assert table.column("status").to_pylist() == ["unknown", "unknown"]
    assert table.column("source_line").to_pylist() == [1, 2]
    assert table.schema.field("lat").type == pa.float64()
    assert [h.merchant_id for h in engine.nearby(60, 24.9, 2, sort="best_match")] == ["1", "2"]
    for sort in ("distance", "rating", "review_count", "price"):
        assert len(engine.nearby(60, 24.9, 2, sort=sort)) == 2
    assert len(engine.nearby(60, 24.9, 2, where=Filters(categories="food"))) == 0
    assert len(engine.nearby(60, 24.9, 2, where=Filters(text="a"))) == 0
    assert len(engine.nearby(60, 24.9, 2, sort="best_match", explain=True).explanations) == 2
    assert len(engine.nearby(60, 24.9, 2, sort="best_match", member=Member(visits=["2"]))) == 2
    assert len(engine.within_bbox("24,59,25,61")) == 2
    assert [(c.path, c.count) for c in engine.categories()] == [("unknown", 2)]
    engine.autocomplete("a", 60, 24.9)
    engine.tile(10, 582, 296)
    extra = DiscoveryEngine.from_table(_tiny(note=["x", "y"]))  # other columns are kept
    assert extra.merchants.column("note").to_pylist() == ["x", "y"]


@pytest.fixture(scope="module")
def strict_engine() -> DiscoveryEngine:
    pts = oracle.Points.build([0.0, 0.001, 0.002], [0.0, 0.001, 0.002])
    return make_engine(
        pts, ["food", "retail", "food/grocery"],
        max_k=50, max_radius_m=2000.0, max_polygon_vertices=20,
    )


@pytest.mark.parametrize(("call", "error", "needles"), [b[1:] for b in BAD],
                         ids=[b[0] for b in BAD])
def test_bad_input_raises_naming_value_and_range(
    strict_engine: DiscoveryEngine, call: Callable, error: type, needles: tuple[str, ...]
) -> None:
    with pytest.raises(error) as info:
        call(strict_engine)
    message = str(info.value)
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"
    if issubclass(error, GeoDiscoveryError):  # a bad value: InvalidQueryError, IngestError
        assert isinstance(info.value, ValueError) and isinstance(info.value, GeoDiscoveryError)
    else:  # wrong types are TypeErrors (ours InvalidTypeErrors: InvalidQueryErrors too)
        assert isinstance(info.value, TypeError)


def test_edge_values_are_allowed(strict_engine: DiscoveryEngine) -> None:
    for lat, lng in ((90, 180), (-90, -180), (90.0, -180.0), (0, 0)):
        assert len(strict_engine.nearby(lat, lng, 50)) == 3
    assert len(strict_engine.nearby(0, 0, 1, radius_m=0)) == 1  # the point at the query
    assert len(strict_engine.within_radius(0, 0, 2000.0)) == 3
    assert len(strict_engine.nearby(np.float32(0), np.int64(0), np.int64(2))) == 2
    assert len(strict_engine.within_bbox("-180,-90,180,90")) == 3
    normalised = Filters(categories=" FOOD/ ")
    assert len(strict_engine.nearby(0, 0, 3, where=normalised)) == 2
    assert len(strict_engine.nearby("0.001", "0.001", "2")) == 2  # numbers as text are parsed


# ------------------------------------------------------------------ real data


@pytest.fixture(scope="module")
def nyc_engine(real_data: Path) -> tuple[DiscoveryEngine, oracle.Points, list[str]]:
    """NYC food stores through the engine, with categories from the store type codes."""
    frame = pd.read_csv(real_data / "nyc" / "nyc_retail_food_stores.csv", dtype=str)
    lat = pd.to_numeric(frame["latitude"], errors="coerce").to_numpy()
    lng = pd.to_numeric(frame["longitude"], errors="coerce").to_numpy()
    ok = np.isfinite(lat) & np.isfinite(lng)
    codes = frame["establishment_type"].fillna("x").str.lower()
    codes = codes.str.replace(r"[^a-z0-9]", "", regex=True)
    cats = [f"food/store/{c[:1] or 'x'}/{c or 'x'}" for c in codes[ok]]
    ids = oracle.shuffled_ids(int(ok.sum()), np.random.default_rng(9))
    pts = oracle.Points(lat[ok], lng[ok], ids)
    return make_engine(pts, cats), pts, cats


@pytest.mark.real_data
def test_real_nyc_nearby_with_categories_matches_brute_force(nyc_engine: tuple) -> None:
    engine, pts, cats = nyc_engine
    top = sorted({c.split("/")[2] for c in cats})
    assert len(top) > 1
    rng = np.random.default_rng(1)
    checks = 0
    for i in rng.choice(len(pts), 150, replace=False):
        lat, lng = float(pts.lat[i]), float(pts.lng[i])
        d = pts.distances_from(lat, lng)
        prefix = f"food/store/{top[int(rng.integers(len(top)))]}"
        mask = oracle.category_mask(cats, [prefix])
        for k in (1, 5, 20, 100):
            got = engine.nearby(lat, lng, k, where=Filters(categories=prefix))
            check(got, oracle.knn(pts, lat, lng, k, mask=mask, dist=d))
        r = float(10 ** rng.uniform(np.log10(50), np.log10(5000)))
        got = engine.within_radius(lat, lng, r, where=Filters(exclude_categories=prefix))
        check(got, oracle.within_radius(pts, lat, lng, r, mask=~mask, dist=d))
        checks += 5
    assert checks == 750


def test_frames_carry_word_of_mouth_and_the_district(sample_engine: DiscoveryEngine) -> None:
    """``to_frame`` adds what the load derived per merchant; each merchant's
    ``district_id`` agrees with the district filter (the planner's mask, another path)."""
    res = sample_engine.within_radius(60.1699, 24.9384, 1_500)
    frame = res.to_frame()
    assert {"wom_score", "wom_confidence", "district_id"} <= set(frame.columns)
    assert frame["wom_score"].between(0, 1).all() and frame["wom_confidence"].between(0, 1).all()
    ids = sample_engine.districts().index
    assert set(frame["district_id"].dropna()) <= set(ids) and frame["district_id"].isna().any()
    outside = frame["district_id"][frame["district_id"].isna()].tolist()
    assert outside and all(d is None for d in outside)  # None, as documented; it was NaN
    for did in ids:
        members = sample_engine.within_radius(
            60.1699, 24.9384, 1_500, where=Filters(district_ids=(did,))
        )
        assert set(frame.loc[frame["district_id"] == did, "merchant_id"]) == set(
            members.merchant_ids
        )
    ranked = sample_engine.nearby(60.1699, 24.9384, k=5, sort="best_match", explain=True)
    got = ranked.to_frame()
    explained = [e.district_id for e in ranked.explanations or []]
    assert got["district_id"].tolist() == explained
    assert got["wom_score"].tolist() == pytest.approx([e.wom_score for e in ranked.explanations])


def test_frames_without_derived_data_have_no_such_columns(small_engine: tuple) -> None:
    engine, _, _ = small_engine
    frame = engine.nearby(40.75, -73.98, 5).to_frame()
    assert "district_id" not in frame.columns


def test_an_aggregate_bin_across_the_antimeridian_sits_there() -> None:
    """A bin's position is its merchants' mean: it was the plain mean of longitudes, so a
    bin of shops at 179.99 and -179.99 (Fiji) was drawn at 0 or 62° E."""
    rng = np.random.default_rng(4)
    lng = np.concatenate([rng.uniform(179.95, 180.0, 30), rng.uniform(-180.0, -179.95, 30)])
    lat = rng.uniform(-16.82, -16.78, 60)
    engine = DiscoveryEngine.from_table(pa.table({
        "merchant_id": [f"m{i}" for i in range(60)], "lat": lat, "lng": lng}))  # fmt: skip
    for resolution in (3, 5, 7):
        bins = engine.aggregate((179.9, -17.0, -179.9, -16.5), resolution)
        assert int(bins["count"].sum()) == 60
        for cell, row in bins.iterrows():
            inside = [i for i in range(60) if cells_of(lat[i], lng[i], resolution) == cell]
            want = oracle_mean_lng(lng[inside])
            gap = abs((row["lng"] - want + 180.0) % 360.0 - 180.0)
            assert gap < 1e-9, (resolution, cell, row["lng"], want)


def cells_of(lat: float, lng: float, resolution: int) -> str:
    import h3

    return h3.latlng_to_cell(lat, lng, resolution)


def oracle_mean_lng(lng: np.ndarray) -> float:
    """The mean direction of the longitudes (unit vectors on the circle): the brute
    force of the short-way mean for points within a few degrees."""
    rad = np.radians(lng)
    return float(np.degrees(np.arctan2(np.sin(rad).mean(), np.cos(rad).mean())))


def test_a_polygon_just_past_the_data_is_empty_not_swapped() -> None:
    """The (lat, lng) hint refused a polygon that matched nothing whenever its swapped
    reading overlapped the data's bounds: on data spread over the globe that is almost any
    polygon, so one just north of the northernmost merchant was an error (a flaky property
    test found it). The swapped reading must hold merchants, as for a box."""
    engine = DiscoveryEngine.from_table(_tiny(
        merchant_id=["n", "s", "e", "w", "x"], lat=[60.2, -80.0, 10.0, -50.0, 20.0],
        lng=[24.8, 170.0, 150.0, -100.0, 75.0]))  # fmt: skip
    north = shapely.box(24.79, 60.2001, 24.81, 60.21)
    assert len(engine.within_polygon(north)) == 0
    swapped = shapely.box(19.99, 74.99, 20.01, 75.01)  # "x" given as (lat, lng)
    with pytest.raises(InvalidQueryError, match="holds 1 merchant: the vertices look like"):
        engine.within_polygon(swapped)


def test_a_radius_equal_to_a_hits_distance_holds_the_hit() -> None:
    """``within_radius(p, hit.distance_m)`` left out about a quarter of the hits (Boston:
    71 of 300, a library user's sweep): the radius became a chord by the closed form,
    an ulp or two off the distance's own rounding."""
    rng = np.random.default_rng(11)
    n = 400
    lat, lng = 42.35 + rng.normal(0, 0.01, n), -71.06 + rng.normal(0, 0.01, n)
    table = pa.table({"merchant_id": [f"m{i}" for i in range(n)], "name": ["x"] * n,
                      "lat": lat, "lng": lng, "category": ["food/cafe"] * n})  # fmt: skip
    engine = DiscoveryEngine.from_table(table)
    hits = list(engine.nearby(42.35, -71.06, n))
    for hit in hits[::3]:
        held = engine.within_radius(42.35, -71.06, hit.distance_m).merchant_ids
        assert hit.merchant_id in held
        assert all(h.distance_m <= hit.distance_m for h in engine.within_radius(
            42.35, -71.06, hit.distance_m))  # fmt: skip
        ranked = engine.nearby(42.35, -71.06, n, radius_m=hit.distance_m, sort="rating")
        want = {h.merchant_id for h in hits if h.distance_m <= hit.distance_m}
        assert set(ranked.merchant_ids) == want


def test_a_table_rating_without_a_scale_gets_the_scale_a_load_infers() -> None:
    """``from_table`` with ``rating`` 1–5 and no ``rating_scale``: the ratings were ignored
    (``min_rating=4`` found nothing, ``sort=rating`` was distance order); a load of the
    same file infers 0–5, and so does the table now (a library user's sweep)."""
    rng = np.random.default_rng(5)
    n = 60
    rating = rng.choice([1.0, 2.5, 3.0, 4.0, 4.5, 5.0, np.nan], n)
    table = pa.table({"merchant_id": [f"m{i:02d}" for i in range(n)],
                      "lat": 64.14 + rng.normal(0, 0.01, n), "lng": -21.94 + rng.normal(0, 0.01, n),
                      "rating": rating})  # fmt: skip
    engine = DiscoveryEngine.from_table(table)
    scale = engine.snapshot.merchants.column("rating_scale").to_numpy(zero_copy_only=False)
    np.testing.assert_array_equal(np.isfinite(scale), np.isfinite(rating))  # null if unrated
    assert set(scale[np.isfinite(scale)]) == {5.0}
    good = engine.nearby(64.14, -21.94, n, where=Filters(min_rating=4))
    assert sorted(good.merchant_ids) == sorted(f"m{i:02d}" for i in np.flatnonzero(rating >= 4))
    top = engine.nearby(64.14, -21.94, 3, sort="rating")
    assert [h.attributes["rating"] for h in top] == [5.0, 5.0, 5.0]


def test_nearby_counts_no_total_where_area_searches_count_every_match() -> None:
    """``Results.total`` of nearby was the page's length (5 where 1,609 lay within the
    radius, a library user's sweep): nearby stops at its page, so its total is None."""
    rng = np.random.default_rng(2)
    n = 50
    lat, lng = 1 + rng.normal(0, 0.01, n), 2 + rng.normal(0, 0.01, n)
    table = pa.table({"merchant_id": [f"m{i}" for i in range(n)], "lat": lat, "lng": lng})
    engine = DiscoveryEngine.from_table(table)
    for res in (engine.nearby(1, 2, 5), engine.nearby(1, 2, 5, radius_m=5_000.0),
                engine.nearby(1, 2, 5, sort="best_match"), engine.nearby(1, 2, 5)[:2]):  # fmt: skip
        assert res.total is None
    assert engine.within_radius(1.0, 2.0, 5_000.0).total == n
    assert engine.within_radius(1.0, 2.0, 5_000.0, limit=5).total == n
    assert engine.within_bbox((1.5, 0.5, 2.5, 1.5), limit=5).total == n


def test_numbers_as_0d_arrays_decimals_and_texts_are_read_as_numbers(tmp_path: Path) -> None:
    """``nearby(np.array(42.35), …)`` (what ``series.values[i:i+1].squeeze()`` gives) and
    ``Decimal`` were builtins TypeErrors, a box of texts too where its comma-joined text
    was read; a wrong type is now an InvalidTypeError, both a TypeError and a ValueError."""
    from decimal import Decimal

    table = pa.table({"merchant_id": ["a", "b"], "lat": [42.35, 42.36], "lng": [-71.06, -71.05]})
    engine = DiscoveryEngine.from_table(table)
    assert engine.nearby(np.array(42.35), np.array(-71.06), 1).merchant_ids == ["a"]
    assert engine.nearby(Decimal("42.35"), Decimal("-71.06"), np.int64(1)).merchant_ids == ["a"]
    box = ("-71.08", "42.34", "-71.04", "42.37")
    assert engine.within_bbox(box).merchant_ids == engine.within_bbox(",".join(box)).merchant_ids
    assert issubclass(InvalidTypeError, TypeError) and issubclass(InvalidTypeError, ValueError)
    with pytest.raises(InvalidQueryError, match="lat=nan is out of range"):  # as float nan
        engine.nearby(Decimal("NaN"), 0, 1)  # a value, not a wrong type
    csv = tmp_path / "mine.csv"
    csv.write_text("id,lat,lng\n1,60,25\n")
    with pytest.raises(SnapshotNotFoundError, match="is a file, not a data dir"):
        DiscoveryEngine.from_snapshot(csv)


def test_a_table_rating_off_its_scale_is_left_empty_with_a_warning_as_a_load_does() -> None:
    """The regression sweep's: from_table refused the whole table for one rating of 7
    among stars, where a load of the same rows keeps them all and leaves the 7 empty with
    a warning; an unclear scale is read as the load reads it, with a warning too."""
    rating = [4.0, 4.5, 3.0, 5.0] * 10
    rating[2] = 7.0
    ids = [f"m{i:02d}" for i in range(40)]
    table = pa.table({"merchant_id": ids, "lat": [60.1 + i / 1000 for i in range(40)],
                      "lng": [24.9] * 40, "rating": rating})  # fmt: skip
    with pytest.warns(DataWarning, match=r"1 rating\(s\) outside their scale left empty "
                      r"\(first: rating 7 of merchant 'm02', scale 0–5\)"):  # fmt: skip
        engine = DiscoveryEngine.from_table(table)
    cols = engine.snapshot.merchants
    assert len(engine) == 40
    want = [None if r == 7.0 else r for r in rating]
    assert cols.column("rating").to_pylist() == want
    assert cols.column("rating_scale").to_pylist() == [None if r is None else 5.0 for r in want]
    with pytest.warns(DataWarning, match=r"scale is unclear .* read as 0–100"):
        one = DiscoveryEngine.from_table(_tiny(rating=[95.0, None]))
    assert one.snapshot.merchants.column("rating_scale").to_pylist() == [100.0, None]
