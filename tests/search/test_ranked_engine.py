"""Exact ranked top-k (the trie walk via engine.search) against brute force on random data.

Every answer is compared with :mod:`ranking_oracle` bit for bit: the same rows in the same
order, the same scores and the same metres. Random merchants come in clusters, at a pole,
across the antimeridian and spread round the globe, with duplicate coordinates and tied
word-of-mouth scores (so ties by distance and merchant_id are exercised), categories from
several radius classes, nullable prices, ratings on 5 and 100 scales, review counts,
brands and districts. Queries draw every sort, filters in combination, radii, weights and
per-request consumption radii.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

import numpy as np
import oracle
import pyarrow as pa
import ranking_oracle as ro
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo_discovery.engine import DiscoveryEngine
from geo_discovery.query import SORTS, NearbyQuery, Ranking
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
    busy: bool = False,
) -> DiscoveryEngine:
    """A random engine: points of one scenario and every ranking input, with nulls and ties
    (``busy``: and visits per time-of-week bin in ``attributes``, some without)."""
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
    if busy:  # skewed hours: most visits in 1-2 bins of 8, a few anywhere, some unknown
        counts = rng.poisson(rng.choice([0.2, 5.0], (n, 8), p=[0.75, 0.25]))
        attrs = [json.dumps({"visits_by_time": c.tolist()}) for c in counts]
        table = table.append_column("attributes", pa.array(nullable(attrs, 0.2), pa.string()))
    wom = rng.choice([0.1, 0.5, 0.5, 0.77, 0.9, 1.0], n) if rng.random() < 0.5 else rng.random(n)
    conf = rng.random(n)
    dterm = rng.choice([0.4, 1.0], n)
    dids = rng.choice(["d1", "d2", "d3"], n).astype(object)
    return DiscoveryEngine.from_table(
        table,
        settings=Settings(),
        wom=(wom, conf),
        districts=(dids, dterm),
        resolution=resolution,
    )


def random_query(rng: np.random.Generator, engine: DiscoveryEngine, sort: str) -> NearbyQuery:
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

    ids = engine.planner.district_id
    known_districts = sorted({str(d) for d in ([] if ids is None else ids.tolist()) if d})

    lo = int(rng.integers(1, 5))
    return ro.query(
        q_lat,
        q_lng,
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
        # ids the snapshot knows (an unknown id is an error: tests/api/test_api_browser.py)
        district_ids=tuple(rng.choice(known_districts, 2).tolist())
        if known_districts and rng.random() < 0.15
        else (),
        ranking=Ranking(
            wom=float(rng.choice([0.0, 0.5, 1.0])),
            district=float(rng.choice([0.0, 1.0])),
            distance_scale=float(rng.choice([0.3, 1.0, 4.0])),
            radii={"food/cafe": 50.0, "lodging": 20_000.0} if rng.random() < 0.3 else {},
        )
        if rng.random() < 0.4
        else None,
    )


def assert_same(engine: DiscoveryEngine, cols: ro.Columns, q: NearbyQuery) -> None:
    res = engine.search(replace(q, explain=q.sort == "best_match"))
    rows, prim, dist = ro.brute_force(cols, q, limit=q.k)
    got = res.positions.tolist()
    assert got == rows.tolist(), f"{q}: rows differ\n got {got}\nwant {rows.tolist()}"
    np.testing.assert_array_equal(res.distances_m, dist)
    if q.sort == "best_match":
        assert res.scores is not None
        np.testing.assert_array_equal(res.scores, prim)
        assert res.explanations is not None
        # explain recomputes exactly, and every hit carries its typed score and parts
        assert [e.score for e in res.explanations] == prim.tolist()
        assert [h.score for h in res] == prim.tolist()
        assert all(h.explanation is not None for h in res)
    # a cursor exactly when more matches follow (none after a full page that ends them)
    more = len(ro.brute_force(cols, q)[0]) > q.k
    assert (res.next_cursor is not None) == more, f"{q}: next_cursor {res.next_cursor!r}"


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
    engine = DiscoveryEngine.from_table(table)
    want = sorted(ids.tolist())
    for sort in SORTS:
        got = [ids[p] for p in ro.walk(engine, ro.query(1.001, 2.0, sort=sort), 7)]
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
    engine = DiscoveryEngine.from_table(table)
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
