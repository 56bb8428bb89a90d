"""Ingest on synthetic files: readers, every reject reason, mappings, outputs."""

from __future__ import annotations

import gzip
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geo_discovery.errors import IngestError, ProfileError
from geo_discovery.ingest import (
    REJECT_COLUMNS,
    IngestResult,
    ReadOptions,
    detect_profile,
    list_profiles,
    read_id_list,
    read_sources,
    reason_kinds,
)
from geo_discovery.models import BBox
from geo_discovery.schema import CANONICAL_COLUMNS, empty_frame

HEADER = "id,name,lat,lng,category,review_count,rating,last_review"
GOOD = [
    "1,Deli One,40.7001,-73.9001,food/deli,12,4.5,2020-01-02",
    "2,Café Two,40.7002,-73.9002,Food > Cafe,3,3.5,2021-06-30",
    "3,Bar Three,40.7003,-73.9003,nightlife/bar,0,,",
]


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def csv_file(tmp_path: Path, rows: list[str], name: str = "shops.csv", **kw: str) -> Path:
    return write(tmp_path / name, "\n".join([HEADER, *rows]) + "\n", **kw)


def check_invariants(result: IngestResult) -> None:
    assert result.rows_read == result.rows_loaded + result.rows_rejected
    assert tuple(result.merchants.columns) == CANONICAL_COLUMNS
    assert (result.merchants.dtypes == empty_frame().dtypes).all()
    assert result.merchants["merchant_id"].is_unique
    assert tuple(result.rejects.columns) == REJECT_COLUMNS
    assert result.rejects["reason"].notna().all()


def only_reject(tmp_path: Path, row: str, **kw: object) -> str:
    result = read_sources([csv_file(tmp_path, [*GOOD, row])], **kw)  # type: ignore[arg-type]
    check_invariants(result)
    assert result.rows_loaded == len(GOOD), result.rejects
    assert result.rows_rejected == 1
    reject = result.rejects.iloc[0]
    assert reject["source_line"] == len(GOOD) + 2
    assert reject["raw"] == row
    return str(reject["reason"])


# --------------------------------------------------------------------------- happy path


def test_generic_csv_is_canonical(tmp_path: Path) -> None:
    path = csv_file(tmp_path, GOOD)
    result = read_sources([path])
    check_invariants(result)
    m = result.merchants
    assert result.sources[0].profile == "generic"
    assert m["merchant_id"].tolist() == ["generic:1", "generic:2", "generic:3"]
    assert m["name"].tolist() == ["Deli One", "Café Two", "Bar Three"]
    assert m["category"].tolist() == ["food/deli", "food/cafe", "nightlife/bar"]
    assert m["lat"].tolist() == [40.7001, 40.7002, 40.7003]
    assert m["source_line"].tolist() == [2, 3, 4]
    assert m["source_file"].unique().tolist() == ["shops.csv"]
    assert m["review_count"].tolist() == [12, 3, 0]
    assert m["rating_scale"].tolist()[:2] == [5.0, 5.0] and np.isnan(m["rating"].iloc[2])
    assert m["last_review"].iloc[1] == pd.Timestamp("2021-06-30")
    attrs = json.loads(m["attributes"].iloc[1])
    assert attrs == dict(zip(HEADER.split(","), GOOD[1].split(","), strict=True))
    report = result.sources[0]
    assert report.bytes == path.stat().st_size and len(report.sha256) == 64
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (3, 3, 0)


def test_blank_lines_are_not_rows(tmp_path: Path) -> None:
    path = write(tmp_path / "b.csv", HEADER + "\n" + GOOD[0] + "\n\n\n" + GOOD[1] + "\n")
    result = read_sources([path])
    assert result.rows_read == 2 == len(pd.read_csv(path))
    assert result.merchants["source_line"].tolist() == [2, 5]


def test_multiline_quoted_field_keeps_first_line_number(tmp_path: Path) -> None:
    text = 'id,name,lat,lng\n1,"Two\nLines",1.5,2.5\n2,X,"abc",2\n'
    result = read_sources([write(tmp_path / "m.csv", text)])
    assert result.merchants["name"].tolist() == ["Two Lines"]
    assert result.rejects["source_line"].tolist() == [4]
    assert json.loads(result.merchants["attributes"].iloc[0])["name"] == "Two\nLines"


# --------------------------------------------------------------------------- reject reasons


@pytest.mark.parametrize(
    ("row", "expected", "kind"),
    [
        ("9,Empty Lat,,-73.9,x,1,4,", "lat is missing", "missing coordinates"),
        ("9,NaN Lng,40.7,NaN,x,1,4,", "lng is missing", "missing coordinates"),
        ("9,Bad Lat,abc,-73.9,x,1,4,", "lat 'abc' is not a number", "bad coordinates"),
        ("9,High Lat,95,100,x,1,4,", "lat 95 is out of range; allowed -90 <= lat <= 90",
         "bad coordinates"),
        ("9,Far Lng,40.7,200,x,1,4,", "lng 200 is out of range; allowed -180 <= lng <= 180",
         "bad coordinates"),
        ("9,Null Island,0,0,x,1,4,", "null island: lat=0, lng=0", "null island"),
        ("9,Swapped,-173.9,40.7,x,1,4,",
         "lat -173.9 is out of range; allowed -90 <= lat <= 90; "
         "probable lat/lng swap: (lat=40.7, lng=-173.9) would be valid",
         "bad coordinates, lat/lng swap"),
        ("9,  ,40.7,-73.9,x,1,4,", "empty name", "empty name"),
        (",No Id,40.7,-73.9,x,1,4,", "empty source id", "missing id"),
        ("1,Dup,40.7,-73.9,x,1,4,", "duplicate merchant_id generic:1, first at shops.csv:2",
         "duplicate id"),
        ("9,Short,40.7", "expected 8 fields, got 3", "wrong field count"),
        ("9,Long,40.7,-73.9,x,1,4,2020-01-01,extra", "expected 8 fields, got 9",
         "wrong field count"),
    ],
)
def test_each_reject_reason(tmp_path: Path, row: str, expected: str, kind: str) -> None:
    reason = only_reject(tmp_path, row)
    assert reason == expected
    assert reason_kinds(reason) == kind.split(", ")


@pytest.mark.parametrize(
    ("row", "expected", "kind", "field"),
    [
        ("9,Bad Count,40.7,-73.9,x,abc,4,", "review_count 'abc' is not an integer",
         "bad number (review_count)", "review_count"),
        ("9,Half Count,40.7,-73.9,x,2.5,4,", "review_count '2.5' is not an integer",
         "bad number (review_count)", "review_count"),
        ("9,Neg Count,40.7,-73.9,x,-3,4,",
         "review_count -3 is out of range; allowed 0 <= review_count",
         "bad number (review_count)", "review_count"),
        ("9,Bad Rating,40.7,-73.9,x,1,great,", "rating 'great' is not a number",
         "bad number (rating)", "rating"),
        # "inf" parsed as a number and was emptied later without a word
        ("9,Endless,40.7,-73.9,x,1,inf,", "rating 'inf' is not a finite number",
         "bad number (rating)", "rating"),
        ("9,Huge,40.7,-73.9,x,1,1e400,", "rating '1e400' is not a finite number",
         "bad number (rating)", "rating"),
        ("9,Bad Date,40.7,-73.9,x,1,4,2019-13-45", "last_review '2019-13-45' is not a date",
         "bad date (last_review)", "last_review"),
    ],
)
def test_an_optional_field_that_fails_is_a_warning_not_a_reject(
    tmp_path: Path, row: str, expected: str, kind: str, field: str
) -> None:
    """ignore_malformed: the merchant loads with that field empty; the problem is a
    WARNING row of the rejects file; --strict rejects the row instead."""
    path = csv_file(tmp_path, [*GOOD, row])
    result = read_sources([path])
    check_invariants(result)
    assert result.rows_rejected == 0 and result.rows_loaded == len(GOOD) + 1
    loaded = result.merchants.set_index("merchant_id").loc["generic:9"]
    assert pd.isna(loaded[field])
    warning = result.warnings.iloc[0]
    assert (warning["severity"], warning["kind"], warning["reason"]) == ("warning", kind, expected)
    assert warning["source_line"] == len(GOOD) + 2 and warning["raw"] == row
    strict = read_sources([path], options=ReadOptions(strict=True))
    assert strict.rows_rejected == 1 and strict.rejects["reason"].tolist() == [expected]
    assert strict.rejects["severity"].tolist() == ["error"]


def test_rating_above_its_scale_is_left_empty(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", "id,name,lat,lng,rating,rating_scale\n"
                 "1,A,1,1,4.5,5\n2,B,1,1,7,5\n3,C,1,1,70,100\n")
    result = read_sources([path])
    m = result.merchants.set_index("merchant_id")
    assert m.index.tolist() == ["generic:1", "generic:2", "generic:3"]
    assert pd.isna(m.loc["generic:2", "rating"]) and pd.isna(m.loc["generic:2", "rating_scale"])
    assert result.warnings["reason"].tolist() == [
        "rating 7 is out of range; allowed 0 <= rating <= 5"
    ]


def test_strict_notes_say_the_rows_were_rejected_not_left_empty(tmp_path: Path) -> None:
    """A rating outside the inferred scale is noted "left empty"; under --strict its row
    is rejected, and the note said "left empty" all the same."""
    rows = "".join(f"{i},S{i},60.1,24.9,{4 if i % 2 else 3}.5\n" for i in range(40))
    path = write(tmp_path / "r.csv", "id,name,lat,lng,rating\n" + rows + "99,X,60.1,24.9,7\n")
    plain = read_sources([path]).sources[0].notes
    strict = read_sources([path], options=ReadOptions(strict=True))
    said = [n for n in strict.sources[0].notes if "such as 7" in n]
    assert any("such as 7, left empty" in n for n in plain), plain
    assert len(said) == 1 and said[0].endswith("such as 7, rejected with their rows (--strict)")
    assert strict.rows_rejected == 1


def test_every_problem_of_a_row_is_reported(tmp_path: Path) -> None:
    reason = only_reject(tmp_path, "1,,abc,-73.9,x,many,4,someday")
    parts = reason.split("; ")
    assert parts == [  # errors first, then the fields that would have been left empty
        "empty name",
        "lat 'abc' is not a number",
        "duplicate merchant_id generic:1, first at shops.csv:2",
        "review_count 'many' is not an integer",
        "last_review 'someday' is not a date",
    ]
    assert set(reason_kinds(reason)) == {
        "empty name", "bad coordinates", "bad number", "bad date", "duplicate id"}


def test_wrong_field_count_skips_content_checks(tmp_path: Path) -> None:
    # Misaligned cells would produce noise such as "lat 'x' is not a number".
    assert only_reject(tmp_path, ",,x") == "expected 8 fields, got 3"


def test_expected_bbox_and_swap_into_it(tmp_path: Path) -> None:
    nyc = BBox(south=40.4, west=-74.3, north=41.0, east=-73.6)
    outside = only_reject(tmp_path, "9,Boston,42.36,-71.06,x,1,4,", expected_bbox=nyc)
    assert outside == "outside expected bbox south=40.4, west=-74.3, north=41, east=-73.6: " \
        "lat=42.36, lng=-71.06"
    # Both orders are valid coordinates; only the box says they were swapped.
    swapped = only_reject(tmp_path, "9,Swapped,-73.95,40.75,x,1,4,", expected_bbox=nyc)
    assert "outside expected bbox" in swapped
    assert "probable lat/lng swap: (lat=40.75, lng=-73.95) is inside the expected bbox" in swapped


def test_bbox_across_antimeridian(tmp_path: Path) -> None:
    path = write(tmp_path / "fiji.csv", "id,name,lat,lng\n1,East,-17,179.5\n2,West,-17,-179.5\n"
                 "3,Far,-17,170\n")
    box = BBox(south=-20, west=175, north=-15, east=-175)
    result = read_sources([path], expected_bbox=box)
    assert result.merchants["name"].tolist() == ["East", "West"]
    assert result.rejects["source_line"].tolist() == [4]


def test_duplicates_across_files_keep_the_first_valid_row(tmp_path: Path) -> None:
    a = write(tmp_path / "a.csv", "id,name,lat,lng\n1,Bad Coords,abc,1\n2,Kept,1,1\n")
    b = write(tmp_path / "b.csv", "id,name,lat,lng\n1,Valid Later,1,1\n2,Dup,1,1\n")
    result = read_sources([a, b])
    check_invariants(result)
    assert result.merchants["name"].tolist() == ["Kept", "Valid Later"]
    reasons = dict(zip(result.rejects["raw"], result.rejects["reason"], strict=True))
    assert reasons == {
        "1,Bad Coords,abc,1": "lat 'abc' is not a number",
        "2,Dup,1,1": "duplicate merchant_id generic:2, first at a.csv:3",
    }
    assert [(s.rows_read, s.rows_loaded, s.rows_rejected) for s in result.sources] == [
        (2, 1, 1), (2, 1, 1)]


def test_rows_without_ids_get_stable_content_hashes(tmp_path: Path) -> None:
    text = "name,lat,lng\nA,1,1\nB,1,1\n  a ,1,1\n"
    first = read_sources([write(tmp_path / "x.csv", text)])
    again = read_sources([write(tmp_path / "y.csv", text.replace("\n", "\r\n"))])
    ids = first.merchants["merchant_id"].tolist()
    assert ids == again.merchants["merchant_id"].tolist()
    assert len(ids) == 2 and all(i.startswith("generic:") and len(i) == 24 for i in ids)
    # "  a " normalises to the same content as "A": a duplicate, reported.
    assert first.rejects["reason"].str.startswith("duplicate merchant_id").tolist() == [True]


# --------------------------------------------------------------------------- dialects


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_any_delimiter(tmp_path: Path, delimiter: str) -> None:
    text = delimiter.join(["id", "name", "lat", "lng"]) + "\n"
    text += delimiter.join(["1", '"Smith, Jones; and | Co"', "40.5", "-73.5"]) + "\n"
    text += delimiter.join(["2", "Plain", "40,6".replace(",", "."), "-73.6"]) + "\n"
    result = read_sources([write(tmp_path / "d.txt", text)])
    check_invariants(result)
    assert result.merchants["name"].tolist() == ["Smith, Jones; and | Co", "Plain"]
    assert result.merchants["lng"].tolist() == [-73.5, -73.6]


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
def test_single_byte_encodings(tmp_path: Path, encoding: str) -> None:
    names = ["Café Müller", "Crème brûlée", "Smörgåsbord", "Ñandú"]
    if encoding == "cp1252":
        names += ["Bob’s “Deli” – €5"]
    rows = [f"{i},{n},{40 + i / 10},-73.9" for i, n in enumerate(names, 1)]
    path = write(tmp_path / "enc.csv", "id,name,lat,lng\n" + "\n".join(rows) + "\n", encoding)
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")
    result = read_sources([path])
    check_invariants(result)
    assert result.merchants["name"].tolist() == names


def test_utf8_bom_is_not_part_of_the_header(tmp_path: Path) -> None:
    path = write(tmp_path / "bom.csv", "id,name,lat,lng\n1,Zoë,1,2\n", "utf-8-sig")
    result = read_sources([path])
    assert result.merchants["merchant_id"].tolist() == ["generic:1"]
    assert list(json.loads(result.merchants["attributes"].iloc[0])) == ["id", "name", "lat", "lng"]


def test_undecodable_bytes_reject_only_their_row(tmp_path: Path) -> None:
    body = "id,name,lat,lng\n" + "".join(f"{i},Café {i},1,{i / 100}\n" for i in range(20))
    data = body.encode("utf-8") + b"99,Caf\xe9 latin,1,1\n" + "100,Señor,1,1.5\n".encode()
    path = tmp_path / "mixed.csv"
    path.write_bytes(data)
    result = read_sources([path])
    check_invariants(result)
    assert result.rows_loaded == 21 and "Señor" in result.merchants["name"].tolist()
    reject = result.rejects.iloc[0]
    assert reject["source_line"] == 22
    assert reject["reason"].startswith("bad encoding")
    assert reject["raw"] == "99,Caf\\xe9 latin,1,1"
    assert reason_kinds(reject["reason"]) == ["bad encoding"]


def test_a_short_file_with_one_utf8_and_one_latin1_name_is_read_as_utf8(tmp_path: Path) -> None:
    """With one valid UTF-8 é and one latin-1 ä, the file was read as a code page (Café
    became CafÃ©) with no note: now the stray byte's row is rejected, as in a long file;
    and a file read as a code page says so."""
    path = tmp_path / "mixed.csv"
    path.write_bytes(b"id,name,lat,lng\n1,Caf\xc3\xa9,60.17,24.94\n2,B\xe4ckerei,60.171,24.941\n")
    result = read_sources([path])
    check_invariants(result)
    assert result.merchants["name"].tolist() == ["Café"]
    assert result.rejects["reason"].iloc[0].startswith("bad encoding")
    path.write_bytes(b"id,name,lat,lng\n1,Caf\xe9,60.17,24.94\n2,B\xe4ckerei,60.171,24.941\n")
    result = read_sources([path])
    assert result.merchants["name"].tolist() == ["Café", "Bäckerei"]
    assert any("the file is not UTF-8" in n for r in result.sources for n in r.notes)


# --------------------------------------------------------------------------- archives


def test_gzip_and_zip_read_like_plain(tmp_path: Path) -> None:
    text = "\n".join([HEADER, *GOOD]) + "\n"
    plain = write(tmp_path / "p.csv", text)
    gz = tmp_path / "p.csv.gz"
    gz.write_bytes(gzip.compress(text.encode()))
    zp = tmp_path / "p.zip"
    with zipfile.ZipFile(zp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("inner/p.csv", text)
    frames = [read_sources([p]).merchants.drop(columns="source_file") for p in (plain, gz, zp)]
    pd.testing.assert_frame_equal(frames[0], frames[1])
    pd.testing.assert_frame_equal(frames[0], frames[2])


def test_truncated_gzip_raises_naming_the_file(tmp_path: Path) -> None:
    text = HEADER + "\n" + "\n".join(f"{i},N{i},40.{i},-73.{i},x,1,4," for i in range(5000))
    data = gzip.compress(text.encode())
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(IngestError, match=r"cut\.csv\.gz.*truncated"):
        read_sources([path])


def test_truncated_or_multi_member_zip_raises(tmp_path: Path) -> None:
    zp = tmp_path / "two.zip"
    with zipfile.ZipFile(zp, "w") as zf:
        zf.writestr("a.csv", HEADER + "\n")
        zf.writestr("b.csv", HEADER + "\n")
    with pytest.raises(IngestError, match=r"two\.zip.*2 files"):
        read_sources([zp])
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.csv", "\n".join([HEADER, *GOOD * 200]))
    cut = tmp_path / "cut.zip"
    cut.write_bytes(good.read_bytes()[:-40])
    with pytest.raises(IngestError, match=r"cut\.zip.*truncated"):
        read_sources([cut])


def test_truncated_last_line_is_a_rejected_row(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "\n".join([HEADER, *GOOD]) + "\n4,Cut Off,40.7")
    result = read_sources([path])
    assert result.rows_read == 4 and result.rows_loaded == 3
    assert result.rejects["reason"].tolist() == ["expected 8 fields, got 3"]


def test_unterminated_quote_at_end_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path / "q.csv", 'id,name,lat,lng\n1,A,1,1\n2,"Cut, off,1,1')
    result = read_sources([path])
    assert result.rows_loaded == 1
    assert "unterminated quoted field" in result.rejects["reason"].iloc[0]
    assert reason_kinds(result.rejects["reason"].iloc[0]) == ["csv syntax"]


# --------------------------------------------------------------------------- whole-file errors


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "empty"),
        (b"1,Deli,40.7,-73.9\n2,Bar,40.8,-73.8\n", "looks like data, not a header"),
        (b"id,name,city\n1,A,NYC\n", "missing lat/lng columns"),
        (b"\x00\x01\x02\x03binary\x00\xff" * 20, "unknown binary format"),
        (b"PAR1 not really parquet", "Parquet"),
    ],
)
def test_whole_file_problems_raise(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "bad.dat"
    path.write_bytes(content)
    with pytest.raises(IngestError, match=match) as info:
        read_sources([path])
    assert "bad.dat" in str(info.value)


def test_missing_file_and_unknown_profile(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match=r"nope\.csv"):
        read_sources([tmp_path / "nope.csv"])
    path = csv_file(tmp_path, GOOD)
    with pytest.raises(ProfileError, match=r"unknown profile 'yelp'.*airbnb"):
        read_sources([path], profile="yelp")
    with pytest.raises(IngestError, match=r"shops\.csv.*'airbnb' needs columns \['room_type'"):
        read_sources([path], profile="airbnb")


# --------------------------------------------------------------------------- geo formats


@pytest.fixture
def points_gdf():  # type: ignore[no-untyped-def]
    gpd = pytest.importorskip("geopandas")
    from shapely.geometry import LineString, Point, Polygon

    return gpd.GeoDataFrame(
        {
            "id": [1, 2, 3, 4, 5],
            "name": ["Alpha", "Beta", "Gamma", "Delta", "Epsilon"],
            "category": ["food/cafe", "shop", "food", "x", "y"],
            "review_count": [10, None, 3, 1, 2],
        },
        geometry=[
            Point(-73.99, 40.75),
            Point(2.35, 48.85),
            Polygon([(0, 0), (1, 0), (1, 1)]),
            LineString([(0, 0), (1, 1)]),
            Point(),
        ],
        crs="EPSG:4326",
    )


def _check_geo(result: IngestResult) -> None:
    check_invariants(result)
    m = result.merchants
    assert m["name"].tolist() == ["Alpha", "Beta"]
    assert m["lat"].tolist() == [40.75, 48.85] and m["lng"].tolist() == [-73.99, 2.35]
    assert m["source_line"].tolist() == [1, 2]
    assert m["review_count"].tolist()[0] == 10 and pd.isna(m["review_count"].iloc[1])
    assert result.rejects["source_line"].tolist() == [3, 4, 5]
    reasons = result.rejects["reason"].tolist()
    assert reasons[:2] == [
        "geometry is a Polygon, expected a Point",
        "geometry is a LineString, expected a Point",
    ]
    # GDAL writes POINT EMPTY to GeoJSON as a null geometry.
    assert reasons[2] in {"geometry is empty", "geometry is missing"}
    assert "POLYGON" in result.rejects["raw"].iloc[0]


@pytest.mark.parametrize("suffix", [".geojson", ".gpkg", ".parquet"])
def test_geo_round_trips(tmp_path: Path, points_gdf, suffix: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / f"pts{suffix}"
    if suffix == ".parquet":
        points_gdf.to_parquet(path)
    else:
        points_gdf.to_file(path, engine="pyogrio")
    _check_geo(read_sources([path]))


def test_zipped_shapefile_and_projected_crs(tmp_path: Path, points_gdf) -> None:  # type: ignore[no-untyped-def]
    shp_dir = tmp_path / "shp"
    shp_dir.mkdir()
    only_points = points_gdf.iloc[:2].drop(columns="review_count").to_crs(3857)
    only_points.to_file(shp_dir / "pts.shp", engine="pyogrio")
    zp = tmp_path / "pts.zip"
    with zipfile.ZipFile(zp, "w") as zf:
        for f in shp_dir.iterdir():
            zf.write(f, f.name)
    result = read_sources([zp])
    check_invariants(result)
    assert np.allclose(result.merchants["lat"], [40.75, 48.85], atol=1e-9)
    assert np.allclose(result.merchants["lng"], [-73.99, 2.35], atol=1e-9)


def test_plain_parquet_with_coordinate_columns(tmp_path: Path) -> None:
    frame = pd.DataFrame({"place_id": ["a", "b", "c"], "title": ["A", "B", "C"],
                          "latitude": [1.5, np.nan, 91.0], "longitude": [2.5, 3.0, 100.0]})
    path = tmp_path / "plain.parquet"
    frame.to_parquet(path)
    result = read_sources([path])
    check_invariants(result)
    assert result.merchants["merchant_id"].tolist() == ["generic:a"]
    assert result.rejects["reason"].tolist() == [
        "lat is missing", "lat 91 is out of range; allowed -90 <= lat <= 90"]


# --------------------------------------------------------------------------- mappings


MAPPING = {
    "source": "City Permits",
    "columns": {"merchant_id": "permit", "name": "biz", "lat": "y", "lng": "x",
                "category": "kind", "phone": "tel", "rating": "stars", "price_level": "cost"},
    "id_prefix": "permits",
    "rating_scale": 10,
}
PERMITS = "permit;biz;y;x;kind;tel;stars;cost\nP1;Alpha;40.7;-73.9;Food/Cafe;555;8;2\n" \
    "P2;Beta;40.8;-73.8;Retail;;11;9\n"


def _toml(mapping: dict) -> str:  # type: ignore[type-arg]
    lines = [f'source = "{mapping["source"]}"', f'id_prefix = "{mapping["id_prefix"]}"',
             f'rating_scale = {mapping["rating_scale"]}', "[columns]"]
    lines += [f'{k} = "{v}"' for k, v in mapping["columns"].items()]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("kind", ["json", "toml", "dict"])
def test_declarative_mapping(tmp_path: Path, kind: str) -> None:
    data = write(tmp_path / "permits.csv", PERMITS)
    mapping: object = MAPPING
    if kind == "json":
        mapping = write(tmp_path / "m.json", json.dumps(MAPPING))
    elif kind == "toml":
        mapping = write(tmp_path / "m.toml", _toml(MAPPING))
    result = read_sources([data], mapping=mapping)  # type: ignore[arg-type]
    check_invariants(result)
    m = result.merchants.iloc[0]
    assert (m["merchant_id"], m["category"], m["phone"], m["rating"], m["rating_scale"],
            m["price_level"], m["source"]) == (
        "permits:P1", "food/cafe", "555", 8.0, 10.0, 2, "City Permits")
    assert result.sources[0].profile == "mapping"
    assert result.sources[0].rating_scale == "0–10 (given)"
    assert result.rows_rejected == 0
    assert result.warnings["reason"].tolist() == [
        "rating 11 is outside its 0–10 rating scale (given); "
        "price_level 9 is out of range; allowed 1 <= price_level <= 4"
    ]
    beta = result.merchants.iloc[1]
    assert pd.isna(beta["rating"]) and pd.isna(beta["price_level"])


@pytest.mark.parametrize(
    ("mapping", "match"),
    [
        ({"columns": {"name": "n", "lat": "y"}}, "both 'lat' and 'lng'"),
        ({"columns": {"name": "n", "lat": "y", "lng": "x", "stars": "s"}},
         r"unknown canonical columns \['stars'\]"),
        ({"columns": {"lat": "y", "lng": "x"}}, "must map 'name'"),
        ({"columns": {"name": "n"}, "colums": {}}, r"unknown mapping keys \['colums'\]"),
        ({"columns": {"name": "n"}, "rating_scale": -5}, "rating_scale"),
        ({"columns": {"name": "n"}, "expected_bbox": [1, 2, 3]}, "expected_bbox"),
        ({"columns": {"name": 3}}, "must name a source column"),
    ],
)
def test_malformed_mappings(tmp_path: Path, mapping: dict, match: str) -> None:  # type: ignore[type-arg]
    data = write(tmp_path / "permits.csv", PERMITS)
    with pytest.raises(ProfileError, match=match):
        read_sources([data], mapping=mapping)


def test_mapping_files_that_do_not_parse(tmp_path: Path) -> None:
    data = write(tmp_path / "permits.csv", PERMITS)
    for name, text in [("m.json", "{not json"), ("m.toml", "columns = [")]:
        with pytest.raises(ProfileError, match=name):
            read_sources([data], mapping=write(tmp_path / name, text))
    with pytest.raises(ProfileError, match="both given"):
        read_sources([data], mapping=MAPPING, profile="airbnb")


def test_mapping_naming_absent_columns(tmp_path: Path) -> None:
    data = write(tmp_path / "permits.csv", PERMITS)
    mapping = {"columns": {"name": "business_name", "lat": "y", "lng": "x"}}
    with pytest.raises(IngestError, match=r"permits\.csv.*\['business_name'\]"):
        read_sources([data], mapping=mapping)


# --------------------------------------------------------------------------- outputs


def _mixed_result(tmp_path: Path) -> IngestResult:
    return read_sources([csv_file(tmp_path, [*GOOD, "1,,abc,1,x,1,4,", "7,Ok,0,0,x,1,4,"])])


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet"])
def test_write_rejects_round_trip(tmp_path: Path, suffix: str) -> None:
    result = _mixed_result(tmp_path)
    out = result.write_rejects(tmp_path / "out" / f"rejects{suffix}")
    assert out.exists()
    back = pd.read_parquet(out) if suffix == ".parquet" else pd.read_csv(out, dtype=str)
    assert list(back.columns) == list(REJECT_COLUMNS)
    assert back["reason"].tolist() == result.rejects["reason"].tolist()
    assert back["raw"].tolist() == ["1,,abc,1,x,1,4,", "7,Ok,0,0,x,1,4,"]
    assert [int(x) for x in back["source_line"]] == [5, 6]
    with pytest.raises(IngestError, match="must end in"):
        result.write_rejects(tmp_path / "rejects.xlsx")


def test_reject_summary_counts_kinds(tmp_path: Path) -> None:
    summary = _mixed_result(tmp_path).reject_summary()
    assert list(summary.columns) == ["source_file", "reason_kind", "rows", "example_line",
                                     "example"]
    counts = dict(zip(summary["reason_kind"], summary["rows"], strict=True))
    # Rows, not reasons: the first row has three problems and counts once, under its first.
    assert counts == {"empty name": 1, "null island": 1}


def test_progress_reports_bytes_over_all_files(tmp_path: Path) -> None:
    a = csv_file(tmp_path, GOOD, name="a.csv")
    b = csv_file(tmp_path, GOOD[:1], name="b.csv")
    calls: list[tuple[int, int]] = []
    read_sources([a, b], progress=lambda done, total: calls.append((done, total)))
    total = a.stat().st_size + b.stat().st_size
    assert calls[-1] == (total, total)
    assert all(t == total for _, t in calls)
    dones = [d for d, _ in calls]
    assert dones == sorted(dones) and (a.stat().st_size, total) in calls


def test_profiles_are_listed_and_detected() -> None:
    profiles = list_profiles()
    assert all(p.description and "\n" not in p.description for p in profiles)
    for p in profiles:
        if p.signature:
            columns = [*p.signature, p.lat_column, p.lng_column, "extra"]
            assert detect_profile(columns).name == p.name
    assert detect_profile(["id", "name", "lat", "lng"]).name == "generic"


def test_large_file_stays_vectorised(tmp_path: Path) -> None:
    n = 60_000
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"id": np.arange(n), "name": [f"shop {i}" for i in range(n)],
                          "lat": rng.uniform(-60, 60, n).round(6),
                          "lng": rng.uniform(-170, 170, n).round(6),
                          "review_count": rng.integers(0, 500, n)})
    frame.loc[::1000, "lat"] = 123.0
    path = tmp_path / "big.csv.gz"
    frame.to_csv(path, index=False)
    result = read_sources([path])
    check_invariants(result)
    assert result.rows_read == n and result.rows_rejected == n // 1000
    assert result.merchants["review_count"].sum() == frame["review_count"][frame.lat != 123].sum()


# --------------------------------------------------------------------------- id lists


def test_read_id_list_one_per_line(tmp_path: Path) -> None:
    path = tmp_path / "gone.txt.gz"
    utf8_comment = "# ids – to delete, café\n".encode()
    body = b"osm:node/1\n\nairbnb:2539\nnot-an-id\nosm:node/1\n:x\nwof:caf\xe9\n"
    path.write_bytes(gzip.compress(utf8_comment + body))
    ids, rejects, _ = read_id_list(path)
    assert ids == ["osm:node/1", "airbnb:2539"]
    assert list(rejects.columns) == list(REJECT_COLUMNS)
    assert rejects["source_line"].tolist() == [5, 6, 7, 8]
    reasons = rejects["reason"].tolist()
    assert reasons[0] == "'not-an-id' is not a merchant_id; expected '<source>:<id>'"
    assert reasons[1] == "duplicate merchant_id osm:node/1, first at gone.txt.gz:2"
    assert reasons[3].startswith("bad encoding")


def test_read_id_list_from_csv_column(tmp_path: Path) -> None:
    path = write(tmp_path / "ids.csv", "name;merchant_id\nA;dohmh:1\nB;\nC;dohmh:2\n")
    ids, rejects, _ = read_id_list(path)
    assert ids == ["dohmh:1", "dohmh:2"]
    assert rejects["reason"].tolist() == ["empty merchant_id"]
    assert rejects["raw"].tolist() == ["B;"]


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ("id\nosm:node/1\nosm:node/2\n", [2, 3]),  # a header line: no rejected row
        ("Merchant ID\nosm:node/1\nosm:node/2\n", [2, 3]),
        ("ID,name\nosm:node/1,x\nosm:node/2,y\n", [2, 3]),  # an id column by another name
        ("osm:node/1\nid\nosm:node/2\n", None),  # not the first line: a bad id
    ],
)
def test_a_delete_list_may_name_its_column_id(
    tmp_path: Path, text: str, lines: list[int] | None
) -> None:
    """A delete file whose first line is ``id`` counted that line as a rejected row."""
    ids, rejects, places = read_id_list(write(tmp_path / "gone.txt", text))
    assert ids == ["osm:node/1", "osm:node/2"]
    if lines is None:
        assert rejects["source_line"].tolist() == [2]
    else:
        assert rejects.empty and [line for _, line in places] == lines


# --------------------------------------------------------------------------- profiles, synthetic


def test_airbnb_prices_levels_and_rating_scale(tmp_path: Path) -> None:
    header = "id,name,latitude,longitude,room_type,price,number_of_reviews,review_scores_rating"
    prices = ["$40.00", "$80.00", "$120.00", "$1,200.00", "$0.00", "", "$95.00", "$60.00"]
    rows = [f"{i},Listing {i},40.7,-73.9,Entire home/apt,{p},3,{90 + i}"
            for i, p in enumerate(prices, 1)]
    rows = [r.replace(",$1,200.00,", ',"$1,200.00",') for r in rows]
    rows.append("99,Bad Price,40.7,-73.9,Private room,cheap,1,80")
    path = write(tmp_path / "listings.csv", "\n".join([header, *rows]) + "\n")
    result = read_sources([path])
    check_invariants(result)
    assert result.sources[0].profile == "airbnb"
    assert result.rows_rejected == 0
    assert result.warnings["reason"].tolist() == ["price 'cheap' is not a number"]
    assert pd.isna(result.merchants.set_index("merchant_id").loc["airbnb:99", "price_level"])
    m = result.merchants.set_index("merchant_id")
    level = m["price_level"]
    assert level["airbnb:4"] == 4 and level["airbnb:1"] == 1  # $1,200 and $40
    assert level[["airbnb:5", "airbnb:6"]].isna().all()  # $0 and no price
    priced = pd.Series({"airbnb:1": 40, "airbnb:2": 80, "airbnb:3": 120, "airbnb:4": 1200,
                        "airbnb:7": 95, "airbnb:8": 60}).sort_values()
    assert level[priced.index].is_monotonic_increasing
    assert m["category"].iloc[0] == "lodging/entire_home_apt"
    # Every rating is above 10: the whole file is on the 0-100 scale.
    assert set(m["rating_scale"]) == {100.0} and m["rating"]["airbnb:1"] == 91.0
    assert result.sources[0].rating_scale == "0–100 (inferred)"
    assert json.loads(m["attributes"]["airbnb:4"])["price"] == "$1,200.00"


def test_wof_status_and_hours(tmp_path: Path) -> None:
    header = ("wof_id,name,tags,sg_type,sg_category,sg_subcategory,hours,is_current,deprecated,"
              "cessation,addr_full,phone,website,lat,lon")
    rows = [
        "1,Open Cafe,,Food & Drink,Cafe,,Mo-Fr 08:00-18:00,1.0,,uuuu,1 Main St,+1 801,,40.7,-111.9",
        "2,Gone Bar,,Food & Drink,Bars & Pubs,,9am to 5pm,-1.0,2017-11-15,uuuu,,,,40.7,-111.9",
        "3,Ceased Shop,,Retail Goods,Shopping,Books,,,,2015-01-01,,,,40.7,-111.9",
        "4,Not Current,,Services,Professional,,,0.0,,uuuu,,,,40.7,-111.9",
        "5,Unknown,Mexican|Restaurant,,,,,-1.0,,uuuu,,,,40.7,-111.9",
    ]
    result = read_sources([write(tmp_path / "wof.csv", "\n".join([header, *rows]) + "\n")])
    check_invariants(result)
    m = result.merchants.set_index("merchant_id")
    assert m["status"].tolist() == ["open", "closed", "closed", "closed", "unknown"]
    assert m["category"].tolist() == ["food/cafe", "nightlife/bar", "retail_goods/shopping/books",
                                      "services/professional", "food/restaurant"]
    assert m["opening_hours"]["wof:1"] == "Mo-Fr 08:00-18:00"
    assert m["opening_hours"]["wof:2"] is None
    assert json.loads(m["attributes"]["wof:2"])["hours"] == "9am to 5pm"


def test_source_specific_fields_are_validated_too(tmp_path: Path) -> None:
    food = write(tmp_path / "food.csv",
                 "license_number,establishment_type,dba_name,entity_name,square_footage,"
                 "latitude,longitude\n012345,JAC,,ACME CORP,big,40.7,-73.9\n"
                 "000001,A,TINY,X,0,40.7,-73.9\n")
    result = read_sources([food])
    assert result.warnings["reason"].tolist() == ["square_footage 'big' is not a number"]
    big = result.merchants.iloc[0]
    assert (big["merchant_id"], big["category"]) == ("nysfood:012345", "food/grocery/store")
    tiny = result.merchants.iloc[1]
    assert (tiny["merchant_id"], tiny["category"]) == ("nysfood:000001", "food/grocery/store")
    assert pd.isna(tiny["attractiveness"])
    fsq = write(tmp_path / "fsq.csv",
                "fsq_place_id,name,latitude,longitude,date_closed,fsq_category_labels\n"
                "a1,Shut,1,1,2020-02-30,[Retail]\nb2,Open,1,1,,[Retail > Bookstore]\n")
    result = read_sources([fsq])
    assert result.warnings["reason"].tolist() == ["date_closed '2020-02-30' is not a date"]
    assert result.merchants["category"].tolist() == ["retail", "retail/bookstore"]
    assert result.merchants["status"].tolist() == ["unknown", "open"]
    # An explicit NYC-wide expected bbox for DOHMH rows comes with the profile.
    dohmh = write(tmp_path / "dohmh.csv",
                  "restaurant_id,name,cuisine,borough,latest_grade,mean_score,latitude,longitude\n"
                  "1,In NYC,Pizza,Queens,A,9.5,40.72,-73.8\n"
                  "2,In Iowa,Pizza,Queens,B,12,41.7,-92.7\n")
    result = read_sources([dohmh])
    assert result.merchants["category"].tolist() == ["food/restaurant/pizza"]
    assert result.rejects["reason"].str.startswith("outside expected bbox").tolist() == [True]


def test_generic_merchant_id_column_keeps_qualified_ids(tmp_path: Path) -> None:
    path = write(tmp_path / "export.csv",
                 "merchant_id,name,lat,lng\nosm:node/7,A,1,1\n42,B,1,2\n,C,1,3\n")
    result = read_sources([path])
    assert result.merchants["merchant_id"].tolist() == ["osm:node/7", "generic:42"]
    assert result.rejects["reason"].tolist() == ["empty source id"]
