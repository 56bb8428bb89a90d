"""Calibration recovers a known choice model, and the fitted profile is sound.

Choices are drawn from the exact conditional logit :mod:`geo_discovery.ranking.calibrate`
fits (known weights, distance exponent and a radius per category root); maximum
likelihood must get them back within sampling error.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from geo_discovery.distance import EARTH_RADIUS_M
from geo_discovery.errors import InvalidQueryError
from geo_discovery.ranking.calibrate import ChoiceData, fit_profile
from geo_discovery.ranking.profile import FEATURES
from geo_discovery.ranking_profile import RankingProfile

TRUE = {"wom": 2.0, "volume": 0.7, "gamma": 1.3, "food": 300.0, "shop": 900.0}


def synthetic_choices(
    seed: int, events: int = 4_000, n: int = 250, *, people: int = 0, w_own: float = 0.0,
    at_merchant: bool = False,
) -> ChoiceData:
    """Choices drawn from the model with :data:`TRUE`; with ``people``, each event is one of
    them, each has visited 4 random merchants, and ``w_own · log(1 + visits)`` is added.
    ``at_merchant``: each person stands at a merchant and goes to another one (the
    evaluation's protocol: the next visit is to another venue)."""
    rng = np.random.default_rng(seed)
    lat = 40.75 + rng.normal(0, 0.01, n)
    lng = -73.98 + rng.normal(0, 0.013, n)
    roots = list(rng.choice(["food", "shop"], n))
    feats = {f: np.zeros(n) for f in FEATURES}
    feats["wom"] = rng.random(n)
    feats["volume"] = rng.exponential(1.5, n)
    radius = np.array([TRUE[r] for r in roots])
    qlat = 40.75 + rng.normal(0, 0.01, events)
    qlng = -73.98 + rng.normal(0, 0.013, events)
    data = ChoiceData(feats, lat, lng, roots, qlat, qlng, np.zeros(events, dtype=np.int64))
    if at_merchant:
        data.origin = rng.integers(0, n, events)
        data.qlat, data.qlng = lat[data.origin], lng[data.origin]
    if people:
        data.users = [f"u{i % people}" for i in range(events)]
        own = {
            u: {int(j): math.log1p(int(rng.integers(1, 6))) for j in rng.choice(n, 4, False)}
            for u in sorted(set(data.users))
        }
        data.member = {"own_visits": own, "own_category": {}}
    base = TRUE["wom"] * feats["wom"] + TRUE["volume"] * feats["volume"]
    for s in range(0, events, 500):
        rows = slice(s, min(s + 500, events))
        c2 = data.chord2(rows)
        d = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(c2) / 2)
        u = base[None, :] - TRUE["gamma"] * np.log1p((d / radius[None, :]) ** 2)
        u = u + w_own * data.member_dense(rows, "own_visits")
        u = data.without_origin(rows, u)
        p = np.exp(u - u.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        cum = p.cumsum(axis=1)
        data.target[rows] = (cum < rng.random((len(cum), 1))).sum(axis=1)
    return data


def test_maximum_likelihood_recovers_the_model() -> None:
    profile = fit_profile(synthetic_choices(0), features=("wom", "volume"))
    assert profile.weight("wom") == pytest.approx(TRUE["wom"], rel=0.2)
    assert profile.weight("volume") == pytest.approx(TRUE["volume"], rel=0.2)
    assert profile.gamma == pytest.approx(TRUE["gamma"], rel=0.2)
    assert profile.radius_for("food/cafe") == pytest.approx(TRUE["food"], rel=0.25)
    assert profile.radius_for("shop/clothes") == pytest.approx(TRUE["shop"], rel=0.25)
    assert dict(profile.meta)["converged"] == "True"


def test_where_the_person_stands_is_no_candidate() -> None:
    """Each person stands at a merchant and chooses another: counted as a candidate the
    origin (at distance 0) can never be chosen, and the fit flattened the distance decay
    to explain why (a synthetic Tokyo log with γ 1.5 and 500 m came out at γ 1.65 and
    770-825 m)."""
    data = synthetic_choices(3, at_merchant=True)
    profile = fit_profile(data, features=("wom", "volume"))
    assert profile.gamma == pytest.approx(TRUE["gamma"], rel=0.2)
    assert profile.radius_for("food/cafe") == pytest.approx(TRUE["food"], rel=0.25)
    assert profile.radius_for("shop/clothes") == pytest.approx(TRUE["shop"], rel=0.25)
    data.origin = None  # the fit before: the origin among the candidates
    biased = fit_profile(data, features=("wom", "volume"))
    off = abs(math.log(biased.radius_for("food/cafe") / TRUE["food"]))
    assert off > 2 * abs(math.log(profile.radius_for("food/cafe") / TRUE["food"]))


def test_constant_features_carry_no_weight() -> None:
    profile = fit_profile(synthetic_choices(1, events=500))
    names = {f for f, _ in profile.weights}
    assert "repeat" not in names and "district" not in names  # all zero here
    assert {"wom", "volume"} <= names


def test_member_weights_lift_and_never_lower() -> None:
    """A log in which people avoid where they have been fitted a negative member weight:
    the member terms are a lift (the issue: "lifts the merchants and categories the member
    returns to"), so the fit stops at 0 there and the joint model is the model without."""
    data = synthetic_choices(3, events=2_000, people=40, w_own=-2.0)
    both = fit_profile(data, features=("wom", "volume"), member=True)
    assert both.for_member().member_weight("own_visits") == 0.0
    data = synthetic_choices(3, events=2_000, people=40, w_own=1.0)
    assert fit_profile(data, features=("wom", "volume"), member=True).for_member(
    ).member_weight("own_visits") > 0.5


def test_profile_files_round_trip_and_refuse_nonsense(tmp_path: Path) -> None:
    p = RankingProfile(weights=(("wom", 1.0),), gamma=1.0, radii=(("", 500.0),))
    assert RankingProfile.load(p.save(tmp_path / "p.json")) == p
    (tmp_path / "bad.json").write_text(
        '{"weights": [["charm", 1]], "gamma": 1, "radii": [["", 1]]}'
    )
    with pytest.raises(InvalidQueryError, match="profile features \\['charm'\\] are not known"):
        RankingProfile.load(tmp_path / "bad.json")
    with pytest.raises(InvalidQueryError, match="gamma=inf is out of range"):
        RankingProfile(weights=(), gamma=math.inf, radii=(("", 500.0),))
    (tmp_path / "bad.json").write_text(
        '{"weights": [], "gamma": 1, "radii": [["", 5]], "personal": 3}'
    )
    with pytest.raises(InvalidQueryError, match="personal=3 must be a nested profile"):
        RankingProfile.load(tmp_path / "bad.json")
    two = RankingProfile(weights=(), gamma=1.0, radii=(("", 500.0),), personal=p)
    text, at = two.to_json(), two.to_json().rindex('"gamma": 1.0')  # the nested one
    (tmp_path / "bad.json").write_text(f'{text[:at]}"gamma": 99{text[at + 12 :]}')
    with pytest.raises(InvalidQueryError, match=r"gamma=99\.0 is out of range"):
        RankingProfile.load(tmp_path / "bad.json")
    with pytest.raises(InvalidQueryError, match=r"ranking profile .* is unreadable"):
        RankingProfile.load(tmp_path / "missing.json")


def test_a_fit_with_member_terms_keeps_a_model_without_them() -> None:
    """With member terms the fit gives two models: the profile itself is the fit without
    member terms (it ranks every query without a member), and :meth:`for_member` the
    joint fit, whose member weight recovers the true one and which explains the choices
    better. (The joint fit's other weights differ: with histories it is a different
    model.)"""
    data = synthetic_choices(2, events=3_000, people=60, w_own=1.5)
    alone = fit_profile(data, features=("wom", "volume"))
    both = fit_profile(data, features=("wom", "volume"), member=True)
    for f in ("wom", "volume"):  # the same optimum (member weights held at 0 there)
        assert both.weight(f) == pytest.approx(alone.weight(f), rel=1e-6)
    assert both.gamma == pytest.approx(alone.gamma, rel=1e-6)
    assert both.radius_for("food") == pytest.approx(alone.radius_for("food"), rel=1e-6)
    joint = both.for_member()
    assert joint is both.personal and joint.personal is None and not both.member_weights
    assert joint.member_weight("own_visits") == pytest.approx(1.5, rel=0.25)
    assert joint.weight("wom") != pytest.approx(alone.weight("wom"), rel=1e-4)
    loglik = {p: float(dict(p.meta)["loglik_per_choice"]) for p in (both, joint)}
    assert loglik[joint] > loglik[both]
    assert RankingProfile.from_json(both.to_json()) == both
