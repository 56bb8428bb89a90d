"""Exact top-k (geo_discovery.search.topk via engine.nearby) against brute force on random data.

Every answer is compared with :mod:`ranking_oracle` bit for bit: the same rows in the same
order, the same scores and the same metres. Random merchants come in clusters, at a pole,
across the antimeridian and spread round the globe, with duplicate coordinates and tied
word-of-mouth scores (so ties by distance and merchant_id are exercised), categories from
several radius classes, nullable prices, ratings on 5 and 100 scales, review counts,
brands and districts. Queries draw every sort, filters in combination, radii, weights and
per-request consumption radii.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import oracle
import pyarrow as pa
import pytest
import ranking_oracle as ro
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo_discovery.engine import DiscoveryEngine
from geo_discovery.ranking.scoring import SORTS, Weights
from geo_discovery.search.index import build_cell_index
from geo_discovery.search.topk import CellTree, _parent_cells
from geo_discovery.settings import Settings

PROPERTY = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CATEGORIES = (
    "food/grocery/bodega",
    "food/grocery/supermarket",
    "food/restaurant/italian",
    "food/cafe",
    "lodging/private_room",
    "shop/furniture",
    "unknown",
)
BRANDS = ("Starbucks", "starbucks ", "Alepa", "K-Market")
CENTRE = {"city": (40.75, -73.98), "duplicates": (60.17, 24.94), "antimeridian": (-17.0, 180.0)}


def make_engine(
    rng: np.random.Generator,
    n: int,
    kind: str,
    *,
    resolution: int | None = None,
    categories: tuple[str, ...] = CATEGORIES,
    spread_deg: float = 0.03,
) -> DiscoveryEngine:
    """A random engine: points of one scenario and every ranking input, with nulls and ties."""
    lat, lng = oracle.random_points(kind, n, rng, centre=CENTRE.get(kind), spread_deg=spread_deg)
    ids = oracle.shuffled_ids(n, rng)

    def nullable(values: Any, p_null: float) -> list[Any]:
        return [None if rng.random() < p_null else v for v in values]

    scale = rng.choice([5.0, 100.0], n)
    table = pa.table(
        {
            "merchant_id": pa.array(ids.tolist(), pa.string()),
            "name": [f"m{i}" for i in range(n)],
            "lat": lat,
            "lng": lng,
            "category": pa.array(rng.choice(categories, n).tolist(), pa.string()),
            "price_level": pa.array(nullable(rng.integers(1, 5, n).tolist(), 0.3), pa.int8()),
            "rating": pa.array(
                nullable((np.round(rng.uniform(0.2, 1.0, n) * 10) / 10 * scale).tolist(), 0.3),
                pa.float64(),
            ),
            "rating_scale": pa.array(scale.tolist(), pa.float64()),
            "review_count": pa.array(nullable(rng.integers(0, 40, n).tolist(), 0.3), pa.int64()),
            "brand": pa.array(nullable(rng.choice(BRANDS, n).tolist(), 0.7), pa.string()),
        }
    )
    index = build_cell_index(lat, lng, ids, resolution=resolution)
    wom = rng.choice([0.1, 0.5, 0.5, 0.77, 0.9, 1.0], n) if rng.random() < 0.5 else rng.random(n)
    conf = rng.random(n)
    dterm = rng.choice([0.4, 1.0], n)
    dids = rng.choice(["d1", "d2", "d3"], n).astype(object)
    return DiscoveryEngine(
        table, index, settings=Settings(), wom=(wom, conf), districts=(dids, dterm)
    )


def random_query(rng: np.random.Generator, engine: DiscoveryEngine, sort: str) -> ro.Query:
    n = len(engine)
    lat = engine.merchants.column("lat").to_numpy()
    lng = engine.merchants.column("lng").to_numpy()
    i = int(rng.integers(0, n))
    q_lat = float(np.clip(lat[i] + rng.normal(0, 0.01), -90, 90))
    q_lng = float(((lng[i] + rng.normal(0, 0.01)) + 180) % 360 - 180)
    if rng.random() < 0.1:  # far from everything
        q_lat, q_lng = float(rng.uniform(-80, 80)), float(rng.uniform(-180, 180))

    def maybe(p: float, value: Any) -> Any:
        return value if rng.random() < p else None

    lo = int(rng.integers(1, 5))
    return ro.Query(
        lat=q_lat,
        lng=q_lng,
        k=int(rng.choice([1, 2, 5, 20, 50])),
        radius_m=maybe(0.4, float(10 ** rng.uniform(1.5, 4.5))),
        sort=sort,
        categories=tuple(rng.choice(["food", "food/grocery", "lodging"], 1).tolist())
        if rng.random() < 0.25
        else (),
        exclude_categories=("shop",) if rng.random() < 0.2 else (),
        min_price=maybe(0.15, lo),
        max_price=maybe(0.15, int(rng.integers(lo, 5))),
        min_rating=maybe(0.15, float(rng.choice([2.0, 3.5, 4.5]))),
        min_reviews=maybe(0.15, int(rng.integers(0, 30))),
        exclude_brands=("STARBUCKS",) if rng.random() < 0.15 else (),
        exclude_chains=bool(rng.random() < 0.1),
        district_id=tuple(rng.choice(["d1", "d2", "d3"], 2).tolist())
        if rng.random() < 0.15
        else None,
        weights=Weights(
            wom=float(rng.choice([0.0, 0.5, 1.0])),
            district=float(rng.choice([0.0, 1.0])),
            distance_scale=float(rng.choice([0.3, 1.0, 4.0])),
        )
        if rng.random() < 0.4
        else None,
        radii={"food/cafe": 50.0, "lodging": 20_000.0} if rng.random() < 0.2 else None,
    )


def assert_same(engine: DiscoveryEngine, cols: ro.Columns, q: ro.Query) -> None:
    res = engine.nearby(q.lat, q.lng, q.k, explain=q.sort == "best_match", **q.kwargs())
    rows, prim, dist = ro.brute_force(cols, q, limit=q.k)
    got = res.positions.tolist()
    assert got == rows.tolist(), f"{q}: rows differ\n got {got}\nwant {rows.tolist()}"
    np.testing.assert_array_equal(res.distances_m, dist)
    if q.sort == "best_match":
        assert res.scores is not None
        np.testing.assert_array_equal(res.scores, prim)
        assert res.explain is not None
        assert [e["score"] for e in res.explain] == prim.tolist()  # explain recomputes exactly
    if len(rows) == q.k:
        assert res.next_cursor is not None
    else:
        assert res.next_cursor is None


@PROPERTY
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 400),
    kind=st.sampled_from(["city", "duplicates", "antimeridian", "north_pole", "global"]),
    resolution=st.sampled_from([None, 0, 3, 7, 10, 12]),
)
def test_every_sort_matches_brute_force(seed: int, n: int, kind: str, resolution: Any) -> None:
    rng = np.random.default_rng(seed)
    engine = make_engine(rng, n, kind, resolution=resolution)
    cols = ro.Columns(engine)
    for sort in SORTS:
        for _ in range(3):
            assert_same(engine, cols, random_query(rng, engine, sort))


@PROPERTY
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 250), page=st.integers(1, 40))
def test_cursor_walks_visit_every_match_once_in_order(seed: int, n: int, page: int) -> None:
    rng = np.random.default_rng(seed)
    engine = make_engine(rng, n, str(rng.choice(["city", "duplicates", "global"])))
    cols = ro.Columns(engine)
    for sort in SORTS:
        q = random_query(rng, engine, sort)
        rows, _, _ = ro.brute_force(cols, q)
        walked = ro.walk(engine, q, page)
        assert walked == rows.tolist(), f"{q} page={page}"


def test_dense_ties_at_one_place_break_by_merchant_id() -> None:
    """Forty merchants at one spot with one score: pages come in merchant_id order."""
    rng = np.random.default_rng(7)
    n = 40
    ids = oracle.shuffled_ids(n, rng)
    table = pa.table(
        {
            "merchant_id": pa.array(ids.tolist()),
            "name": ["x"] * n,
            "lat": [1.0] * n,
            "lng": [2.0] * n,
            "category": ["food/cafe"] * n,
        }
    )
    engine = DiscoveryEngine(table, build_cell_index(np.ones(n), np.full(n, 2.0), ids))
    want = sorted(ids.tolist())
    for sort in SORTS:
        got = [ids[p] for p in ro.walk(engine, ro.Query(1.001, 2.0, sort=sort), 7)]
        assert got == want, sort


def test_distance_sort_is_exactly_the_index_knn() -> None:
    rng = np.random.default_rng(3)
    engine = make_engine(rng, 2000, "city")
    for _ in range(50):
        q = random_query(rng, engine, "distance")
        res = engine.nearby(q.lat, q.lng, q.k, radius_m=q.radius_m, sort="distance")
        pos, dist = engine.index.knn(q.lat, q.lng, q.k, radius_m=q.radius_m)
        np.testing.assert_array_equal(res.positions, pos)
        np.testing.assert_array_equal(res.distances_m, dist)


def test_best_match_prunes_cells() -> None:
    """City-like data (walk-to categories over a 20 km city): a small share gets scored."""
    from geo_discovery.search.planner import Filters
    from geo_discovery.search.topk import top_k

    rng = np.random.default_rng(11)
    cats = ("food/grocery/bodega", "food/restaurant/thai", "food/cafe")
    engine = make_engine(rng, 20_000, "city", categories=cats, spread_deg=0.1)
    r = engine.ranker
    spec = r._spec(Filters(), "best_match", r.radii_key(None), Weights())
    scored = [
        top_k(r.tree, 40.75 + d, -73.98, 20, spec).stats["scored"]
        for d in np.linspace(-0.02, 0.02, 9)
    ]
    assert max(scored) < 0.15 * len(engine), scored


@pytest.mark.parametrize("res_from", [5, 9, 12, 15])
def test_parent_cells_match_h3(res_from: int) -> None:
    import h3.api.numpy_int as h3

    rng = np.random.default_rng(res_from)
    cells = np.array(
        sorted(
            int(h3.latlng_to_cell(float(a), float(b), res_from))
            for a, b in zip(rng.uniform(-89, 89, 200), rng.uniform(-180, 180, 200), strict=True)
        ),
        dtype=np.uint64,
    )
    for res_to in range(0, res_from + 1):
        got = _parent_cells(cells, res_from, res_to)
        want = np.array([h3.cell_to_parent(int(c), res_to) for c in cells], dtype=np.uint64)
        np.testing.assert_array_equal(got, want)
        assert (np.diff(got.astype(np.float64)) >= 0).all()  # order preserved


def test_tree_caps_hold_every_point() -> None:
    rng = np.random.default_rng(5)
    lat, lng = oracle.random_points("global", 3000, rng)
    index = build_cell_index(lat, lng, oracle.shuffled_ids(3000, rng))
    tree = CellTree.build(index)
    xyz = np.asarray(index.xyz)
    for level_no, level in enumerate(tree.levels):
        centre = np.stack([level.cx, level.cy, level.cz], axis=1)
        lo, hi = level.lo, level.hi
        for _ in range(level_no):  # map node ranges down to point ranges
            finer = tree.levels[level_no - 1 - _]
            lo, hi = finer.lo[lo], finer.hi[hi - 1]
        for j in range(len(centre)):
            d = np.sqrt(((xyz[lo[j] : hi[j]] - centre[j]) ** 2).sum(axis=1))
            assert (d <= level.radius[j]).all()
    assert len(tree.levels[-1].cells) <= 512 or tree.levels[-1].res == 0


def test_empty_engine_answers_nothing() -> None:
    table = pa.table(
        {
            "merchant_id": pa.array([], pa.string()),
            "name": pa.array([], pa.string()),
            "lat": pa.array([], pa.float64()),
            "lng": pa.array([], pa.float64()),
            "category": pa.array([], pa.string()),
        }
    )
    engine = DiscoveryEngine(table, build_cell_index(np.array([]), np.array([]), []))
    for sort in SORTS:
        res = engine.nearby(0.0, 0.0, 5, sort=sort)
        assert len(res) == 0 and res.next_cursor is None


def test_k_exceeding_matches_returns_them_all_without_cursor() -> None:
    rng = np.random.default_rng(1)
    engine = make_engine(rng, 30, "city")
    for sort in SORTS:
        res = engine.nearby(40.75, -73.98, 100, sort=sort)
        assert len(res) == 30 and res.next_cursor is None
        assert math.isfinite(float(res.distances_m.max()))
