"""Pure scoring (geo_discovery.ranking.scoring): radii, decay, weights, monotonicity, explain."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo_discovery.distance import EARTH_RADIUS_M, haversine_m
from geo_discovery.errors import InvalidQueryError
from geo_discovery.query import Ranking
from geo_discovery.ranking.scoring import (
    DEFAULT_CONSUMPTION_RADII_M,
    DEFAULT_RADIUS_M,
    best_match_score,
    chord2_at_m,
    consumption_radii,
    decay_factor,
    distance_decay,
    explanations,
    quality,
    radius_for,
)

unit = st.floats(0.0, 1.0)
c2s = st.floats(0.0, 4.0)
radii = st.floats(1.0, 1e6)


def test_radius_table_follows_the_longest_prefix() -> None:
    t = consumption_radii()
    assert radius_for("food/grocery/bodega", t) == 300.0
    assert radius_for("food/grocery/bodega/24h", t) == 300.0
    assert radius_for("food/grocery/store", t) == t["food/grocery"]
    assert radius_for("food/restaurant/thai", t) == 1500.0
    assert radius_for("shop/furniture", t) > 5 * radius_for("food/grocery/bodega", t)
    assert radius_for("foodie", t) == DEFAULT_RADIUS_M  # prefixes stop at "/"
    assert radius_for("unknown", t) == DEFAULT_RADIUS_M


def test_the_walk_to_buy_ordering_of_defaults() -> None:
    d = DEFAULT_CONSUMPTION_RADII_M
    assert d["food/grocery/bodega"] < d["food/restaurant"] < d["shop/furniture"]
    assert d["food/grocery/bodega"] <= 500 and 1000 <= d["food/restaurant"] <= 2000
    assert d["shop/furniture"] >= 5000


def test_overrides_replace_defaults_and_validate() -> None:
    t = consumption_radii(Ranking(radii={"food/restaurant/": 3000, "*": 900}))
    assert radius_for("food/restaurant/x", t) == 3000.0
    assert radius_for("unknown", t) == 900.0
    with pytest.raises(InvalidQueryError, match="out of range"):
        Ranking(radii={"food": 0.5})
    with pytest.raises(InvalidQueryError, match="out of range"):
        Ranking(radii={"food": math.nan})
    with pytest.raises(InvalidQueryError, match="not a number"):
        Ranking(radii={"food": "far"})
    with pytest.raises(InvalidQueryError, match="category prefix, metres"):
        Ranking(radii=[("food", 1.0, 2.0)])


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"wom": -0.1}, "wom"),
        ({"district": 1.5}, "district"),
        ({"distance_scale": 0.0}, "distance_scale"),
        ({"distance_scale": 1000}, "distance_scale"),
    ],
)
def test_weights_are_validated(kw: dict, match: str) -> None:
    with pytest.raises(InvalidQueryError, match=match):
        Ranking(**kw)
    with pytest.raises(TypeError):
        Ranking(wom=[1])  # type: ignore[arg-type]


def test_decay_halves_at_the_radius_and_scales() -> None:
    k = decay_factor(300.0)
    assert float(distance_decay(chord2_at_m(300.0), k)) == pytest.approx(0.5)
    assert float(distance_decay(0.0, k)) == 1.0
    assert float(distance_decay(chord2_at_m(600.0), decay_factor(300.0, 2.0))) == pytest.approx(0.5)
    # the chord falls short of the great-circle distance by d³ / (24 R²): ~1 mm at 10 km
    d = float(haversine_m(0.0, 0.0, 0.0, 0.09))
    chord = 2 * EARTH_RADIUS_M * math.sin(d / (2 * EARTH_RADIUS_M))
    assert d - chord == pytest.approx(d**3 / (24 * EARTH_RADIUS_M**2), rel=1e-6)
    assert d - chord < 1.1e-3


@settings(max_examples=300, deadline=None)
@given(c2=c2s, c2b=c2s, r=radii, rb=radii, q=unit, qb=unit)
def test_score_is_monotone_in_every_part_bit_for_bit(
    c2: float, c2b: float, r: float, rb: float, q: float, qb: float
) -> None:
    """What the per-cell bounds rely on, on the computed floats themselves."""
    lo_c2, hi_c2 = sorted([c2, c2b])
    lo_k, hi_k = sorted([float(decay_factor(r)), float(decay_factor(rb))])
    lo_q, hi_q = sorted([q, qb])
    bound = float(best_match_score(lo_c2, lo_k, hi_q))
    assert bound >= float(best_match_score(hi_c2, hi_k, lo_q))
    assert bound >= float(best_match_score(hi_c2, lo_k, hi_q))
    assert 0.0 <= bound <= 1.0


@settings(max_examples=200, deadline=None)
@given(wom=unit, womb=unit, dist=unit, ww=unit, wd=unit)
def test_quality_is_monotone_and_weights_interpolate(
    wom: float, womb: float, dist: float, ww: float, wd: float
) -> None:
    w = Ranking(wom=ww, district=wd)
    lo, hi = sorted([wom, womb])
    assert float(quality(lo, dist, w)) <= float(quality(hi, dist, w))
    assert float(quality(wom, dist, Ranking(wom=0.0, district=0.0))) == 1.0
    assert float(quality(wom, 1.0, Ranking(wom=1.0))) == wom


def test_scores_are_the_same_whatever_the_batch() -> None:
    rng = np.random.default_rng(0)
    c2, k, q = rng.random(1001) * 1e-5, rng.random(1001) * 1e9, rng.random(1001)
    whole = best_match_score(c2, k, q)
    for lo, hi in [(0, 1), (3, 20), (17, 1001), (500, 503)]:
        np.testing.assert_array_equal(best_match_score(c2[lo:hi], k[lo:hi], q[lo:hi]), whole[lo:hi])


def test_explanations_recompute_the_score() -> None:
    w = Ranking(wom=0.7, district=0.5, distance_scale=2.0)
    c2 = chord2_at_m(np.array([0.0, 250.0]))
    k = decay_factor(np.array([300.0, 1500.0]), w.distance_scale)
    wom, conf, dt = np.array([0.8, 0.3]), np.array([0.9, 0.1]), np.array([1.0, 0.5])
    score = best_match_score(c2, k, quality(wom, dt, w))
    rows = [
        e.to_dict()
        for e in explanations(
            distance_m=np.array([0.0, 250.0]),
            chord2=c2,
            factor=k,
            wom_score=wom,
            wom_confidence=conf,
            district_term=dt,
            district_id=["a", None],
            ranking=w,
            score=score,
        )
    ]
    for r in rows:
        assert r["decay"] * r["wom_term"] * r["district_factor"] == pytest.approx(r["score"])
        assert r["weights"] == {"wom": 0.7, "district": 0.5, "distance_scale": 2.0}
    assert rows[0]["consumption_radius_m"] == pytest.approx(600.0)
    assert rows[1]["district_id"] is None and rows[0]["district_id"] == "a"
