"""Word of mouth on synthetic merchants: unit scales, shrinkage, decay, the prior, bursts."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo_discovery.errors import SnapshotError
from geo_discovery.ranking.reputation import (
    REPUTATION_COLUMNS,
    build_reputation,
    read_reputation,
)
from geo_discovery.ranking.signals import (
    grade_to_unit,
    inspection_score_to_unit,
    mean_decay,
    stars_to_unit,
)
from geo_discovery.settings import Settings
from geo_discovery.snapshot.derived import derivers
from geo_discovery.snapshot.snapshot import Snapshot

AMS = (52.3700, 4.8900)
# about 30 km away: another H3 cell at every resolution the prior uses
HAARLEM = (52.3800, 4.6400)


def merchants(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A frame with the canonical rating columns; unspecified values are missing."""
    base: dict[str, Any] = {
        "category": "lodging/room",
        "lat": AMS[0],
        "lng": AMS[1],
        "rating": np.nan,
        "rating_scale": np.nan,
        "review_count": pd.NA,
        "reviews_per_month": np.nan,
        "first_review": pd.NaT,
        "last_review": pd.NaT,
        "quality_grade": None,
        "inspection_score": np.nan,
        "source_file": "test.csv",
        "attributes": "{}",
    }
    frame = pd.DataFrame([{**base, **r} for r in rows])
    frame["review_count"] = frame["review_count"].astype("Int64")
    for col in ("first_review", "last_review"):
        frame[col] = pd.to_datetime(frame[col]).astype("datetime64[s]")
    return frame


def rated(stars: float, n: int, **kw: Any) -> dict[str, Any]:
    return {"rating": stars, "rating_scale": 5.0, "review_count": n, **kw}


def population(k: int = 40, stars: float = 4.6, n: int = 30, **kw: Any) -> list[dict[str, Any]]:
    """``k`` ordinary merchants that set the category's prior."""
    return [rated(stars, n, **kw) for _ in range(k)]


S = Settings()


# --------------------------------------------------------------------------- unit scales
def test_five_and_hundred_point_stars_land_on_one_scale() -> None:
    five = stars_to_unit([4.7, 5.0, 1.0, 3.0], [5, 5, 5, 5])
    hundred = stars_to_unit([94.0, 100.0, 20.0, 60.0], [100, 100, 100, 100])
    np.testing.assert_allclose(five, hundred)
    np.testing.assert_allclose(five, [0.925, 1.0, 0.0, 0.5])


def test_zero_or_missing_ratings_are_unrated_not_worst() -> None:
    out = stars_to_unit([0.0, np.nan, 4.0, 4.0], [5, 5, np.nan, 5])
    assert np.isnan(out[:3]).all()
    assert out[3] == pytest.approx(0.75)


def test_inspections_lower_score_is_better_and_grades_order() -> None:
    unit = inspection_score_to_unit([0, 10, 20, 40, 100, -3])
    assert list(unit) == [*sorted(unit[:5], reverse=True), 1.0]
    assert unit[4] == 0.0
    a, b, c, z = grade_to_unit(["A", "B", "C", "Z"])
    assert a > b > c > 0
    assert np.isnan(z)


def test_mean_decay_half_life_and_spread() -> None:
    w = mean_decay([0, 100, 100, -50], [0, 100, 300, -10], 100.0)
    assert w[0] == 1.0
    assert w[1] == pytest.approx(0.5)
    # the mean over [100, 300] days lies between the ends' weights
    assert 0.125 < w[2] < 0.5
    assert w[2] == pytest.approx((0.5 - 0.125) / (200 * np.log(2) / 100))
    assert w[3] == 1.0  # dates after as_of count as today


# --------------------------------------------------------------------------- shrinkage
def test_one_five_star_review_does_not_beat_hundreds_of_4_8s() -> None:
    rep = build_reputation(merchants([*population(), rated(5.0, 1), rated(4.8, 300)]), settings=S)
    one, many = rep.iloc[-2], rep.iloc[-1]
    assert many.wom_score > one.wom_score
    assert many.quality > one.quality
    assert many.wom_confidence > 0.9 > 0.2 > one.wom_confidence


def test_one_five_star_loses_even_when_the_category_averages_4_9() -> None:
    rep = build_reputation(
        merchants([*population(stars=4.9), rated(5.0, 1), rated(4.8, 300)]), settings=S
    )
    assert rep.wom_score.iloc[-1] > rep.wom_score.iloc[-2]


def test_shrinkage_pulls_thin_evidence_toward_the_prior() -> None:
    rows = [*population(), rated(2.0, 2), rated(2.0, 20), rated(2.0, 2000)]
    rep = build_reputation(merchants(rows), settings=S)
    few, some, lots = rep.iloc[-3], rep.iloc[-2], rep.iloc[-1]
    signal = stars_to_unit(2.0, 5.0)
    # more reviews: closer to the merchant's own signal, further from the prior
    assert few.quality > some.quality > lots.quality > signal
    assert lots.quality == pytest.approx(signal, abs=0.01)
    assert few.quality == pytest.approx(
        (S.wom_prior_strength * few.prior + 2 * signal) / (S.wom_prior_strength + 2)
    )


def test_prior_strength_setting_controls_the_pull() -> None:
    rows = [*population(), rated(2.0, 10)]
    weak = build_reputation(merchants(rows), settings=Settings(wom_prior_strength=1))
    strong = build_reputation(merchants(rows), settings=Settings(wom_prior_strength=100))
    assert strong.quality.iloc[-1] > weak.quality.iloc[-1] + 0.2
    assert weak.wom_confidence.iloc[-1] > strong.wom_confidence.iloc[-1]


def test_no_signal_gets_the_prior_with_zero_confidence() -> None:
    rows = [*population(stars=4.0), rated(5.0, 400), rated(2.0, 400), {}, {"review_count": 0}]
    rep = build_reputation(merchants(rows), settings=S)
    blank = rep.iloc[-2:]
    rated_scores = rep.wom_score.iloc[:-2]
    assert (blank.wom_confidence == 0).all()
    assert blank.signal.isna().all()
    np.testing.assert_allclose(blank.quality, blank.prior)
    # the prior: neither zero nor the top, about the category's typical merchant
    assert (rated_scores.min() < blank.wom_score).all()
    assert (blank.wom_score < rated_scores.max()).all()
    assert blank.quality.iloc[0] == pytest.approx(stars_to_unit(4.0, 5.0), abs=0.05)


def test_everything_unrated_is_neutral_not_zero() -> None:
    rep = build_reputation(merchants([{}, {}, {"category": "food/deli"}]), settings=S)
    np.testing.assert_allclose(rep.wom_score, 0.5)
    np.testing.assert_allclose(rep.wom_confidence, 0.0)


# --------------------------------------------------------------------------- the prior
def test_prior_is_category_times_area() -> None:
    lat2, lng2 = HAARLEM
    rows = (
        population(20, stars=4.9)
        + population(20, stars=3.5, lat=lat2, lng=lng2)
        + population(20, stars=3.0, category="food/deli")
        + [{}, {"lat": lat2, "lng": lng2}, {"category": "food/deli"}]
    )
    rep = build_reputation(merchants(rows), settings=S)
    here, there, deli = rep.prior.iloc[-3], rep.prior.iloc[-2], rep.prior.iloc[-1]
    assert here > there + 0.15  # same category, other area
    assert here > deli + 0.2  # same area, other category
    flat = build_reputation(merchants(rows), settings=Settings(wom_prior_area_resolution=None))
    assert flat.prior.iloc[-3] == pytest.approx(flat.prior.iloc[-2])


def test_prior_falls_back_to_parent_category_then_global() -> None:
    rows = (
        population(30, stars=4.8, category="food/restaurant/pizza")
        + population(30, stars=2.5, category="shop/hardware")
        + [{"category": c} for c in ("food/restaurant/thai", "food/restaurant", "food", "garden")]
    )
    rep = build_reputation(merchants(rows), settings=Settings(wom_prior_area_resolution=None))
    thai, restaurant, food, garden = rep.prior.iloc[-4:]
    pizza, hardware = rep.prior.iloc[0], rep.prior.iloc[30]
    # an unrated cuisine inherits food/restaurant's level exactly; each level up is pulled
    # further toward the global mean; an unknown root gets the global mean
    assert thai == pytest.approx(restaurant)
    assert pizza > restaurant > food > garden > hardware
    assert garden == pytest.approx(rep.prior.iloc[[0, 30]].mean(), abs=0.01)


def test_equal_evidence_keeps_rating_order_in_a_tiny_group() -> None:
    # two neighbours with a few reviews each: the prior must not reverse their order
    rows = [rated(4.9, 3, category="shop/rare"), rated(3.5, 3, category="shop/rare")]
    rep = build_reputation(merchants(rows), settings=S)
    assert rep.wom_score.iloc[0] > rep.wom_score.iloc[1]
    assert rep.prior.iloc[0] == pytest.approx(rep.prior.iloc[1])


def test_a_strong_lone_merchant_barely_moves_its_area_prior() -> None:
    lat2, lng2 = HAARLEM
    rows = [
        *population(20, stars=4.0),
        rated(1.0, 50, lat=lat2, lng=lng2),
        {"lat": lat2, "lng": lng2},
    ]
    rep = build_reputation(merchants(rows), settings=S)
    category_level = build_reputation(
        merchants(rows), settings=Settings(wom_prior_area_resolution=None)
    ).prior.iloc[-1]
    # its area has one rated merchant (reliability 50/60) against 5 pseudo-merchants of
    # the category: the area prior moves a sixth of the way toward it
    r = 50 / 60
    expected = (r * 0.0 + S.wom_prior_group_strength * category_level) / (
        r + S.wom_prior_group_strength
    )
    assert rep.prior.iloc[-1] == pytest.approx(expected)
    assert rep.prior.iloc[-2] == pytest.approx(expected)


# --------------------------------------------------------------------------- recency
def test_old_reviews_weigh_less_and_as_of_defaults_to_the_data() -> None:
    fresh = rated(3.0, 40, first_review="2023-01-01", last_review="2023-12-01")
    stale = rated(3.0, 40, first_review="2016-01-01", last_review="2016-12-01")
    rows = [*population(stars=4.6), fresh, stale]
    rep = build_reputation(merchants(rows), settings=S)
    f, s = rep.iloc[-2], rep.iloc[-1]
    assert rep.as_of.iloc[0] == pd.Timestamp("2023-12-01")  # newest date in the file
    assert f.recency_weight > 0.7 > 0.15 > s.recency_weight
    assert f.effective_reviews > s.effective_reviews
    assert s.quality > f.quality  # the stale low rating is trusted less
    assert f.wom_confidence > s.wom_confidence


def test_half_life_setting_changes_decay() -> None:
    row = rated(4.0, 20, first_review="2020-01-01", last_review="2020-01-01")
    frame = merchants([row])
    short = build_reputation(frame, settings=Settings(wom_half_life_days=30), as_of="2021-01-01")
    long = build_reputation(frame, settings=Settings(wom_half_life_days=3650), as_of="2021-01-01")
    assert short.recency_weight.iloc[0] == pytest.approx(2 ** (-366 / 30))
    assert long.recency_weight.iloc[0] == pytest.approx(2 ** (-366 / 3650))


def test_as_of_is_per_source_file_unless_given() -> None:
    old = rated(4.0, 20, last_review="2015-10-01", first_review="2015-01-01", source_file="dc.csv")
    new = rated(4.0, 20, last_review="2023-12-01", first_review="2023-03-02", source_file="ams.csv")
    frame = merchants([old, new])
    rep = build_reputation(frame, settings=S)
    assert list(rep.as_of) == [pd.Timestamp("2015-10-01"), pd.Timestamp("2023-12-01")]
    assert rep.recency_weight.iloc[0] == pytest.approx(rep.recency_weight.iloc[1], rel=0.01)
    forced = build_reputation(frame, settings=S, as_of=date(2023, 12, 1))
    assert forced.recency_weight.iloc[0] < 0.1 < forced.recency_weight.iloc[1]
    setting = build_reputation(frame, settings=Settings(wom_as_of=date(2023, 12, 1)))
    np.testing.assert_allclose(setting.recency_weight, forced.recency_weight)


def test_missing_first_review_is_implied_by_velocity() -> None:
    # 24 reviews at 1/month end on the file's newest date: spread over the last two years
    rows = [rated(4.5, 24, last_review="2019-07-01", reviews_per_month=1.0)]
    rows.append(rated(4.5, 24, last_review="2019-07-01"))  # no velocity: all at last_review
    rep = build_reputation(merchants(rows), settings=Settings(wom_half_life_days=365))
    spread = float(mean_decay(0.0, 730.5, 365.0))
    assert rep.recency_weight.iloc[0] == pytest.approx(spread, rel=0.01)
    assert rep.recency_weight.iloc[1] == pytest.approx(1.0)


def test_inspection_history_is_decayed_by_date() -> None:
    def dohmh(history: list[tuple[str, int]]) -> dict[str, Any]:
        grades = [{"date": d, "grade": "A", "score": sc} for d, sc in history]
        attrs = {"grades_json": json.dumps(grades), "n_inspections": str(len(grades))}
        return {"category": "food/restaurant", "attributes": json.dumps(attrs)}

    improved = dohmh([("2015-01-01", 2), ("2011-01-01", 40), ("2011-06-01", 40)])
    declined = dohmh([("2015-01-01", 40), ("2011-01-01", 2), ("2011-06-01", 2)])
    rep = build_reputation(merchants([improved, declined]), settings=S)
    # undecayed, both means are equal-weight averages of the same three scores (reversed)
    assert rep.inspection_norm.iloc[0] > 0.7 > 0.55 > rep.inspection_norm.iloc[1]
    assert rep.wom_score.iloc[0] > rep.wom_score.iloc[1]
    assert (rep.evidence > 0).all() and (rep.evidence < 3 * S.wom_inspection_weight).all()


def test_inspection_summary_without_history() -> None:
    rows = [
        {"category": "food/restaurant", "quality_grade": g, "inspection_score": s}
        for g, s in [("A", 8.0), ("B", 18.0), ("C", 30.0), (None, np.nan)]
    ]
    rep = build_reputation(merchants(rows), settings=S)
    a, b, c, none = rep.wom_score
    assert a > b > c
    assert rep.wom_confidence.iloc[3] == 0.0
    assert c < none < a


# --------------------------------------------------------------------------- bursts
def attrs(**kw: Any) -> str:
    return json.dumps({k: str(v) for k, v in kw.items()})


def test_recent_spike_is_damped_and_steady_history_is_not() -> None:
    dates = {"first_review": "2018-01-01", "last_review": "2023-12-01"}
    spike = rated(5.0, 64, attributes=attrs(number_of_reviews_ltm=60), **dates)
    steady = rated(5.0, 64, attributes=attrs(number_of_reviews_ltm=12), **dates)
    rep = build_reputation(merchants([*population(), spike, steady]), settings=S)
    s, t = rep.iloc[-2], rep.iloc[-1]
    assert bool(s.burst) and not bool(t.burst)
    # earlier rate 4 reviews in 59 months -> floor of 1/year; 5x that over 12 months = 5 allowed
    assert s.burst_excess == pytest.approx(55, abs=0.5)
    assert s.reviews_damped == pytest.approx(64 - 0.75 * s.burst_excess)
    assert s.wom_confidence < t.wom_confidence
    undamped = build_reputation(
        merchants([*population(), spike]), settings=Settings(wom_burst_weight=1.0)
    )
    assert undamped.reviews_damped.iloc[-1] == 64


def test_small_bursts_are_not_damped() -> None:
    dates = {"first_review": "2018-01-01", "last_review": "2023-12-01"}
    small = rated(5.0, 9, attributes=attrs(number_of_reviews_ltm=9), **dates)
    rep = build_reputation(merchants([small]), settings=S)
    assert not rep.burst.iloc[0]
    flagged = build_reputation(merchants([small]), settings=Settings(wom_burst_min_reviews=5))
    assert flagged.burst.iloc[0]


def test_count_inconsistent_with_velocity_is_damped() -> None:
    dates = {"first_review": "2021-12-01", "last_review": "2023-12-01"}
    honest = rated(4.9, 24, reviews_per_month=1.0, **dates)
    padded = rated(4.9, 400, reviews_per_month=1.0, **dates)  # 24 months x 1/month != 400
    rep = build_reputation(merchants([honest, padded]), settings=S)
    assert list(rep.burst) == [False, True]
    assert rep.burst_excess.iloc[1] == pytest.approx(400 - 5 * 24, abs=1)


def test_reviews_packed_into_weeks_are_damped() -> None:
    newcomers = [
        rated(4.7, 12, first_review="2023-06-01", last_review="2023-11-01") for _ in range(20)
    ]
    packed = rated(5.0, 150, first_review="2023-10-01", last_review="2023-11-01")
    rep = build_reputation(merchants([*newcomers, packed]), settings=S)
    assert not rep.burst.iloc[:-1].any()
    assert rep.burst.iloc[-1]
    # others: 12 reviews over 5 months = 2.4/month; allowed 5 x 2.4 over one month = 12
    assert rep.burst_excess.iloc[-1] == pytest.approx(150 - 12, abs=1)


def test_a_last_year_count_above_the_total_is_left_out() -> None:
    """``number_of_reviews_ltm`` 500 with 21 reviews in all was clipped to 21: every
    review in the last year, recency 0.41 → 0.79. Contradictory counts: the ltm is left
    out, and the row scores as without it."""
    dates = {"first_review": "2016-01-01", "last_review": "2023-12-01"}
    without = rated(4.8, 21, **dates)
    odd = rated(4.8, 21, attributes=attrs(number_of_reviews_ltm=500), **dates)
    fine = rated(4.8, 21, attributes=attrs(number_of_reviews_ltm=20), **dates)
    rep = build_reputation(merchants([*population(), without, odd, fine]), settings=S)
    w, o, f = rep.recency_weight.iloc[-3:]
    assert o == w and f > w  # 20 of 21 in the last year is recent; 500 of 21 says nothing


# --------------------------------------------------------------------------- sub-scores
def test_subscores_on_their_own_scale_per_file() -> None:
    keys = ("accuracy", "cleanliness", "checkin", "communication", "location", "value")
    ten = attrs(**{f"review_scores_{k}": 9 for k in keys})
    five = attrs(**{f"review_scores_{k}": 4.5 for k in keys})
    rows = [
        {"rating": 90.0, "rating_scale": 100.0, "review_count": 10, "attributes": ten,
         "source_file": "dc.csv"},
        {"rating": 4.5, "rating_scale": 5.0, "review_count": 10, "attributes": five,
         "source_file": "ams.csv"},
    ]  # fmt: skip
    rep = build_reputation(merchants(rows), settings=S)
    np.testing.assert_allclose(rep.subscore_norm, [0.875, 0.875])
    np.testing.assert_allclose(rep.signal, rep.rating_norm)
    low = attrs(**{f"review_scores_{k}": 2 for k in keys})
    rows[0]["attributes"] = low
    rep = build_reputation(merchants(rows), settings=Settings(wom_subscore_weight=0.5))
    assert rep.signal.iloc[0] == pytest.approx(0.5 * 0.875 + 0.5 * 0.0)


@pytest.mark.parametrize("stray", [10.0, 50.0])
def test_a_stray_subscore_does_not_rescale_its_file(stray: float) -> None:
    """The file's sub-score scale was the smallest of 5, 10, 100 holding its largest
    sub-score: one ``10`` in the Boston 0–5 file read every listing's sub-scores on 0–10
    (median 0.958 → 0.354), one ``50`` on 0–100 (every sub-score 0). A stray value is now
    an outlier of its file, left out, as a stray rating is."""
    keys = ("accuracy", "cleanliness", "checkin", "communication", "location", "value")
    five = attrs(**{f"review_scores_{k}": 4.5 for k in keys})
    odd = attrs(**{f"review_scores_{k}": (stray if k == "value" else 4.0) for k in keys})
    rows = [{"rating": 4.5, "rating_scale": 5.0, "review_count": 10, "attributes": five,
             "source_file": "boston.csv"} for _ in range(20)]  # fmt: skip
    rows.append({**rows[0], "attributes": odd})
    rep = build_reputation(merchants(rows), settings=S)
    np.testing.assert_allclose(rep.subscore_norm.iloc[:-1], 0.875)
    assert rep.subscore_norm.iloc[-1] == pytest.approx(0.75)  # the five 4.0s; the stray out
    mostly_ten = [{**r, "attributes": attrs(**{f"review_scores_{k}": 9 for k in keys})}
                  for r in rows[:12]] + rows[12:]  # fmt: skip
    rep = build_reputation(merchants(mostly_ten), settings=S)  # most above 5: a 0–10 file
    np.testing.assert_allclose(rep.subscore_norm.iloc[:12], 0.875)
    np.testing.assert_allclose(rep.subscore_norm.iloc[12:-1], (4.5 / 10 - 0.2) / 0.8)


# --------------------------------------------------------------------------- interface
def test_output_is_aligned_and_arrow_input_matches() -> None:
    frame = merchants([*population(5), rated(2.0, 3), {}])
    frame.index = pd.Index([f"m{i}" for i in range(len(frame))])
    rep = build_reputation(frame, settings=S)
    assert tuple(rep.columns) == REPUTATION_COLUMNS
    assert list(rep.index) == list(frame.index)
    assert rep.wom_score.between(0, 1).all() and rep.wom_confidence.between(0, 1).all()
    table = pa.Table.from_pandas(frame, preserve_index=False)
    rep2 = build_reputation(table, settings=S)
    assert list(rep2.index) == list(range(len(frame)))
    np.testing.assert_allclose(rep2.wom_score.to_numpy(), rep.wom_score.to_numpy())


def test_empty_table_and_bad_input() -> None:
    empty = build_reputation(merchants([{}]).iloc[:0], settings=S)
    assert len(empty) == 0 and tuple(empty.columns) == REPUTATION_COLUMNS
    with pytest.raises(TypeError, match="DataFrame or a pyarrow Table"):
        build_reputation([1, 2], settings=S)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'lat'"):
        build_reputation(pd.DataFrame({"category": ["a"], "lng": [1.0]}), settings=S)
    with pytest.raises(ValueError, match="as_of='soon'"):
        build_reputation(merchants([{}]), settings=S, as_of="soon")


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="wom_burst_ratio"):
        Settings(wom_burst_ratio=0.5)
    with pytest.raises(ValueError, match="wom_popularity_weight"):
        Settings(wom_popularity_weight=1.5)


def test_reputation_deriver_runs_first() -> None:
    assert [name for name, _ in derivers()] == ["reputation", "hours", "text", "districts"]


def test_load_writes_and_engine_reads_reputation(tmp_path: Path) -> None:
    from geo_discovery.snapshot.pipeline import load

    csv = tmp_path / "shops.csv"
    csv.write_text(
        "id,name,lat,lng,category,rating,review_count\n"
        "1,Good,40.70,-73.90,food/deli,4.9,300\n"
        "2,New,40.70,-73.91,food/deli,5.0,1\n"
        "3,Blank,40.71,-73.90,food/deli,,\n"
        "4,Poor,40.71,-73.91,food/deli,2.0,80\n",
        encoding="utf-8",
    )
    report = load([csv], data_dir=tmp_path / "store", settings=S)
    assert report.snapshot is not None
    wom = Snapshot.open(tmp_path / "store").wom
    assert wom is not None
    score, conf = wom
    assert score.dtype == np.float64 and len(score) == 4
    assert isinstance(score, np.memmap) and not score.flags.writeable
    ids = pa.parquet.read_table(report.snapshot.path / "merchants.parquet").column("name")
    by_name = dict(zip(ids.to_pylist(), score.tolist(), strict=True))
    assert by_name["Good"] > by_name["New"] > by_name["Poor"]
    assert by_name["Good"] > by_name["Blank"] > by_name["Poor"]
    assert conf[ids.to_pylist().index("Blank")] == 0.0
    info = json.loads((report.snapshot.path / "manifest.json").read_text())["derived"]
    assert info["reputation"]["with_rating_signal"] == 3
    assert info["reputation"]["settings"]["wom_prior_strength"] == S.wom_prior_strength


def test_read_reputation_names_a_folder_without_scores(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="no word-of-mouth scores"):
        read_reputation(tmp_path, 3)


# --------------------------------------------------------------------------- docs
DOC = Path(__file__).resolve().parents[2] / "docs" / "word_of_mouth.md"


def test_docs_name_every_wom_setting_and_column() -> None:
    text = DOC.read_text(encoding="utf-8")
    names = [n for n in Settings.model_fields if n.startswith("wom_")]
    assert len(names) >= 10
    for name in [*names, *REPUTATION_COLUMNS]:
        assert f"`{name}`" in text, f"{name} is not documented in {DOC.name}"
    for name in names:
        default = Settings.model_fields[name].default
        shown = "unset" if default is None else f"`{default}`"
        assert f"| `{name}` | {shown} |" in text, f"{name}: default {shown} not in the table"


def test_docs_example_runs() -> None:
    blocks = DOC.read_text(encoding="utf-8").split("```python\n")[1:]
    assert blocks
    for block in blocks:
        exec(compile(block.split("```")[0], str(DOC), "exec"), {})


def test_rows_with_signals_is_the_substring_test_of_every_row() -> None:
    """The Arrow substring kernel finds exactly the rows a Python ``in`` per key finds."""
    from geo_discovery.ranking.signals import _ATTR_KEYS, _rows_with_signals

    rng = np.random.default_rng(3)
    pieces = [*_ATTR_KEYS, "review_scores", "grade", "n_inspection", "{}", "ü", '"x": 1']
    values: list[object] = ["".join(rng.choice(pieces, rng.integers(0, 4))) for _ in range(2000)]
    for i in rng.choice(2000, 200, replace=False).tolist():
        values[i] = None if i % 2 else float("nan")
    want = [i for i, v in enumerate(values)
            if isinstance(v, str) and any(k in v for k in _ATTR_KEYS)]
    assert 0 < len(want) < 2000
    assert _rows_with_signals(pd.Series(values, dtype=object)).tolist() == want
    assert _rows_with_signals(pd.Series([*values, 5], dtype=object)).tolist() == want  # row by row


# --------------------------------------------------------------------------- blocks
_PLACES = [AMS, HAARLEM, (40.71, -74.0), (-89.99, 179.99), (np.nan, np.nan)]
_CATEGORIES = ["food/pizza", "food/deli", "food", "lodging/room", "shop/grocery/asian", None]
_DAYS = pd.date_range("2014-01-01", "2024-01-01", freq="37D")


@st.composite
def _row(draw: st.DrawFn) -> dict[str, Any]:
    lat, lng = draw(st.sampled_from(_PLACES))
    row: dict[str, Any] = {
        "category": draw(st.sampled_from(_CATEGORIES)), "lat": lat, "lng": lng,
        "source_file": draw(st.sampled_from(["a.csv", "b.csv", "c.csv", None])),
    }
    if draw(st.booleans()):
        scale = draw(st.sampled_from([5.0, 100.0]))
        row |= {"rating": draw(st.floats(0, scale)), "rating_scale": scale}
    if draw(st.booleans()):
        row["review_count"] = draw(st.integers(0, 400))
        row["reviews_per_month"] = draw(st.one_of(st.just(np.nan), st.floats(0, 30)))
    dates = sorted(draw(st.lists(st.sampled_from(list(_DAYS)), max_size=2)))
    if dates:
        row["first_review"], row["last_review"] = dates[0], dates[-1]
    extra: dict[str, Any] = {}
    if draw(st.booleans()):
        extra["review_scores_cleanliness"] = draw(st.floats(0, 10))
        extra["number_of_reviews_ltm"] = draw(st.integers(0, 100))
    if draw(st.booleans()):
        extra["grades"] = [{"date": str(draw(st.sampled_from(list(_DAYS))).date()),
                            "grade": draw(st.sampled_from("ABCZ")),
                            "score": draw(st.one_of(st.none(), st.integers(0, 60)))}]
    row["attributes"] = json.dumps(extra)
    if draw(st.booleans()):
        row["quality_grade"] = draw(st.sampled_from(["A", "B", "C"]))
    return row


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(_row(), min_size=1, max_size=60), block=st.integers(1, 25),
       area=st.sampled_from([None, 7]))
def test_blocks_score_like_the_whole_table(rows: list[dict[str, Any]], block: int,
                                           area: int | None) -> None:
    """Scoring a block of rows at a time (after the whole-table reductions: files' newest
    dates and sub-score scales, categories' medians, the prior's sums) gives the scores of
    the whole table at once, every column; only the sums' rounding may differ."""
    s = Settings(wom_prior_area_resolution=area, wom_prior_group_strength=2)
    table = pa.Table.from_pandas(merchants(rows), preserve_index=False)
    whole = build_reputation(table, settings=s, block_rows=len(rows))
    blocked = build_reputation(table, settings=s, block_rows=block)
    for col in REPUTATION_COLUMNS:
        if col in ("burst", "as_of"):
            assert whole[col].equals(blocked[col]), col
        else:
            np.testing.assert_allclose(blocked[col], whole[col], rtol=1e-12, atol=1e-12,
                                       err_msg=col)


def test_the_deriver_writes_the_blocked_scores(tmp_path: Path, monkeypatch: Any) -> None:
    """The snapshot's deriver scores in blocks and keeps two columns: the same scores and
    manifest counts as the whole table's frame."""
    import geo_discovery.ranking.reputation as rep_module

    rows = [*population(30), rated(2.0, 3, first_review="2020-01-01", last_review="2023-01-01"),
            {"inspection_score": 30.0, "source_file": "dohmh.csv"}, {},
            rated(4.9, 900, reviews_per_month=1.0, first_review="2020-01-01",  # padded
                  last_review="2023-11-20", category="food/deli", lat=HAARLEM[0],
                  lng=HAARLEM[1])]
    table = pa.Table.from_pandas(merchants(rows), preserve_index=False)
    frame = build_reputation(table, settings=S)
    monkeypatch.setattr(rep_module, "BLOCK_ROWS", 4)
    info = rep_module.derive_reputation(table, tmp_path, S, {})
    score, conf = read_reputation(tmp_path, len(rows))
    np.testing.assert_allclose(score, frame.wom_score, rtol=1e-12)
    np.testing.assert_allclose(conf, frame.wom_confidence, rtol=1e-12)
    assert info["rows"] == len(rows)
    assert info["with_rating_signal"] == int(frame.signal.notna().sum())
    assert info["with_review_counts"] == int(frame.reviews_damped.notna().sum())
    assert info["burst_damped"] == int(frame.burst.sum()) >= 1
    as_of = frame.as_of.dropna()
    assert info["as_of_range"] == [str(as_of.min().date()), str(as_of.max().date())]


def test_block_rows_is_checked() -> None:
    with pytest.raises(ValueError, match="block_rows=0"):
        build_reputation(merchants([{}]), settings=S, block_rows=0)


def test_a_velocity_near_zero_leaves_the_reviews_undated() -> None:
    """``n / rpm`` overflows for rpm = 1e-300: the implied first review is no date (found
    by the block property test), not -inf and a warning."""
    rows = [rated(4.0, 10, reviews_per_month=1e-300), rated(4.0, 10)]
    rep = build_reputation(merchants(rows), settings=S)
    assert rep.recency_weight.tolist() == [1.0, 1.0]
    assert rep.wom_score.iloc[0] == rep.wom_score.iloc[1]
