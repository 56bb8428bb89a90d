"""Sweep 5: rejected rows in the rating-scale guess, NUL bytes, ids written as floats.

* Rows rejected while reading (another file's rows appended: wrong field count) hold
  other columns' values where the rating is; they take no part in the scale guess, and
  its note counts kept rows only.
* NUL bytes in a field are removed, with a note per column counting the values (no one
  writes one on purpose, and PostgreSQL text cannot hold one), in every format.
* Ids that are all integers written as floats (``1425973.0``: pandas writes an integer
  column with empty cells so) are read as the integers, with a note, so an upsert finds
  the merchants it updates.

Expected values are computed with pandas from the files, never copied from the output.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geo_discovery.errors import IngestError
from geo_discovery.ingest import IngestResult, read_sources
from geo_discovery.ingest.ratings import rating_columns
from geo_discovery.ingest.readers import read_raw
from geo_discovery.ingest.validate import Problems
from geo_discovery.settings import Settings
from geo_discovery.snapshot.pipeline import load

BOSTON = "cities/airbnb_boston_2021-12_listings_ratings.csv.gz"
DC = "cities/airbnb_washington_dc_2015-10_listings_ratings.csv.gz"
FOOD = "nyc/nyc_retail_food_stores.csv"


def _text(path: Path) -> str:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as fh:
        return fh.read()


def _pandas(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _ratings_by_id(result: IngestResult) -> pd.Series:
    m = result.merchants
    return pd.Series(m["rating"].to_numpy(), index=m["merchant_id"].to_numpy())


def _expected_ratings(frame: pd.DataFrame) -> pd.Series:
    values = pd.to_numeric(frame["review_scores_rating"].replace("", np.nan))
    return pd.Series(values.to_numpy(), index=("airbnb:" + frame["id"]).to_numpy())


# ------------------------------------------------------------------ 1. the rating scale


@pytest.mark.real_data
@pytest.mark.parametrize("appended", [200, 3000])
def test_appended_rows_of_another_file_take_no_part_in_the_rating_scale(
    real_data: Path, tmp_path: Path, appended: int
) -> None:
    """Boston ratings are 0–5; the food-store rows appended (16 fields, not 22: rejected)
    hold zip codes where the rating is. They made the scale 0–100 (every 4.95 stored as
    4.95/100) or 0–5 "ambiguous"."""
    food_lines = _text(real_data / FOOD).splitlines()[1 : appended + 1]
    path = tmp_path / "boston_mixed.csv"
    path.write_text(_text(real_data / BOSTON) + "\n".join(food_lines) + "\n", encoding="utf-8")
    boston = _pandas(real_data / BOSTON)
    result = read_sources([path])
    assert result.rows_rejected == appended == len(food_lines)
    assert set(result.rejects["kind"]) == {"wrong field count"}
    source = result.sources[0]
    assert source.rating_scale == "0–5 (inferred)"
    assert not [n for n in source.notes if "review_scores_rating" in n]
    expected = _expected_ratings(boston)
    got = _ratings_by_id(result).reindex(expected.index)
    np.testing.assert_array_equal(got.to_numpy(), expected.to_numpy())
    rated = np.isfinite(result.merchants["rating"].to_numpy())
    assert (result.merchants["rating_scale"].to_numpy()[rated] == 5.0).all()


@pytest.mark.real_data
def test_rejected_rows_cannot_pull_a_0_100_file_down_to_stars(
    real_data: Path, tmp_path: Path
) -> None:
    """The DC 2015 file is on 0–100; 3,000 short rows (rejected) with a 4 where the rating
    is outnumbered its ratings: the file was read as 0–5 and every DC rating left empty."""
    dc = _pandas(real_data / DC)
    column = list(dc.columns).index("review_scores_rating")
    short = [",".join([f"9{i:05d}", "Junk", "38.9", "-77.0"] + ["x"] * (column - 4) + ["4"])
             for i in range(3000)]
    path = tmp_path / "dc_mixed.csv"
    path.write_text(_text(real_data / DC) + "\n".join(short) + "\n", encoding="utf-8")
    alone = read_sources([real_data / DC])
    result = read_sources([path])
    assert result.rows_rejected == alone.rows_rejected + 3000
    assert result.sources[0].rating_scale == "0–100 (inferred)"
    got = _ratings_by_id(result)
    expected = _expected_ratings(dc).reindex(got.index)
    assert len(got) == len(dc) - alone.rows_rejected and expected.notna().sum() > 2000
    np.testing.assert_array_equal(got.to_numpy(), expected.to_numpy())


def test_the_scale_note_counts_kept_rows_only(tmp_path: Path) -> None:
    """A generic file: 23 kept ratings (3 above 5: ambiguous 0–5) and 30 rows with an
    extra field (rejected) holding 95 where the rating is."""
    header = "id,name,lat,lng,rating"
    kept = [4.0] * 20 + [7.0, 8.0, 9.0]
    rows = [f"{i},Shop {i},40.{7000 + i},-73.{9000 + i},{r}" for i, r in enumerate(kept)]
    rows += [f"{100 + i},Bad {i},40.{8000 + i},-73.{8000 + i},95,extra" for i in range(30)]
    path = tmp_path / "shops.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    result = read_sources([path])
    assert result.rows_rejected == 30 and result.rows_loaded == len(kept)
    assert result.sources[0].rating_scale == "0–5 (ambiguous)"
    note = next(n for n in result.sources[0].notes if "rating scale is ambiguous" in n)
    within = sum(r <= 5 for r in kept)
    outside = len(kept) - within
    assert f"({within:,} of {len(kept):,} ratings are <= 5)" in note, note
    assert f"{outside} rating(s) outside it left empty" in note, note
    assert result.merchants["rating"].notna().sum() == within


def test_rating_columns_guess_from_kept_rows_only() -> None:
    """Whatever a profile passes as ``skip`` (rows already rejected) takes no part."""
    cells = pd.Series(["4.5"] * 10 + ["11368"] * 30)
    skip = np.arange(40) >= 10
    p = Problems(40)
    cols = rating_columns(cells, "stars", p, skip=skip)
    assert p.info["rating scale"] == "0–5 (inferred)"
    assert cols["rating"][:10].tolist() == [4.5] * 10
    assert not p.notes


def test_a_raw_table_names_the_rows_it_rejected_while_reading(tmp_path: Path) -> None:
    """``RawTable.rejected``: structural rows and bad encoding (a NUL is removed, its row
    kept): what a profile passes as ``skip`` to a whole-file guess."""
    path = tmp_path / "r.csv"
    good = b"".join(b"%d,Caf\xc3\xa9 %d,40.7,-73.9\n" % (i, i) for i in range(5))
    path.write_bytes(b"id,name,lat,lng\n" + good + b"7,B,1\n8,Caf\xe9,1,1\n9,D\x00,1,1\n")
    raw = read_raw(path)
    assert raw.structural.tolist() == [False] * 5 + [True, False, False]
    assert raw.rejected.tolist() == [False] * 5 + [True, True, False]  # NULs are removed


# ------------------------------------------------------------------ 2. NUL bytes


@pytest.mark.real_data
def test_nul_bytes_in_a_name_are_removed_with_a_note(real_data: Path, tmp_path: Path) -> None:
    """3 NUL bytes in one Boston name loaded silently (a name PostgreSQL cannot store):
    they are removed, the row loads with its name as written, and a note says so."""
    boston = _pandas(real_data / BOSTON)
    text = _text(real_data / BOSTON)
    victim = boston.iloc[len(boston) // 2]
    start = text.index("\n" + victim["id"] + ",") + 1
    cut = text.index(victim["name"][:5], start) + 3
    path = tmp_path / "nul.csv"
    path.write_text(text[:cut] + "\x00\x00\x00" + text[cut:], encoding="utf-8")
    result = read_sources([path])
    assert result.rows_read == result.rows_loaded == len(boston)
    m = result.merchants.set_index("merchant_id")
    assert m.loc["airbnb:" + victim["id"], "name"] == victim["name"].strip()
    for col in ("name", "attributes"):
        assert not m[col].fillna("").str.contains("\x00").any()
    line = text[:start].count("\n") + 1
    notes = [n for n in result.sources[0].notes if "NUL" in n]
    assert len(notes) == 1, notes
    assert notes[0].startswith(f"name: NUL bytes removed from 1 value(s), such as line {line} ")
    assert victim["name"].strip()[:20] in notes[0]
    assert notes[0].endswith("): no text can hold them")


def test_nul_bytes_are_removed_in_any_format_and_field(tmp_path: Path) -> None:
    """Parquet, an optional field: the value loads without them; the count is noted."""
    path = tmp_path / "shops.parquet"
    pd.DataFrame({
        "id": ["1", "2", "3"],
        "name": ["A", "B", "C"],
        "lat": [40.70, 40.71, 40.72],
        "lng": [-73.90, -73.91, -73.92],
        "address": ["1 Main St", "2 Main\x00 St", "3\x00 Main\x00 St"],
    }).to_parquet(path)
    result = read_sources([path])
    assert result.rows_loaded == 3
    assert result.merchants["address"].tolist() == ["1 Main St", "2 Main St", "3 Main St"]
    assert [n for n in result.sources[0].notes if "NUL" in n] == [
        "address: NUL bytes removed from 2 value(s), such as line 2 ('2 Main St'): no text "
        "can hold them"]


def test_a_rejected_row_shows_its_nul_bytes_escaped(tmp_path: Path) -> None:
    """The rejects file's ``raw`` is text: a NUL there is shown as ``\\x00``."""
    good = "".join(f"{i},Shop {i},40.7{i},-73.9{i}\n" for i in range(5))
    path = tmp_path / "shops.csv"
    path.write_text("id,name,lat,lng\n" + good + "9,Bad\x00,40.7\n", encoding="utf-8")
    result = read_sources([path])
    assert result.rows_rejected == 1
    assert result.rejects["raw"].tolist() == ["9,Bad\\x00,40.7"]
    assert not [n for n in result.sources[0].notes if "NUL" in n]  # counted as rejected


# ------------------------------------------------------------------ 3. ids written as floats


def _float_ids(frame: pd.DataFrame, empty_at: int | None = None) -> pd.DataFrame:
    """``frame`` as pandas writes it after its id column became floats."""
    out = frame.copy()
    ids = pd.to_numeric(out["id"]).astype(float)
    if empty_at is not None:
        ids.iloc[empty_at] = np.nan
    out["id"] = ids
    return out


@pytest.mark.real_data
def test_integer_ids_written_as_floats_are_read_as_the_integers(
    real_data: Path, tmp_path: Path
) -> None:
    boston = _pandas(real_data / BOSTON).head(300)
    path = tmp_path / "boston_float_ids.csv"
    _float_ids(boston, empty_at=7).to_csv(path, index=False)
    assert re.search(r"^\d+\.0,", path.read_text().splitlines()[1])
    result = read_sources([path])
    assert result.rows_rejected == 1  # the empty id
    expected = ("airbnb:" + boston["id"]).drop(index=7).tolist()
    assert result.merchants["merchant_id"].tolist() == expected
    first = boston["id"].iloc[0]
    assert any(f"such as '{first}.0' read as {first}: integers written as floats" in n
               for n in result.sources[0].notes), result.sources[0].notes


@pytest.mark.real_data
def test_an_upsert_with_ids_written_as_floats_updates_instead_of_duplicating(
    real_data: Path, tmp_path: Path
) -> None:
    boston = _pandas(real_data / BOSTON)
    base = tmp_path / "boston.csv"
    boston.to_csv(base, index=False)
    delta = tmp_path / "delta.csv"
    changed = boston.head(150).assign(name=lambda f: f["name"] + " (renamed)")
    _float_ids(changed).to_csv(delta, index=False)
    data_dir = tmp_path / "store"
    settings = Settings(data_dir=data_dir)
    first = load([base], data_dir=data_dir, settings=settings)
    second = load([delta], data_dir=data_dir, mode="upsert", settings=settings)
    assert second.merchants_total == first.merchants_total
    names = second.ingest.merchants["name"] if second.ingest is not None else None
    assert names is not None and names.str.endswith(" (renamed)").all()


def test_integer_ids_written_as_floats_in_parquet(tmp_path: Path) -> None:
    """pandas writes an integer id column with an empty cell as float64 Parquet."""
    path = tmp_path / "shops.parquet"
    pd.DataFrame({"id": [10.0, np.nan, 30.0], "name": ["A", "B", "C"],
                  "lat": [40.70, 40.71, 40.72], "lng": [-73.90, -73.91, -73.92]}
                 ).to_parquet(path)
    result = read_sources([path])
    assert result.merchants["merchant_id"].tolist() == ["generic:10", "generic:30"]


@pytest.mark.parametrize("ids", [["1.0", "1.5", "2.0"], ["1.0", "A1", "3.0"],
                                 ["007.0", "8.0", "9.0"]])
def test_ids_not_all_integers_as_floats_are_left_as_written(
    tmp_path: Path, ids: list[str]
) -> None:
    path = tmp_path / "shops.csv"
    rows = [f"{x},Shop {i},40.7{i},-73.9{i}" for i, x in enumerate(ids)]
    path.write_text("\n".join(["id,name,lat,lng", *rows]) + "\n", encoding="utf-8")
    result = read_sources([path])
    assert result.merchants["merchant_id"].tolist() == [f"generic:{x}" for x in ids]
    assert not [n for n in result.sources[0].notes if "written as floats" in n]


@pytest.mark.real_data
def test_rejected_rows_take_no_part_in_the_price_quartiles(real_data: Path, tmp_path: Path) -> None:
    """Airbnb's price_level is the quartile of a listing's price among the file's: rows
    cut short (rejected: 10 fields, not 22) counted the price they held, and moved the
    other listings' levels."""
    cut = [f"x{i},Cut short,42.3,-71.0,,,Private room,$1.00,3,1" for i in range(3000)]
    path = tmp_path / "boston_mixed.csv"
    path.write_text(_text(real_data / BOSTON) + "\n".join(cut) + "\n", encoding="utf-8")
    boston = _pandas(real_data / BOSTON)
    price = pd.to_numeric(boston["price"].astype(str).str.replace(r"[$,]", "", regex=True),
                          errors="coerce").to_numpy()  # fmt: skip
    positive = np.isfinite(price) & (price > 0)
    q1, q2, q3 = np.quantile(price[positive], [0.25, 0.5, 0.75])
    expected = np.where(positive, 1 + (price > q1) + (price > q2) + (price > q3), np.nan)
    result = read_sources([path])
    assert result.rows_rejected == 3000
    got = result.merchants.set_index("merchant_id")["price_level"]
    ids = "airbnb:" + boston["id"].astype(str)
    got = got.reindex(ids).to_numpy(dtype=np.float64)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.real_data
def test_an_airbnb_file_of_few_prices_says_its_levels_rank_it_among_itself(
    real_data: Path, tmp_path: Path
) -> None:
    """An upsert of two unchanged listings turned a $10,000 listing into price level 1:
    price_level is the quartile among the file's prices, here two. Not silent now: the
    load says so; a whole city file says nothing."""
    lines = _text(real_data / BOSTON).splitlines()
    delta = tmp_path / "delta.csv"
    delta.write_text("\n".join(lines[:3]) + "\n", encoding="utf-8")
    notes = read_sources([delta]).sources[0].notes
    assert [n for n in notes if "price_level: the quartiles of this file's 2 price(s)" in n]
    whole = read_sources([real_data / BOSTON]).sources[0].notes
    assert not [n for n in whole if "price_level: the quartiles" in n]


@pytest.mark.parametrize("gz", [False, True])
def test_nul_escapes_in_geojson_are_removed_like_the_csvs_nuls(tmp_path: Path, gz: bool) -> None:
    """GDAL cut a GeoJSON string at an escaped NUL: `HARBOR\\u0000SIDE` loaded as
    `HARBOR`, and ids `777\\u00001` and `777\\u00002` both as 777 (one rejected as a
    duplicate), without a note. They now read as the CSV of the same rows with its NULs
    (removed, with a note); an escaped backslash before `u0000` is text, kept."""
    import json

    rows = [("8", "A first shop, for a CSV sniffed as text", 42.33, -71.04),
            ("777\x001", "HARBOR\x00SIDE", 42.36, -71.03), ("777\x002", "Back Bay", 42.35, -71.08),
            ("9", "Slash \\u0000 kept", 42.34, -71.05)]  # fmt: skip
    features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [lng, lat]},
                 "properties": {"id": i, "name": n, "category": "food/cafe"}}
                for i, n, lat, lng in rows]  # fmt: skip
    text = json.dumps({"type": "FeatureCollection", "features": features})
    assert "\\u0000" in text  # json writes the NULs escaped
    path = tmp_path / ("shops.geojson.gz" if gz else "shops.geojson")
    with (gzip.open if gz else open)(path, "wt", encoding="utf-8") as fh:
        fh.write(text)
    csv = tmp_path / "shops.csv"
    csv.write_bytes(b"id,name,lat,lng,category\n" + b"".join(
        f'"{i}","{n}",{lat},{lng},food/cafe\n'.encode() for i, n, lat, lng in rows))  # fmt: skip
    got, want = read_sources([path]), read_sources([csv])
    assert got.rows_rejected == want.rows_rejected == 0
    cols = ["merchant_id", "name"]
    assert got.merchants[cols].to_dict("records") == want.merchants[cols].to_dict("records")
    assert got.merchants["name"].tolist()[1:] == ["HARBORSIDE", "Back Bay", "Slash \\u0000 kept"]
    assert [n for n in got.sources[0].notes if "NUL characters" in n and "3 place(s)" in n]


def test_a_nul_byte_on_the_first_row_is_removed_as_on_any_row(tmp_path: Path) -> None:
    """A NUL within the first 64 bytes (a short header, then row 1) made the whole file an
    "unknown binary format"; on line 50 it was removed with a note."""
    rows = "".join(f"{i},Shop {i},40.7{i % 10},-73.9{i % 10}\n" for i in range(2, 60))
    path = tmp_path / "shops.csv"
    path.write_text("id,name,lat,lng\n1,Sh\x00op 1,40.71,-73.91\n" + rows, encoding="utf-8")
    result = read_sources([path])
    assert result.rows_read == result.rows_loaded == 59
    assert result.merchants["name"].iloc[0] == "Shop 1"
    notes = [n for n in result.sources[0].notes if "NUL" in n]
    assert notes and notes[0].startswith("name: NUL bytes removed from 1 value(s), such as line 2")


def test_a_typeset_minus_is_a_minus_and_a_zero_width_name_is_empty(tmp_path: Path) -> None:
    """'−60.17' (U+2212, text copied from the web) was 'not a number'; a name of only a
    zero-width space loaded as a merchant with an invisible name, while '  ' is empty."""
    path = tmp_path / "shops.csv"
    path.write_text("id,name,lat,lng\n1,South,\u221233.87,151.21\n2,\u200b,40.7,-73.9\n"
                    "3,\u200bCafe\u200b,40.71,\uff0d73.91\n4,Plain,40.72,-73.92\n",
                    encoding="utf-8")  # fmt: skip
    result = read_sources([path])
    assert result.rows_read == 4 and result.rows_loaded == 3
    m = result.merchants.set_index("name")
    assert m.loc["South", "lat"] == -33.87 and m.loc["Cafe", "lng"] == -73.91
    (reason,) = result.rejects["reason"].tolist()
    assert reason.startswith("empty name")


def test_a_broken_lat_column_is_not_called_projected_metres(tmp_path: Path) -> None:
    """lat 999 on every row with lng in degrees was 'projected metres … --crs EPSG:3857'
    (which would put the points at null island): the rows are rejected, each naming it."""
    path = tmp_path / "shops.csv"
    path.write_text("id,name,lat,lng\n" + "".join(f"{i},S{i},999,24.9{i}\n" for i in range(9)))
    result = read_sources([path])
    assert result.rows_read == result.rows_rejected == 9
    assert result.rejects["reason"].str.contains("lat 999 is out of range").all()
    utm = tmp_path / "utm.csv"  # both numbers far past degrees: still the whole file's CRS
    utm.write_text("id,name,lat,lng\n" + "".join(f"{i},S{i},667{i}000,38{i}000\n"
                                                   for i in range(9)))  # fmt: skip
    with pytest.raises(IngestError, match="projected metres"):
        read_sources([utm])


def test_a_bbox_in_lat_lng_order_is_named_as_the_likely_cause(tmp_path: Path) -> None:
    """`--bbox 60.1,24.9,60.2,25.0` (south,west,…) rejected every row as a probable swap
    into it, and never said the box itself was the swapped one."""
    from geo_discovery.models import BBox

    path = tmp_path / "shops.csv"
    path.write_text("id,name,lat,lng\n" + "".join(f"{i},S{i},60.1{i},24.9{i}\n"
                                                   for i in range(6)))  # fmt: skip
    given = BBox.from_string("60.1,24.9,60.2,25.0")  # meant: 24.9,60.1,25.0,60.2
    result = read_sources([path], expected_bbox=given)
    assert result.rows_rejected == 6
    (note,) = [n for n in result.sources[0].notes if "bbox" in n]
    assert "6 of 6 rows lie outside the expected bbox but inside it with lat and lng" in note
    assert "in west,south,east,north order it is 24.9,60.1,25,60.2;" in note
    assert note.endswith("or the file's lat and lng columns are swapped (check which column "
                         "holds which)")  # the data cannot tell the two apart: both are said
    right = read_sources([path], expected_bbox=BBox.from_string("24.9,60.1,25.0,60.2"))
    assert right.rows_loaded == 6 and not [n for n in right.sources[0].notes if "bbox" in n]


def test_nul_padded_fields_load_and_a_nul_in_the_header_is_named(tmp_path: Path) -> None:
    """Fields padded with NULs in the first 4 KiB load, the NULs removed with a note (a
    rule of control bytes past 5 % refused them); a NUL in the header line is refused
    naming it (it loaded the file under the generic profile, its columns mangled)."""
    rows = "".join(f"{i},Shop {i}{chr(0) * 30},40.7{i % 10},-73.9{i % 10}\n" for i in range(40))
    padded = tmp_path / "padded.csv"
    padded.write_text("id,name,lat,lng\n" + rows, encoding="utf-8")
    result = read_sources([padded])
    assert result.rows_loaded == 40 and result.merchants["name"].iloc[3] == "Shop 3"
    assert [n for n in result.sources[0].notes if "NUL bytes removed" in n]
    header = tmp_path / "header.csv"
    header.write_text("id,na\x00me,lat,lng\n1,A,40.7,-73.9\n", encoding="utf-8")
    with pytest.raises(IngestError, match=r"the header line holds a NUL byte \(byte 6\)"):
        read_sources([header])
