"""Null spellings (``NULL``, ``N/A``, ``None``, ``nan``, ``-`` …) are no value in every
field: a merchant is never named "NULL"; only a cell that is exactly one is no value."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geo_discovery.ingest import read_sources, reason_kinds
from geo_discovery.ingest.validate import MISSING_TOKENS, Problems, parse_float

SPELLINGS = ["NULL", "N/A", "None", "nan", "NaN", "null", "-", " null "]


def _csv(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "shops.csv"
    path.write_text("\n".join(["id,name,lat,lng,category,phone,rating", *rows]) + "\n",
                    encoding="utf-8")
    return path


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_a_null_spelled_name_is_rejected_as_empty(tmp_path: Path, spelling: str) -> None:
    path = _csv(tmp_path, ["1,Deli,40.7,-73.9,food,,", f"2,{spelling},40.7,-73.9,food,,"])
    result = read_sources([path])
    assert result.merchants["name"].tolist() == ["Deli"]
    assert result.rows_rejected == 1
    reason = str(result.rejects["reason"].iloc[0])
    assert reason == f"empty name ({spelling.strip()!r} is read as no value)"
    assert reason_kinds(reason) == ["empty name"]


def test_names_that_only_start_like_a_null_spelling_stay(tmp_path: Path) -> None:
    names = ["None Such", "N/A Bar", "Null & Void", "Nan's Diner", "-Dash-", "Nan", "Na"]
    rows = [f"{i},{n},40.7,-73.9,food,," for i, n in enumerate(names, 1)]
    result = read_sources([_csv(tmp_path, rows)])
    assert result.rows_rejected == 0
    assert result.merchants["name"].tolist() == names


def test_a_null_spelled_id_is_a_missing_id(tmp_path: Path) -> None:
    result = read_sources([_csv(tmp_path, ["1,Deli,40.7,-73.9,,,", "NULL,Bar,40.7,-73.9,,,"])])
    assert result.merchants["merchant_id"].tolist() == ["generic:1"]
    assert result.rejects["reason"].tolist() == ["empty source id ('NULL' is read as no value)"]
    assert result.rejects["merchant_id"].isna().all()


def test_merchant_id_column_null_is_not_qualified(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("merchant_id,name,lat,lng\nx:1,Deli,40.7,-73.9\nNULL,Bar,40.7,-73.9\n",
                    encoding="utf-8")
    result = read_sources([path])
    assert result.merchants["merchant_id"].tolist() == ["x:1"]
    assert result.rejects["reason"].tolist() == ["empty source id ('NULL' is read as no value)"]


def test_null_spelled_text_fields_are_empty_with_a_note(tmp_path: Path) -> None:
    path = _csv(tmp_path, ["1,Deli,40.7,-73.9,NULL,N/A,-", "2,Bar,40.7,-73.9,bar,555,4"])
    result = read_sources([path])
    assert result.rows_rejected == 0 and not result.warnings["reason"].tolist()
    m = result.merchants
    assert m["category"].tolist() == ["unknown", "bar"]
    assert m["phone"].isna().tolist() == [True, False]
    assert np.isnan(m["rating"].iloc[0]) and m["rating"].iloc[1] == 4
    assert any("phone: 1 value(s) such as 'N/A' read as no value" in n
               for n in result.sources[0].notes)


def test_numbers_and_names_share_one_list() -> None:
    assert {"null", "n/a", "none", "nan", "-"} <= MISSING_TOKENS
    p = Problems(2)
    assert np.isnan(parse_float(pd.Series(["-", "1"]), "lat", p, required=True)).tolist() == [
        True, False]
    assert p.reasons().tolist() == ["lat is missing", None]


def test_a_real_null_name_in_parquet_is_an_empty_name(tmp_path: Path) -> None:
    path = tmp_path / "shops.parquet"
    pd.DataFrame({"id": ["1", "2"], "name": ["Deli", None], "lat": [40.7, 40.7],
                  "lng": [-73.9, -73.9]}).to_parquet(path, index=False)
    result = read_sources([path])
    assert result.rejects["reason"].tolist() == ["empty name"]
