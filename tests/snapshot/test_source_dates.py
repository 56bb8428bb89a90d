"""Each source file's "today" (word of mouth's as_of) survives upserts and deletes.

Before: the date was the newest review date of each source file *in the snapshot's
rows*. Three unchanged DC listings upserted as a small file got that file's newest date,
2.5 years before the original's: their confidence doubled (0.165 → 0.318) and their
ranks jumped (1632 → 1016). Removing a file's newest-dated row likewise re-aged the rest.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geo_discovery import DiscoveryEngine
from geo_discovery.snapshot.pipeline import load

N = 40


def _listings(ids: range, newest: str) -> pd.DataFrame:
    rng = np.random.default_rng(len(ids))
    last = pd.date_range("2012-01-01", newest, periods=len(ids)).strftime("%Y-%m-%d")
    return pd.DataFrame({
        "id": [f"m{i}" for i in ids], "name": [f"Shop {i}" for i in ids],
        "lat": 38.90 + rng.uniform(0, 0.02, len(ids)),
        "lng": -77.03 + rng.uniform(0, 0.02, len(ids)),
        "rating": rng.uniform(3.5, 5.0, len(ids)).round(1),
        "review_count": rng.integers(1, 60, len(ids)),
        "first_review": "2011-06-01", "last_review": last,
    })  # fmt: skip


def _wom(store: Path) -> pd.Series:
    engine = DiscoveryEngine.from_snapshot(store)
    ids = engine.merchants.column("merchant_id").to_pylist()
    return pd.Series(np.asarray(engine.snapshot.wom[1]), index=ids)  # confidence


@pytest.fixture
def store(tmp_path: Path) -> Path:
    _listings(range(N), "2015-10-02").to_csv(tmp_path / "city.csv", index=False)
    load([tmp_path / "city.csv"], data_dir=tmp_path / "store")
    return tmp_path / "store"


def test_rows_sent_again_in_a_small_file_keep_their_scores(store: Path, tmp_path: Path) -> None:
    before = _wom(store)
    again = pd.read_csv(tmp_path / "city.csv").iloc[:3]  # the oldest three, unchanged
    again.to_csv(tmp_path / "delta.csv", index=False)
    load([tmp_path / "delta.csv"], data_dir=store, mode="upsert")
    after = _wom(store)
    pd.testing.assert_series_equal(after.sort_index(), before.sort_index())
    parents = json.loads((store / "snapshots" / "000002" / "source_dates.json").read_text())
    manifest = json.loads((store / "snapshots" / "000002" / "manifest.json").read_text())
    dates = manifest["derived"]["reputation"]["as_of_by_file"]
    assert parents == {"delta.csv": ["city.csv"]} and dates["delta.csv"] == dates["city.csv"]
    # the floor stays while the delta's rows do: another upsert keeps their scores
    pd.read_csv(tmp_path / "city.csv").iloc[10:12].to_csv(tmp_path / "more.csv", index=False)
    load([tmp_path / "more.csv"], data_dir=store, mode="upsert")
    pd.testing.assert_series_equal(_wom(store).sort_index(), before.sort_index())


@pytest.mark.parametrize("how", ["upsert", "whole", "delete"])
def test_a_wrong_date_corrected_later_stops_counting(store: Path, tmp_path: Path,
                                                     how: str) -> None:
    """A date carried forward as a floor made one review date typed 2025 instead of 2015
    the file's "today" for good: correcting or deleting the row left every listing's
    confidence at 0.031 (0.327 before the typo), and a corrected file sent whole under
    another name took the 2025 date for all its rows. The parents are dated by their
    remaining rows in each snapshot: the correction counts, for the corrected rows too."""
    clean = _wom(store)
    city = pd.read_csv(tmp_path / "city.csv")
    city.assign(last_review=city["last_review"].where(city.index != 5, "2025-10-02")).to_csv(
        tmp_path / "typo.csv", index=False)
    load([tmp_path / "typo.csv"], data_dir=store)
    typo = _wom(store)
    assert (typo.loc[clean.index] < clean).sum() > N // 2  # ten years older, every row
    if how == "delete":
        (tmp_path / "gone.txt").write_text("merchant_id\ngeneric:m5\n")
        load([tmp_path / "gone.txt"], data_dir=store, mode="delete", allow_shrink=True)
        rest = [i for i in clean.index if i != "generic:m5"]
        pd.testing.assert_series_equal(_wom(store).loc[rest], clean.loc[rest])
        return
    fixed = city.iloc[[5]] if how == "upsert" else city
    fixed.to_csv(tmp_path / "fixed.csv", index=False)
    load([tmp_path / "fixed.csv"], data_dir=store, mode="upsert")
    pd.testing.assert_series_equal(_wom(store).loc[clean.index], clean)
    pd.read_csv(tmp_path / "city.csv").iloc[10:12].to_csv(tmp_path / "more.csv", index=False)
    load([tmp_path / "more.csv"], data_dir=store, mode="upsert")  # spreads nothing
    pd.testing.assert_series_equal(_wom(store).loc[clean.index], clean)


def test_a_replace_starts_afresh(store: Path, tmp_path: Path) -> None:
    pd.read_csv(tmp_path / "city.csv").iloc[:3].to_csv(tmp_path / "small.csv", index=False)
    load([tmp_path / "small.csv"], data_dir=store, allow_shrink=True)
    assert not (store / "snapshots" / "000002" / "source_dates.json").exists()
    manifest = json.loads((store / "snapshots" / "000002" / "manifest.json").read_text())
    day = manifest["derived"]["reputation"]["as_of_by_file"]["small.csv"]
    newest = pd.read_csv(tmp_path / "small.csv")["last_review"].max()
    assert str(pd.to_datetime(day, unit="D").date()) == newest  # its own rows' newest
