"""Word-of-mouth sweep fixes: stars equal across scales (F1), unrated listings in a rated
source (F3), absurd review counts (F5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from geo_discovery.engine import DiscoveryEngine
from geo_discovery.ingest import read_sources
from geo_discovery.ingest.canonical import MAX_REVIEW_COUNT
from geo_discovery.query import Filters
from geo_discovery.ranking.reputation import build_reputation
from geo_discovery.schema import to_arrow
from geo_discovery.settings import Settings

HERE = (60.1700, 24.9400)


def engine_of(path: Path) -> DiscoveryEngine:
    result = read_sources([path])
    assert result.rows_rejected == 0
    return DiscoveryEngine.from_table(to_arrow(result.merchants), settings=Settings())


# ------------------------------------------------------------------ F1: stars on any scale
def scales_csv(tmp_path: Path) -> Path:
    """4.7 stars written four ways (a the nearest, d the farthest), then 4.6 and 3.6."""
    rows = [("a", "4.7", "5"), ("b", "94", "100"), ("c", "9.4", "10"), ("d", "94%", "100"),
            ("e", "4.6", "5"), ("f", "3.6", "5"), ("g", "72", "100"), ("h", "83", "100")]
    lines = ["id,name,lat,lng,category,rating,rating_scale"] + [
        f"{i},{i.upper()},{HERE[0] + 0.0001 * k:.4f},{HERE[1]},food/cafe,{r},{s}"
        for k, (i, r, s) in enumerate(rows)]
    path = tmp_path / "scales.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_equal_stars_from_every_scale_tie_and_order_by_distance(tmp_path: Path) -> None:
    engine = engine_of(scales_csv(tmp_path))
    page = engine.nearby(*HERE, 10, sort="rating")
    ids = [h.merchant_id.split(":")[1] for h in page]
    # 4.7 (4 ways, by distance), 4.6, 4.15 (83/100), then 3.6 twice (3.6/5 and 72/100)
    assert ids == ["a", "b", "c", "d", "e", "h", "f", "g"]


@pytest.mark.parametrize(("min_rating", "kept"), [
    (4.7, {"a", "b", "c", "d"}), (3.6, {"a", "b", "c", "d", "e", "f", "g", "h"}),
    (4.15, {"a", "b", "c", "d", "e", "h"})])
def test_min_rating_at_exactly_a_listings_stars_keeps_it(
    tmp_path: Path, min_rating: float, kept: set[str]
) -> None:
    engine = engine_of(scales_csv(tmp_path))
    where = Filters(min_rating=min_rating)
    near = {h.merchant_id.split(":")[1] for h in engine.nearby(*HERE, 20, where=where)}
    box = engine.within_bbox("24.93,60.16,24.95,60.18", limit=20, where=where, sort="rating")
    assert near == kept
    assert {h.merchant_id.split(":")[1] for h in box} == kept


def test_a_0_100_file_at_94_passes_min_rating_4_7(tmp_path: Path) -> None:
    """Inside Airbnb's pre-2020 0–100 scale (DC 2015), inferred from the file."""
    head = "id,name,room_type,price,latitude,longitude,number_of_reviews,review_scores_rating"
    ratings = [94, 94, 80, 85, 88, 90, 92, 96, 97, 98, 99, 100, 83, 86]
    lines = [head] + [f"{k},L{k},Entire home/apt,$100,{38.90 + 0.0001 * k:.4f},-77.03,10,{r}"
                      for k, r in enumerate(ratings)]
    path = tmp_path / "dc_listings.csv"
    path.write_text("\n".join(lines) + "\n")
    result = read_sources([path])
    assert set(result.merchants["rating_scale"].dropna()) == {100.0}
    engine = DiscoveryEngine.from_table(to_arrow(result.merchants), settings=Settings())
    hits = engine.nearby(38.90, -77.03, 50, where=Filters(min_rating=4.7))
    got = sorted(int(h.merchant_id.split(":")[1]) for h in hits)
    assert got == [k for k, r in enumerate(ratings) if r >= 94]


# ------------------------------------------------- F3: unrated listings in a rated source
def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    base = {"category": "lodging/room", "lat": 52.37, "lng": 4.89, "rating": np.nan,
            "rating_scale": np.nan, "review_count": pd.NA, "source_file": "listings.csv"}
    out = pd.DataFrame([{**base, **r} for r in rows])
    out["review_count"] = out["review_count"].astype("Int64")
    return out


def rated(stars: float, n: int, **kw: Any) -> dict[str, Any]:
    return {"rating": stars, "rating_scale": 5.0, "review_count": n, **kw}


def test_an_unrated_listing_never_outscores_its_rated_peers() -> None:
    rows = [rated(4.6, 20)] * 30 + [
        {"review_count": 1},  # X: one review, no rating
        rated(4.6, 1),  # Y
        {"review_count": 0},  # U: nothing
        {"review_count": 200},  # V: 200 reviews, no rating
        rated(4.9, 200),  # W
    ]
    rep = build_reputation(frame(rows), settings=Settings())
    peer, x, u, v, w = rep.wom_score.iloc[[0, 30, 32, 33, 34]]
    prior = rep.prior.iloc[30]
    assert x < peer and v < w and v < peer + 0.05
    # quality = prior, reliability 0: the blend of the prior with popularity
    for i in (30, 33):
        assert rep.wom_score.iloc[i] == pytest.approx(0.9 * prior + 0.1 * rep.popularity.iloc[i])
    # continuous with no volume, and never above a peer rated at or above its prior
    assert u <= x <= v
    at_prior = rated(5.0 * (0.2 + 0.8 * prior) + 1e-9, 200)
    same_volume = build_reputation(frame([*rows, at_prior]), settings=Settings())
    assert same_volume.wom_score.iloc[33] <= same_volume.wom_score.iloc[-1]


def volume_only_expected(rep: pd.DataFrame, s: Settings) -> np.ndarray:
    """docs/word_of_mouth.md: score = prior + w_v (1 − prior) E / (E + E_ref)."""
    m, w = s.wom_prior_strength, s.wom_popularity_weight
    e = rep.effective_reviews.to_numpy()
    ref = float(np.median(e[e > 0]))  # one category of >= 10 listings with volume
    w_v = w + (1 - w) * e / (e + m)
    prior = rep.prior.to_numpy()
    return np.where(e > 0, prior + w_v * (1 - prior) * e / (e + ref), (1 - w) * prior + w * 0.5)


def test_a_source_without_any_rating_keeps_the_volume_only_rule() -> None:
    s = Settings()
    counts = [3, 8, 15, 30, 60, 120, 5, 9, 40, 70, 0, 250]
    visits = frame([{"review_count": n, "source_file": "visits.csv",
                     "first_review": pd.Timestamp("2012-04-01"),
                     "last_review": pd.Timestamp("2013-01-01")} for n in counts])
    alone = build_reputation(visits, settings=s)
    assert alone.wom_score.to_numpy() == pytest.approx(volume_only_expected(alone, s), abs=1e-12)
    # beside a rated source: the visit log's rows still follow the volume-only rule
    both = build_reputation(pd.concat([visits, frame([rated(4.6, 20)] * 5)], ignore_index=True),
                            settings=s)
    part = both.iloc[: len(visits)]
    e = both.effective_reviews.to_numpy()
    ref = float(np.median(e[e > 0]))
    e_v, prior = part.effective_reviews.to_numpy(), part.prior.to_numpy()
    w_v = 0.1 + 0.9 * e_v / (e_v + 10.0)
    want = np.where(e_v > 0, prior + w_v * (1 - prior) * e_v / (e_v + ref), 0.9 * prior + 0.05)
    assert part.wom_score.to_numpy() == pytest.approx(want, abs=1e-12)
    assert part.wom_score.iloc[-1] > 0.95  # a much-visited venue still rises toward 1


# ------------------------------------------------------------ F5: absurd review counts
@pytest.mark.parametrize("count", ["1000000000000", "100000000000000000000"])
def test_an_absurd_review_count_is_left_empty_with_a_warning(tmp_path: Path,
                                                             count: str) -> None:
    path = tmp_path / "counts.csv"
    path.write_text(f"id,name,lat,lng,review_count\n1,A,40.7,-73.9,{count}\n"
                    f"2,B,40.7,-73.9,{MAX_REVIEW_COUNT}\n")
    result = read_sources([path])
    assert result.rows_loaded == 2 and result.rows_rejected == 0
    assert result.merchants["review_count"].tolist()[1] == MAX_REVIEW_COUNT
    assert pd.isna(result.merchants["review_count"].iloc[0])
    assert result.warnings["reason"].tolist() == [
        f"review_count '{count}' is out of range; allowed review_count <= 100000000"]
    assert result.warnings["kind"].tolist() == ["bad number (review_count)"]


# ------------------------------------------------------- no reviews: a count, not "no count"
def test_zero_reviews_is_a_count_and_undated_weight_is_one() -> None:
    """docs/word_of_mouth.md: ``reviews_damped`` is NaN only when the source gives no
    count; ``recency_weight`` is 1 when nothing is dated (it was NaN for 0 reviews)."""
    frame = pd.DataFrame({"category": ["food/cafe"] * 3, "lat": [HERE[0]] * 3,
                          "lng": [HERE[1]] * 3, "rating": [4.5, None, None],
                          "rating_scale": [5.0, None, None],
                          "review_count": [12, 0, None]})
    rep = build_reputation(frame, settings=Settings())
    assert rep.reviews_damped.tolist()[:2] == [12.0, 0.0]
    assert np.isnan(rep.reviews_damped[2])
    assert rep.recency_weight.tolist() == [1.0, 1.0, 1.0]
    assert rep.wom_confidence[1] == rep.wom_confidence[2] == 0.0
