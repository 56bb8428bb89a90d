"""DiscoveryEngine.nearby_many: many kNN queries at once, in parallel.

* hypothesis property tests on random points (both poles, the antimeridian, duplicates,
  sparse global data), with radius, category and price filters and ``k`` above the
  number of points: every row against the brute-force oracle (tests/oracle.py), and bit
  for bit equal to ``engine.nearby`` on the same query;
* the real NYC snapshot: thousands of queries equal to per-query ``nearby``, with one
  thread and with every thread;
* validation: every bad row in one error, the same limits and messages as ``nearby``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numba
import numpy as np
import oracle
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo_discovery.engine import DiscoveryEngine
from geo_discovery.errors import InvalidQueryError
from geo_discovery.query import Filters
from geo_discovery.results import BatchResults, Results
from geo_discovery.settings import Settings

PROPERTY = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
VOCAB = ("food", "food/grocery", "foodie", "retail", "retail/food", "services")


def make_engine(
    pts: oracle.Points, categories: Sequence[str], resolution: int | None
) -> DiscoveryEngine:
    table = oracle.canonical_table(pts.lat, pts.lng, pts.ids, categories)
    return DiscoveryEngine.from_table(table, settings=Settings(), resolution=resolution)


@st.composite
def worlds(draw: st.DrawFn, max_n: int = 120) -> tuple[oracle.Points, list[str], Any, int]:
    kind = draw(st.sampled_from(oracle.SCENARIOS))
    n = draw(st.integers(0, max_n))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    centre = (float(rng.uniform(-80, 80)), float(rng.uniform(-180, 180)))
    if kind == "antimeridian":
        centre = (float(rng.uniform(-80, 80)), 180.0)
    spread = float(draw(st.sampled_from([1e-4, 1e-2, 0.3, 3.0])))
    lat, lng = oracle.random_points(kind, n, rng, centre=centre, spread_deg=spread)
    pts = oracle.Points(lat, lng, oracle.shuffled_ids(n, rng))
    cats = [VOCAB[i] for i in rng.integers(0, len(VOCAB), n)]
    return pts, cats, draw(st.one_of(st.none(), st.integers(0, 12))), seed


def query_points(pts: oracle.Points, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """At data points, near them, anywhere, at both poles and on the antimeridian."""
    lat, lng = [90.0, -90.0, 0.0, 45.0], [0.0, 180.0, -180.0, 179.9999]
    if len(pts):
        for i in rng.integers(0, len(pts), 6).tolist():
            lat.append(float(pts.lat[i]))
            lng.append(float(pts.lng[i]))
            lat.append(float(np.clip(pts.lat[i] + rng.normal(0, 0.01), -90, 90)))
            lng.append(float(pts.lng[i]))
    g_lat, g_lng = oracle.random_points("global", 4, rng)
    return np.r_[lat, g_lat], np.r_[lng, g_lng]


def assert_row(batch: BatchResults, i: int, expected: Results) -> None:
    """Row ``i`` is exactly ``expected`` (bit for bit), then padding."""
    n = len(expected)
    np.testing.assert_array_equal(batch.positions[i, :n], expected.positions)
    np.testing.assert_array_equal(batch.distances_m[i, :n], expected.distances_m)
    assert (batch.positions[i, n:] == -1).all() and np.isinf(batch.distances_m[i, n:]).all()


# --------------------------------------------------------------- exactness


@PROPERTY
@given(
    world=worlds(),
    k=st.one_of(st.integers(1, 10), st.integers(1, 200)),
    radius=st.one_of(st.none(), st.floats(0.0, 100_000.0)),
    include=st.lists(st.sampled_from(VOCAB), max_size=2),
    min_price=st.one_of(st.none(), st.integers(1, 4)),
)
def test_nearby_many_matches_brute_force_and_nearby(
    world: tuple, k: int, radius: float | None, include: list[str], min_price: int | None
) -> None:
    pts, cats, resolution, seed = world
    engine = make_engine(pts, cats, resolution)
    where = Filters(categories=tuple(include), min_price=min_price)
    mask = oracle.category_mask(cats, include)
    if min_price is not None:
        mask &= np.array([1 + i % 4 for i in range(len(pts))], dtype=int) >= min_price
    q_lat, q_lng = query_points(pts, np.random.default_rng(seed))
    batch = engine.nearby_many(q_lat, q_lng, k, radius_m=radius, where=where)
    assert batch.positions.shape == batch.distances_m.shape == (len(q_lat), k)
    assert batch.positions.dtype == np.int64 and batch.distances_m.dtype == np.float64
    for i, (lat, lng) in enumerate(zip(q_lat.tolist(), q_lng.tolist(), strict=True)):
        got = batch.results(i)
        oracle.assert_matches(
            got.positions, got.distances_m, oracle.knn(pts, lat, lng, k, radius_m=radius, mask=mask)
        )
        assert_row(batch, i, engine.nearby(lat, lng, k, radius_m=radius, where=where))


def test_nearby_many_on_real_data_equals_nearby(nyc_engine: DiscoveryEngine) -> None:
    rng = np.random.default_rng(16)
    merchants = nyc_engine.merchants
    lat_all = merchants.column("lat").to_numpy()
    lng_all = merchants.column("lng").to_numpy()
    pick = rng.integers(0, len(lat_all), 3000)
    q_lat = np.r_[lat_all[pick] + rng.normal(0, 0.002, len(pick)), [90.0, -90.0, 40.7]]
    q_lng = np.r_[lng_all[pick] + rng.normal(0, 0.002, len(pick)), [180.0, -180.0, 179.99]]
    where = Filters(categories=("food",))
    cases: list[dict[str, Any]] = [{}, {"radius_m": 400.0, "where": where}]
    threads = numba.get_num_threads()
    try:
        for kw in cases:
            batches = []
            for n_threads in sorted({1, threads}):
                numba.set_num_threads(n_threads)
                batches.append(nyc_engine.nearby_many(q_lat, q_lng, 20, **kw))
            for other in batches[1:]:  # one thread or many: the same answers
                np.testing.assert_array_equal(other.positions, batches[0].positions)
                np.testing.assert_array_equal(other.distances_m, batches[0].distances_m)
            batch = batches[0]
            for i in range(0, len(q_lat), 7):
                assert_row(batch, i, nyc_engine.nearby(float(q_lat[i]), float(q_lng[i]), 20, **kw))
            for i in (len(q_lat) - 3, len(q_lat) - 1):
                assert_row(batch, i, nyc_engine.nearby(float(q_lat[i]), float(q_lng[i]), 20, **kw))
    finally:
        numba.set_num_threads(threads)
    near = nyc_engine.nearby(float(q_lat[0]), float(q_lng[0]), 20)
    assert (
        batch.merchant_ids(0) != []
        and nyc_engine.nearby_many(q_lat[:1], q_lng[:1], 20).merchant_ids(0) == near.merchant_ids
    )


def test_concurrent_batches_from_threads_agree() -> None:
    """Two Python threads running batches at once (the kernel releases the GIL) get the
    same answers as one call alone."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(5)
    n = 5000
    lat, lng = oracle.random_points("city", n, rng, centre=(48.85, 2.35), spread_deg=0.05)
    engine = make_engine(oracle.Points(lat, lng, oracle.shuffled_ids(n, rng)), ["food"] * n, None)
    q_lat, q_lng = oracle.random_points("city", 2000, rng, centre=(48.85, 2.35), spread_deg=0.05)
    alone = engine.nearby_many(q_lat, q_lng, 10)
    with ThreadPoolExecutor(2) as pool:
        batches = list(pool.map(lambda _: engine.nearby_many(q_lat, q_lng, 10), range(4)))
    for batch in batches:
        np.testing.assert_array_equal(batch.positions, alone.positions)
        np.testing.assert_array_equal(batch.distances_m, alone.distances_m)


# --------------------------------------------------------------- the result type


def test_batch_results_pads_and_builds_results_lazily() -> None:
    rng = np.random.default_rng(3)
    n = 30
    lat, lng = oracle.random_points("city", n, rng, centre=(60.17, 24.94), spread_deg=0.01)
    engine = make_engine(oracle.Points(lat, lng, oracle.shuffled_ids(n, rng)), ["food"] * n, None)
    batch = engine.nearby_many([60.17, -89.0], [24.94, 24.94], n + 5)
    assert len(batch) == 2 and batch.positions.shape == (2, n + 5)
    assert (batch.positions[:, n:] == -1).all() and np.isinf(batch.distances_m[:, n:]).all()
    assert len(batch.results(0)) == n and len(batch.results(-1)) == n
    assert batch.results(1).merchant_ids == batch.merchant_ids(1)
    with pytest.raises(IndexError, match="query index 2 out of range for 2 queries"):
        batch.results(2)
    empty = engine.nearby_many([], [], 4)
    assert empty.positions.shape == (0, 4) and len(empty) == 0
    assert "2 queries, k=" in repr(batch)


# --------------------------------------------------------------- validation


def problems_of(exc: pytest.ExceptionInfo[InvalidQueryError]) -> list[str]:
    return [p["parameter"] for p in exc.value.problems]


def test_every_bad_row_is_reported_at_once(sample_engine: DiscoveryEngine) -> None:
    lat = np.r_[np.zeros(20), 91.0, np.nan, -90.0]
    lng = np.r_[np.full(20, 181.0), 0.0, 0.0, -180.0]
    with pytest.raises(InvalidQueryError) as exc:
        sample_engine.nearby_many(lat, lng, 0)
    params = problems_of(exc)
    assert params == ["lat[20]", "lat[21]", *(f"lng[{i}]" for i in range(20)), "k"]
    msg = str(exc.value)
    assert msg.startswith("lat[20]=91 is out of range; allowed: -90 <= lat <= 90; lat[21]=nan")
    assert "lng[0]=181 is out of range; allowed: -180 <= lng <= 180" in msg
    assert "… and 13 more problems" in msg


def test_limits_and_messages_match_nearby(sample_engine: DiscoveryEngine) -> None:
    max_k = sample_engine.limits.max_k
    for kw in ({"k": max_k + 1}, {"k": 5, "radius_m": -1.0}, {"k": 5, "radius_m": 1e12}):
        with pytest.raises(InvalidQueryError) as one:
            sample_engine.nearby(60.0, 24.0, **kw)
        with pytest.raises(InvalidQueryError) as many:
            sample_engine.nearby_many([60.0], [24.0], **kw)
        assert str(many.value) == str(one.value)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"sort": "best_match"}, "nearby_many supports sort=distance, got sort='best_match'"),
        ({"sort": "nope"}, "sort=distance, got sort='nope'; allowed: distance"),
        ({"where": Filters(text="pizza")}, "where.text, open_now and open_at are not supported"),
        ({"where": Filters(open_now=True)}, "where.text, open_now and open_at are not supported"),
    ],
)
def test_unsupported_batches_say_what_is_allowed(
    sample_engine: DiscoveryEngine, kw: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidQueryError, match=message):
        sample_engine.nearby_many([60.0], [24.0], 5, **kw)


def test_shapes_are_checked(sample_engine: DiscoveryEngine) -> None:
    with pytest.raises(InvalidQueryError, match="lat and lng differ in length: 2 != 1"):
        sample_engine.nearby_many([60.0, 60.1], [24.0], 5)
    with pytest.raises(InvalidQueryError, match=r"lat must be one-dimensional, got shape \(1, 2\)"):
        sample_engine.nearby_many([[60.0, 60.1]], [24.0, 24.1], 5)
    with pytest.raises(TypeError, match="lat must be an array of numbers"):
        sample_engine.nearby_many(["north"], [24.0], 5)
