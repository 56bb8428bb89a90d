"""The generic profile takes any column named like a canonical one: case, spaces,
hyphens and underscores alike, for every canonical column."""

from __future__ import annotations

from pathlib import Path

import pytest

from geo_discovery.ingest import read_sources
from geo_discovery.ingest.generic import NAME_ALIASES, PASSTHROUGH


def _load(tmp_path: Path, header: list[str], row: list[str]):  # type: ignore[no-untyped-def]
    path = tmp_path / "shops.csv"
    path.write_text(",".join(header) + "\n" + ",".join(row) + "\n", encoding="utf-8")
    result = read_sources([path])
    assert result.rows_rejected == 0, result.rejects
    return result


@pytest.mark.parametrize("spelling", ["Opening Hours", "opening-hours", "OPENING HOURS",
                                      " Opening_Hours ", "opening  hours"])
def test_opening_hours_spelled_with_spaces_or_hyphens(tmp_path: Path, spelling: str) -> None:
    result = _load(tmp_path, ["ID", " Name ", "Latitude ", "LONGITUDE", spelling],
                   ["7", "Deli", "40.7", "-73.9", "Mo-Fr 09:00-18:00"])
    m = result.merchants
    assert m["merchant_id"].tolist() == ["generic:7"]
    assert m["opening_hours"].tolist() == ["Mo-Fr 09:00-18:00"]


def test_every_passthrough_column_with_spaces(tmp_path: Path) -> None:
    samples = {"address": "1 Main St", "phone": "555-0100", "website": "http://x.example",
               "price_level": "2", "opening_hours": "24/7", "status": "open", "rating": "4.5",
               "rating_scale": "5", "review_count": "12", "reviews_per_month": "1.5",
               "first_review": "2020-01-02", "last_review": "2021-03-04",
               "quality_grade": "A", "inspection_score": "90", "attractiveness": "3",
               "brand": "Acme"}
    assert set(samples) == set(PASSTHROUGH)
    header = ["Merchant ID", "Business Name", "lat", "lng",
              *(c.replace("_", " ").title() for c in samples)]
    result = _load(tmp_path, header, ["x:1", "Deli", "40.7", "-73.9", *samples.values()])
    m = result.merchants.iloc[0]
    assert "business_name" in NAME_ALIASES and m["name"] == "Deli"
    assert m["merchant_id"] == "x:1"  # a "Merchant ID" column is a merchant_id column
    for col, text in samples.items():
        value = m[col]
        shown = value.strftime("%Y-%m-%d") if hasattr(value, "strftime") else str(value)
        assert shown.removesuffix(".0") == text.removesuffix(".0"), col


def test_two_columns_named_alike_read_the_exact_one_with_a_note(tmp_path: Path) -> None:
    result = _load(tmp_path, ["id", "name", "lat", "lng", "Opening Hours", "opening_hours"],
                   ["1", "Deli", "40.7", "-73.9", "loose", "exact"])
    assert result.merchants["opening_hours"].tolist() == ["exact"]
    notes = " ".join(result.sources[0].notes)
    assert "'Opening Hours'" in notes and "opening_hours read from column" in notes


def _rows(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "stores.csv"
    path.write_text(text, encoding="utf-8")
    return read_sources([path])


@pytest.mark.parametrize(("columns", "values", "named"), [
    ("Store ID", ("S1", "S2"), "['Store ID'] look like ids"),
    ("store_id,branch_id", ("S1,b1", "S2,b2"), "['store_id', 'branch_id'] look like ids"),
    ("storeId", ("S1", "S1"), "['storeId'] look like ids"),
    ("kind", ("x", "y"), ""),
])  # fmt: skip
def test_without_an_id_column_the_hashed_ids_are_said(
    tmp_path: Path, columns: str, values: tuple[str, str], named: str
) -> None:
    """``Store ID`` & co were ignored without a word: ids became row hashes, and an upsert
    of changed rows added them again. The note says so and names the columns that look
    like ids; none is taken by itself (a store loaded before would get new ids from its
    next upsert, every merchant twice)."""
    result = _rows(tmp_path, f"{columns},name,lat,lng\n{values[0]},A,60.17,24.94\n"
                             f"{values[1]},B,60.171,24.94\n")
    ids = result.merchants["merchant_id"].tolist()
    assert len(set(ids)) == 2 and all(len(i) == len("generic:") + 16 for i in ids), ids
    said = [n for n in result.sources[0].notes if "no id column" in n]
    assert len(said) == 1 and "hash of its row" in said[0], result.sources[0].notes
    assert (named in said[0]) if named else ("look like ids" not in said[0])
    if named:  # the mapping file it shows is one a load takes (its first was refused)
        shown = said[0].split("the file e.g. ", 1)[1].removesuffix(")")
        mapping = tmp_path / "mapping.json"
        mapping.write_text(shown, encoding="utf-8")
        mapped = read_sources([tmp_path / "stores.csv"], mapping=mapping)
        ids = [v.split(",")[0] for v in values]
        kept = [i.split(":", 1)[1] for i in mapped.merchants["merchant_id"]]
        assert kept == list(dict.fromkeys(ids))  # (a repeated one: a duplicate, rejected)
        assert mapped.rows_rejected == len(ids) - len(set(ids))
