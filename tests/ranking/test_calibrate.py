"""Calibration recovers a known choice model, and the fitted profile is sound.

Choices are drawn from the exact conditional logit :mod:`geo_discovery.ranking.calibrate`
fits (known weights, distance exponent and a radius per category root); maximum
likelihood must get them back within sampling error.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.visit_log import synthetic_visit_log
from geo_discovery.distance import EARTH_RADIUS_M
from geo_discovery.errors import InvalidQueryError
from geo_discovery.evaluation import Protocol, calibrate, evaluate_ranking
from geo_discovery.ranking.calibrate import (
    MIN_CHOICES,
    ChoiceData,
    choice_events,
    choice_funnel,
    fit_profile,
)
from geo_discovery.ranking.profile import FEATURES
from geo_discovery.ranking_profile import RankingProfile
from geo_discovery.settings import Settings

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
    # the profile says so (docs/ranking.md: "or that is constant is left out, and the
    # profile's meta says so"): only twins were listed, and the CLI's table showed nothing
    dropped = dict(profile.meta)["dropped_features"]
    assert "repeat (constant)" in dropped and "district (constant)" in dropped


def test_a_parameter_at_an_edge_of_its_search_range_is_named() -> None:
    """Everyone goes to the nearest merchant: the distance exponent runs to its upper bound
    (20) and a radius to its lower one (20 m). A 3-person log did that on 10 choices and
    the profile said only "converged: True"; its meta now names each such parameter, its
    value and the bound (the CLI warns with it), and a sound fit names none."""
    data = synthetic_choices(4, events=300)
    data.target = np.argmin(data.chord2(slice(0, 300)), axis=1)
    edges = dict(fit_profile(data, features=("wom", "volume")).meta)["at_bounds"]
    assert "distance exponent γ = 20 at its upper bound 20" in edges
    assert "consumption radius shop = 20 m at its lower bound 20 m" in edges
    sound = fit_profile(synthetic_choices(0, events=1_000), features=("wom", "volume"))
    assert dict(sound.meta)["at_bounds"] == "none"
    # the model without member terms holds them at 0: fixed, not "at a bound"
    data = synthetic_choices(3, events=1_000, people=40, w_own=-2.0)
    both = fit_profile(data, features=("wom", "volume"), member=True)
    assert "member weight" not in dict(both.meta)["at_bounds"]
    assert "member weight own_visits = 0 at its lower bound 0" in dict(
        both.for_member().meta)["at_bounds"]  # fmt: skip


def test_the_funnel_counts_where_visits_stop_being_choices() -> None:
    """Each step of a choice, counted: a log in which every row is another person gave
    "0 choices … the fit window needs visits to merchants seen before it", which was not
    the cause (no one had two visits)."""
    t = pd.to_datetime(["2012-11-01 09:00", "2012-11-01 10:00", "2012-11-01 11:00",
                        "2012-11-01 20:00", "2012-11-01 12:00"], utc=True)  # fmt: skip
    visits = pd.DataFrame({
        "user": ["a", "a", "a", "a", "b"], "venue": ["home", "m1", "m1", "m2", "m3"],
        "lat": 40.7, "lng": -74.0, "time": t, "merchant": [False, True, True, True, True],
    })  # fmt: skip
    steps = choice_funnel(visits, "2012-11-01", "2012-11-02", known=["m2"])
    assert [(key, n) for _, n, key in steps] == [
        ("window", 4), ("previous", 3), ("gap", 2), ("venue", 1), ("known", 0)
    ]
    assert steps[2][0] == "within 6 h of it"
    assert len(choice_events(visits, "2012-11-01", "2012-11-02")) == steps[3][1]
    only_b = choice_funnel(visits, "2012-11-01", "2012-11-02", users=["b"])
    assert [n for _, n, _ in only_b] == [1, 0, 0, 0]
    assert [n for _, n, _ in choice_funnel(visits, "2012-11-01", "2012-11-02",
                                           max_gap_h=12)] == [4, 3, 3, 2]  # fmt: skip


# ------------------------------------------------------- calibrate on a visit log
@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small visit logs like a new user's: ``tiny`` (3 people: a few dozen choices) and
    ``single`` (every row another person: no choice at all)."""
    folder = tmp_path_factory.mktemp("logs")
    tiny = synthetic_visit_log(users=3, visits_per_user=60, seed=1)
    single = synthetic_visit_log(users=20, visits_per_user=40, seed=2)
    single["user"] = [f"p{i}" for i in range(len(single))]
    for name, frame in (("tiny", tiny), ("single", single)):
        frame.to_csv(folder / f"{name}.csv", index=False)
    return {"tiny": folder / "tiny.csv", "single": folder / "single.csv"}


def test_too_few_choices_are_refused_naming_why(logs: dict[str, Path], tmp_path: Path) -> None:
    """3 people's log: 24 choices gave γ = 20 (its bound) and became the default ranking.
    Now refused, naming the count, the minimum, the window, the log's span, where the
    window's visits were lost and how to get more; lowered deliberately, it fits."""
    settings = Settings(data_dir=tmp_path)
    assert 100 <= MIN_CHOICES < 2_000  # real logs give thousands per fit window
    with pytest.raises(InvalidQueryError) as err:
        calibrate(logs["tiny"], Protocol(), settings=settings)
    text = str(err.value)
    assert re.search(r"only \d+ choices to calibrate on in the fit window 2012-09-11 \S+ UTC … "
                     r"2012-09-20 10:59 UTC", text), text  # fmt: skip
    assert "the log's visits span 2012-09-02 04:47 UTC … 2012-09-20 10:59 UTC" in text
    assert f"fewer than the minimum {MIN_CHOICES} (--min-choices)" in text
    assert re.search(r"\d+ merchant visits in the window → \d+ after an earlier visit", text)
    assert "(--fit-days, now" in text and "a larger --max-gap-h" in text and "longer log" in text
    profile = calibrate(logs["tiny"], Protocol(min_choices=5), settings=settings)
    assert 5 <= int(dict(profile.meta)["choices"]) < MIN_CHOICES
    with pytest.raises(InvalidQueryError, match="min_choices=0 is out of range"):
        Protocol(min_choices=0)


def test_no_choice_names_the_step_that_dropped_them_all(
    logs: dict[str, Path], tmp_path: Path
) -> None:
    """Every row another person: the error blamed "merchants seen before" the window; the
    cause is that no one has two visits."""
    with pytest.raises(InvalidQueryError) as err:
        calibrate(logs["single"], Protocol(until="2012-09-15"),
                  settings=Settings(data_dir=tmp_path))  # fmt: skip
    text = str(err.value)
    assert "no choice to calibrate on in the fit window 2012-09-08 05:52 UTC … 2012-09-15" in text
    assert re.search(r"\d+ merchant visits in the window → 0 after an earlier visit by the "
                     r"same person; that step dropped them all: each visit in the window is "
                     r"its person's first", text), text  # fmt: skip


def test_a_window_after_the_data_says_so(logs: dict[str, Path], tmp_path: Path) -> None:
    """--until 2099-01-01 put the default window (the later half before it) in 2055-2099:
    "0 choices", as if the log had none. Now: the window, the log's span, and that the
    window lies after its last visit, before anything is loaded."""
    with pytest.raises(InvalidQueryError) as err:
        calibrate(logs["tiny"], Protocol(until="2099-01-01"), settings=Settings(data_dir=tmp_path))
    text = str(err.value)
    assert re.search(r"the fit window 2055-\S+ \S+ UTC … 2099-01-01 lies entirely after the "
                     r"log's last merchant visit \(2012-09-20 10:59 UTC", text), text  # fmt: skip
    assert "the log's visits span 2012-09-02 04:47 UTC … 2012-09-20 10:59 UTC" in text
    assert not list(tmp_path.iterdir())  # refused before loading anything


def test_evaluate_says_when_a_split_has_nothing_to_test_or_fit(
    logs: dict[str, Path], tmp_path: Path
) -> None:
    """`evaluate ranking` on the same logs: a table of NaN or of a profile fitted on a few
    dozen choices; now the same errors as `calibrate`, for the test window too."""
    settings = Settings(data_dir=tmp_path)
    with pytest.raises(InvalidQueryError, match=r"only \d+ choices to calibrate on in the fit "
                                                 r"window .* fewer than the minimum"):  # fmt: skip
        evaluate_ranking(logs["tiny"], Protocol(bootstrap=0), settings=settings)
    with pytest.raises(InvalidQueryError) as err:  # the fit window has data, the test none
        evaluate_ranking(logs["tiny"], Protocol(until="2012-09-25", min_choices=5),
                         settings=settings)  # fmt: skip
    assert ("nothing to test on: the split --until 2012-09-25 is after the log's last merchant "
            "visit (2012-09-20 10:59 UTC") in str(err.value)  # fmt: skip
    with pytest.raises(InvalidQueryError) as err:
        evaluate_ranking(logs["single"], Protocol(), settings=settings)
    assert re.search(r"no choice to test on after the split .* \(the test window .*\): \d+ "
                     r"merchant visits in the window → 0 after an earlier visit by the same "
                     r"person; that step dropped them all", str(err.value)), str(err.value)


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
