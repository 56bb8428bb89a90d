"""The compiled top-k search (topk._kernel_top_k) against the Python ring + bounds search.

Both must give the same rows, primaries and metres in the same order, bit for bit, for
every sort the kernel serves (best_match and the static sorts), with filters, radii
and ties (duplicate coordinates, tied scores). The Python path is itself checked
against brute force in test_topk.py; the kernel is what engine.nearby runs by default.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from test_topk import make_engine

from geo_discovery.distance import m_to_chord2
from geo_discovery.ranking.scoring import Weights
from geo_discovery.search.planner import Filters
from geo_discovery.search.topk import top_k

SORTS = ("best_match", "rating", "review_count", "price")


@pytest.mark.parametrize("kind", ["city", "duplicates", "antimeridian", "global"])
def test_kernel_equals_python_search(kind: str) -> None:
    rng = np.random.default_rng(abs(hash(kind)) % 2**32)
    engine = make_engine(rng, 3000, kind)
    r = engine.ranker
    lat0 = float(np.asarray(engine.merchants.column("lat"))[0])
    lng0 = float(np.asarray(engine.merchants.column("lng"))[0])
    filters = [
        Filters(),
        Filters(categories=("food",)),
        Filters(min_price=2, max_price=3, exclude_chains=True),
        Filters(min_rating=3.0, min_reviews=5),
    ]
    checked = 0
    for i in range(40):
        sort = SORTS[i % len(SORTS)]
        f = filters[i % len(filters)]
        weights = Weights(wom=float(rng.uniform()), district=0.5, distance_scale=1.0)
        spec = r._spec(f, sort, r.radii_key(None), weights)
        assert spec.arrays is not None
        python = dataclasses.replace(spec, arrays=None)
        lat = float(np.clip(lat0 + rng.normal(0, 0.02), -90, 90))
        lng = float(((lng0 + rng.normal(0, 0.02)) + 180) % 360 - 180)
        k = int(rng.choice([1, 5, 20, 100]))
        radius = [None, 300.0, 3000.0][i % 3]
        max_c2 = math.inf if radius is None else float(m_to_chord2(radius))
        eligible = r._eligible_cells(r._mask(f))
        got = top_k(r.tree, lat, lng, k, spec, max_c2=max_c2, eligible=eligible)
        want = top_k(r.tree, lat, lng, k, python, max_c2=max_c2, eligible=eligible)
        np.testing.assert_array_equal(got.idx, want.idx)
        np.testing.assert_array_equal(got.primary, want.primary)
        np.testing.assert_array_equal(got.distance_m, want.distance_m)
        checked += len(got.idx)
    assert checked > 0


def test_kernel_prunes() -> None:
    rng = np.random.default_rng(11)
    cats = ("food/grocery/bodega", "food/restaurant/thai", "food/cafe")
    engine = make_engine(rng, 20_000, "city", categories=cats, spread_deg=0.1)
    r = engine.ranker
    spec = r._spec(Filters(), "best_match", r.radii_key(None), Weights())
    scored = [
        top_k(r.tree, 40.75 + d, -73.98, 20, spec).stats["scored"]
        for d in np.linspace(-0.02, 0.02, 9)
    ]
    assert max(scored) < 0.1 * len(engine), scored


@pytest.mark.parametrize("sort", ["best_match", "distance", "rating"])
def test_ranker_fingerprint_equals_cursor_fingerprint(sort: str) -> None:
    """The ranker composes cursor fingerprints from cached parts: same text, same hash."""
    from dataclasses import asdict

    from geo_discovery.search import cursor
    from geo_discovery.search.planner import query_fingerprint

    f = Filters(categories=("food",), min_price=2, exclude_brands=("a", "b"))
    w = Weights(wom=0.25, district=0.5, distance_scale=1.5)
    radii = (("", 1000.0), ("food/restaurant", 2000.0))
    for lat, lng, radius, open_at, open_now in [
        (40.75, -73.98, None, None, False),
        (1e-7, 179.99999999, 250.5, "2024-07-15T18:30:00-04:00", False),
        (-89.5, 0.0, 0.0, None, True),
    ]:
        want = cursor.query_fingerprint(
            {
                "lat": lat,
                "lng": lng,
                "radius_m": radius,
                "sort": sort,
                "filters": asdict(f),
                "weights": asdict(w) if sort == "best_match" else None,
                "radii": radii if sort == "best_match" else None,
                "open_at": open_at,
                "open_now": open_now,
            }
        )
        got = query_fingerprint(
            lat,
            lng,
            radius,
            sort,
            f,
            w if sort == "best_match" else None,
            radii if sort == "best_match" else None,
            open_at,
            open_now,
        )
        assert got == want
