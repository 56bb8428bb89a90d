"""A review date in the future is a typo: left empty with a warning, so it cannot set the
file's ``as_of`` and re-age every other listing (F2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from geo_discovery.ingest import read_sources
from geo_discovery.ranking.reputation import build_reputation
from geo_discovery.settings import Settings

HEAD = ("id,name,room_type,price,latitude,longitude,number_of_reviews,review_scores_rating,"
        "first_review,last_review")


def listings(tmp_path: Path, typo_last: str, typo_first: str = "2021-03-01",
             name: str = "listings_ams.csv") -> Path:
    """30 Amsterdam-style listings reviewed up to 2023-12; row 7's dates as given."""
    rng = np.random.default_rng(3)
    lines = [HEAD]
    for k in range(30):
        first, last = "2020-01-15", f"2023-{1 + k % 12:02d}-{1 + k % 28:02d}"
        if k == 7:
            first, last = typo_first, typo_last
        lines.append(f"{k},L{k},Entire home/apt,$100,{52.36 + 0.001 * k:.4f},4.89,"
                     f"{int(rng.integers(1, 200))},{rng.uniform(3.5, 5.0):.2f},{first},{last}")
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_future_review_date_is_emptied_with_a_warning_and_ages_nothing(
    tmp_path: Path,
) -> None:
    typo = listings(tmp_path, "2032-12-06", name="typo.csv")
    clean = listings(tmp_path, "", name="clean.csv")
    got = read_sources([typo])
    assert got.rows_loaded == 30 and got.rows_rejected == 0  # the merchant still loads
    assert len(got.warnings) == 1
    warning = got.warnings.iloc[0]
    assert warning["merchant_id"] == "airbnb:7" and warning["severity"] == "warning"
    assert warning["kind"] == "future date (last_review)"
    assert warning["reason"].startswith(
        "last_review '2032-12-06T00:00:00' is in the future; allowed: last_review <= ")
    assert "(the load's clock, UTC, + 1 day)" in warning["reason"]
    row = got.merchants.set_index("merchant_id").loc["airbnb:7"]
    assert pd.isna(row["last_review"]) and row["review_count"] > 0
    # the scores are those of the file without the typo'd date
    want = build_reputation(read_sources([clean]).merchants, settings=Settings())
    rep = build_reputation(got.merchants, settings=Settings())
    assert rep.as_of.max() < pd.Timestamp("2024-01-01")
    np.testing.assert_array_equal(rep.wom_score.to_numpy(), want.wom_score.to_numpy())
    np.testing.assert_array_equal(rep.wom_confidence.to_numpy(),
                                  want.wom_confidence.to_numpy())


def test_a_future_first_review_is_emptied_too_and_today_is_fine(tmp_path: Path) -> None:
    today = pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d")
    got = read_sources([listings(tmp_path, today, typo_first="2099-01-01")])
    assert got.warnings["reason"].str.split(";").str[0].tolist() == [
        "first_review '2099-01-01T00:00:00' is in the future"]
    row = got.merchants.set_index("merchant_id").loc["airbnb:7"]
    assert pd.isna(row["first_review"]) and row["last_review"] == pd.Timestamp(today)
